import { Inject, Injectable, Optional } from '@nestjs/common';
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
import {
  IssuerRegistry,
  type IssuedToken,
  type IssuerEntry,
} from './issuer-registry.service.js';
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
  /** The token's issuer, with several issuers: its claim map applies. */
  readonly entry: IssuerEntry | undefined;
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

/** What passport-jwt hands jsonwebtoken (`Strategy#_verifOpts`, read on every request). */
interface JwtVerifyOptions {
  readonly audience: string[];
  readonly issuer: string[] | undefined;
  readonly algorithms: string[];
  readonly ignoreExpiration: false;
  readonly clockTolerance: number;
}

/** The algorithms jsonwebtoken can verify (it has no EdDSA). */
function jsonWebTokenAlgorithms(
  algorithms: readonly string[],
): Exclude<ResolvedAuthOptions['algorithms'][number], 'EdDSA'>[] {
  return algorithms.filter(
    (alg): alg is Exclude<ResolvedAuthOptions['algorithms'][number], 'EdDSA'> =>
      alg !== 'EdDSA',
  );
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
  private readonly issuers: IssuerRegistry;
  /** jsonwebtoken's options per issuer, with several issuers. */
  private readonly verifyOptionsOf = new WeakMap<
    IssuerEntry,
    JwtVerifyOptions
  >();

  constructor(
    @Inject(RESOLVED_AUTH_OPTIONS)
    private readonly options: ResolvedAuthOptions,
    private readonly keys: IssuerKeysService,
    private readonly authenticator: BearerAuthenticator,
    @Optional() issuers?: IssuerRegistry,
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
      algorithms: jsonWebTokenAlgorithms(options.algorithms),
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
    this.issuers = issuers ?? new IssuerRegistry(options, keys);
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
      const error = this.authenticator.refusalWithoutCredentials(
        credentials,
        extracted.error,
      );
      if (error instanceof AuthenticationRequiredError) {
        actions.fail(error, 401);
      } else {
        actions.error(error);
      }
      return;
    }
    if (this.issuers.multiple) {
      this.authenticateIssued(request, passportOptions, credentials, extracted);
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
    this.verifyWithKey(
      request,
      passportOptions,
      credentials,
      extracted,
      this.keys
        .getKey(inspected.issuer, inspected.kid, inspected.alg)
        .then((key) => ({ key, entry: undefined })),
    );
  }

  /**
   * With several issuers: the token's issuer (configured, or asked of the resolver) gives
   * the policy, the key source and jsonwebtoken's `issuer`, `audience` and `algorithms`,
   * set on passport's per-request copy of the strategy, never on the shared one.
   */
  private authenticateIssued(
    request: HttpRequest,
    passportOptions: object | undefined,
    credentials: CredentialRequest,
    extracted: { token: string; scheme: AuthScheme },
  ): void {
    const actions = this as unknown as PassportActions;
    let issued: IssuedToken | Promise<IssuedToken>;
    try {
      if (!hasCanonicalSignature(extracted.token)) {
        throw new InvalidTokenError('signature');
      }
      issued = this.issuers.inspect(extracted.token, credentials);
    } catch (error) {
      actions.error(toBearerError(error));
      return;
    }
    actions.fail = (challenge?: unknown) =>
      actions.error(fromJsonWebTokenError(challenge));
    const found = Promise.resolve(issued).then(async ({ inspected, entry }) => {
      Object.defineProperty(this, '_verifOpts', {
        value: this.jwtOptionsFor(entry),
        enumerable: false,
        configurable: true,
      });
      const key = await this.issuers
        .sourceOf(entry, inspected.issuer)
        .getKey(inspected.kid, inspected.alg);
      return { key, entry };
    });
    this.verifyWithKey(request, passportOptions, credentials, extracted, found);
  }

  /** jsonwebtoken's options for the tokens of one issuer. */
  private jwtOptionsFor(entry: IssuerEntry): JwtVerifyOptions {
    let options = this.verifyOptionsOf.get(entry);
    if (options === undefined) {
      const { policy } = entry;
      options = {
        audience: [...entry.audiences],
        // A `{tenantid}` issuer has no fixed value; the policy matched `iss` against `tid`.
        issuer: policy.issuers.some((issuer) =>
          issuer.includes(TENANT_PLACEHOLDER),
        )
          ? undefined
          : [...policy.issuers],
        algorithms: jsonWebTokenAlgorithms(policy.algorithms),
        ignoreExpiration: false,
        clockTolerance: this.options.clockTolerance,
      };
      this.verifyOptionsOf.set(entry, options);
    }
    return options;
  }

  /** Once the key is known, passport-jwt (jsonwebtoken) verifies with it. */
  private verifyWithKey(
    request: HttpRequest,
    passportOptions: object | undefined,
    credentials: CredentialRequest,
    extracted: { token: string; scheme: AuthScheme },
    found: Promise<{ key: KeyObject; entry: IssuerEntry | undefined }>,
  ): void {
    const actions = this as unknown as PassportActions;
    found.then(
      ({ key, entry }) => {
        Object.defineProperty(request, STATE, {
          value: {
            token: extracted.token,
            scheme: extracted.scheme,
            key,
            request: credentials,
            entry,
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
    const principal = createPrincipal(payload, state?.entry ?? this.options);
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
