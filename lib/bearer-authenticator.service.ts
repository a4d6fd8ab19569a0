import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { createHash, type KeyObject } from 'node:crypto';
import { RESOLVED_AUTH_OPTIONS } from './auth.constants.js';
import type { ResolvedAuthOptions } from './auth-options.js';
import {
  AuthenticationRequiredError,
  AuthServerError,
  BearerError,
  InvalidTokenError,
  type AuthScheme,
} from './bearer.errors.js';
import {
  createPrincipal,
  readConfirmation,
  readOwnClaim,
  type BearerPrincipal,
  type JwtClaims,
} from './claims.js';
import { IssuerRegistry, type IssuerEntry } from './issuer-registry.service.js';
import { IssuerKeysService } from './keys/issuer-keys.service.js';
import { TokenCache } from './token-cache.js';
import {
  extractToken,
  isB64token,
  type ExtractOptions,
  type TokenLocation,
  type TokenRequest,
} from './token-extractor.js';
import {
  checkAudience,
  checkDecodedToken,
  decodeToken,
  inspectCompactToken,
  inspectToken,
  isCompactJws,
  type DecodedToken,
  type InspectedToken,
  type TokenPolicy,
} from './token-policy.js';
import { verifyInspectedSignature } from './token-verifier.js';
import {
  traceMaybeAsync,
  verifyTrace,
  type VerifyTraceContext,
} from './diagnostics.js';

/**
 * A transport-neutral request for credentials: the parts of an HTTP request the RFC 6750
 * section 2 rules read. A transport without a request (a WebSocket message, an RPC
 * message) builds one from what it carries, say `{ headers: { authorization } }`.
 */
export type CredentialRequest = TokenRequest;

/** A successful authentication. */
export interface Authentication {
  readonly principal: BearerPrincipal;
  /** The token, as sent. */
  readonly token: string;
  /** Where it travelled (RFC 6750 section 2). */
  readonly location: TokenLocation;
  /** The `Authorization` scheme it came with (`Bearer` for body and query tokens). */
  readonly scheme: AuthScheme;
  /** Headers for the response, set by verification hooks (the next `DPoP-Nonce`). */
  readonly responseHeaders: Readonly<Record<string, string>>;
}

/** What a verification hook learns besides the principal. */
export interface VerificationDetails {
  /** The token, as sent. Never log it. */
  readonly token: string;
  /** Whether the verification came from the token cache. */
  readonly cached: boolean;
  /** The request it came with, when there is one. */
  readonly request: CredentialRequest | undefined;
  /** The scheme it came with: `Bearer` (RFC 6750) or `DPoP` (RFC 9449). */
  readonly scheme: AuthScheme;
  /** Headers a hook wants on the response; the guard sets them on success. */
  readonly responseHeaders: Record<string, string>;
}

/** What one verification carries besides the token, from the call to the hooks. */
interface VerificationCall {
  readonly request: CredentialRequest | undefined;
  readonly scheme: AuthScheme;
  readonly responseHeaders: Record<string, string>;
}

/**
 * Runs after every successful verification, on the cached and the fresh path alike, and may
 * refuse the token by throwing a {@link BearerError} (revocation, sender constraints).
 */
export type VerificationHook = (
  principal: BearerPrincipal,
  details: VerificationDetails,
) => void | Promise<void>;

/**
 * What a principal must keep passing for as long as it is in use, past its verification
 * (revocation): run again on each message of a connection authenticated once (a
 * WebSocket). It throws a {@link BearerError} to refuse, synchronously.
 */
export type StandingCheck = (principal: BearerPrincipal) => void;

/**
 * Verifies tokens that are not a compact JWS (opaque tokens, say by RFC 7662 introspection).
 * It answers synchronously when it can (a cached answer) and throws a {@link BearerError}.
 */
export interface OpaqueTokenVerifier {
  verifyOpaqueToken(token: string): BearerPrincipal | Promise<BearerPrincipal>;
}

/** Whether a token has the shape of a compact JWS: exactly three dot-separated parts. */
function isCompactJwsShape(token: string): boolean {
  const first = token.indexOf('.');
  if (first === -1) return false;
  const second = token.indexOf('.', first + 1);
  return second !== -1 && token.indexOf('.', second + 1) === -1;
}

/** A cached verification: the principal and what must still hold for it to be reused. */
interface VerifiedToken {
  readonly principal: BearerPrincipal;
  readonly iss: string;
  readonly kid: string | undefined;
  readonly alg: string;
  readonly key: KeyObject;
}

/** The `Authorization` schemes the options accept (`dpop.mode`). */
export function acceptedSchemes(options: ResolvedAuthOptions): AuthScheme[] {
  switch (options.dpop.mode) {
    case 'off':
      return ['Bearer'];
    case 'required':
      return ['DPoP'];
    default:
      return ['Bearer', 'DPoP'];
  }
}

/** Whether the request's `Authorization` value starts with the `DPoP` scheme. */
function namesDpopScheme(request: CredentialRequest): boolean {
  const raw = request.headers.authorization;
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (typeof value !== 'string') return false;
  const start = value.search(/\S/);
  return start !== -1 && /^dpop(?: |$)/i.test(value.slice(start, start + 5));
}

/** A short, irreversible fingerprint of a token for logs; the token itself is never logged. */
export function fingerprintToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url').slice(0, 16);
}

/** Any failure as a typed error: ours as they are, anything else a 500. */
export function toBearerError(error: unknown): BearerError {
  if (error instanceof BearerError) return error;
  return new AuthServerError('authentication failed unexpectedly', {
    cause: error,
  });
}

/**
 * Authenticates bearer credentials, with no Nest context types in its API: a request (or a
 * token) in, a {@link BearerPrincipal} out, or a typed {@link BearerError}.
 *
 * It owns the RFC 6750 extraction rules, the verified-token cache, the key lookup, the one
 * signature check on `node:crypto`, the claims policy, and the verification hooks. A token
 * from the cache with a known key is answered synchronously; otherwise a promise.
 * Exported, so app code can authenticate a token itself (a custom transport, say).
 */
@Injectable()
export class BearerAuthenticator {
  protected readonly logger = new Logger('nestjs-bearer');
  private readonly extractOptions: ExtractOptions;
  /** With DPoP `required`: how a `Bearer` credential, which it does not accept, is read. */
  private readonly bearerWhenDpopOnly: ExtractOptions | undefined;
  private readonly dpopOn: boolean;
  private readonly cache: TokenCache<VerifiedToken> | undefined;
  private readonly cacheMaxAgeMs: number;
  private readonly hooks: VerificationHook[] = [];
  private readonly standingChecks: StandingCheck[] = [];
  private readonly standingListeners = new Set<() => void>();
  private standingChangePending = false;
  private opaqueVerifier: OpaqueTokenVerifier | undefined;
  private policy: TokenPolicy;
  private readonly resources = new Set<string>();
  /** The trusted issuers: their policies, claim maps and the resolver's answers. */
  readonly issuers: IssuerRegistry;

  constructor(
    @Inject(RESOLVED_AUTH_OPTIONS)
    protected readonly options: ResolvedAuthOptions,
    protected readonly keys: IssuerKeysService,
    @Optional() issuers?: IssuerRegistry,
  ) {
    this.issuers = issuers ?? new IssuerRegistry(options, keys);
    this.dpopOn = options.dpop.mode !== 'off';
    this.extractOptions = {
      locations: options.tokenLocations,
      maxTokenLength: options.maxTokenLength,
      schemes: acceptedSchemes(options),
      // Checked after the cache: a cached token was checked when it was verified.
      deferSyntaxCheck: true,
    };
    this.bearerWhenDpopOnly =
      options.dpop.mode === 'required'
        ? {
            locations: ['header'],
            maxTokenLength: options.maxTokenLength,
            schemes: ['Bearer'],
          }
        : undefined;
    this.policy = this.issuers.topLevelPolicy;
    const { tokenCache } = options;
    this.cache =
      tokenCache === false
        ? undefined
        : new TokenCache<VerifiedToken>(tokenCache.maxEntries);
    this.cacheMaxAgeMs = tokenCache === false ? 0 : tokenCache.maxAge * 1000;
  }

  /**
   * Accepts tokens for `resource` too (a route's `@Resource()`): the token policy admits
   * an `aud` naming it, and the guard then requires the route's own audience.
   */
  acceptResource(resource: string): void {
    if (this.resources.has(resource)) return;
    this.resources.add(resource);
    this.issuers.acceptAudience(resource);
    this.policy = this.issuers.topLevelPolicy;
  }

  /**
   * The audiences configured for the issuer of verified claims (a route without its own
   * `@Resource()` requires one of them).
   */
  audiencesOf(claims: JwtClaims): readonly string[] {
    return this.issuers.multiple
      ? this.issuers.audiencesOf(claims)
      : this.options.audiences;
  }

  /**
   * The audience check of one route: its own `@Resource()`, else (when some route has
   * one, so the token policy admitted those audiences too) the issuer's audiences.
   *
   * @throws InvalidTokenError (`audience`) when the token is for another resource.
   */
  assertAudience(
    principal: BearerPrincipal,
    resource: string | undefined,
  ): void {
    const aud = principal.claims.aud;
    if (resource !== undefined) {
      if (!checkAudience(aud, [resource])) {
        throw new InvalidTokenError('audience');
      }
    } else if (
      this.resources.size > 0 &&
      !checkAudience(aud, this.audiencesOf(principal.claims))
    ) {
      throw new InvalidTokenError('audience');
    }
  }

  /** Whether some route has its own resource, so every route checks its audience. */
  get hasResources(): boolean {
    return this.resources.size > 0;
  }

  /** Adds a hook that runs after every successful verification, in the order added. */
  addVerificationHook(hook: VerificationHook): void {
    this.hooks.push(hook);
  }

  /**
   * Adds a check that every principal must keep passing while a connection uses it (see
   * {@link checkStanding}); a feature that can refuse a token after its verification
   * (revocation) adds one beside its verification hook.
   */
  addStandingCheck(check: StandingCheck): void {
    this.standingChecks.push(check);
  }

  /**
   * Whether a principal verified earlier still stands: each standing check in order.
   *
   * @throws BearerError of the first check that refuses it.
   */
  checkStanding(principal: BearerPrincipal): void {
    for (const check of this.standingChecks) check(principal);
  }

  /**
   * Calls `listener` whenever a standing check may answer differently (a revocation was
   * added, here or on another instance): a WebSocket adapter then checks its sockets.
   * Returns the function that removes it.
   */
  onStandingChange(listener: () => void): () => void {
    this.standingListeners.add(listener);
    return () => this.standingListeners.delete(listener);
  }

  /**
   * Tells the {@link onStandingChange} listeners that a standing check changed, once for a
   * burst: on the next turn of the event loop, so that a store reporting many revocations at
   * once (a rebuild after a reconnect) has finished, and is available again, when they run.
   * A listener's failure is logged and never reaches the store that reported the change.
   */
  standingChanged(): void {
    if (this.standingChangePending) return;
    this.standingChangePending = true;
    setImmediate(() => {
      this.standingChangePending = false;
      for (const listener of [...this.standingListeners]) {
        try {
          listener();
        } catch (error) {
          this.logger.error(
            `A listener of standing changes failed: ${error instanceof Error ? error.message : String(error)}`,
          );
        }
      }
    });
  }

  /**
   * Sends tokens that are not a compact JWS to `verifier` (introspection) instead of refusing
   * them as malformed; the hooks still run after it.
   */
  setOpaqueTokenVerifier(verifier: OpaqueTokenVerifier): void {
    this.opaqueVerifier = verifier;
  }

  /**
   * Finds the token of a request (RFC 6750 section 2) and verifies it.
   *
   * @throws BearerError: `AuthenticationRequiredError` when the request carries no
   *   credentials, `InvalidRequestError`, `InvalidTokenError`, or `AuthServerError` (500)
   *   when the keys cannot be had. Synchronously, or as the promise's rejection.
   */
  authenticate(
    request: CredentialRequest,
  ): Authentication | Promise<Authentication> {
    const extracted = extractToken(request, this.extractOptions);
    if (!extracted.ok) {
      // A malformed `DPoP` credential is answered on the DPoP challenge (RFC 9449 section 7.1).
      return this.fail(
        this.refusalWithoutCredentials(request, extracted.error),
        undefined,
        this.dpopOn && namesDpopScheme(request) ? 'DPoP' : undefined,
      );
    }
    const { token, location, scheme } = extracted;
    const call: VerificationCall = { request, scheme, responseHeaders: {} };
    const principal = this.verifyCall(token, call, true);
    const { responseHeaders } = call;
    return principal instanceof Promise
      ? principal.then((verified) => ({
          principal: verified,
          token,
          location,
          scheme,
          responseHeaders,
        }))
      : { principal, token, location, scheme, responseHeaders };
  }

  /**
   * The refusal of a request whose extraction failed with `error`; for one without
   * credentials this resource accepts, "no credentials" (RFC 6750 section 3.1, no error
   * code). With DPoP `required`, a `Bearer` credential is
   * one such, except a JWT that names a DPoP key (`cnf.jkt`): its client is told to send it
   * with the DPoP scheme (`invalid_token`). It is refused either way, so its claims are read
   * unverified; an opaque token cannot tell and stays "no credentials". The guard's path and
   * the passport strategy's both answer with it.
   */
  refusalWithoutCredentials(
    request: CredentialRequest,
    error: BearerError = new AuthenticationRequiredError(),
  ): BearerError {
    const bearer = this.bearerWhenDpopOnly;
    return bearer !== undefined &&
      error instanceof AuthenticationRequiredError &&
      this.sendsDpopBoundBearer(request, bearer)
      ? new InvalidTokenError('dpop_bound')
      : error;
  }

  private sendsDpopBoundBearer(
    request: CredentialRequest,
    bearer: ExtractOptions,
  ): boolean {
    const extracted = extractToken(request, bearer);
    if (!extracted.ok) return false;
    let claims: JwtClaims;
    try {
      ({ claims } = decodeToken(extracted.token, this.options));
    } catch {
      return false;
    }
    const cnf = readConfirmation(claims);
    return cnf != null && readOwnClaim(cnf, 'jkt') !== undefined;
  }

  /**
   * Verifies one token: the cache, else the key-free policy, the key, the signature and the
   * principal; then the hooks.
   *
   * @throws BearerError, synchronously or as the promise's rejection.
   */
  verifyToken(
    token: string,
    request?: CredentialRequest,
    scheme: AuthScheme = 'Bearer',
  ): BearerPrincipal | Promise<BearerPrincipal> {
    return this.verifyCall(
      token,
      { request, scheme, responseHeaders: {} },
      false,
    );
  }

  /**
   * `extracted`: `extractToken` returned the token, its b64token syntax (RFC 6750 section
   * 2.1) left to {@link verifyOnce}, after the cache.
   */
  private verifyCall(
    token: string,
    call: VerificationCall,
    extracted: boolean,
  ): BearerPrincipal | Promise<BearerPrincipal> {
    if (!verifyTrace.hasSubscribers) {
      return this.verifyChecked(token, call, extracted, undefined);
    }
    const trace: VerifyTraceContext = {};
    return traceMaybeAsync(verifyTrace, trace, () =>
      this.verifyChecked(token, call, extracted, trace),
    );
  }

  private verifyChecked(
    token: string,
    call: VerificationCall,
    extracted: boolean,
    trace: VerifyTraceContext | undefined,
  ): BearerPrincipal | Promise<BearerPrincipal> {
    let result: BearerPrincipal | Promise<BearerPrincipal>;
    try {
      result = this.verifyOnce(token, call, extracted, trace);
    } catch (error) {
      return this.fail(error, token, call.scheme);
    }
    return result instanceof Promise
      ? result.catch((error: unknown) => this.fail(error, token, call.scheme))
      : result;
  }

  private verifyOnce(
    token: string,
    call: VerificationCall,
    extracted: boolean,
    trace: VerifyTraceContext | undefined,
  ): BearerPrincipal | Promise<BearerPrincipal> {
    const cached = this.readCache(token);
    if (trace !== undefined) trace.cached = cached !== undefined;
    if (cached !== undefined) {
      return this.afterVerification(cached, token, true, call);
    }
    // One scan: a compact JWS is a b64token too, so only another token needs that scan.
    const compact =
      token.length <= this.options.maxTokenLength && isCompactJws(token);
    if (!compact) {
      if (extracted && !isB64token(token)) {
        throw new InvalidTokenError('malformed');
      }
      if (this.opaqueVerifier !== undefined && !isCompactJwsShape(token)) {
        return this.verifyOpaque(this.opaqueVerifier, token, call);
      }
    }
    if (this.issuers.multiple) {
      return this.verifyIssued(token, compact, call, trace);
    }
    // The key-free checks come first, so a bad token is refused without a promise.
    const inspected = compact
      ? inspectCompactToken(token, this.policy)
      : inspectToken(token, this.policy);
    if (trace !== undefined) trace.issuer = inspected.issuer;
    const source = this.keys.sourceFor(inspected.issuer);
    // A known key (or a kid that cannot be refetched yet) is decided without a promise.
    const key = source.getKnownKey(inspected.kid, inspected.alg);
    if (key !== undefined)
      return this.admit(token, inspected, key, call, undefined);
    return source
      .getKey(inspected.kid, inspected.alg)
      .then((fetched) =>
        this.admit(token, inspected, fetched, call, undefined),
      );
  }

  /**
   * With several issuers: the unverified `iss` picks the issuer's entry (configured: no
   * promise; resolved: maybe one), whose policy, key source and claim map then apply. An
   * issuer nobody vouches for is refused here, before any fetch.
   */
  private verifyIssued(
    token: string,
    compact: boolean,
    call: VerificationCall,
    trace: VerifyTraceContext | undefined,
  ): BearerPrincipal | Promise<BearerPrincipal> {
    const decoded = decodeToken(token, this.options, compact);
    const iss = readOwnClaim(decoded.claims, 'iss');
    if (typeof iss !== 'string') throw new InvalidTokenError('issuer');
    const entry = this.issuers.lookup(iss, decoded.claims, call.request);
    if (entry instanceof Promise) {
      return entry.then((found) =>
        this.verifyWithEntry(token, decoded, found, call, trace),
      );
    }
    return this.verifyWithEntry(token, decoded, entry, call, trace);
  }

  private verifyWithEntry(
    token: string,
    decoded: DecodedToken,
    entry: IssuerEntry | undefined,
    call: VerificationCall,
    trace: VerifyTraceContext | undefined,
  ): BearerPrincipal | Promise<BearerPrincipal> {
    if (entry === undefined) throw new InvalidTokenError('issuer');
    const inspected = checkDecodedToken(decoded, entry.policy);
    if (trace !== undefined) trace.issuer = inspected.issuer;
    const source = this.issuers.sourceOf(entry, inspected.issuer);
    const key = source.getKnownKey(inspected.kid, inspected.alg);
    if (key !== undefined)
      return this.admit(token, inspected, key, call, entry);
    return source
      .getKey(inspected.kid, inspected.alg)
      .then((fetched) => this.admit(token, inspected, fetched, call, entry));
  }

  /** An opaque token: its verifier (with its own cache), then the hooks. */
  private verifyOpaque(
    verifier: OpaqueTokenVerifier,
    token: string,
    call: VerificationCall,
  ): BearerPrincipal | Promise<BearerPrincipal> {
    if (token.length > this.options.maxTokenLength) {
      throw new InvalidTokenError('too_long');
    }
    const principal = verifier.verifyOpaqueToken(token);
    if (principal instanceof Promise) {
      return principal.then((verified) =>
        this.afterVerification(verified, token, false, call),
      );
    }
    return this.afterVerification(principal, token, true, call);
  }

  /**
   * Checks the signature, caches the principal and runs the hooks. `entry` is the token's
   * issuer when several are configured (its claim map applies); `undefined`: the top level.
   */
  private admit(
    token: string,
    inspected: InspectedToken,
    key: KeyObject,
    call: VerificationCall,
    entry: IssuerEntry | undefined,
  ): BearerPrincipal | Promise<BearerPrincipal> {
    if (!verifyInspectedSignature(token, inspected.alg, key)) {
      throw new InvalidTokenError('signature');
    }
    const principal = createPrincipal(inspected.claims, entry ?? this.options);
    if (this.cache?.admit(token) === true) {
      // A resolved issuer's token is not reused past the resolver's answer.
      const expiresAt = Math.min(
        inspected.exp * 1000,
        Date.now() + this.cacheMaxAgeMs,
        entry === undefined ? Infinity : entry.expiresAt,
      );
      this.cache.set(
        token,
        {
          principal,
          iss: inspected.issuer,
          kid: inspected.kid,
          alg: inspected.alg,
          key,
        },
        expiresAt,
      );
    }
    return this.afterVerification(principal, token, false, call);
  }

  /** The hooks, when there are any: most apps have none, and then no details are built. */
  private afterVerification(
    principal: BearerPrincipal,
    token: string,
    cached: boolean,
    call: VerificationCall,
  ): BearerPrincipal | Promise<BearerPrincipal> {
    if (this.hooks.length === 0) return principal;
    return this.runHooks(principal, { token, cached, ...call });
  }

  /**
   * The hooks in order; synchronous as long as every hook is. A hook's failure evicts the
   * token from the cache, so a refusal (say, a revocation) is never skipped by a later hit.
   */
  private runHooks(
    principal: BearerPrincipal,
    details: VerificationDetails,
    from = 0,
  ): BearerPrincipal | Promise<BearerPrincipal> {
    for (let i = from; i < this.hooks.length; i++) {
      let outcome: void | Promise<void>;
      try {
        outcome = this.hooks[i](principal, details);
      } catch (error) {
        this.forgetRefused(error, details.token);
        throw error;
      }
      if (outcome instanceof Promise) {
        return outcome.then(
          () => this.runHooks(principal, details, i + 1),
          (error: unknown) => {
            this.forgetRefused(error, details.token);
            throw error;
          },
        );
      }
    }
    return principal;
  }

  /**
   * A hook's refusal of the token (revoked, bound to something else) evicts it; a refusal of
   * one request's DPoP proof does not, so that nobody can evict a token with bad proofs.
   */
  private forgetRefused(error: unknown, token: string): void {
    if (
      error instanceof BearerError &&
      (error.code === 'invalid_dpop_proof' || error.code === 'use_dpop_nonce')
    ) {
      return;
    }
    this.cache?.delete(token);
  }

  /**
   * Runs the verification hooks for a principal verified elsewhere (the passport
   * strategy's path).
   *
   * @throws BearerError when a hook refuses.
   */
  async runVerificationHooks(
    principal: BearerPrincipal,
    details: VerificationDetails,
  ): Promise<void> {
    await this.runHooks(principal, details);
  }

  /** Forgets every cached verification (for example after a revocation). */
  clearCache(): void {
    this.cache?.clear();
  }

  /** The cached principal of a token, while the key that verified it is still current. */
  private readCache(token: string): BearerPrincipal | undefined {
    const cached = this.cache?.get(token);
    if (cached === undefined) return undefined;
    const { iss, kid, alg, key, principal } = cached.value;
    // A resolved issuer's source may have been dropped (evicted or no longer vouched for).
    if (this.keys.findSource(iss)?.isCurrent(kid, key, alg) === true)
      return principal;
    this.cache?.delete(token);
    return undefined;
  }

  private fail(
    error: unknown,
    token: string | undefined,
    scheme?: AuthScheme,
  ): never {
    const bearerError = toBearerError(error);
    // The challenge of the scheme the client used carries the error (RFC 9449 section 7.1).
    if (scheme === 'DPoP') bearerError.scheme = scheme;
    // Under a flood of bad tokens, the fingerprint and message cost more than the 401.
    if (Logger.isLevelEnabled('debug')) {
      const what =
        bearerError instanceof InvalidTokenError
          ? `${bearerError.constructor.name} (${bearerError.reason})`
          : bearerError instanceof AuthServerError
            ? `${bearerError.constructor.name} (${bearerError.internalReason})`
            : bearerError.constructor.name;
      this.logger.debug(
        `${what} token=${token === undefined ? 'none' : fingerprintToken(token)}`,
      );
    }
    throw bearerError;
  }
}
