/**
 * RFC 7662 token introspection for opaque access tokens (anything that is not a compact
 * JWS), with `client_secret_basic` (RFC 6749 section 2.3.1), and RFC 9701 JWT responses.
 *
 * The endpoint is held to the JWKS rules: a timeout over the whole exchange, a size cap, no
 * redirects, and after a failure a growing wait before the next try. An endpoint that
 * cannot answer is a 500, never a 401: the client's token may be fine. Answers are cached by
 * a SHA-256 of the token, never longer than the token's `exp` nor `cacheMaxAge`.
 */
import { createHash } from 'node:crypto';
import { AuthServerError, InvalidTokenError } from '../bearer.errors.js';
import {
  createPrincipal,
  readOwnClaim,
  type BearerPrincipal,
  type JwtClaims,
} from '../claims.js';
import { KeySourceFetchError, requestText } from '../keys/fetch-json.js';
import { retryDelay } from '../keys/jwks-key-source.js';
import { TokenCache } from '../token-cache.js';

/** The media type of an RFC 9701 JWT introspection response. */
export const JWT_INTROSPECTION_TYPE = 'application/token-introspection+jwt';

/** Verifies an RFC 9701 response JWT and returns its payload; throws when it does not verify. */
export type IntrospectionJwtVerifier = (
  jwt: string,
) => Promise<Readonly<Record<string, unknown>>>;

/** Options of an {@link IntrospectionClient}. */
export interface IntrospectionClientOptions {
  readonly uri: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Milliseconds for one introspection request, body included. */
  readonly timeout: number;
  /** The largest answer accepted, in bytes. */
  readonly maxResponseBytes: number;
  /** The longest an answer is reused, in seconds. */
  readonly cacheMaxAge: number;
  /** The most answers cached. */
  readonly maxEntries: number;
  /** The longest wait after failures in a row, in milliseconds (as `jwks.cooldown`). */
  readonly cooldown: number;
  /** Ask for (and accept only) RFC 9701 signed answers. */
  readonly jwtResponse: boolean;
  readonly audiences: readonly string[];
  readonly issuers: readonly string[];
  readonly clockTolerance: number;
  readonly scopeClaims: readonly string[];
  readonly roleClaim: string;
  /** Needed with `jwtResponse`. */
  readonly verifyJwt?: IntrospectionJwtVerifier;
  /** Where failures are reported (never with the token). */
  readonly logger?: { warn(message: string): void };
  readonly now?: () => number;
}

/** A cached answer: the principal of an active token, or the refusal of another. */
type Outcome = BearerPrincipal | InvalidTokenError;

function isNumericDate(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function hasAudience(aud: unknown, audiences: readonly string[]): boolean {
  if (typeof aud === 'string') return audiences.includes(aud);
  return (
    Array.isArray(aud) &&
    aud.some((item) => typeof item === 'string' && audiences.includes(item))
  );
}

/** Asks the authorization server about opaque tokens, with a bounded cache. */
export class IntrospectionClient {
  /** Introspection requests sent (tests, metrics). */
  requests = 0;
  private readonly cache: TokenCache<Outcome>;
  private readonly inflight = new Map<string, Promise<Outcome>>();
  private readonly authorization: string;
  private readonly now: () => number;
  private failures = 0;
  private retryAfter = 0;

  constructor(private readonly options: IntrospectionClientOptions) {
    this.now = options.now ?? Date.now;
    this.cache = new TokenCache<Outcome>(options.maxEntries, this.now);
    // RFC 6749 section 2.3.1: both parts form-encoded before base64.
    const encode = (part: string): string =>
      encodeURIComponent(part).replace(/%20/g, '+');
    this.authorization = `Basic ${Buffer.from(
      `${encode(options.clientId)}:${encode(options.clientSecret)}`,
    ).toString('base64')}`;
  }

  /**
   * The principal of an active opaque token; synchronous when the answer is cached.
   *
   * @throws InvalidTokenError when the token is not active, expired, or for another audience.
   * @throws AuthServerError when the endpoint cannot answer or answers nonsense.
   */
  verifyOpaqueToken(token: string): BearerPrincipal | Promise<BearerPrincipal> {
    const id = createHash('sha256').update(token).digest('base64url');
    const cached = this.cache.get(id);
    if (cached !== undefined) return unwrap(cached.value);
    let pending = this.inflight.get(id);
    if (pending === undefined) {
      // Concurrent requests with one new token share one introspection.
      pending = this.introspect(token, id).finally(() =>
        this.inflight.delete(id),
      );
      this.inflight.set(id, pending);
    }
    return pending.then(unwrap);
  }

  /** Forgets every cached answer. */
  clearCache(): void {
    this.cache.clear();
  }

  private async introspect(token: string, id: string): Promise<Outcome> {
    if (this.now() < this.retryAfter) {
      throw new AuthServerError(
        'the introspection endpoint failed recently; waiting before the next try',
      );
    }
    let answer: Record<string, unknown>;
    try {
      answer = await this.request(token);
    } catch (error) {
      this.failures++;
      this.retryAfter =
        this.now() + retryDelay(this.failures, this.options.cooldown);
      const reason =
        error instanceof KeySourceFetchError ? error.message : 'failed';
      this.options.logger?.warn(`token introspection failed: ${reason}`);
      throw new AuthServerError(`token introspection failed: ${reason}`, {
        cause: error,
      });
    }
    this.failures = 0;
    const outcome = this.judge(answer);
    const nowMs = this.now();
    let until = nowMs + this.options.cacheMaxAge * 1000;
    if (!(outcome instanceof InvalidTokenError)) {
      const exp = readOwnClaim(outcome.claims, 'exp');
      if (isNumericDate(exp)) until = Math.min(until, exp * 1000);
    }
    this.cache.set(id, outcome, until);
    return outcome;
  }

  /** POSTs the token (RFC 7662 section 2.1) and returns the answer's JSON object. */
  private async request(token: string): Promise<Record<string, unknown>> {
    const { timeout, maxResponseBytes, jwtResponse } = this.options;
    this.requests++;
    const { contentType, text } = await requestText(
      this.options.uri,
      {
        method: 'POST',
        headers: {
          authorization: this.authorization,
          'content-type': 'application/x-www-form-urlencoded',
          accept: jwtResponse ? JWT_INTROSPECTION_TYPE : 'application/json',
        },
        body: new URLSearchParams({
          token,
          token_type_hint: 'access_token',
        }).toString(),
      },
      { timeout, maxBytes: maxResponseBytes },
    );
    if (jwtResponse) return this.readJwtAnswer(text, contentType);
    return parseObject(text);
  }

  /** RFC 9701 section 5: the answer is the `token_introspection` claim of a signed JWT. */
  private async readJwtAnswer(
    text: string,
    contentType: string,
  ): Promise<Record<string, unknown>> {
    // A plain JSON answer to a request for a signed one would be a downgrade.
    if (contentType !== JWT_INTROSPECTION_TYPE) {
      throw new KeySourceFetchError(
        `answer is ${contentType || 'untyped'}, not ${JWT_INTROSPECTION_TYPE}`,
      );
    }
    const verify = this.options.verifyJwt;
    if (verify === undefined) {
      throw new KeySourceFetchError('no verifier for JWT answers');
    }
    let payload: Readonly<Record<string, unknown>>;
    try {
      payload = await verify(text.trim());
    } catch (error) {
      throw new KeySourceFetchError('the signed answer does not verify', {
        cause: error,
      });
    }
    if (!hasAudience(readOwnClaim(payload, 'aud'), [this.options.clientId])) {
      throw new KeySourceFetchError('the signed answer is for another client');
    }
    const inner = readOwnClaim(payload, 'token_introspection');
    if (typeof inner !== 'object' || inner === null || Array.isArray(inner)) {
      throw new KeySourceFetchError(
        'the signed answer has no token_introspection',
      );
    }
    return inner as Record<string, unknown>;
  }

  /** RFC 7662 section 2.2: the answer to a principal, a refusal, or (nonsense) a 500. */
  private judge(answer: Record<string, unknown>): Outcome {
    const active = readOwnClaim(answer, 'active');
    if (typeof active !== 'boolean') {
      throw new AuthServerError(
        'the introspection answer has no boolean active',
      );
    }
    if (!active) return new InvalidTokenError('invalid');
    if (!isAccessTokenType(readOwnClaim(answer, 'token_type'))) {
      return new InvalidTokenError('type');
    }
    const claims: JwtClaims = answer;
    const exp = readOwnClaim(claims, 'exp');
    const nbf = readOwnClaim(claims, 'nbf');
    const iss = readOwnClaim(claims, 'iss');
    const nowSeconds = this.now() / 1000;
    const tolerance = this.options.clockTolerance;
    for (const value of [exp, nbf, readOwnClaim(claims, 'iat')]) {
      if (value !== undefined && !isNumericDate(value)) {
        return new InvalidTokenError('claims');
      }
    }
    if (
      iss !== undefined &&
      (typeof iss !== 'string' || !this.options.issuers.includes(iss))
    ) {
      return new InvalidTokenError('issuer');
    }
    if (!hasAudience(readOwnClaim(claims, 'aud'), this.options.audiences)) {
      return new InvalidTokenError('audience');
    }
    if (isNumericDate(exp) && nowSeconds >= exp + tolerance) {
      return new InvalidTokenError('expired');
    }
    if (isNumericDate(nbf) && nowSeconds + tolerance < nbf) {
      return new InvalidTokenError('not_yet_valid');
    }
    return createPrincipal(claims, this.options);
  }
}

/**
 * RFC 7662 section 2.2: `token_type` is an access token type (RFC 6749 section 7.1:
 * `Bearer`, RFC 9449: `DPoP`, RFC 8693 section 2.2.1: `N_A`), or the RFC 8693 URI of an
 * access token. Some authorization servers say `refresh_token` (or `Refresh`) there
 * instead: an active refresh token is not a credential for this resource, nor is a token
 * of a type it cannot vouch for (a `mac` token, whose key it cannot check). No
 * `token_type` at all is allowed, since the member is optional; the audience check still
 * applies.
 */
const ACCESS_TOKEN_TYPES = new Set([
  'bearer',
  'dpop',
  'n_a',
  'access_token',
  'urn:ietf:params:oauth:token-type:access_token',
]);

function isAccessTokenType(value: unknown): boolean {
  return (
    value === undefined ||
    (typeof value === 'string' && ACCESS_TOKEN_TYPES.has(value.toLowerCase()))
  );
}

function parseObject(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new KeySourceFetchError('answer is not JSON', { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KeySourceFetchError('answer is not a JSON object');
  }
  return value as Record<string, unknown>;
}

function unwrap(outcome: Outcome): BearerPrincipal {
  // A fresh error each time: a cached one would carry another request's stack.
  if (outcome instanceof InvalidTokenError) {
    throw new InvalidTokenError(outcome.reason);
  }
  return outcome;
}
