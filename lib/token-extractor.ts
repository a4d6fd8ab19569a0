/**
 * Bearer token extraction, RFC 6750 section 2. Pure: it reads a request-shaped object
 * and returns a result; it never throws.
 */
import {
  AuthenticationRequiredError,
  InvalidRequestError,
  InvalidTokenError,
  type AuthScheme,
  type BearerError,
} from './bearer.errors.js';

/** Where a token may travel: header (section 2.1), form body (2.2), query (2.3). */
export type TokenLocation = 'header' | 'body' | 'query';

/** All token locations, in the order of RFC 6750 section 2. */
export const TOKEN_LOCATIONS: readonly TokenLocation[] = [
  'header',
  'body',
  'query',
];

/** The parts of an HTTP request the extractor reads (Express and Fastify both fit). */
export interface TokenRequest {
  method?: string;
  url?: string;
  headers: Record<string, string | string[] | undefined>;
  /** Node's `IncomingMessage.headersDistinct`, which keeps repeated headers. */
  headersDistinct?: Record<string, string[] | undefined>;
  /**
   * Node's `IncomingMessage.rawHeaders` (names and values alternating), which also keeps
   * repeated headers and, unlike `headersDistinct`, costs nothing to read.
   */
  rawHeaders?: readonly string[];
  body?: unknown;
  /**
   * The connection the request came on (Node's `socket`), for sender-constrained tokens:
   * the local address a DPoP proof's `htu` is checked against, the peer of the trusted
   * proxy rule, and the TLS client certificate of an mTLS-bound token.
   */
  socket?: RequestSocket;
}

/** The parts of Node's `net.Socket` / `tls.TLSSocket` the sender constraints read. */
export interface RequestSocket {
  readonly remoteAddress?: string;
  readonly localAddress?: string;
  readonly localPort?: number;
  /** `true` on a TLS socket. */
  readonly encrypted?: boolean;
  getPeerCertificate?(detailed?: boolean): { raw?: Buffer } | null | object;
}

/** How to extract. */
export interface ExtractOptions {
  locations: readonly TokenLocation[];
  /** The longest `Authorization` header or token accepted, in characters. */
  maxTokenLength: number;
  /**
   * The `Authorization` schemes read as access-token credentials; any other scheme is "no
   * credentials" (RFC 6750 section 3.1). Body and query tokens are `Bearer` tokens.
   * @default ['Bearer']
   */
  schemes?: readonly AuthScheme[];
  /**
   * Leaves the b64token syntax check (RFC 6750 section 2.1) to the caller, who must then
   * call {@link isB64token} before using a token it has not verified before: a token found
   * by its exact string among verified ones was checked when it was verified, and the check
   * is a scan of the whole token on every request.
   * @default false
   */
  deferSyntaxCheck?: boolean;
}

/** The outcome of extraction. */
export type ExtractResult =
  | { ok: true; token: string; location: TokenLocation; scheme: AuthScheme }
  | { ok: false; error: BearerError };

const PARAMETER = 'access_token';
// RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/** Whether `token` has the b64token syntax of RFC 6750 section 2.1. */
export function isB64token(token: string): boolean {
  return B64TOKEN.test(token);
}
// An auth-scheme followed by nothing or by 1*SP and credentials (RFC 9110 section 11.4).
const SPACE = 0x20;
// RFC 9110 tchar, as a table indexed by character code.
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") {
  TCHAR[c.charCodeAt(0)] = 1;
}

function isTchar(code: number): boolean {
  return code < 128 && TCHAR[code] === 1;
}

function isBlank(code: number): boolean {
  return code === SPACE || code === 0x09;
}
const BEARER_ONLY: readonly AuthScheme[] = ['Bearer'];
const FORM_TYPE = 'application/x-www-form-urlencoded';

type Found =
  | { kind: 'none' }
  | { kind: 'token'; token: string; scheme: AuthScheme }
  | { kind: 'error'; error: BearerError };

const NONE: Found = { kind: 'none' };

function fail(error: BearerError): ExtractResult {
  return { ok: false, error };
}

/** How many `Authorization` fields the request carried (Node keeps only the first in `headers`). */
function countAuthorizationFields(req: TokenRequest): number {
  const raw = req.rawHeaders;
  if (raw !== undefined) {
    let count = 0;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i];
      // The usual spellings first: lower-casing allocates a string per header.
      if (
        name === 'Authorization' ||
        name === 'authorization' ||
        (name.length === 13 && name.toLowerCase() === 'authorization')
      ) {
        count++;
      }
    }
    return count;
  }
  const header = req.headers.authorization;
  return Math.max(
    req.headersDistinct?.authorization?.length ?? 0,
    Array.isArray(header) ? header.length : 0,
  );
}

function readHeader(
  req: TokenRequest,
  maxLength: number,
  schemes: readonly AuthScheme[],
  checkSyntax: boolean,
): Found {
  if (countAuthorizationFields(req) > 1) {
    return {
      kind: 'error',
      error: new InvalidRequestError(
        'The request carries more than one Authorization header.',
      ),
    };
  }
  const raw = req.headers.authorization;
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined) return NONE;
  if (typeof value !== 'string') {
    return { kind: 'error', error: new InvalidRequestError() };
  }
  // RFC 6750 section 3.1: another scheme is "no bearer credentials", however long its
  // credentials are (a Negotiate ticket easily passes the cap); reading its name first
  // costs at most a few dozen characters.
  if (namesOtherScheme(value, schemes)) return NONE;
  // The cap comes before any further parsing, so a huge header costs no regex work.
  if (value.length > maxLength + 'Bearer '.length + 16) {
    return { kind: 'error', error: new InvalidTokenError('too_long') };
  }
  // A scan instead of regexes: this runs on every request, over a header of a kilobyte or so.
  let start = 0;
  let end = value.length;
  while (start < end && isBlank(value.charCodeAt(start))) start++;
  while (end > start && isBlank(value.charCodeAt(end - 1))) end--;
  if (start === end) return NONE;
  let schemeEnd = start;
  while (schemeEnd < end && isTchar(value.charCodeAt(schemeEnd))) schemeEnd++;
  // Not an auth-scheme followed by nothing or by spaces: nothing we can call a credential.
  if (schemeEnd === start) return malformed();
  if (schemeEnd < end && value.charCodeAt(schemeEnd) !== SPACE)
    return malformed();
  // RFC 6750 section 3.1: another scheme is "no bearer credentials", so no error code.
  const scheme = matchScheme(value, start, schemeEnd, schemes);
  if (scheme === undefined) return NONE;
  let credentialsStart = schemeEnd;
  while (
    credentialsStart < end &&
    value.charCodeAt(credentialsStart) === SPACE
  ) {
    credentialsStart++;
  }
  const credentials = value.slice(credentialsStart, end);
  if (credentials.trim() === '') {
    return { kind: 'error', error: new InvalidTokenError('missing') };
  }
  if (credentials.length > maxLength) {
    return { kind: 'error', error: new InvalidTokenError('too_long') };
  }
  if (checkSyntax && !B64TOKEN.test(credentials)) return malformed();
  return { kind: 'token', token: credentials, scheme };
}

// Leading blanks plus an auth-scheme; real schemes ("Negotiate", "AWS4-HMAC-SHA256")
// are far shorter. A longer run is left to the length cap.
const SCHEME_SCAN_LIMIT = 64;

/**
 * Whether the value starts with an auth-scheme other than Bearer, followed by a space or
 * by nothing. It reads at most {@link SCHEME_SCAN_LIMIT} characters, so it runs before
 * the length cap; anything it is unsure of is left to the full parse.
 */
function namesOtherScheme(
  value: string,
  schemes: readonly AuthScheme[],
): boolean {
  const limit = Math.min(value.length, SCHEME_SCAN_LIMIT);
  let start = 0;
  while (start < limit && isBlank(value.charCodeAt(start))) start++;
  let end = start;
  while (end < limit && isTchar(value.charCodeAt(end))) end++;
  if (end === start) return false;
  if (end < value.length && value.charCodeAt(end) !== SPACE) return false;
  return matchScheme(value, start, end, schemes) === undefined;
}

const LOWER_CASE: Readonly<Record<AuthScheme, string>> = {
  Bearer: 'bearer',
  DPoP: 'dpop',
};

/** Which of `schemes` `value.slice(start, end)` names, in any case, without allocating. */
function matchScheme(
  value: string,
  start: number,
  end: number,
  schemes: readonly AuthScheme[],
): AuthScheme | undefined {
  for (const scheme of schemes) {
    const name = LOWER_CASE[scheme];
    if (end - start !== name.length) continue;
    let i = 0;
    // Setting bit 0x20 lower-cases an ASCII letter and maps nothing else onto one.
    while (
      i < name.length &&
      (value.charCodeAt(start + i) | 0x20) === name.charCodeAt(i)
    ) {
      i++;
    }
    if (i === name.length) return scheme;
  }
  return undefined;
}

function malformed(): Found {
  return { kind: 'error', error: new InvalidTokenError('malformed') };
}

function readParameterValues(
  values: unknown,
  maxLength: number,
  checkSyntax: boolean,
): Found {
  if (values === undefined) return NONE;
  if (typeof values !== 'string') {
    return {
      kind: 'error',
      error: new InvalidRequestError(
        'The access_token parameter must be given exactly once.',
      ),
    };
  }
  if (values === '') {
    return { kind: 'error', error: new InvalidTokenError('missing') };
  }
  if (values.length > maxLength) {
    return { kind: 'error', error: new InvalidTokenError('too_long') };
  }
  if (checkSyntax && !B64TOKEN.test(values)) return malformed();
  return { kind: 'token', token: values, scheme: 'Bearer' };
}

function readQuery(
  req: TokenRequest,
  maxLength: number,
  schemes: readonly AuthScheme[],
  checkSyntax: boolean,
): Found {
  if (!schemes.includes('Bearer')) return NONE;
  const url = req.url ?? '';
  const q = url.indexOf('?');
  if (q === -1) return NONE;
  // Parsing the raw query ourselves makes repetition visible on every adapter and parser.
  let params: URLSearchParams;
  try {
    params = new URLSearchParams(url.slice(q + 1));
  } catch {
    return NONE;
  }
  const values = params.getAll(PARAMETER);
  if (values.length === 0) return NONE;
  return readParameterValues(
    values.length === 1 ? values[0] : values,
    maxLength,
    checkSyntax,
  );
}

function contentType(req: TokenRequest): string {
  const raw = req.headers['content-type'];
  const value = Array.isArray(raw) ? raw[0] : raw;
  return (value ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

function readBody(
  req: TokenRequest,
  maxLength: number,
  schemes: readonly AuthScheme[],
  checkSyntax: boolean,
): Found {
  if (!schemes.includes('Bearer')) return NONE;
  const body = req.body;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return NONE;
  }
  if (!Object.hasOwn(body, PARAMETER)) return NONE;
  const method = (req.method ?? 'GET').toUpperCase();
  // RFC 6750 section 2.2: a form-encoded body, and never with GET (nor HEAD).
  if (method === 'GET' || method === 'HEAD' || contentType(req) !== FORM_TYPE) {
    return {
      kind: 'error',
      error: new InvalidRequestError(
        'The access_token body parameter is only accepted in a form-encoded request body.',
      ),
    };
  }
  return readParameterValues(
    (body as Record<string, unknown>)[PARAMETER],
    maxLength,
    checkSyntax,
  );
}

const READERS: Record<
  TokenLocation,
  (
    req: TokenRequest,
    maxLength: number,
    schemes: readonly AuthScheme[],
    checkSyntax: boolean,
  ) => Found
> = {
  header: readHeader,
  body: readBody,
  query: readQuery,
};

/**
 * Finds the bearer token of a request in the enabled locations.
 *
 * - No credentials at all: {@link AuthenticationRequiredError} (challenge without `error`).
 * - `Bearer` with nothing after it: `invalid_token`, "The access token is missing.".
 * - A token outside the b64token syntax (unless `deferSyntaxCheck`) or over the length
 *   cap: `invalid_token`.
 * - A token in more than one location, or `access_token` repeated: `invalid_request`.
 *
 * Locations that are not enabled are not read at all.
 */
export function extractToken(
  req: TokenRequest,
  options: ExtractOptions,
): ExtractResult {
  let found: ExtractResult | undefined;
  const schemes = options.schemes ?? BEARER_ONLY;
  const checkSyntax = options.deferSyntaxCheck !== true;
  let firstError: BearerError | undefined;
  let sources = 0;
  for (const location of options.locations) {
    let result: Found;
    try {
      result = READERS[location](
        req,
        options.maxTokenLength,
        schemes,
        checkSyntax,
      );
    } catch {
      // A request object of an unexpected shape is a malformed request, not a crash.
      result = {
        kind: 'error',
        error: new InvalidRequestError(),
      };
    }
    if (result.kind === 'none') continue;
    sources++;
    if (result.kind === 'error') {
      firstError ??= result.error;
      continue;
    }
    found ??= {
      ok: true,
      token: result.token,
      location,
      scheme: result.scheme,
    };
  }
  if (sources > 1) {
    return fail(
      new InvalidRequestError(
        'The access token was sent by more than one method.',
      ),
    );
  }
  if (firstError !== undefined) return fail(firstError);
  if (found !== undefined) return found;
  return fail(new AuthenticationRequiredError());
}
