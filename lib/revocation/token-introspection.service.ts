import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { RESOLVED_AUTH_OPTIONS } from '../auth.constants.js';
import type { ResolvedAuthOptions } from '../auth-options.js';
import { BearerAuthenticator } from '../bearer-authenticator.service.js';
import { readOwnClaim, type BearerPrincipal } from '../claims.js';
import { IssuerKeysService } from '../keys/issuer-keys.service.js';
import { verifyJwsSignature } from '../token-verifier.js';
import {
  IntrospectionClient,
  type IntrospectionJwtVerifier,
} from './introspection-client.js';

// RFC 9701 section 5: `typ` of a signed introspection answer, in both spellings.
const JWT_ANSWER_TYPES = new Set([
  'token-introspection+jwt',
  'application/token-introspection+jwt',
]);

function decodeSegment(segment: string): Record<string, unknown> {
  const value: unknown = JSON.parse(
    Buffer.from(segment, 'base64url').toString('utf8'),
  );
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error('not a JSON object');
  }
  return value as Record<string, unknown>;
}

/**
 * Verifies RFC 9701 answers with the issuers' own JWKS: a compact JWS of an accepted
 * algorithm, typed `token-introspection+jwt`, from a configured issuer.
 */
function createJwtVerifier(
  options: ResolvedAuthOptions,
  keys: IssuerKeysService,
): IntrospectionJwtVerifier {
  return async (jwt) => {
    const parts = jwt.split('.');
    if (parts.length !== 3) throw new Error('not a compact JWS');
    const header = decodeSegment(parts[0]);
    const payload = decodeSegment(parts[1]);
    const alg = readOwnClaim(header, 'alg');
    const typ = readOwnClaim(header, 'typ');
    const kid = readOwnClaim(header, 'kid');
    const iss = readOwnClaim(payload, 'iss');
    if (typeof alg !== 'string' || !options.algorithms.some((a) => a === alg)) {
      throw new Error('algorithm not accepted');
    }
    if (typeof typ !== 'string' || !JWT_ANSWER_TYPES.has(typ.toLowerCase())) {
      throw new Error('not typed token-introspection+jwt');
    }
    if (typeof iss !== 'string' || !options.issuers.includes(iss)) {
      throw new Error('from an untrusted issuer');
    }
    if (kid !== undefined && typeof kid !== 'string')
      throw new Error('bad kid');
    const key = await keys.getKey(iss, kid, alg);
    if (!verifyJwsSignature(jwt, alg, key)) throw new Error('bad signature');
    return payload;
  };
}

/**
 * RFC 7662 introspection of opaque tokens, when the `introspection` option is set: it
 * becomes the authenticator's verifier for every token that is not a compact JWS. JWTs
 * are still verified against the JWKS.
 */
@Injectable()
export class TokenIntrospectionService implements OnModuleInit {
  private readonly logger = new Logger('nestjs-bearer');
  private readonly client: IntrospectionClient | undefined;

  constructor(
    @Inject(RESOLVED_AUTH_OPTIONS) options: ResolvedAuthOptions,
    private readonly authenticator: BearerAuthenticator,
    keys: IssuerKeysService,
  ) {
    const introspection = options.introspection;
    if (introspection === undefined) return;
    this.client = new IntrospectionClient({
      ...introspection,
      cooldown: options.jwks.cooldown,
      // An answer names no key and may lack `iss`, so with several issuers its `aud` is
      // checked against every configured audience (the top level and each `issuers` entry).
      audiences: [
        ...new Set([
          ...options.audiences,
          ...options.issuerConfigs.flatMap((config) => config.audiences),
        ]),
      ],
      issuers: options.issuers,
      clockTolerance: options.clockTolerance,
      scopeClaims: options.scopeClaims,
      roleClaim: options.roleClaim,
      verifyJwt: createJwtVerifier(options, keys),
      logger: { warn: (message) => this.logger.warn(message) },
    });
  }

  onModuleInit(): void {
    if (this.client !== undefined) {
      this.authenticator.setOpaqueTokenVerifier(this.client);
    }
  }

  /** Whether introspection is on (the `introspection` option is set). */
  get enabled(): boolean {
    return this.client !== undefined;
  }

  /**
   * The principal of an active opaque token (cached answers are reused).
   * @throws InvalidTokenError when it is not active; AuthServerError when the endpoint fails.
   */
  introspect(token: string): BearerPrincipal | Promise<BearerPrincipal> {
    if (this.client === undefined) {
      throw new Error(
        'nestjs-bearer: introspection is off; set the "introspection" option of AuthModule',
      );
    }
    return this.client.verifyOpaqueToken(token);
  }

  /** Forgets every cached introspection answer. */
  clearCache(): void {
    this.client?.clearCache();
  }
}
