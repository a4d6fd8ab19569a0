/**
 * Client-side checks of a resource server's Bearer challenge, as the Azure AD page
 * "Errors from Secured Resources" asks of clients: trust `authorization_uri` only when it
 * belongs to a known authority, and accept `resource_id` only when it begins with the base
 * URL of the API being called. Plain TypeScript, no Nest dependency.
 */
import {
  ChallengeParseError,
  isSafeScope,
  parseChallenges,
  type ParsedChallenge,
} from '../www-authenticate.js';

/**
 * The Microsoft Entra ID (Azure AD) authority hosts trusted by default: the aliases that
 * Entra's instance discovery (`/common/discovery/instance`) lists for the public cloud,
 * Azure China (21Vianet) and Azure US Government. The retired Azure Germany cloud
 * (`login.microsoftonline.de`) is left out; pass `trustedAuthorityHosts` to add hosts.
 */
export const AZURE_AUTHORITY_HOSTS: readonly string[] = Object.freeze([
  // Public cloud.
  'login.microsoftonline.com',
  'login.windows.net',
  'login.microsoft.com',
  'sts.windows.net',
  // Azure China (21Vianet).
  'login.partner.microsoftonline.cn',
  'login.chinacloudapi.cn',
  // Azure US Government.
  'login.microsoftonline.us',
  'login.usgovcloudapi.net',
  'login-us.microsoftonline.com',
]);

/** Entra ID tenant aliases that name no single tenant. */
const MULTI_TENANT_SEGMENTS = new Set(['common', 'organizations', 'consumers']);

/**
 * The error codes a challenge may carry: RFC 6750 section 3.1, Azure AD's
 * `insufficient_access` and `insufficient_claims`, RFC 9470's
 * `insufficient_user_authentication`, and RFC 9449's `invalid_dpop_proof` and
 * `use_dpop_nonce` (DPoP challenges).
 */
export type ChallengeErrorCode =
  | 'invalid_request'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'insufficient_access'
  | 'insufficient_claims'
  | 'insufficient_user_authentication'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce';

/** The schemes {@link verifyChallenge} reads: RFC 6750 `Bearer` and RFC 9449 `DPoP`. */
export type ChallengeScheme = 'Bearer' | 'DPoP';

/**
 * A parsed `Bearer` or `DPoP` challenge with typed fields (RFC 6750 section 3, RFC 9449
 * section 7.1, RFC 9470 section 3).
 */
export interface BearerChallenge {
  /** The scheme of the challenge, in this spelling whatever the header's case. */
  scheme: ChallengeScheme;
  /** `realm`: the protection space (RFC 9110 section 11.5). */
  realm?: string;
  /** `authorization_uri`: the authorization server's endpoint (Azure AD). */
  authorizationUri?: string;
  /** `resource_id`: the identifier to request a token for (Azure AD). */
  resourceId?: string;
  /** `error`: the error code; other codes than the known ones are kept as sent. */
  error?: ChallengeErrorCode | (string & {});
  /** `error_description`: a developer-facing text, not for end users. */
  errorDescription?: string;
  /** `error_uri`: a page that explains the error. */
  errorUri?: string;
  /**
   * `scope`: the scopes the resource requires (RFC 6750 section 3), split on spaces and
   * ready for a token request: a bare scope is qualified with the API's `resource`
   * (`Files.Read` becomes `api://files/Files.Read`). The value as sent stays in
   * {@link BearerChallenge.params}.
   */
  scope?: string[];
  /** `algs`: the DPoP proof algorithms the resource accepts (RFC 9449 section 7.1). */
  algs?: string[];
  /**
   * `claims`: Azure AD's claims challenge, decoded to its JSON text (ready for a token
   * request's `claims` parameter). The raw value stays in {@link BearerChallenge.params}.
   */
  claims?: string;
  /** `acr_values`: the authentication context classes required (RFC 9470), split on spaces. */
  acrValues?: string[];
  /** `max_age`: the maximum authentication age in seconds (RFC 9470). */
  maxAge?: number;
  /** Every parameter as sent, by lower-cased name; a repeated name keeps its first value. */
  params: Readonly<Record<string, string>>;
}

/** Why a challenge is not trusted. Each reason is a stable code. */
export type UntrustedChallengeReason =
  /** No challenge of an accepted scheme (`Bearer` by default) in the header, or no header. */
  | 'no_bearer_challenge'
  /**
   * The header does not follow RFC 9110, or a challenge of an accepted scheme uses
   * token68 or repeats a parameter.
   */
  | 'malformed_challenge'
  /** `authorization_uri` is not an absolute URI written plainly. */
  | 'authorization_uri_invalid'
  /** `authorization_uri` is not `https:`. */
  | 'authorization_uri_not_https'
  /** `authorization_uri` carries user information (`user@host`). */
  | 'authorization_uri_has_userinfo'
  /** `authorization_uri` names a port other than 443. */
  | 'authorization_uri_bad_port'
  /** `authorization_uri` is on a host that is not a trusted authority. */
  | 'authorization_uri_untrusted_host'
  /** A tenant is expected, and `authorization_uri` names none or a multi-tenant alias. */
  | 'authorization_uri_not_tenant_specific'
  /** A tenant is expected, and `authorization_uri` names another one. */
  | 'authorization_uri_wrong_tenant'
  /** `resource_id` does not begin with the base URL of the API and is not allowed. */
  | 'resource_id_mismatch'
  /** `scope` is not a list of RFC 6750 scope tokens. */
  | 'scope_invalid'
  /**
   * A scope names another resource than the API's (a URI such as
   * `https://graph.microsoft.com/Mail.Read`, or an application id such as
   * `00000003-0000-0000-c000-000000000000/.default`), or has a `.` or `..` segment.
   */
  | 'scope_untrusted_resource'
  /**
   * A bare scope (`Mail.Read`) and no `resource` option to qualify it with: Entra ID would
   * read it as a Microsoft Graph permission.
   */
  | 'scope_resource_unknown'
  /** The DPoP challenge's `algs` is not a list of algorithm names. */
  | 'algs_invalid'
  /** `claims` is not base64 (or plain) JSON text of an object. */
  | 'claims_invalid'
  /** `max_age` is not a non-negative integer. */
  | 'max_age_invalid';

/** Options of {@link verifyChallenge}. */
export interface VerifyOptions {
  /** The URL of the request that received the challenge; its origin is the API's base URL. */
  requestUrl: string | URL;
  /**
   * Hosts whose `authorization_uri` is trusted, compared exactly (no subdomains).
   * @default AZURE_AUTHORITY_HOSTS
   */
  trustedAuthorityHosts?: readonly string[];
  /**
   * The tenant the API belongs to (a tenant id or domain). When set, `authorization_uri`
   * must be tenant-specific: its first path segment must equal this tenant
   * (case-insensitively), never `common`, `organizations` or `consumers`.
   * @default undefined (any tenant segment)
   */
  expectedTenant?: string;
  /**
   * Resource ids accepted even though they do not begin with the API's base URL, for
   * example an App ID URI `api://...`: the seed's "reliable alternate way to verify the id".
   * Compared exactly; scopes beginning with one of them followed by `/` are accepted too.
   * @default []
   */
  allowedResourceIds?: readonly string[];
  /**
   * The API's own resource: its App ID URI (`api://orders`), another absolute URI, or its
   * application id (a GUID). A bare scope of a challenge (`Orders.Read`) is qualified with
   * it as `${resource}/${scope}`, the way Entra ID splits a scope at its last `/` (so
   * `https://management.azure.com/` gives `https://management.azure.com//user_impersonation`).
   * It is also accepted as `resource_id` and as the prefix of a qualified scope.
   * @default undefined (a challenge with a bare scope is refused: `scope_resource_unknown`)
   */
  resource?: string;
  /**
   * The challenge schemes to read, the preferred first: `['DPoP', 'Bearer']` for a client
   * that sends DPoP-bound tokens (RFC 9449 section 7.1). Every challenge of these schemes
   * is checked; the result is the first one that carries an `error`, else the first of the
   * preferred scheme.
   * @default ['Bearer']
   */
  schemes?: readonly ChallengeScheme[];
}

/** The outcome of {@link verifyChallenge}. */
export type VerifyResult =
  | { trusted: true; challenge: BearerChallenge }
  | { trusted: false; reason: UntrustedChallengeReason; message: string };

/** Something with `Headers.get`, such as `Headers`. */
export interface HeadersLike {
  get(name: string): string | null;
}

/** Something with `headers`, such as a `Response`. */
export interface ResponseLike {
  readonly headers: HeadersLike;
}

function untrusted(
  reason: UntrustedChallengeReason,
  message: string,
): VerifyResult {
  return { trusted: false, reason, message };
}

function readHeader(
  source: string | HeadersLike | ResponseLike | null | undefined,
): string | null {
  if (source === null || source === undefined) return null;
  if (typeof source === 'string') return source;
  if ('headers' in source) return source.headers.get('www-authenticate');
  return source.get('www-authenticate');
}

// RFC 3986 characters only: no space, backslash, quote or control character, so the
// string means the same to every URL parser (WHATWG parsers forgive `https:\\host`).
const PLAIN_URI = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]+$/;
// scheme "://" authority rest, read by hand so that no parser leniency is involved.
const URI_PARTS = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/s;
// A registered name or an IP literal, with an optional port without leading zeros.
const AUTHORITY =
  /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::([1-9][0-9]{0,4}))?$/;
const DEFAULT_PORTS: Record<string, string> = { http: '80', https: '443' };
// A `.` or `..` path segment, also percent-encoded: URL parsers remove them, so the path
// they reach differs from the one written (`/{tenant}/../common` is `/common`).
const DOT_SEGMENT = /^[^?#]*?(?:^|\/)(?:\.|%2e){1,2}(?:[/?#]|$)/i;

interface UriParts {
  scheme: string;
  /** Whether the authority carries user information; host and port are then empty. */
  userinfo: boolean;
  host: string;
  port: string | undefined;
  rest: string;
}

/** Splits an absolute URI; `undefined` when it is not written plainly. */
function splitUri(value: string): UriParts | undefined {
  if (!PLAIN_URI.test(value)) return undefined;
  const parts = URI_PARTS.exec(value);
  if (parts === null) return undefined;
  const [, scheme, authority, rest] = parts;
  if (authority.includes('@')) {
    const lower = scheme.toLowerCase();
    return { scheme: lower, userinfo: true, host: '', port: undefined, rest };
  }
  const hostPort = AUTHORITY.exec(authority);
  if (hostPort === null) return undefined;
  const [, host, port] = hostPort;
  return {
    scheme: scheme.toLowerCase(),
    userinfo: false,
    host: host.toLowerCase(),
    port: port === DEFAULT_PORTS[scheme.toLowerCase()] ? undefined : port,
    rest,
  };
}

/** Whether `value` begins with `base` followed by nothing or a path segment boundary. */
function beginsAtSegment(value: string, base: string): boolean {
  if (!value.startsWith(base)) return false;
  if (base.endsWith('/') || value.length === base.length) return true;
  return value[base.length] === '/';
}

/**
 * Whether `uri` begins with the base URL (scheme, host and port) of `api`, compared
 * case-insensitively on scheme and host and followed by nothing or a `/`.
 */
function isUnderBaseUrl(uri: string, api: URL): boolean {
  const parts = splitUri(uri);
  if (parts === undefined || parts.userinfo) return false;
  const apiScheme = api.protocol.slice(0, -1);
  const host =
    parts.port === undefined ? parts.host : `${parts.host}:${parts.port}`;
  if (parts.scheme !== apiScheme || host !== api.host) return false;
  return parts.rest === '' || parts.rest.startsWith('/');
}

function normalizeHosts(hosts: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const host of hosts) {
    const parts = splitUri(`https://${host}`);
    if (
      parts === undefined ||
      parts.userinfo ||
      parts.port !== undefined ||
      parts.rest !== ''
    ) {
      throw new TypeError(
        `trustedAuthorityHosts: ${JSON.stringify(host)} is not a plain host name.`,
      );
    }
    out.add(parts.host);
  }
  return out;
}

function toRequestUrl(value: string | URL): URL {
  const text = String(value);
  if (!URL.canParse(text)) {
    throw new TypeError(`requestUrl: ${text} is not an absolute URL.`);
  }
  const url = new URL(text);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new TypeError(`requestUrl: ${url.protocol} is not http: or https:.`);
  }
  return url;
}

// An Entra ID application (client) id.
const APPLICATION_ID =
  /^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$/;

function checkResource(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') {
    throw new TypeError('resource must be a non-empty string.');
  }
  const text = JSON.stringify(value);
  if (!isSafeScope(value) || !PLAIN_URI.test(value)) {
    throw new TypeError(
      `resource: ${text} has a character that a scope or a URI cannot carry.`,
    );
  }
  if (APPLICATION_ID.test(value)) return value;
  if (!ABSOLUTE_SCOPE.test(value) || !URL.canParse(value)) {
    throw new TypeError(
      `resource: ${text} is not an absolute URI or an application id (GUID).`,
    );
  }
  if (/[?#]/.test(value)) {
    throw new TypeError(`resource: ${text} has a query or a fragment.`);
  }
  if (DOT_SEGMENT.test(value)) {
    throw new TypeError(`resource: ${text} has a . or .. segment.`);
  }
  return value;
}

const SCHEMES: readonly ChallengeScheme[] = ['Bearer', 'DPoP'];

function checkSchemes(value: unknown): readonly ChallengeScheme[] {
  if (value === undefined) return ['Bearer'];
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    value.some((s) => !SCHEMES.includes(s as ChallengeScheme)) ||
    new Set(value).size !== value.length
  ) {
    throw new TypeError(
      'schemes must list "Bearer", "DPoP" or both, each once.',
    );
  }
  return value as ChallengeScheme[];
}

/** Decodes Azure AD's `claims` value: base64 or base64url JSON text, or plain JSON. */
function decodeClaims(value: string): string | undefined {
  let text = value;
  if (!value.trimStart().startsWith('{')) {
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(value)) return undefined;
    text = Buffer.from(value, 'base64').toString('utf8');
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (
      typeof parsed !== 'object' ||
      parsed === null ||
      Array.isArray(parsed)
    ) {
      return undefined;
    }
  } catch {
    return undefined;
  }
  return text;
}

function toBearerChallenge(
  parsed: ParsedChallenge,
  scheme: ChallengeScheme,
): BearerChallenge {
  const p = parsed.params;
  const challenge: BearerChallenge = {
    scheme,
    params: Object.freeze({ ...p }),
  };
  if (p.realm !== undefined) challenge.realm = p.realm;
  if (p.authorization_uri !== undefined) {
    challenge.authorizationUri = p.authorization_uri;
  }
  if (p.resource_id !== undefined) challenge.resourceId = p.resource_id;
  if (p.error !== undefined) challenge.error = p.error;
  if (p.error_description !== undefined) {
    challenge.errorDescription = p.error_description;
  }
  if (p.error_uri !== undefined) challenge.errorUri = p.error_uri;
  if (p.scope !== undefined) challenge.scope = p.scope.split(' ');
  if (p.acr_values !== undefined) {
    challenge.acrValues = p.acr_values.split(' ').filter((v) => v !== '');
  }
  return challenge;
}

function checkAuthorizationUri(
  value: string,
  hosts: Set<string>,
  expectedTenant: string | undefined,
): VerifyResult | undefined {
  const parts = splitUri(value);
  if (
    parts === undefined ||
    DOT_SEGMENT.test(parts.rest) ||
    !URL.canParse(value)
  ) {
    return untrusted(
      'authorization_uri_invalid',
      `authorization_uri ${JSON.stringify(value)} is not a plain absolute URI.`,
    );
  }
  if (parts.scheme !== 'https') {
    return untrusted(
      'authorization_uri_not_https',
      `authorization_uri ${JSON.stringify(value)} is not https.`,
    );
  }
  if (parts.userinfo) {
    return untrusted(
      'authorization_uri_has_userinfo',
      `authorization_uri ${JSON.stringify(value)} carries user information.`,
    );
  }
  if (parts.port !== undefined) {
    return untrusted(
      'authorization_uri_bad_port',
      `authorization_uri ${JSON.stringify(value)} is not on the default port.`,
    );
  }
  if (!hosts.has(parts.host)) {
    return untrusted(
      'authorization_uri_untrusted_host',
      `authorization_uri host ${JSON.stringify(parts.host)} is not a trusted authority.`,
    );
  }
  if (expectedTenant === undefined) return undefined;
  const tenant = /^\/([^/?#]*)/.exec(parts.rest)?.[1] ?? '';
  if (tenant === '' || MULTI_TENANT_SEGMENTS.has(tenant.toLowerCase())) {
    return untrusted(
      'authorization_uri_not_tenant_specific',
      `authorization_uri ${JSON.stringify(value)} is not specific to tenant ${JSON.stringify(expectedTenant)}.`,
    );
  }
  if (tenant.toLowerCase() !== expectedTenant.toLowerCase()) {
    return untrusted(
      'authorization_uri_wrong_tenant',
      `authorization_uri names tenant ${JSON.stringify(tenant)}, not ${JSON.stringify(expectedTenant)}.`,
    );
  }
  return undefined;
}

// A scope that starts with a URI scheme names its resource (`https://api/x.read`,
// `api://id/x.read`); so does one with a `/` (`{application id}/.default`), as Entra ID
// splits a scope at its last `/`. A bare scope (`read`) names none.
const ABSOLUTE_SCOPE = /^[A-Za-z][A-Za-z0-9+.-]*:/;

/** The scopes to request, qualified with `resource`; or why they cannot be trusted. */
function checkScopes(
  scopes: readonly string[],
  api: URL,
  resources: readonly string[],
  resource: string | undefined,
): string[] | VerifyResult {
  const out: string[] = [];
  for (const scope of scopes) {
    const text = JSON.stringify(scope);
    // `api://orders/../graph/x` begins with `api://orders/`, yet names another resource
    // once its dot segments are removed.
    if (DOT_SEGMENT.test(scope)) {
      return untrusted(
        'scope_untrusted_resource',
        `scope ${text} has a . or .. segment.`,
      );
    }
    const absolute = ABSOLUTE_SCOPE.test(scope);
    if (!absolute && !scope.includes('/')) {
      if (resource === undefined) {
        return untrusted(
          'scope_resource_unknown',
          `scope ${text} names no resource, and the API's resource is not configured.`,
        );
      }
      out.push(`${resource}/${scope}`);
      continue;
    }
    if (absolute && isUnderBaseUrl(scope, api)) {
      out.push(scope);
      continue;
    }
    if (resources.some((id) => id !== '' && beginsAtSegment(scope, id))) {
      out.push(scope);
      continue;
    }
    return untrusted(
      'scope_untrusted_resource',
      `scope ${text} names another resource than the API.`,
    );
  }
  return out;
}

interface VerifyContext {
  api: URL;
  hosts: Set<string>;
  allowedIds: readonly string[];
  resource: string | undefined;
  expectedTenant: string | undefined;
}

/** Checks one challenge of an accepted scheme. */
function verifyOne(
  parsed: ParsedChallenge,
  scheme: ChallengeScheme,
  ctx: VerifyContext,
): VerifyResult {
  if (parsed.token68 !== undefined) {
    return untrusted(
      'malformed_challenge',
      `The ${scheme} challenge uses token68 instead of parameters.`,
    );
  }
  if (parsed.repeated !== undefined) {
    // Which of two values would a server mean? Neither can be trusted.
    return untrusted(
      'malformed_challenge',
      `The ${scheme} challenge repeats a parameter (${parsed.repeated.join(', ')}).`,
    );
  }
  const challenge = toBearerChallenge(parsed, scheme);

  if (challenge.authorizationUri !== undefined) {
    const failure = checkAuthorizationUri(
      challenge.authorizationUri,
      ctx.hosts,
      ctx.expectedTenant,
    );
    if (failure !== undefined) return failure;
  }

  const known = [...ctx.allowedIds];
  if (ctx.resource !== undefined) known.push(ctx.resource);
  const resources = [...known];
  if (challenge.resourceId !== undefined) {
    const id = challenge.resourceId;
    if (!isUnderBaseUrl(id, ctx.api) && !known.includes(id)) {
      return untrusted(
        'resource_id_mismatch',
        `resource_id ${JSON.stringify(id)} does not begin with the API's base URL ${ctx.api.origin}/.`,
      );
    }
    resources.push(id);
  }

  if (challenge.params.scope !== undefined) {
    if (!isSafeScope(challenge.params.scope)) {
      return untrusted('scope_invalid', 'scope is not a list of scope tokens.');
    }
    const scopes = checkScopes(
      challenge.scope ?? [],
      ctx.api,
      resources,
      ctx.resource,
    );
    if (!Array.isArray(scopes)) return scopes;
    challenge.scope = scopes;
  }

  if (scheme === 'DPoP' && challenge.params.algs !== undefined) {
    // RFC 9449 section 7.1: a space-delimited list of JWS alg values, which have the
    // characters of scope tokens.
    if (!isSafeScope(challenge.params.algs)) {
      return untrusted('algs_invalid', 'algs is not a list of algorithms.');
    }
    challenge.algs = challenge.params.algs.split(' ');
  }

  if (challenge.params.claims !== undefined) {
    const claims = decodeClaims(challenge.params.claims);
    if (claims === undefined) {
      return untrusted(
        'claims_invalid',
        'claims is not base64 JSON of an object.',
      );
    }
    challenge.claims = claims;
  }

  if (challenge.params.max_age !== undefined) {
    if (!/^(0|[1-9][0-9]{0,9})$/.test(challenge.params.max_age)) {
      return untrusted(
        'max_age_invalid',
        'max_age is not a non-negative integer.',
      );
    }
    challenge.maxAge = Number(challenge.params.max_age);
  }

  return { trusted: true, challenge };
}

function resolveOptions(
  options: Omit<VerifyOptions, 'requestUrl'>,
): Omit<VerifyContext, 'api'> {
  return {
    hosts: normalizeHosts(
      options.trustedAuthorityHosts ?? AZURE_AUTHORITY_HOSTS,
    ),
    allowedIds: options.allowedResourceIds ?? [],
    resource: checkResource(options.resource),
    expectedTenant: options.expectedTenant,
  };
}

/**
 * Checks the options of {@link verifyChallenge} but `requestUrl`, so that a wrapper such as
 * `createBearerFetch` reports a bad one when it is made. Throws `TypeError`.
 */
export function checkVerifyOptions(
  options: Omit<VerifyOptions, 'requestUrl'>,
): void {
  resolveOptions(options);
  checkSchemes(options.schemes);
}

/**
 * Finds the Bearer challenge (and, with `schemes`, the DPoP one) in a `WWW-Authenticate`
 * value (or in a `Headers` or `Response`) and checks it as the Azure AD page "Errors from
 * Secured Resources" requires of clients, before anything in it is used:
 *
 * - `authorization_uri`, when present, must be an `https:` URI on the default port, without
 *   user information, on a trusted authority host (exact match, so
 *   `login.microsoftonline.com.evil.com` fails); with `expectedTenant`, its first path
 *   segment must be that tenant ("a tenant-specific resource should always return a
 *   tenant-specific authorization URI").
 * - `resource_id`, when present, must begin with the base URL of the API being called
 *   (scheme, host and port of `requestUrl`, then nothing or `/`), or be `resource` or one
 *   of `allowedResourceIds` ("the client application must reject a resource_id that does
 *   not begin with the base URL"), which rejects the seed's `htttps://service.contoso.com/`.
 * - A challenge may only make the client ask for scopes of the API's own resource: a scope
 *   that names a resource, as a URI (`https://graph.microsoft.com/Mail.Read`,
 *   `api://other/x`) or as an application id (`00000003-0000-0000-c000-000000000000/.default`),
 *   must name the API (its base URL, `resource`, an allowed id or the verified
 *   `resource_id`); a bare scope (`Mail.Read`) is qualified with `resource`, and refused
 *   without it, since Entra ID reads a bare scope as a Microsoft Graph permission.
 * - `scope` must be RFC 6750 scope tokens, `claims` base64 JSON, `max_age` an integer, and
 *   a DPoP challenge's `algs` a list of algorithm names.
 *
 * A header may hold several challenges, in one field or several joined by commas (RFC
 * 9110 section 11.6.1); schemes match case-insensitively. Every challenge of an accepted
 * scheme is checked, and one untrusted challenge makes the answer untrusted. Throws
 * `TypeError` only for bad options (a programming error), never for a bad header.
 */
export function verifyChallenge(
  header: string | HeadersLike | ResponseLike | null | undefined,
  options: VerifyOptions,
): VerifyResult {
  const ctx: VerifyContext = {
    api: toRequestUrl(options.requestUrl),
    ...resolveOptions(options),
  };
  const schemes = checkSchemes(options.schemes);
  const names = schemes.join(' or ');

  const value = readHeader(header);
  if (value === null || value.trim() === '') {
    return untrusted(
      'no_bearer_challenge',
      'There is no WWW-Authenticate header.',
    );
  }
  let challenges: ParsedChallenge[];
  try {
    challenges = parseChallenges(value);
  } catch (error) {
    if (!(error instanceof ChallengeParseError)) throw error;
    return untrusted(
      'malformed_challenge',
      `The WWW-Authenticate header is malformed: ${error.message}.`,
    );
  }
  const verified: BearerChallenge[] = [];
  for (const parsed of challenges) {
    const scheme = schemes.find(
      (name) => name.toLowerCase() === parsed.scheme.toLowerCase(),
    );
    if (scheme === undefined) continue;
    const result = verifyOne(parsed, scheme, ctx);
    if (!result.trusted) return result;
    verified.push(result.challenge);
  }
  if (verified.length === 0) {
    return untrusted(
      'no_bearer_challenge',
      `The WWW-Authenticate header has no ${names} challenge.`,
    );
  }
  // The error may sit on any one challenge (RFC 9449 section 7.2 puts it on the scheme the
  // client used); without one, the preferred scheme speaks.
  const rank = (c: BearerChallenge): number =>
    (c.error === undefined ? schemes.length : 0) + schemes.indexOf(c.scheme);
  let chosen = verified[0];
  for (const challenge of verified) {
    if (rank(challenge) < rank(chosen)) chosen = challenge;
  }
  return { trusted: true, challenge: chosen };
}
