/**
 * Formatting and parsing of `WWW-Authenticate` challenges (RFC 9110 section 11.6.1,
 * RFC 6750 section 3). Pure functions, no Nest dependency.
 */

/** The parameters of a Bearer challenge, in the order they are written. */
export interface ChallengeParams {
  realm?: string;
  authorization_uri?: string;
  resource_id?: string;
  resource_metadata?: string;
  error?: string;
  error_description?: string;
  error_uri?: string;
  scope?: string;
  [extra: string]: string | undefined;
}

/** The order of DESIGN.md; parameters not listed here follow in insertion order. */
const PARAMETER_ORDER = [
  'realm',
  'authorization_uri',
  'resource_id',
  'resource_metadata',
  'error',
  'error_description',
  'error_uri',
  'scope',
] as const;

// RFC 6750 section 3: error and error_description are %x20-21 / %x23-5B / %x5D-7E.
const RFC6750_TEXT = /^[\x20\x21\x23-\x5B\x5D-\x7E]+$/;
// RFC 6750 section 3: scope = scope-token *( SP scope-token ), scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
const RFC6750_SCOPE =
  /^[\x21\x23-\x5B\x5D-\x7E]+(?: [\x21\x23-\x5B\x5D-\x7E]+)*$/;
// RFC 3986 URI characters; error_uri must be a URI-reference (RFC 6750 section 3).
const URI_CHARS = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]+$/;
// RFC 9110 qdtext and quoted-pair content, minus HTAB (a control character) and obs-text.
const QUOTABLE = /^[\x20-\x7E]*$/;
// RFC 9110 token (auth-param names and the scheme).
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Whether `value` may be sent as `error` or `error_description` (RFC 6750 section 3). */
export function isSafeErrorText(value: string): boolean {
  return RFC6750_TEXT.test(value);
}

/** Whether `value` may be sent as `scope` (RFC 6750 section 3). */
export function isSafeScope(value: string): boolean {
  return RFC6750_SCOPE.test(value);
}

/** Whether `value` can be written as a quoted-string without CR, LF or control characters. */
export function isQuotable(value: string): boolean {
  return QUOTABLE.test(value);
}

/** Whether `value` can be sent as parameter `name` of a challenge without being unsafe. */
export function isSafeChallengeValue(name: string, value: string): boolean {
  switch (name) {
    case 'error':
    case 'error_description':
      return isSafeErrorText(value);
    case 'scope':
      return isSafeScope(value);
    case 'error_uri':
      return URI_CHARS.test(value);
    default:
      return isQuotable(value);
  }
}

/** Writes `value` as an RFC 9110 quoted-string. */
export function quoteString(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}

/**
 * Formats one Bearer challenge.
 *
 * Parameters are written in the order realm, authorization_uri, resource_id,
 * resource_metadata, error, error_description, error_uri, scope. A value that cannot be
 * made safe for its parameter (for example one with CR, LF or a control character) is
 * left out rather than reflected.
 */
export function formatChallenge(
  params: ChallengeParams,
  scheme = 'Bearer',
): string {
  const names = [
    ...PARAMETER_ORDER,
    ...Object.keys(params).filter(
      (name) => !(PARAMETER_ORDER as readonly string[]).includes(name),
    ),
  ];
  const parts: string[] = [];
  for (const name of names) {
    const value = Object.hasOwn(params, name) ? params[name] : undefined;
    if (value === undefined || !TOKEN.test(name)) continue;
    if (!isSafeChallengeValue(name, value)) continue;
    parts.push(`${name}=${quoteString(value)}`);
  }
  return parts.length === 0 ? scheme : `${scheme} ${parts.join(', ')}`;
}

/** One challenge of a parsed `WWW-Authenticate` header. */
export interface ParsedChallenge {
  /** The auth-scheme as written (compare case-insensitively). */
  scheme: string;
  /** The token68 form, when the challenge uses it instead of parameters. */
  token68?: string;
  /** Parameters by lower-cased name; a repeated name keeps its first value. */
  params: Record<string, string>;
  /**
   * Parameter names given more than once (RFC 9110 section 11.2 allows each only once);
   * present only when there are some. A careful client refuses such a challenge.
   */
  repeated?: string[];
}

/** Thrown by {@link parseChallenges} when a header does not follow RFC 9110. */
export class ChallengeParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChallengeParseError';
  }
}

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*/;

/**
 * Parses a `WWW-Authenticate` field value into its challenges (RFC 9110 section 11.6.1):
 * several challenges in one value, token68, quoted-strings with quoted-pairs, and
 * case-insensitive parameter names. Empty list elements are skipped wherever RFC 9110
 * section 5.6.1.2 asks a recipient to accept them: before, between and after challenges,
 * between parameters, and before the first parameter (`Bearer , realm="x"`). Throws
 * {@link ChallengeParseError} on bad syntax.
 */
export function parseChallenges(header: string): ParsedChallenge[] {
  const s = header;
  let i = 0;
  const challenges: ParsedChallenge[] = [];

  const skipOws = (): void => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
  };
  const readToken = (): string => {
    const start = i;
    while (i < s.length && TCHAR.test(s[i])) i++;
    return s.slice(start, i);
  };
  const readQuoted = (): string => {
    // s[i] is the opening quote.
    i++;
    let out = '';
    while (i < s.length) {
      const c = s[i];
      if (c === '"') {
        i++;
        return out;
      }
      if (c === '\\') {
        const next = s[i + 1];
        if (next === undefined || !/[\t\x20-\x7E\x80-\xFF]/.test(next)) {
          throw new ChallengeParseError('bad quoted-pair');
        }
        out += next;
        i += 2;
        continue;
      }
      if (!/[\t\x20\x21\x23-\x5B\x5D-\x7E\x80-\xFF]/.test(c)) {
        throw new ChallengeParseError('bad character in quoted-string');
      }
      out += c;
      i++;
    }
    throw new ChallengeParseError('unterminated quoted-string');
  };
  // Skips empty list elements: `,` separators surrounded by optional whitespace.
  const skipCommas = (): boolean => {
    let saw = false;
    for (;;) {
      skipOws();
      if (s[i] !== ',') return saw;
      saw = true;
      i++;
    }
  };

  // Whether an auth-param (`token BWS "="`) starts at i; it reads nothing.
  const atAuthParam = (): boolean => {
    const start = i;
    let isParam = readToken() !== '';
    if (isParam) {
      skipOws();
      isParam = s[i] === '=';
    }
    i = start;
    return isParam;
  };
  // Reads the auth-param list of `challenge`; it ends where a new challenge (a token
  // followed by space and not "=") starts, or at the end of the header.
  const readParams = (challenge: ParsedChallenge, afterScheme: boolean) => {
    for (let first = afterScheme; ; first = false) {
      skipOws();
      const nameStart = i;
      const name = readToken();
      if (name === '')
        throw new ChallengeParseError('expected a parameter name');
      skipOws();
      if (s[i] !== '=') {
        // Right after the scheme there was no comma, so this cannot start a new challenge.
        if (first)
          throw new ChallengeParseError('expected token68 or an auth-param');
        // After a comma, this token is the scheme of the next challenge.
        i = nameStart;
        return;
      }
      i++;
      skipOws();
      const quoted = s[i] === '"';
      const value = quoted ? readQuoted() : readToken();
      if (!quoted && value === '') {
        throw new ChallengeParseError('expected a parameter value');
      }
      const key = name.toLowerCase();
      if (!Object.hasOwn(challenge.params, key)) {
        Object.defineProperty(challenge.params, key, {
          value,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else if (!(challenge.repeated ??= []).includes(key)) {
        challenge.repeated.push(key);
      }
      skipOws();
      if (i >= s.length) return;
      if (s[i] !== ',') throw new ChallengeParseError('expected a comma');
      skipCommas();
      if (i >= s.length) return;
    }
  };

  skipCommas();
  while (i < s.length) {
    const scheme = readToken();
    if (scheme === '') throw new ChallengeParseError('expected an auth-scheme');
    const challenge: ParsedChallenge = { scheme, params: {} };
    challenges.push(challenge);
    const beforeSpace = i;
    skipOws();
    if (i === beforeSpace || i >= s.length || s[i] === ',') {
      skipCommas();
      // RFC 9110 section 5.6.1.2: the parameter list may begin with empty elements
      // (`Bearer , realm="x"`). An auth-param cannot begin a challenge, so one that
      // follows the scheme after commas is this challenge's; anything else is the next.
      if (i < s.length && atAuthParam()) readParams(challenge, false);
      continue;
    }
    // token68 when the whole element is token68 (a parameter needs a value after '=').
    const t68 = TOKEN68.exec(s.slice(i));
    if (t68 !== null && /^[ \t]*(,|$)/.test(s.slice(i + t68[0].length))) {
      challenge.token68 = t68[0];
      i += t68[0].length;
      skipCommas();
      continue;
    }
    readParams(challenge, true);
  }
  return challenges;
}
