import { Inject, Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import type { KeyObject } from 'node:crypto';
import { Strategy, type StrategyOptionsWithRequest } from 'passport-jwt';
import { BEARER_STRATEGY, RESOLVED_AUTH_OPTIONS } from './auth.constants.js';
import type { ResolvedAuthOptions } from './auth-options.js';
import {
  acceptedSchemes,
  BearerAuthenticator,
  toBearerError,
  type CredentialRequest,
} from './bearer-authenticator.service.js';
import {
  AuthenticationRequiredError,
  BearerError,
  InvalidTokenError,
  type AuthScheme,
  type InvalidTokenReason,
} from './bearer.errors.js';
import {
  createPrincipal,
  type BearerPrincipal,
  type JwtClaims,
} from './claims.js';
import {
  toCredentialRequest,
  type HttpRequest,
} from './contexts/http.context.js';
import { IssuerKeysService } from './keys/issuer-keys.service.js';
import { extractToken, type ExtractOptions } from './token-extractor.js';
import { inspectToken, TENANT_PLACEHOLDER } from './token-policy.js';
import { hasCanonicalSignature } from './token-verifier.js';

/** What the strategy leaves on the request for passport-jwt's callbacks. */
interface StrategyState {
  readonly token: string;
  readonly scheme: AuthScheme;
  readonly key: KeyObject;
  readonly request: CredentialRequest;
}

const STATE = Symbol('nestjs-bearer:strategy-state');
type StatefulRequest = { [STATE]?: StrategyState };

// jsonwebtoken reports failures as errors whose message is the only distinguishing mark.
const JWT_MESSAGES: [RegExp, InvalidTokenReason][] = [
  [/signature/i, 'signature'],
  [/audience/i, 'audience'],
  [/issuer/i, 'issuer'],
  [/algorithm|"alg"|key type|asymmetric/i, 'algorithm'],
  [/malformed|invalid token|unexpected token/i, 'malformed'],
];

/** Turns what passport-jwt reported into one of our typed errors; never reflects its text. */
export function fromJsonWebTokenError(error: unknown): BearerError {
  if (error instanceof BearerError) return error;
  const name = error instanceof Error ? error.name : '';
  if (name === 'TokenExpiredError') return new InvalidTokenError('expired');
  if (name === 'NotBeforeError') return new InvalidTokenError('not_yet_valid');
  if (name === 'JsonWebTokenError' && error instanceof Error) {
    const match = JWT_MESSAGES.find(([pattern]) => pattern.test(error.message));
    return new InvalidTokenError(match?.[1] ?? 'invalid');
  }
  // A key of the wrong type for `alg` is reported as a plain Error.
  if (
    error instanceof Error &&
    /"alg"|key type|asymmetric/i.test(error.message)
  ) {
    return new InvalidTokenError('algorithm');
  }
  return new InvalidTokenError('invalid');
}

/** The passport methods `passport.authenticate()` puts on each request's strategy. */
interface PassportActions {
  fail(challenge?: unknown, status?: number): void;
  error(error: unknown): void;
}

/**
 * The module's registered passport strategy (`'nestjs-bearer'`), so that
 * `AuthGuard('nestjs-bearer')` works and composes with an app's other strategies.
 *
 * It applies the module's RFC 6750 extraction and key-free token policy, looks the key up
 * in the issuer's JWKS (jwks-rsa), and then lets passport-jwt (jsonwebtoken) verify the
 * signature and registered claims. `BearerGuard` does not go through passport: it calls
 * {@link BearerAuthenticator}, whose single verifier runs on `node:crypto`.
 *
 * A request without credentials *fails* (passport then tries the app's next strategy); a
 * request with a bad token *errors* with a `BearerError`, which `AuthGuard` rethrows and
 * `BearerExceptionFilter` renders with its challenge.
 */
@Injectable()
export class JwtBearerStrategy extends PassportStrategy(
  Strategy,
  BEARER_STRATEGY,
) {
  private readonly extractOptions: ExtractOptions;

  constructor(
    @Inject(RESOLVED_AUTH_OPTIONS)
    private readonly options: ResolvedAuthOptions,
    private readonly keys: IssuerKeysService,
    private readonly authenticator: BearerAuthenticator,
  ) {
    const strategyOptions: StrategyOptionsWithRequest = {
      jwtFromRequest: (request: unknown) =>
        (request as StatefulRequest)[STATE]?.token ?? null,
      secretOrKeyProvider: (request: unknown, _rawJwt: string, done) => {
        const state = (request as StatefulRequest)[STATE];
        if (state === undefined) {
          done(new Error('nestjs-bearer strategy state is missing'));
          return;
        }
        // jsonwebtoken takes a KeyObject; passport-jwt's typings predate that.
        done(null, state.key as unknown as string);
      },
      passReqToCallback: true,
      // algorithms, issuer and audience sit at the top level: passport-jwt overwrites those
      // three inside jsonWebTokenOptions with its top-level values.
      algorithms: options.algorithms.filter(
        (alg): alg is Exclude<typeof alg, 'EdDSA'> => alg !== 'EdDSA',
      ),
      // A `{tenantid}` issuer has no fixed value for jsonwebtoken; the token policy has
      // already checked `iss` against the token's own signed `tid`.
      issuer: options.issuers.some((issuer) =>
        issuer.includes(TENANT_PLACEHOLDER),
      )
        ? undefined
        : [...options.issuers],
      audience: [...options.audiences],
      ignoreExpiration: false,
      jsonWebTokenOptions: { clockTolerance: options.clockTolerance },
    };
    super(strategyOptions);
    this.extractOptions = {
      locations: options.tokenLocations,
      maxTokenLength: options.maxTokenLength,
      schemes: acceptedSchemes(options),
    };
  }

  /** RFC 6750 extraction, the token policy and the key lookup, then passport-jwt. */
  override authenticate(request: HttpRequest, passportOptions?: object): void {
    const actions = this as unknown as PassportActions;
    const credentials = toCredentialRequest(request);
    const extracted = extractToken(credentials, this.extractOptions);
    if (!extracted.ok) {
      if (extracted.error instanceof AuthenticationRequiredError) {
        actions.fail(extracted.error, 401);
      } else {
        actions.error(extracted.error);
      }
      return;
    }
    let inspected;
    try {
      inspected = inspectToken(extracted.token, this.options);
      // jsonwebtoken decodes leniently; one signature must have one spelling, as in the guard.
      if (!hasCanonicalSignature(extracted.token)) {
        throw new InvalidTokenError('signature');
      }
    } catch (error) {
      actions.error(toBearerError(error));
      return;
    }
    // passport-jwt reports jsonwebtoken's refusals through fail(); a bad token is decisive.
    actions.fail = (challenge?: unknown) =>
      actions.error(fromJsonWebTokenError(challenge));
    this.keys.getKey(inspected.issuer, inspected.kid, inspected.alg).then(
      (key) => {
        Object.defineProperty(request, STATE, {
          value: {
            token: extracted.token,
            scheme: extracted.scheme,
            key,
            request: credentials,
          },
          enumerable: false,
          configurable: true,
        });
        super.authenticate(request as never, passportOptions);
      },
      (error: unknown) => actions.error(toBearerError(error)),
    );
  }

  /** The verified claims become the principal, after the module's verification hooks. */
  async validate(
    request: StatefulRequest,
    payload: JwtClaims,
  ): Promise<BearerPrincipal> {
    const state = request[STATE];
    const principal = createPrincipal(payload, this.options);
    await this.authenticator.runVerificationHooks(principal, {
      token: state?.token ?? '',
      cached: false,
      request: state?.request,
      scheme: state?.scheme ?? 'Bearer',
      // The passport path sets no response headers (no rotated DPoP-Nonce).
      responseHeaders: {},
    });
    return principal;
  }
}
