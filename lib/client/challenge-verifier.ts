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
 * The error codes a Bearer challenge may carry: RFC 6750 section 3.1, Azure AD's
 * `insufficient_access` and `insufficient_claims`, and RFC 9470's
 * `insufficient_user_authentication`.
 */
export type ChallengeErrorCode =
  | 'invalid_request'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'insufficient_access'
  | 'insufficient_claims'
  | 'insufficient_user_authentication';

/** A parsed Bearer challenge with typed fields (RFC 6750 section 3, RFC 9470 section 3). */
export interface BearerChallenge {
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
  /** `scope`: the scopes the resource requires, split on spaces (RFC 6750 section 3). */
  scope?: string[];
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
  /** No `Bearer` challenge in the header (or no header). */
  | 'no_bearer_challenge'
  /** The header does not follow RFC 9110, or the Bearer challenge uses token68. */
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
  /** A scope names another resource than the API (or an allowed resource id). */
  | 'scope_untrusted_resource'
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

function toBearerChallenge(parsed: ParsedChallenge): BearerChallenge {
  const p = parsed.params;
  const challenge: BearerChallenge = { params: Object.freeze({ ...p }) };
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
// `api://id/x.read`); a bare scope (`read`, `openid`) belongs to the token's audience.
const ABSOLUTE_SCOPE = /^[A-Za-z][A-Za-z0-9+.-]*:/;

function checkScopes(
  scopes: readonly string[],
  api: URL,
  resources: readonly string[],
): VerifyResult | undefined {
  for (const scope of scopes) {
    if (!ABSOLUTE_SCOPE.test(scope)) continue;
    if (isUnderBaseUrl(scope, api)) continue;
    if (resources.some((id) => id !== '' && beginsAtSegment(scope, id))) {
      continue;
    }
    return untrusted(
      'scope_untrusted_resource',
      `scope ${JSON.stringify(scope)} names another resource than the API.`,
    );
  }
  return undefined;
}

/**
 * Finds the Bearer challenge in a `WWW-Authenticate` value (or in a `Headers` or
 * `Response`) and checks it as the Azure AD page "Errors from Secured Resources" requires
 * of clients, before anything in it is used:
 *
 * - `authorization_uri`, when present, must be an `https:` URI on the default port, without
 *   user information, on a trusted authority host (exact match, so
 *   `login.microsoftonline.com.evil.com` fails); with `expectedTenant`, its first path
 *   segment must be that tenant ("a tenant-specific resource should always return a
 *   tenant-specific authorization URI").
 * - `resource_id`, when present, must begin with the base URL of the API being called
 *   (scheme, host and port of `requestUrl`, then nothing or `/`), or be one of
 *   `allowedResourceIds` ("the client application must reject a resource_id that does not
 *   begin with the base URL"), which rejects the seed's `htttps://service.contoso.com/`.
 * - Scopes that name a resource (`https://...`, `api://...`) must name the same one, so
 *   that an API cannot make its client ask for a token to another resource.
 * - `scope` must be RFC 6750 scope tokens, `claims` base64 JSON, `max_age` an integer.
 *
 * The first `Bearer` challenge is used when the header holds several (RFC 9110 section
 * 11.6.1); the scheme is matched case-insensitively. Throws `TypeError` only for a bad
 * `requestUrl` or `trustedAuthorityHosts` (a programming error), never for a bad header.
 */
export function verifyChallenge(
  header: string | HeadersLike | ResponseLike | null | undefined,
  options: VerifyOptions,
): VerifyResult {
  const api = toRequestUrl(options.requestUrl);
  const hosts = normalizeHosts(
    options.trustedAuthorityHosts ?? AZURE_AUTHORITY_HOSTS,
  );
  const allowedIds = options.allowedResourceIds ?? [];

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
  const parsed = challenges.find((c) => c.scheme.toLowerCase() === 'bearer');
  if (parsed === undefined) {
    return untrusted(
      'no_bearer_challenge',
      'The WWW-Authenticate header has no Bearer challenge.',
    );
  }
  if (parsed.token68 !== undefined) {
    return untrusted(
      'malformed_challenge',
      'The Bearer challenge uses token68 instead of parameters.',
    );
  }
  if (parsed.repeated !== undefined) {
    // Which of two values would a server mean? Neither can be trusted.
    return untrusted(
      'malformed_challenge',
      `The Bearer challenge repeats a parameter (${parsed.repeated.join(', ')}).`,
    );
  }
  const challenge = toBearerChallenge(parsed);

  if (challenge.authorizationUri !== undefined) {
    const failure = checkAuthorizationUri(
      challenge.authorizationUri,
      hosts,
      options.expectedTenant,
    );
    if (failure !== undefined) return failure;
  }

  const resources = [...allowedIds];
  if (challenge.resourceId !== undefined) {
    const id = challenge.resourceId;
    if (!isUnderBaseUrl(id, api) && !allowedIds.includes(id)) {
      return untrusted(
        'resource_id_mismatch',
        `resource_id ${JSON.stringify(id)} does not begin with the API's base URL ${api.origin}/.`,
      );
    }
    resources.push(id);
  }

  if (challenge.params.scope !== undefined) {
    if (!isSafeScope(challenge.params.scope)) {
      return untrusted('scope_invalid', 'scope is not a list of scope tokens.');
    }
    const failure = checkScopes(challenge.scope ?? [], api, resources);
    if (failure !== undefined) return failure;
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
