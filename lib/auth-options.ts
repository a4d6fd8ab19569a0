import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { checkClaimPath } from './claims.js';
import { applyProfile, type AuthProfile } from './profiles.js';
import { plainAddress } from './sender-constraints/request-binding.js';
import {
  TOKEN_LOCATIONS,
  type TokenLocation,
  type TokenRequest,
} from './token-extractor.js';
import {
  isQuotable,
  isSafeChallengeValue,
  isSafeScope,
} from './www-authenticate.js';
import type { RevocationStore } from './revocation/revocation-store.js';

/**
 * The JWS algorithms that can verify with a public key from a JWKS. `EdDSA` (Ed25519,
 * Ed448) is verified by `BearerGuard`; jsonwebtoken, behind the passport strategy, has no
 * EdDSA, so `AuthGuard('nestjs-bearer')` refuses such tokens.
 */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;

/** An accepted JWS algorithm. `none` and HMAC (`HS*`) are never accepted. */
export type JwsAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];

/** Tuning of the key source (the issuer's JWKS, fetched with jwks-rsa). */
export interface JwksOptions {
  /**
   * How long one JWKS or discovery request may take, in milliseconds.
   * @default 5000
   */
  timeout?: number;
  /**
   * How long a fetched key set is trusted before it is fetched again, in milliseconds.
   * A key removed from the JWKS stops verifying within this time.
   * @default 600000 (10 minutes)
   */
  cacheMaxAge?: number;
  /**
   * The least time between two fetches caused by an unknown `kid`, in milliseconds.
   * A flood of tokens with random key ids cannot cause more fetches than this allows.
   * @default 30000
   */
  cooldown?: number;
  /**
   * How long known keys keep working while the JWKS cannot be fetched, in milliseconds,
   * counted from the last successful fetch.
   * @default 86400000 (24 hours)
   */
  staleMaxAge?: number;
  /**
   * The largest JWKS or discovery response accepted, in bytes.
   * @default 524288 (512 KiB)
   */
  maxResponseBytes?: number;
  /**
   * Fetch every key set (and discovery) before the app starts, and stop the start when one
   * cannot be had, for deployments that prefer to fail fast. Off: keys are fetched in the
   * background once the app listens, and a failure is a warning (requests then get 500
   * until the keys can be fetched). Leave it off for an issuer served by the app itself.
   * @default false
   */
  requireAtStartup?: boolean;
}

/** The verified-token cache. */
export interface TokenCacheOptions {
  /**
   * The most tokens kept (least recently used goes first).
   * @default 10000
   */
  maxEntries?: number;
  /**
   * The longest a verified token is reused without verifying it again, in seconds.
   * An entry also ends at the token's `exp` and when its key leaves the JWKS.
   * @default 300
   */
  maxAge?: number;
}

/** RFC 9728 protected resource metadata. */
export interface ProtectedResourceMetadataOptions {
  /**
   * The resource identifier: the API's base URL, with no query or fragment. RFC 9728 asks
   * for https; http is accepted for local and test set-ups.
   */
  resource: string;
  /**
   * `authorization_servers` of the document.
   * @default the configured issuers (those without `{tenantid}`)
   */
  authorizationServers?: readonly string[];
  /**
   * `scopes_supported` of the document.
   * @default every scope named by a `@Scopes()` decorator of the app
   */
  scopesSupported?: readonly string[];
  /** `resource_name`: a human-readable name of the API. */
  resourceName?: string;
  /** `resource_documentation`: a URL of the API's documentation. */
  resourceDocumentation?: string;
}

/** What a request gets while the revocation store cannot vouch for its copy. */
export type StoreUnavailableMode = 'fail-closed' | 'fail-open';

/** Token revocation (`BearerRevocations`), checked after every verification. */
export interface RevocationOptions {
  /**
   * Where revocations live: `'memory'` (this process), a `redis://host:port` or
   * `rediss://` URL shared by every instance (needs the `ioredis` package), or a
   * {@link RevocationStore} of your own.
   * @default 'memory'
   */
  store?: string | RevocationStore;
  /**
   * While the store cannot vouch for its copy (Redis unreachable, or a reconnect not yet
   * rebuilt): `'fail-closed'` answers 500; `'fail-open'` goes on with the revocations
   * known so far and logs a warning once per outage.
   * @default 'fail-closed'
   */
  onStoreUnavailable?: StoreUnavailableMode;
  /**
   * The most live revocations kept in memory (the memory store, or Redis's local copy).
   * A revocation beyond that is refused (500), never dropped silently.
   * @default 1000000
   */
  maxEntries?: number;
  /**
   * The longest lifetime (`exp` - `iat`) of the issuer's access tokens, in seconds. A
   * subject's or a client's revocation is kept this long after its "issued before" time,
   * and a `jti` revoked without its `exp` this long after the revocation.
   * @default 86400 (24 hours)
   */
  maxTokenLifetime?: number;
  /**
   * The prefix of the Redis keys and channel.
   * @default 'nestjs-bearer:'
   */
  keyPrefix?: string;
}

/** RFC 7662 token introspection, for opaque (non-JWS) access tokens. */
export interface IntrospectionOptions {
  /** The introspection endpoint. https, or http for local and test set-ups. */
  uri: string;
  /** This API's client id at the authorization server (`client_secret_basic`). */
  clientId: string;
  /** This API's client secret. */
  clientSecret: string;
  /**
   * How long one introspection request may take, in milliseconds.
   * @default 5000
   */
  timeout?: number;
  /**
   * The largest answer accepted, in bytes.
   * @default 65536 (64 KiB)
   */
  maxResponseBytes?: number;
  /**
   * The longest an answer is reused, in seconds; never past the token's `exp`.
   * @default 30
   */
  cacheMaxAge?: number;
  /**
   * The most answers cached.
   * @default 10000
   */
  maxEntries?: number;
  /**
   * Ask for RFC 9701 signed answers (`application/token-introspection+jwt`) and accept
   * nothing else; they are verified with the issuer's JWKS.
   * @default false
   */
  jwtResponse?: boolean;
}

/**
 * One trusted issuer of `issuers`, with what its tokens must carry and where its roles and
 * scopes are. Unset fields take the top-level option of the same name.
 */
export interface IssuerConfig {
  /** The issuer identifier; a token's `iss` must equal it exactly. No `{tenantid}`. */
  issuer: string;
  /**
   * The audience(s) this API answers to for this issuer's tokens.
   * @default the top-level `audience`
   */
  audience?: string | readonly string[];
  /**
   * This issuer's JWKS location.
   * @default `jwks_uri` of `<issuer>/.well-known/openid-configuration`
   */
  jwksUri?: string;
  /**
   * The JWS algorithms accepted from this issuer.
   * @default the top-level `algorithms`
   */
  algorithms?: readonly JwsAlgorithm[];
  /**
   * Where this issuer puts app roles (a claim name or a dotted path).
   * @default the top-level `roleClaim`
   */
  roleClaim?: string;
  /**
   * The claims holding this issuer's scopes.
   * @default the top-level `scopeClaims`
   */
  scopeClaims?: readonly string[];
}

/**
 * Issuers decided at run time (a tenant per customer, added without a restart). Only an
 * issuer the resolver vouches for is ever contacted: for any other `iss` the token is
 * refused (401 `invalid_token`) before a discovery document or a JWKS is fetched.
 */
export interface IssuerResolver {
  /**
   * The configuration of `issuer` (a token's unverified `iss`), or `undefined` when it is
   * not trusted. The answer, `undefined` included, is cached per issuer for
   * `cacheMaxAge`, whichever request asked; concurrent lookups of one issuer share one
   * call. A throw (or an invalid answer) is a 500 and is not cached.
   */
  resolve(
    issuer: string,
    request: TokenRequest | undefined,
  ): Promise<IssuerConfig | undefined> | IssuerConfig | undefined;
  /**
   * The most issuers whose answers, and the most resolved issuers whose key sources, are
   * kept (least recently used goes first).
   * @default 100
   */
  maxIssuers?: number;
  /**
   * How long an answer is reused, in seconds. A token verified for a resolved issuer is
   * not reused from the token cache past its issuer's answer.
   * @default 300
   */
  cacheMaxAge?: number;
}

/** Options of `AuthModule.forRoot()` / `forRootAsync()`. */
export interface AuthModuleOptions {
  /**
   * The issuer(s) to trust; a token's `iss` must equal one of them exactly.
   * For a multi-tenant app an entry may hold `{tenantid}`: it then matches when the
   * placeholder, replaced by the token's own `tid` claim, gives exactly `iss` (Azure AD).
   * Such an entry needs `jwksUri`. Required unless `issuers` is set; these issuers use the
   * top-level `audience`, `jwksUri`, `algorithms` and claim map.
   */
  issuer?: string | readonly string[];
  /**
   * More issuers, each with its own audience, keys, algorithms and claim map: a list, or a
   * resolver for issuers known only at run time (tenants). The top-level `audience`,
   * `algorithms`, `roleClaim` and `scopeClaims` are the defaults of each entry; the
   * top-level `jwksUri` is not (it belongs to the top-level `issuer`). See the README's
   * "Several issuers and tenants".
   */
  issuers?: readonly IssuerConfig[] | IssuerResolver;
  /**
   * With a `{tenantid}` issuer: the tenant ids (`tid`) allowed. Unset: every tenant.
   */
  allowedTenants?: readonly string[];
  /**
   * The audience(s) this API answers to; a token's `aud` must contain one of them.
   * An empty string is a configuration error, never "no check". Required, unless
   * `profile: 'mcp'` takes it from `protectedResourceMetadata.resource`.
   */
  audience?: string | readonly string[];
  /**
   * The JWKS location. When unset, it is read once from
   * `<issuer>/.well-known/openid-configuration` (`jwks_uri`), per issuer.
   */
  jwksUri?: string;
  /**
   * Accepted JWS algorithms. `none` and HMAC algorithms are refused at start.
   * @default ['RS256']
   */
  algorithms?: readonly JwsAlgorithm[];
  /**
   * Allowed clock skew when checking `exp`, `nbf` and `iat`, in seconds.
   * @default 30
   */
  clockTolerance?: number;
  /**
   * Where a token may travel (RFC 6750 section 2): `header` (2.1), `body` (2.2), `query` (2.3).
   * @default ['header']
   */
  tokenLocations?: readonly TokenLocation[];
  /**
   * The longest token accepted, in characters; longer ones are refused before parsing.
   * @default 8192
   */
  maxTokenLength?: number;
  /**
   * Require the RFC 9068 profile: `typ` must be `at+jwt` and the token must carry
   * `sub`, `iat`, `jti` and `client_id`.
   * @default false
   */
  requireAtJwt?: boolean;
  /** `realm` of the challenge (RFC 6750 section 3). Omitted when unset. */
  realm?: string;
  /**
   * `authorization_uri` of the challenge (Azure AD). When unset, the issuer's discovery
   * document's `authorization_endpoint` is used if it can be read; otherwise omitted.
   */
  authorizationUri?: string;
  /** `resource_id` of the challenge (Azure AD): the API's identifier. Omitted when unset. */
  resourceId?: string;
  /** `error_uri` of the challenge (RFC 6750 section 3). Omitted when unset. */
  errorUri?: string;
  /**
   * Claims that carry scopes; their values are joined. Each is a space-separated string
   * or an array of strings (Auth0's `permissions`). Each entry is a claim name or a dotted
   * path, read as `roleClaim` is.
   * @default ['scp', 'scope']
   */
  scopeClaims?: readonly string[];
  /**
   * Where app roles are read: a claim name or a dotted path into nested claims, such as
   * `roles` (Azure AD), `realm_access.roles` (Keycloak), `permissions` (Auth0 RBAC) or
   * `groups`. The value is an array of role names, or one string that is one role.
   *
   * Only own properties of JSON objects are followed, never an array index. A claim
   * name that contains dots (`https://example.com/roles`) still works: at each level,
   * the longest run of segments that names an own property is taken, so an own claim
   * named exactly like the path wins. Refused at start: an empty segment (a leading,
   * trailing or doubled dot) and a `__proto__`, `constructor` or `prototype` segment.
   * @default 'roles'
   */
  roleClaim?: string;
  /**
   * Register `BearerGuard` for every route. Set `false` to use `@UseGuards(BearerGuard)`
   * per controller instead.
   * @default true
   */
  globalGuard?: boolean;
  /**
   * Serve RFC 9728 metadata at `/.well-known/oauth-protected-resource[/path]` and add its
   * URL to challenges as `resource_metadata`. Off when unset.
   */
  protectedResourceMetadata?: ProtectedResourceMetadataOptions;
  /** Key source tuning. */
  jwks?: JwksOptions;
  /**
   * The verified-token cache; `false` turns it off (every request verifies the signature).
   * @default { maxEntries: 10000, maxAge: 300 }
   */
  tokenCache?: TokenCacheOptions | false;
  /**
   * Nest context types (`context.getType()`: `http`, `graphql`, `ws`, `rpc`, or another
   * transport's) whose handlers the guard lets through without authentication. Each one
   * listed is logged at start. Every other context is authenticated, and a context type
   * the module does not know is refused.
   * @default [] (none)
   */
  acceptContexts?: readonly string[];
  /**
   * The body of error responses: `'json'` (`{ statusCode, error, error_description,
   * message }`, plus `scope` and the like) or `'problem'` (RFC 9457
   * `application/problem+json`, with the same `error` and `error_description`).
   * @default 'json'
   */
  errorFormat?: ErrorFormat;
  /**
   * Token revocation by `jti`, subject or client (`BearerRevocations`); `true` for the
   * defaults (the memory store). Unset: no revocation check.
   */
  revocation?: RevocationOptions | boolean;
  /**
   * RFC 7662 introspection of opaque tokens (anything that is not a compact JWS). Unset:
   * opaque tokens are refused as malformed.
   */
  introspection?: IntrospectionOptions;
  /**
   * DPoP-bound tokens (RFC 9449): a mode, or the options. Unset: `off`. Whatever the mode,
   * a token bound to a DPoP key (`cnf.jkt`) is never accepted as a Bearer token.
   */
  dpop?: DpopOptions | DpopMode;
  /**
   * A validated preset: `'mcp'` (MCP servers), `'oauth2.1'` or `'fapi2'`; see the README's
   * "MCP servers" section for every setting each one turns on.
   */
  profile?: AuthProfile;
  /**
   * Addresses of the reverse proxies in front of the API (exact IPs). Only from them are
   * `X-Forwarded-Proto`/`X-Forwarded-Host` (for DPoP's `htu`) and `clientCertificateHeader`
   * believed.
   */
  trustedProxies?: readonly string[];
  /**
   * The header a trusted proxy forwards the TLS client certificate in, as RFC 9440
   * `Client-Cert` (`:base64 DER:`) or a PEM, URL-encoded or not. Unset: the certificate of
   * the TLS connection. Tokens bound to a certificate (`cnf["x5t#S256"]`, RFC 8705) are
   * always checked against it.
   */
  clientCertificateHeader?: string;
}

/** The body format of error responses. */
export type ErrorFormat = 'json' | 'problem';

/**
 * DPoP (RFC 9449): `off` (the `DPoP` scheme is "no credentials"), `allowed` (Bearer and
 * DPoP), `required` (DPoP only; a Bearer token is "no credentials").
 */
export type DpopMode = 'off' | 'allowed' | 'required';

/** Server-issued DPoP nonces (RFC 9449 section 9). */
export interface DpopNonceOptions {
  /**
   * The HMAC key nonces are made with, at least 32 characters. Every instance behind one
   * load balancer needs the same one; unset, a random key per process.
   */
  secret?: string;
  /**
   * Seconds per nonce slot; a nonce is accepted in its slot and the next one.
   * @default 300
   */
  lifetime?: number;
}

/** Sender-constrained tokens by DPoP proofs (RFC 9449). */
export interface DpopOptions {
  /** @default 'allowed' */
  mode?: DpopMode;
  /**
   * The accepted proof algorithms (asymmetric only).
   * @default ['ES256', 'EdDSA', 'PS256', 'RS256']
   */
  algorithms?: readonly JwsAlgorithm[];
  /** Demand a server nonce in every proof: `true` for a random per-process key. */
  nonce?: boolean | DpopNonceOptions;
  /**
   * How old a proof's `iat` may be, in seconds (plus `clockTolerance`); proofs' `jti`s are
   * kept this long in the replay cache.
   * @default 60
   */
  iatWindow?: number;
  /**
   * The API's public origins (`https://api.example.com`), which a proof's `htu` must name.
   * Unset: the origin a `trustedProxies` proxy forwards, else the socket's local address.
   */
  origins?: readonly string[];
}

/** {@link DpopOptions} after validation. */
export interface ResolvedDpopOptions {
  readonly mode: DpopMode;
  readonly algorithms: readonly JwsAlgorithm[];
  /** Unset when nonces are off. */
  readonly nonce:
    { readonly secret: Buffer; readonly lifetime: number } | undefined;
  readonly iatWindow: number;
  readonly origins: readonly string[] | undefined;
}

/** An {@link IssuerConfig} after validation, with the top-level defaults filled in. */
export interface ResolvedIssuerConfig {
  readonly issuer: string;
  readonly audiences: readonly string[];
  readonly jwksUri: string | undefined;
  readonly algorithms: readonly JwsAlgorithm[];
  readonly roleClaim: string;
  readonly scopeClaims: readonly string[];
}

/** An {@link IssuerResolver} after validation. */
export interface ResolvedIssuerResolver {
  readonly resolve: IssuerResolver['resolve'];
  readonly maxIssuers: number;
  /** Seconds. */
  readonly cacheMaxAge: number;
}

/** The top-level options a run-time {@link IssuerConfig} takes its defaults from. */
export interface IssuerDefaults {
  readonly audiences: readonly string[];
  readonly algorithms: readonly JwsAlgorithm[];
  readonly roleClaim: string;
  readonly scopeClaims: readonly string[];
}

/** Options after validation, with every default filled in. */
export interface ResolvedAuthOptions {
  /**
   * Every statically trusted issuer: the top-level `issuer` entries, then those of the
   * `issuers` list. Empty with a resolver and no top-level `issuer`.
   */
  readonly issuers: readonly string[];
  /** The `issuers` list, resolved; empty without one. */
  readonly issuerConfigs: readonly ResolvedIssuerConfig[];
  /** The `issuers` resolver; unset without one. */
  readonly issuerResolver: ResolvedIssuerResolver | undefined;
  readonly allowedTenants: readonly string[] | undefined;
  /** The top-level `audience`; empty when only `issuers` entries name audiences. */
  readonly audiences: readonly string[];
  readonly jwksUri: string | undefined;
  readonly algorithms: readonly JwsAlgorithm[];
  readonly clockTolerance: number;
  readonly tokenLocations: readonly TokenLocation[];
  readonly maxTokenLength: number;
  readonly requireAtJwt: boolean;
  readonly realm: string | undefined;
  readonly authorizationUri: string | undefined;
  readonly resourceId: string | undefined;
  readonly errorUri: string | undefined;
  readonly scopeClaims: readonly string[];
  readonly roleClaim: string;
  readonly globalGuard: boolean;
  readonly protectedResourceMetadata:
    Readonly<ProtectedResourceMetadataOptions> | undefined;
  readonly jwks: Readonly<Required<JwksOptions>>;
  readonly tokenCache: Readonly<Required<TokenCacheOptions>> | false;
  readonly acceptContexts: readonly string[];
  readonly errorFormat: ErrorFormat;
  /** Unset when revocation is off. */
  readonly revocation?: Readonly<Required<RevocationOptions>>;
  /** Unset when introspection is off. */
  readonly introspection?: Readonly<Required<IntrospectionOptions>>;
  readonly dpop: ResolvedDpopOptions;
  readonly trustedProxies: readonly string[];
  readonly clientCertificateHeader: string | undefined;
  readonly profile: AuthProfile | undefined;
  /** Every token must be sender-constrained (DPoP or mTLS): profile `fapi2`. */
  readonly requireSenderConstraint: boolean;
}

/** Thrown at start when an option is wrong; the message names the option. */
export class AuthConfigurationError extends Error {
  /** The option at fault, as a dotted path (`jwks.timeout`). */
  readonly option: string;

  constructor(option: string, problem: string) {
    super(`nestjs-bearer: option "${option}" ${problem}`);
    this.name = 'AuthConfigurationError';
    this.option = option;
  }
}

const KNOWN_OPTIONS = new Set([
  'issuer',
  'issuers',
  'allowedTenants',
  'audience',
  'jwksUri',
  'algorithms',
  'clockTolerance',
  'tokenLocations',
  'maxTokenLength',
  'requireAtJwt',
  'realm',
  'authorizationUri',
  'resourceId',
  'errorUri',
  'scopeClaims',
  'roleClaim',
  'globalGuard',
  'protectedResourceMetadata',
  'jwks',
  'tokenCache',
  'acceptContexts',
  'errorFormat',
  'revocation',
  'introspection',
  'dpop',
  'trustedProxies',
  'clientCertificateHeader',
  'profile',
]);

function check(condition: boolean, option: string, problem: string): void {
  if (!condition) throw new AuthConfigurationError(option, problem);
}

function toList(value: unknown): unknown[] {
  return Array.isArray(value) ? [...(value as unknown[])] : [value];
}

function checkUrl(value: unknown, option: string): string {
  check(typeof value === 'string', option, 'must be a URL string.');
  const text = value as string;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new AuthConfigurationError(option, `must be an absolute URL.`);
  }
  check(
    url.protocol === 'https:' || url.protocol === 'http:',
    option,
    'must be an http: or https: URL.',
  );
  // Never sent as Basic credentials, nor written into a challenge or a log.
  check(
    url.username === '' && url.password === '',
    option,
    'must not carry a user name or password.',
  );
  check(isQuotable(text), option, 'must not contain control characters.');
  return text;
}

function checkStrings(value: unknown, option: string): string[] {
  check(
    typeof value === 'string' || Array.isArray(value),
    option,
    'must be a string or an array of strings.',
  );
  const list = toList(value);
  check(list.length > 0, option, 'must not be an empty array.');
  for (const item of list) {
    check(typeof item === 'string', option, 'must contain only strings.');
    check(item !== '', option, 'must not be an empty string.');
  }
  return list as string[];
}

function checkNumber(
  value: unknown,
  option: string,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  check(
    typeof value === 'number' && Number.isFinite(value),
    option,
    'must be a finite number.',
  );
  const n = value as number;
  check(n >= min && n <= max, option, `must be between ${min} and ${max}.`);
  return n;
}

function checkBoolean(
  value: unknown,
  option: string,
  fallback: boolean,
): boolean {
  if (value === undefined) return fallback;
  check(typeof value === 'boolean', option, 'must be true or false.');
  return value as boolean;
}

function checkChallengeText(
  value: unknown,
  option: string,
): string | undefined {
  if (value === undefined) return undefined;
  check(typeof value === 'string', option, 'must be a string.');
  check(value !== '', option, 'must not be an empty string.');
  check(
    isQuotable(value as string),
    option,
    'must not contain control characters.',
  );
  return value as string;
}

function checkObject(value: unknown, option: string): Record<string, unknown> {
  if (value === undefined) return {};
  check(
    typeof value === 'object' && value !== null && !Array.isArray(value),
    option,
    'must be an object.',
  );
  return value as Record<string, unknown>;
}

function resolveAlgorithms(
  value: unknown,
  option = 'algorithms',
): JwsAlgorithm[] {
  if (value === undefined) return ['RS256'];
  check(Array.isArray(value), option, 'must be an array.');
  const list = value as unknown[];
  check(list.length > 0, option, 'must not be empty.');
  for (const alg of list) {
    check(typeof alg === 'string', option, 'must contain only strings.');
    const name = alg as string;
    check(
      name.toLowerCase() !== 'none',
      option,
      'must not contain "none": unsigned tokens are never accepted.',
    );
    check(
      !/^HS/i.test(name),
      option,
      `must not contain "${name}": HMAC cannot be verified with a public key from a JWKS.`,
    );
    check(
      (ASYMMETRIC_ALGORITHMS as readonly string[]).includes(name),
      option,
      `contains "${name}", which is not one of ${ASYMMETRIC_ALGORITHMS.join(', ')}.`,
    );
  }
  return [...new Set(list as JwsAlgorithm[])];
}

function resolveLocations(value: unknown): TokenLocation[] {
  if (value === undefined) return ['header'];
  check(Array.isArray(value), 'tokenLocations', 'must be an array.');
  const list = value as unknown[];
  check(list.length > 0, 'tokenLocations', 'must not be empty.');
  for (const location of list) {
    check(
      typeof location === 'string' &&
        (TOKEN_LOCATIONS as readonly string[]).includes(location),
      'tokenLocations',
      `must contain only ${TOKEN_LOCATIONS.map((l) => `"${l}"`).join(', ')}.`,
    );
  }
  return TOKEN_LOCATIONS.filter((l) => list.includes(l));
}

function resolveClaimNames(value: unknown, option = 'scopeClaims'): string[] {
  if (value === undefined) return ['scp', 'scope'];
  const paths = checkStrings(value, option);
  for (const path of paths) {
    const problem = checkClaimPath(path);
    check(problem === undefined, option, problem ?? '');
  }
  return paths;
}

function resolveJwks(value: unknown): Required<JwksOptions> {
  const jwks = checkObject(value, 'jwks');
  for (const key of Object.keys(jwks)) {
    check(
      [
        'timeout',
        'cacheMaxAge',
        'cooldown',
        'staleMaxAge',
        'maxResponseBytes',
        'requireAtStartup',
      ].includes(key),
      `jwks.${key}`,
      'is not a known option.',
    );
  }
  return {
    timeout: checkNumber(jwks.timeout, 'jwks.timeout', 5000, 100, 60_000),
    cacheMaxAge: checkNumber(
      jwks.cacheMaxAge,
      'jwks.cacheMaxAge',
      600_000,
      1000,
      86_400_000,
    ),
    cooldown: checkNumber(jwks.cooldown, 'jwks.cooldown', 30_000, 0, 3_600_000),
    staleMaxAge: checkNumber(
      jwks.staleMaxAge,
      'jwks.staleMaxAge',
      86_400_000,
      0,
      604_800_000,
    ),
    maxResponseBytes: checkNumber(
      jwks.maxResponseBytes,
      'jwks.maxResponseBytes',
      512 * 1024,
      1024,
      16 * 1024 * 1024,
    ),
    requireAtStartup: checkBoolean(
      jwks.requireAtStartup,
      'jwks.requireAtStartup',
      false,
    ),
  };
}

function resolveResourceMetadata(
  value: unknown,
): Readonly<ProtectedResourceMetadataOptions> | undefined {
  if (value === undefined) return undefined;
  const o = checkObject(value, 'protectedResourceMetadata');
  const known = [
    'resource',
    'authorizationServers',
    'scopesSupported',
    'resourceName',
    'resourceDocumentation',
  ];
  for (const key of Object.keys(o)) {
    check(
      known.includes(key),
      `protectedResourceMetadata.${key}`,
      'is not a known option.',
    );
  }
  const resource = checkUrl(o.resource, 'protectedResourceMetadata.resource');
  const url = new URL(resource);
  check(
    url.search === '' && !resource.includes('?') && !resource.includes('#'),
    'protectedResourceMetadata.resource',
    'must have no query or fragment (RFC 9728 section 1.2).',
  );
  const list = (name: string): string[] | undefined =>
    o[name] === undefined
      ? undefined
      : checkStrings(o[name], `protectedResourceMetadata.${name}`);
  const scopesSupported = list('scopesSupported');
  for (const scope of scopesSupported ?? []) {
    check(
      isValidScopeName(scope),
      'protectedResourceMetadata.scopesSupported',
      `contains an invalid scope.`,
    );
  }
  const authorizationServers = list('authorizationServers');
  authorizationServers?.forEach((server) =>
    checkUrl(server, 'protectedResourceMetadata.authorizationServers'),
  );
  return Object.freeze({
    resource,
    authorizationServers,
    scopesSupported,
    resourceName: checkChallengeText(
      o.resourceName,
      'protectedResourceMetadata.resourceName',
    ),
    resourceDocumentation:
      o.resourceDocumentation === undefined
        ? undefined
        : checkUrl(
            o.resourceDocumentation,
            'protectedResourceMetadata.resourceDocumentation',
          ),
  });
}

function resolveAcceptContexts(value: unknown): string[] {
  if (value === undefined) return [];
  check(
    Array.isArray(value),
    'acceptContexts',
    'must be an array of context types.',
  );
  for (const item of value as unknown[]) {
    check(
      typeof item === 'string' && /^[a-z][a-z0-9_-]*$/i.test(item),
      'acceptContexts',
      'must contain only context type names such as "rpc" or "ws".',
    );
  }
  return [...new Set(value as string[])];
}

function resolveErrorFormat(value: unknown): ErrorFormat {
  if (value === undefined) return 'json';
  check(
    value === 'json' || value === 'problem',
    'errorFormat',
    'must be "json" or "problem".',
  );
  return value as ErrorFormat;
}

function resolveTokenCache(
  value: unknown,
): Required<TokenCacheOptions> | false {
  if (value === false) return false;
  const cache = checkObject(value, 'tokenCache');
  for (const key of Object.keys(cache)) {
    check(
      ['maxEntries', 'maxAge'].includes(key),
      `tokenCache.${key}`,
      'is not a known option.',
    );
  }
  return {
    maxEntries: checkNumber(
      cache.maxEntries,
      'tokenCache.maxEntries',
      10_000,
      1,
      10_000_000,
    ),
    maxAge: checkNumber(cache.maxAge, 'tokenCache.maxAge', 300, 1, 86_400),
  };
}

const STORE_METHODS = [
  'add',
  'check',
  'isAvailable',
  'subscribe',
  'addIfAbsent',
];

function resolveRevocationStore(value: unknown): string | RevocationStore {
  if (value === undefined) return 'memory';
  if (typeof value === 'object' && value !== null) {
    const store = value as Record<string, unknown>;
    for (const method of STORE_METHODS) {
      check(
        typeof store[method] === 'function',
        'revocation.store',
        `must be "memory", a redis:// URL or a RevocationStore (it has no ${method}()).`,
      );
    }
    return value as RevocationStore;
  }
  check(
    typeof value === 'string',
    'revocation.store',
    'must be "memory", a redis:// URL or a RevocationStore.',
  );
  if (value === 'memory') return value;
  let url: URL | undefined;
  try {
    url = new URL(value as string);
  } catch {
    url = undefined;
  }
  check(
    url !== undefined &&
      (url.protocol === 'redis:' || url.protocol === 'rediss:'),
    'revocation.store',
    'must be "memory" or a redis:// (or rediss://) URL.',
  );
  return value as string;
}

function resolveRevocation(
  value: unknown,
): Readonly<Required<RevocationOptions>> | undefined {
  if (value === undefined || value === false) return undefined;
  const o = checkObject(value === true ? {} : value, 'revocation');
  const known = [
    'store',
    'onStoreUnavailable',
    'maxEntries',
    'maxTokenLifetime',
    'keyPrefix',
  ];
  for (const key of Object.keys(o)) {
    check(known.includes(key), `revocation.${key}`, 'is not a known option.');
  }
  const mode = o.onStoreUnavailable ?? 'fail-closed';
  check(
    mode === 'fail-closed' || mode === 'fail-open',
    'revocation.onStoreUnavailable',
    'must be "fail-closed" or "fail-open".',
  );
  const keyPrefix = o.keyPrefix ?? 'nestjs-bearer:';
  check(
    typeof keyPrefix === 'string' && /^[\x21-\x7E]{0,64}$/.test(keyPrefix),
    'revocation.keyPrefix',
    'must be at most 64 printable characters without spaces.',
  );
  return Object.freeze({
    store: resolveRevocationStore(o.store),
    onStoreUnavailable: mode as StoreUnavailableMode,
    maxEntries: checkNumber(
      o.maxEntries,
      'revocation.maxEntries',
      1_000_000,
      1,
      100_000_000,
    ),
    maxTokenLifetime: checkNumber(
      o.maxTokenLifetime,
      'revocation.maxTokenLifetime',
      86_400,
      60,
      31_536_000,
    ),
    keyPrefix: keyPrefix as string,
  });
}

function checkSecret(value: unknown, option: string): string {
  check(
    typeof value === 'string' && value !== '',
    option,
    'must be a non-empty string.',
  );
  check(
    isQuotable(value as string),
    option,
    'must not contain control characters.',
  );
  return value as string;
}

function resolveIntrospection(
  value: unknown,
): Readonly<Required<IntrospectionOptions>> | undefined {
  if (value === undefined) return undefined;
  const o = checkObject(value, 'introspection');
  const known = [
    'uri',
    'clientId',
    'clientSecret',
    'timeout',
    'maxResponseBytes',
    'cacheMaxAge',
    'maxEntries',
    'jwtResponse',
  ];
  for (const key of Object.keys(o)) {
    check(
      known.includes(key),
      `introspection.${key}`,
      'is not a known option.',
    );
  }
  check(o.uri !== undefined, 'introspection.uri', 'is required.');
  check(o.clientId !== undefined, 'introspection.clientId', 'is required.');
  check(
    o.clientSecret !== undefined,
    'introspection.clientSecret',
    'is required.',
  );
  return Object.freeze({
    uri: checkUrl(o.uri, 'introspection.uri'),
    clientId: checkSecret(o.clientId, 'introspection.clientId'),
    clientSecret: checkSecret(o.clientSecret, 'introspection.clientSecret'),
    timeout: checkNumber(o.timeout, 'introspection.timeout', 5000, 100, 60_000),
    maxResponseBytes: checkNumber(
      o.maxResponseBytes,
      'introspection.maxResponseBytes',
      64 * 1024,
      1024,
      4 * 1024 * 1024,
    ),
    cacheMaxAge: checkNumber(
      o.cacheMaxAge,
      'introspection.cacheMaxAge',
      30,
      0,
      300,
    ),
    maxEntries: checkNumber(
      o.maxEntries,
      'introspection.maxEntries',
      10_000,
      1,
      10_000_000,
    ),
    jwtResponse: checkBoolean(
      o.jwtResponse,
      'introspection.jwtResponse',
      false,
    ),
  });
}

const DPOP_MODES: readonly DpopMode[] = ['off', 'allowed', 'required'];
const DEFAULT_DPOP_ALGORITHMS: readonly JwsAlgorithm[] = [
  'ES256',
  'EdDSA',
  'PS256',
  'RS256',
];

function resolveDpopNonce(
  value: unknown,
): ResolvedDpopOptions['nonce'] | undefined {
  if (value === undefined || value === false) return undefined;
  const o = checkObject(value === true ? {} : value, 'dpop.nonce');
  for (const key of Object.keys(o)) {
    check(
      key === 'secret' || key === 'lifetime',
      `dpop.nonce.${key}`,
      'is not a known option.',
    );
  }
  if (o.secret !== undefined) {
    check(
      typeof o.secret === 'string' && o.secret.length >= 32,
      'dpop.nonce.secret',
      'must be a string of at least 32 characters.',
    );
  }
  return Object.freeze({
    secret:
      o.secret === undefined
        ? randomBytes(32)
        : Buffer.from(o.secret as string, 'utf8'),
    lifetime: checkNumber(o.lifetime, 'dpop.nonce.lifetime', 300, 10, 86_400),
  });
}

function resolveDpop(
  value: unknown,
  locations: readonly TokenLocation[],
): ResolvedDpopOptions {
  const o = checkObject(
    typeof value === 'string' ? { mode: value } : value,
    'dpop',
  );
  const known = ['mode', 'algorithms', 'nonce', 'iatWindow', 'origins'];
  for (const key of Object.keys(o)) {
    check(known.includes(key), `dpop.${key}`, 'is not a known option.');
  }
  const mode = o.mode ?? (value === undefined ? 'off' : 'allowed');
  check(
    DPOP_MODES.includes(mode as DpopMode),
    'dpop.mode',
    'must be "off", "allowed" or "required".',
  );
  check(
    mode !== 'required' || locations.every((location) => location === 'header'),
    'tokenLocations',
    'must be ["header"] when dpop.mode is "required": DPoP tokens travel only in the Authorization header.',
  );
  let algorithms = DEFAULT_DPOP_ALGORITHMS;
  if (o.algorithms !== undefined) {
    check(
      Array.isArray(o.algorithms) && o.algorithms.length > 0,
      'dpop.algorithms',
      'must be a non-empty array.',
    );
    for (const alg of o.algorithms as unknown[]) {
      check(
        (ASYMMETRIC_ALGORITHMS as readonly unknown[]).includes(alg),
        'dpop.algorithms',
        `must contain only ${ASYMMETRIC_ALGORITHMS.join(', ')}.`,
      );
    }
    algorithms = [...new Set(o.algorithms as JwsAlgorithm[])];
  }
  let origins: string[] | undefined;
  if (o.origins !== undefined) {
    origins = checkStrings(o.origins, 'dpop.origins').map((origin) => {
      const url = new URL(checkUrl(origin, 'dpop.origins'));
      check(
        url.pathname === '/' && url.search === '' && url.hash === '',
        'dpop.origins',
        `must hold origins only (scheme, host and port), not "${origin}".`,
      );
      return url.origin;
    });
  }
  return Object.freeze({
    mode: mode as DpopMode,
    algorithms: Object.freeze([...algorithms]),
    nonce: mode === 'off' ? undefined : resolveDpopNonce(o.nonce),
    iatWindow: checkNumber(o.iatWindow, 'dpop.iatWindow', 60, 1, 3600),
    origins: origins === undefined ? undefined : Object.freeze(origins),
  });
}

function resolveTrustedProxies(value: unknown): readonly string[] {
  if (value === undefined) return Object.freeze([]);
  check(
    Array.isArray(value),
    'trustedProxies',
    'must be an array of IP addresses.',
  );
  for (const address of value as unknown[]) {
    check(
      typeof address === 'string' && isIP(address) !== 0,
      'trustedProxies',
      'must contain only IP addresses (no host names, no ranges).',
    );
  }
  // As the peer address is compared: lower case, an IPv4-mapped IPv6 address as IPv4.
  return Object.freeze((value as string[]).map(plainAddress));
}

function resolveCertificateHeader(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  check(
    typeof value === 'string' && /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(value),
    'clientCertificateHeader',
    'must be a header name.',
  );
  return (value as string).toLowerCase();
}

const ISSUER_CONFIG_KEYS = [
  'issuer',
  'audience',
  'jwksUri',
  'algorithms',
  'roleClaim',
  'scopeClaims',
];

/**
 * Validates one issuer configuration (an `issuers` entry, or a resolver's answer) and
 * fills in the top-level defaults. `option` names it in messages (`issuers[1]`).
 *
 * @throws AuthConfigurationError naming the field, as `issuers[1].audience`.
 */
export function resolveIssuerConfig(
  value: unknown,
  option: string,
  defaults: IssuerDefaults,
): ResolvedIssuerConfig {
  check(
    typeof value === 'object' && value !== null && !Array.isArray(value),
    option,
    'must be an object { issuer, audience, jwksUri?, algorithms?, roleClaim?, scopeClaims? }.',
  );
  const o = value as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    check(
      ISSUER_CONFIG_KEYS.includes(key),
      `${option}.${key}`,
      'is not a known option.',
    );
  }
  check(o.issuer !== undefined, `${option}.issuer`, 'is required.');
  const issuer = checkUrl(o.issuer, `${option}.issuer`);
  check(
    !issuer.includes('{tenantid}'),
    `${option}.issuer`,
    'must not hold {tenantid}: a tenant template belongs in the top-level "issuer" (with jwksUri).',
  );
  check(
    o.audience !== undefined || defaults.audiences.length > 0,
    `${option}.audience`,
    'is required: there is no top-level "audience" to default to.',
  );
  const roleClaim = o.roleClaim ?? defaults.roleClaim;
  const roleClaimProblem = checkClaimPath(roleClaim);
  check(
    roleClaimProblem === undefined,
    `${option}.roleClaim`,
    roleClaimProblem ?? '',
  );
  return Object.freeze({
    issuer,
    audiences: Object.freeze(
      o.audience === undefined
        ? [...defaults.audiences]
        : checkStrings(o.audience, `${option}.audience`),
    ),
    jwksUri:
      o.jwksUri === undefined
        ? undefined
        : checkUrl(o.jwksUri, `${option}.jwksUri`),
    algorithms: Object.freeze(
      o.algorithms === undefined
        ? [...defaults.algorithms]
        : resolveAlgorithms(o.algorithms, `${option}.algorithms`),
    ),
    roleClaim: roleClaim as string,
    scopeClaims: Object.freeze(
      o.scopeClaims === undefined
        ? [...defaults.scopeClaims]
        : resolveClaimNames(o.scopeClaims, `${option}.scopeClaims`),
    ),
  });
}

/** The `issuers` option: a list of configurations, or a resolver. */
function resolveIssuers(
  value: unknown,
  topLevel: readonly string[],
  defaults: IssuerDefaults,
): {
  configs: readonly ResolvedIssuerConfig[];
  resolver: ResolvedIssuerResolver | undefined;
} {
  const none = { configs: Object.freeze([]), resolver: undefined };
  if (value === undefined) return none;
  if (Array.isArray(value)) {
    check(
      value.length > 0,
      'issuers',
      'must not be an empty array: list at least one issuer, or leave it unset.',
    );
    const seen = new Set(topLevel);
    const configs = (value as unknown[]).map((entry, i) => {
      const config = resolveIssuerConfig(entry, `issuers[${i}]`, defaults);
      check(
        !seen.has(config.issuer),
        `issuers[${i}].issuer`,
        `names "${config.issuer}" twice (in "issuer" or an earlier entry of "issuers").`,
      );
      seen.add(config.issuer);
      return config;
    });
    return { configs: Object.freeze(configs), resolver: undefined };
  }
  check(
    typeof value === 'object' &&
      value !== null &&
      typeof (value as { resolve?: unknown }).resolve === 'function',
    'issuers',
    'must be an array of issuer configurations or a resolver { resolve(issuer, request) }.',
  );
  const o = value as Record<string, unknown>;
  // A plain object is options, so a typo is caught; a class instance (a tenants service)
  // carries fields of its own.
  const prototype: unknown = Object.getPrototypeOf(o);
  if (prototype === Object.prototype || prototype === null) {
    for (const key of Object.keys(o)) {
      check(
        ['resolve', 'maxIssuers', 'cacheMaxAge'].includes(key),
        `issuers.${key}`,
        'is not a known option.',
      );
    }
  }
  const resolver = o as unknown as IssuerResolver;
  return {
    configs: none.configs,
    resolver: Object.freeze({
      // Called as a method, so a class instance's `this` still works.
      resolve: (issuer: string, request: TokenRequest | undefined) =>
        resolver.resolve(issuer, request),
      maxIssuers: checkNumber(
        o.maxIssuers,
        'issuers.maxIssuers',
        100,
        1,
        1_000_000,
      ),
      cacheMaxAge: checkNumber(
        o.cacheMaxAge,
        'issuers.cacheMaxAge',
        300,
        1,
        86_400,
      ),
    }),
  };
}

/**
 * Validates module options once, at start, and fills in the defaults.
 * Throws {@link AuthConfigurationError} naming the first wrong option.
 */
export function resolveAuthOptions(options: unknown): ResolvedAuthOptions {
  check(
    typeof options === 'object' && options !== null && !Array.isArray(options),
    'options',
    'must be an object.',
  );
  for (const key of Object.keys(options as object)) {
    check(KNOWN_OPTIONS.has(key), key, 'is not a known option.');
  }
  const o = applyProfile(options as Record<string, unknown>);
  check(
    o.issuer !== undefined || o.issuers !== undefined,
    'issuer',
    'is required (or set "issuers").',
  );
  const issuers =
    o.issuer === undefined ? [] : checkStrings(o.issuer, 'issuer');
  issuers.forEach((issuer) => checkUrl(issuer, 'issuer'));
  for (const issuer of issuers) {
    check(
      issuer.split('{tenantid}').length <= 2,
      'issuer',
      'may hold {tenantid} at most once.',
    );
  }
  const templated = issuers.some((issuer) => issuer.includes('{tenantid}'));
  check(
    !templated || o.jwksUri !== undefined,
    'jwksUri',
    'is required when an issuer holds {tenantid} (there is no single discovery document).',
  );
  const allowedTenants =
    o.allowedTenants === undefined
      ? undefined
      : checkStrings(o.allowedTenants, 'allowedTenants');
  check(
    allowedTenants === undefined || templated,
    'allowedTenants',
    'only applies to an issuer that holds {tenantid}.',
  );
  // Without a top-level issuer, each entry of `issuers` may name its own audience.
  check(
    o.audience !== undefined || o.issuer === undefined,
    'audience',
    'is required.',
  );
  const audiences =
    o.audience === undefined ? [] : checkStrings(o.audience, 'audience');
  check(
    o.jwksUri === undefined || o.issuer !== undefined,
    'jwksUri',
    'applies to the top-level "issuer" only; with "issuers", set each entry\'s jwksUri.',
  );
  const jwksUri =
    o.jwksUri === undefined ? undefined : checkUrl(o.jwksUri, 'jwksUri');
  const authorizationUri =
    o.authorizationUri === undefined
      ? undefined
      : checkUrl(o.authorizationUri, 'authorizationUri');
  const errorUri =
    o.errorUri === undefined ? undefined : checkUrl(o.errorUri, 'errorUri');
  check(
    errorUri === undefined || isSafeChallengeValue('error_uri', errorUri),
    'errorUri',
    'must be a URI without spaces or characters outside RFC 3986.',
  );
  const resourceId = checkChallengeText(o.resourceId, 'resourceId');
  const realm = checkChallengeText(o.realm, 'realm');
  const scopeClaims = resolveClaimNames(o.scopeClaims);
  const tokenLocations = resolveLocations(o.tokenLocations);
  const trustedProxies = resolveTrustedProxies(o.trustedProxies);
  const clientCertificateHeader = resolveCertificateHeader(
    o.clientCertificateHeader,
  );
  check(
    clientCertificateHeader === undefined || trustedProxies.length > 0,
    'clientCertificateHeader',
    'needs trustedProxies: the header is only believed from a proxy you list.',
  );
  const roleClaim = o.roleClaim === undefined ? 'roles' : o.roleClaim;
  const roleClaimProblem = checkClaimPath(roleClaim);
  check(roleClaimProblem === undefined, 'roleClaim', roleClaimProblem ?? '');
  const algorithms = resolveAlgorithms(o.algorithms);
  const { configs, resolver } = resolveIssuers(o.issuers, issuers, {
    audiences,
    algorithms,
    roleClaim: roleClaim as string,
    scopeClaims,
  });
  return Object.freeze({
    issuers: [...issuers, ...configs.map((config) => config.issuer)],
    issuerConfigs: configs,
    issuerResolver: resolver,
    allowedTenants,
    audiences,
    jwksUri,
    algorithms,
    clockTolerance: checkNumber(o.clockTolerance, 'clockTolerance', 30, 0, 600),
    tokenLocations,
    maxTokenLength: checkNumber(
      o.maxTokenLength,
      'maxTokenLength',
      8192,
      64,
      65_536,
    ),
    requireAtJwt: checkBoolean(o.requireAtJwt, 'requireAtJwt', false),
    realm,
    authorizationUri,
    resourceId,
    errorUri,
    scopeClaims,
    roleClaim: roleClaim as string,
    globalGuard: checkBoolean(o.globalGuard, 'globalGuard', true),
    protectedResourceMetadata: resolveResourceMetadata(
      o.protectedResourceMetadata,
    ),
    jwks: Object.freeze(resolveJwks(o.jwks)),
    tokenCache: (() => {
      const cache = resolveTokenCache(o.tokenCache);
      return cache === false ? false : Object.freeze(cache);
    })(),
    acceptContexts: Object.freeze(resolveAcceptContexts(o.acceptContexts)),
    errorFormat: resolveErrorFormat(o.errorFormat),
    revocation: resolveRevocation(o.revocation),
    introspection: resolveIntrospection(o.introspection),
    dpop: resolveDpop(o.dpop, tokenLocations),
    trustedProxies,
    clientCertificateHeader,
    profile: o.profile as AuthProfile | undefined,
    requireSenderConstraint: o.profile === 'fapi2',
  });
}

/** Whether a scope name can appear in a challenge's `scope` (RFC 6750 section 3). */
export function isValidScopeName(scope: string): boolean {
  return isSafeScope(scope) && !scope.includes(' ');
}
