import fc from 'fast-check';
import {
  ChallengeParseError,
  formatChallenge,
  isQuotable,
  isSafeErrorText,
  isSafeScope,
  parseChallenges,
  quoteString,
  type ChallengeParams,
} from './www-authenticate.js';

/*
 * An independent, strict reading of the RFC 7235 / RFC 9110 section 11 grammar, written
 * from the ABNF and not from the module, to check what the formatter writes:
 *
 *   challenge     = auth-scheme [ 1*SP ( token68 / #auth-param ) ]
 *   auth-param    = token BWS "=" BWS ( token / quoted-string )
 *   token68       = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
 *   quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE
 *   qdtext        = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
 *   quoted-pair   = "\" ( HTAB / SP / VCHAR / obs-text )
 */
const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
const TOKEN68 = '[A-Za-z0-9\\-._~+/]+=*';
const QUOTED =
  '"(?:[\\t \\x21\\x23-\\x5B\\x5D-\\x7E\\x80-\\xFF]|\\\\[\\t\\x20-\\x7E\\x80-\\xFF])*"';
const OWS = '[ \\t]*';
const AUTH_PARAM = `${TOKEN}${OWS}=${OWS}(?:${TOKEN}|${QUOTED})`;
const PARAM_LIST = `(?:,|${AUTH_PARAM})(?:${OWS},(?:${OWS}${AUTH_PARAM})?)*`;
const CHALLENGE = new RegExp(`^${TOKEN}(?: +(?:${TOKEN68}|${PARAM_LIST}))?$`);

/** RFC 6750 section 3: error and error_description characters. */
const RFC6750_TEXT = /^[\x20\x21\x23-\x5B\x5D-\x7E]+$/;
/** RFC 6750 section 3: scope = scope-token *( SP scope-token ). */
const RFC6750_SCOPE =
  /^[\x21\x23-\x5B\x5D-\x7E]+(?: [\x21\x23-\x5B\x5D-\x7E]+)*$/;
// eslint-disable-next-line no-control-regex
const CONTROL_OR_NON_ASCII = /[\x00-\x1F\x7F-\uFFFF]/;

describe('the strict grammar used by these tests', () => {
  it.each([
    'Bearer',
    'Bearer realm="a"',
    'Bearer realm="a\\"b", error=invalid_token',
    'Basic dXNlcjpwYXNz==',
    'Bearer a = "b" ,, c=d',
  ])('accepts %p', (value) => {
    expect(value).toMatch(CHALLENGE);
  });

  it.each([
    'Bearer realm="a',
    'Bearer realm="a"b"',
    'Bearer realm="a\r\n"',
    'Bearer realm=a b',
    'Bearer  ',
    'Bearer realm="a" error="b"',
    'Bearer a b',
    'Bearer a, b',
    '',
  ])('rejects %p', (value) => {
    expect(value).not.toMatch(CHALLENGE);
  });
});

describe('formatChallenge', () => {
  it('writes just the scheme when there are no parameters', () => {
    expect(formatChallenge({})).toBe('Bearer');
  });

  it('writes just the scheme when every parameter is undefined', () => {
    expect(formatChallenge({ realm: undefined, error: undefined })).toBe(
      'Bearer',
    );
  });

  it('uses another scheme when asked', () => {
    expect(formatChallenge({ realm: 'x' }, 'DPoP')).toBe('DPoP realm="x"');
  });

  it('writes the parameters in the order of DESIGN.md whatever the input order', () => {
    const params: ChallengeParams = {
      scope: 'a b',
      error_uri: 'https://example.com/errors',
      error_description: 'The access token is expired.',
      error: 'invalid_token',
      resource_metadata: 'https://api.example.com/.well-known/oauth',
      resource_id: 'api://app',
      authorization_uri: 'https://login.example.com/authorize',
      realm: 'api',
    };
    expect(formatChallenge(params)).toBe(
      'Bearer realm="api", ' +
        'authorization_uri="https://login.example.com/authorize", ' +
        'resource_id="api://app", ' +
        'resource_metadata="https://api.example.com/.well-known/oauth", ' +
        'error="invalid_token", ' +
        'error_description="The access token is expired.", ' +
        'error_uri="https://example.com/errors", ' +
        'scope="a b"',
    );
  });

  it('writes other parameters after the known ones, in insertion order', () => {
    expect(
      formatChallenge({ zeta: '1', realm: 'r', alpha: '2', error: 'e' }),
    ).toBe('Bearer realm="r", error="e", zeta="1", alpha="2"');
  });

  it('skips another parameter whose name is not a token', () => {
    expect(formatChallenge({ 'bad name': 'x', 'a"b': 'y', ok: 'z' })).toBe(
      'Bearer ok="z"',
    );
  });

  it('skips inherited parameters', () => {
    const params = Object.create({ realm: 'inherited' }) as ChallengeParams;
    params.error = 'invalid_token';
    expect(formatChallenge(params)).toBe('Bearer error="invalid_token"');
  });

  it('escapes " and \\ in a realm as quoted-pairs', () => {
    const header = formatChallenge({ realm: 'a"b\\c' });
    expect(header).toBe('Bearer realm="a\\"b\\\\c"');
    expect(header).toMatch(CHALLENGE);
    expect(parseChallenges(header)[0]?.params.realm).toBe('a"b\\c');
  });

  it('keeps an empty realm (an empty quoted-string is valid)', () => {
    expect(formatChallenge({ realm: '' })).toBe('Bearer realm=""');
  });

  it.each([
    ['CR', 'a\rb'],
    ['LF', 'a\nb'],
    ['CRLF and a header injection', 'x"\r\nSet-Cookie: a=b'],
    ['NUL', 'a\u0000b'],
    ['DEL', 'a\u007Fb'],
    ['HTAB', 'a\tb'],
    ['a C1 control', 'a\u0085b'],
    ['a non-ASCII letter', 'caf\u00E9'],
    ['a non-BMP character', 'a\u{1F600}'],
  ])('drops a realm with %s, never reflecting it', (_what, realm) => {
    const header = formatChallenge({ realm, error: 'invalid_token' });
    expect(header).toBe('Bearer error="invalid_token"');
  });

  it.each(['authorization_uri', 'resource_id', 'resource_metadata', 'extra'])(
    'drops an unsafe %s the same way',
    (name) => {
      expect(formatChallenge({ [name]: 'a\r\nb' })).toBe('Bearer');
    },
  );

  it.each([
    ['a double quote', 'say "hi"'],
    ['a backslash', 'a\\b'],
    ['a CR', 'a\rb'],
    ['a tab', 'a\tb'],
    ['a non-ASCII letter', 'd\u00E9j\u00E0'],
    ['nothing (empty)', ''],
  ])('drops an error_description with %s (RFC 6750 section 3)', (_w, text) => {
    expect(
      formatChallenge({ error: 'invalid_token', error_description: text }),
    ).toBe('Bearer error="invalid_token"');
  });

  it.each(['invalid"token', 'a\\b', '', 'x\ny'])(
    'drops an error outside the RFC 6750 charset (%p)',
    (error) => {
      expect(formatChallenge({ error, realm: 'r' })).toBe('Bearer realm="r"');
    },
  );

  it.each([
    ['a double space', 'a  b'],
    ['a leading space', ' a'],
    ['a trailing space', 'a '],
    ['a double quote', 'a "b"'],
    ['a backslash', 'a\\b'],
    ['a tab', 'a\tb'],
    ['nothing (empty)', ''],
  ])('drops a scope with %s', (_what, scope) => {
    expect(formatChallenge({ error: 'insufficient_scope', scope })).toBe(
      'Bearer error="insufficient_scope"',
    );
  });

  it('keeps a scope list of several scope-tokens with URI characters', () => {
    expect(
      formatChallenge({ scope: 'api://app/read openid Files.Read.All' }),
    ).toBe('Bearer scope="api://app/read openid Files.Read.All"');
  });

  it.each([
    ['a space', 'https://example.com/a b'],
    ['a double quote', 'https://example.com/"'],
    ['a non-ASCII letter', 'https://example.com/\u00E9'],
    ['a CR', 'https://example.com/\r'],
  ])('drops an error_uri with %s', (_what, uri) => {
    expect(formatChallenge({ error: 'e', error_uri: uri })).toBe(
      'Bearer error="e"',
    );
  });

  it('keeps an error_uri with query, fragment and percent-escapes', () => {
    const uri = "https://example.com/e?a=1&b=%20#x-(y)!$'*+,;";
    expect(formatChallenge({ error_uri: uri })).toBe(
      `Bearer error_uri="${uri}"`,
    );
  });

  it('keeps a realm with every printable ASCII character', () => {
    let printable = '';
    for (let c = 0x20; c <= 0x7e; c++) printable += String.fromCharCode(c);
    const header = formatChallenge({ realm: printable });
    expect(header).toMatch(CHALLENGE);
    expect(parseChallenges(header)[0]?.params.realm).toBe(printable);
  });
});

describe('the charset predicates', () => {
  it('isSafeErrorText follows RFC 6750 section 3', () => {
    expect(isSafeErrorText('The access token is missing.')).toBe(true);
    expect(isSafeErrorText('!#[]~')).toBe(true);
    expect(isSafeErrorText('')).toBe(false);
    expect(isSafeErrorText('"')).toBe(false);
    expect(isSafeErrorText('\\')).toBe(false);
    expect(isSafeErrorText('\t')).toBe(false);
  });

  it('isSafeScope follows RFC 6750 section 3', () => {
    expect(isSafeScope('a')).toBe(true);
    expect(isSafeScope('a b c')).toBe(true);
    expect(isSafeScope('a  b')).toBe(false);
    expect(isSafeScope(' ')).toBe(false);
  });

  it('isQuotable refuses control characters and non-ASCII, including HTAB', () => {
    expect(isQuotable('')).toBe(true);
    expect(isQuotable(' ~"\\')).toBe(true);
    expect(isQuotable('\t')).toBe(false);
    expect(isQuotable('\r')).toBe(false);
    expect(isQuotable('\u00A0')).toBe(false);
  });

  it('quoteString escapes only " and \\', () => {
    expect(quoteString('a"b\\c\'d')).toBe('"a\\"b\\\\c\'d"');
    expect(quoteString('')).toBe('""');
  });
});

describe('parseChallenges', () => {
  it('parses the RFC 9110 example with two challenges in one header', () => {
    const header =
      'Newauth realm="apps", type=1, title="Login to \\"apps\\"", Basic realm="simple"';
    expect(parseChallenges(header)).toEqual([
      {
        scheme: 'Newauth',
        params: { realm: 'apps', type: '1', title: 'Login to "apps"' },
      },
      { scheme: 'Basic', params: { realm: 'simple' } },
    ]);
  });

  it('parses a challenge without parameters', () => {
    expect(parseChallenges('Bearer')).toEqual([
      { scheme: 'Bearer', params: {} },
    ]);
  });

  it('parses challenges without parameters separated by commas', () => {
    expect(parseChallenges('Negotiate, Bearer,Basic')).toEqual([
      { scheme: 'Negotiate', params: {} },
      { scheme: 'Bearer', params: {} },
      { scheme: 'Basic', params: {} },
    ]);
  });

  it('parses an empty header as no challenge', () => {
    expect(parseChallenges('')).toEqual([]);
    expect(parseChallenges(' , ,')).toEqual([]);
  });

  it('parses token68, then another challenge', () => {
    expect(
      parseChallenges(
        'Negotiate a87421000492aa874209af8bc028==  , Bearer realm="x"',
      ),
    ).toEqual([
      {
        scheme: 'Negotiate',
        token68: 'a87421000492aa874209af8bc028==',
        params: {},
      },
      { scheme: 'Bearer', params: { realm: 'x' } },
    ]);
  });

  it('reads a lone token after the scheme as token68, not as a second scheme', () => {
    expect(parseChallenges('Bearer Basic')).toEqual([
      { scheme: 'Bearer', token68: 'Basic', params: {} },
    ]);
  });

  it('parses token68 made of every token68 character', () => {
    expect(parseChallenges('Basic Az09-._~+/=')[0]?.token68).toBe(
      'Az09-._~+/=',
    );
  });

  it('unescapes quoted-pairs', () => {
    expect(
      parseChallenges('Bearer realm="a\\"b\\\\c\\x\\ d"')[0]?.params.realm,
    ).toBe('a"b\\cx d');
  });

  it('accepts obs-text and HTAB inside a quoted-string', () => {
    expect(
      parseChallenges('Bearer realm="caf\u00E9\tx"')[0]?.params.realm,
    ).toBe('caf\u00E9\tx');
  });

  it('lower-cases parameter names and keeps the scheme as written', () => {
    const [challenge] = parseChallenges(
      'bEARer REALM="r", Error_Description="d", SCOPE=s',
    );
    expect(challenge).toEqual({
      scheme: 'bEARer',
      params: { realm: 'r', error_description: 'd', scope: 's' },
    });
  });

  it('skips empty list elements everywhere', () => {
    expect(
      parseChallenges(
        ', ,Bearer realm="x" , , error="e",,\t, Basic ,, Negotiate abc ,',
      ),
    ).toEqual([
      { scheme: 'Bearer', params: { realm: 'x', error: 'e' } },
      { scheme: 'Basic', params: {} },
      { scheme: 'Negotiate', token68: 'abc', params: {} },
    ]);
  });

  it('accepts trailing commas after the last parameter', () => {
    expect(parseChallenges('Bearer realm="x", ,')).toEqual([
      { scheme: 'Bearer', params: { realm: 'x' } },
    ]);
  });

  it('accepts whitespace around "=" (BWS)', () => {
    expect(parseChallenges('Bearer realm = "x" ,error=\te')[0]?.params).toEqual(
      { realm: 'x', error: 'e' },
    );
  });

  it('keeps the first value of a repeated parameter', () => {
    expect(
      parseChallenges('Bearer realm="first", REALM="second"')[0]?.params,
    ).toEqual({ realm: 'first' });
  });

  it('keeps a parameter named __proto__ as plain data', () => {
    const [challenge] = parseChallenges(
      'Bearer __proto__="x", constructor="y"',
    );
    const params = challenge?.params ?? {};
    expect(Object.getPrototypeOf(params)).toBe(Object.prototype);
    expect(Object.hasOwn(params, '__proto__')).toBe(true);
    expect(Object.getOwnPropertyDescriptor(params, '__proto__')?.value).toBe(
      'x',
    );
    expect(params.constructor).toBe('y');
  });

  it('reads a parameter whose name looks like token68 followed by "="', () => {
    expect(parseChallenges('Bearer abc=def')[0]).toEqual({
      scheme: 'Bearer',
      params: { abc: 'def' },
    });
  });

  it.each([
    ['an unterminated quoted-string', 'Bearer realm="abc', /unterminated/],
    ['a backslash at the end', 'Bearer realm="abc\\', /quoted-pair/],
    ['a quoted-pair of a control', 'Bearer realm="a\\\u0001"', /quoted-pair/],
    ['a control in a quoted-string', 'Bearer realm="a\u0001"', /bad character/],
    ['LF in a quoted-string', 'Bearer realm="a\nb"', /bad character/],
    ['a character above U+00FF', 'Bearer realm="\u20AC"', /bad character/],
    ['no comma between parameters', 'Bearer a="1" b="2"', /comma/],
    ['text after a value', 'Bearer realm="x" trailing', /comma/],
    ['a challenge glued to a value', 'Bearer realm="x"Basic', /comma/],
    ['a value missing', 'Bearer a="1", b=', /parameter value/],
    ['a value that is not a token', 'Bearer a=@', /parameter value/],
    ['a name missing', 'Bearer ="x"', /parameter name/],
    ['no scheme', '="x"', /auth-scheme/],
    ['a quote right after the scheme', 'Bearer"x"', /auth-scheme/],
    ['two tokens after the scheme', 'Bearer foo bar', /token68/],
    ['a stray token before a parameter', 'Bearer foo realm="x"', /token68/],
    ['token68 then a parameter', 'Basic abc, realm="x"', /auth-scheme/],
  ])('throws ChallengeParseError for %s', (_what, header, message) => {
    let thrown: unknown;
    try {
      parseChallenges(header);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ChallengeParseError);
    expect((thrown as Error).name).toBe('ChallengeParseError');
    expect((thrown as Error).message).toMatch(message);
  });

  it('answers any input with challenges or a ChallengeParseError', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.stringMatching(/^[A-Za-z ,="\\=\t]{0,30}$/)),
        (header) => {
          try {
            const challenges = parseChallenges(header);
            for (const challenge of challenges) {
              expect(challenge.scheme).toMatch(new RegExp(`^${TOKEN}$`));
            }
          } catch (error) {
            expect(error).toBeInstanceOf(ChallengeParseError);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('formatChallenge properties', () => {
  const ORDER = [
    'realm',
    'authorization_uri',
    'resource_id',
    'resource_metadata',
    'error',
    'error_description',
    'error_uri',
    'scope',
  ];
  const printable = fc.string({
    unit: fc
      .integer({ min: 0x20, max: 0x7e })
      .map((c) => String.fromCharCode(c)),
  });
  const hostile = fc.oneof(
    fc.string(),
    fc.string({ unit: 'binary' }),
    fc.string({
      unit: fc.constantFrom(
        '"',
        '\\',
        '\r',
        '\n',
        '\t',
        '\u0000',
        ' ',
        'a',
        '\u00E9',
      ),
    }),
  );
  const value = fc.option(fc.oneof(printable, hostile), { nil: undefined });
  const scopeList = fc.option(
    fc.oneof(
      fc
        .array(fc.stringMatching(/^[\x21\x23-\x5B\x5D-\x7E]{1,8}$/), {
          minLength: 1,
          maxLength: 4,
        })
        .map((scopes) => scopes.join(' ')),
      hostile,
    ),
    { nil: undefined },
  );
  const params = fc.record(
    {
      realm: value,
      resource_id: value,
      error: fc.option(
        fc.oneof(
          fc.constantFrom('invalid_token', 'insufficient_scope'),
          hostile,
        ),
        { nil: undefined },
      ),
      error_description: value,
      scope: scopeList,
    },
    { requiredKeys: [] },
  );

  /** What RFC 6750 / RFC 9110 allow for each parameter, stated independently. */
  function isKeepable(name: string, text: string): boolean {
    if (name === 'error' || name === 'error_description') {
      return RFC6750_TEXT.test(text);
    }
    if (name === 'scope') return RFC6750_SCOPE.test(text);
    return /^[\x20-\x7E]*$/.test(text);
  }

  it('writes a header that the strict grammar accepts, with no CR, LF or controls', () => {
    fc.assert(
      fc.property(params, (p) => {
        const header = formatChallenge(p);
        expect(header).toMatch(CHALLENGE);
        expect(header).not.toMatch(CONTROL_OR_NON_ASCII);
      }),
      { numRuns: 2000 },
    );
  });

  it('round-trips every kept value, keeps every safe one, and drops the rest', () => {
    fc.assert(
      fc.property(params, (p) => {
        const challenges = parseChallenges(formatChallenge(p));
        expect(challenges).toHaveLength(1);
        const [challenge] = challenges;
        expect(challenge?.scheme).toBe('Bearer');
        const parsed = challenge?.params ?? {};
        for (const [name, text] of Object.entries(p)) {
          if (text !== undefined && isKeepable(name, text)) {
            expect(parsed[name]).toBe(text);
          } else {
            expect(Object.hasOwn(parsed, name)).toBe(false);
          }
        }
        expect(Object.keys(parsed)).toEqual(
          ORDER.filter((name) => Object.hasOwn(parsed, name)),
        );
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps error, error_description and scope only within the RFC 6750 charset', () => {
    fc.assert(
      fc.property(params, (p) => {
        const parsed = parseChallenges(formatChallenge(p))[0]?.params ?? {};
        if (parsed.error !== undefined) {
          expect(parsed.error).toMatch(RFC6750_TEXT);
        }
        if (parsed.error_description !== undefined) {
          expect(parsed.error_description).toMatch(RFC6750_TEXT);
        }
        if (parsed.scope !== undefined) {
          expect(parsed.scope).toMatch(RFC6750_SCOPE);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('parseChallenges: repeated parameters', () => {
  it('keeps the first value and lists the repeated names', () => {
    const [challenge] = parseChallenges(
      'Bearer resource_id="https://a.example/", realm="x", RESOURCE_ID="https://evil.example/"',
    );
    expect(challenge?.params.resource_id).toBe('https://a.example/');
    expect(challenge?.repeated).toEqual(['resource_id']);
  });

  it('sets no repeated list when every name is unique', () => {
    const [challenge] = parseChallenges(
      'Bearer realm="x", error="invalid_token"',
    );
    expect(challenge?.repeated).toBeUndefined();
  });
});

describe('parseChallenges: empty list elements (RFC 9110 section 5.6.1.2)', () => {
  it.each([
    ['before the first parameter', 'Bearer , realm="x"'],
    ['several before the first parameter', 'Bearer ,\t, ,realm="x"'],
    ['before the first parameter, without a space', 'Bearer,realm="x"'],
    ['leading', ', ,Bearer realm="x"'],
    ['trailing', 'Bearer realm="x" , ,'],
  ])('reads the parameter list with empty elements %s', (_where, header) => {
    expect(parseChallenges(header)).toEqual([
      { scheme: 'Bearer', params: { realm: 'x' } },
    ]);
  });

  it('reads empty elements between parameters', () => {
    expect(parseChallenges('Bearer realm="x",, error="y"')).toEqual([
      { scheme: 'Bearer', params: { realm: 'x', error: 'y' } },
    ]);
  });

  it('reads empty elements between challenges, the second one starting with some', () => {
    expect(
      parseChallenges(
        'Bearer realm="x", , DPoP , error="use_dpop_nonce", algs="ES256", ,',
      ),
    ).toEqual([
      { scheme: 'Bearer', params: { realm: 'x' } },
      { scheme: 'DPoP', params: { error: 'use_dpop_nonce', algs: 'ES256' } },
    ]);
  });

  it('still reads a scheme after empty elements as the next challenge', () => {
    expect(parseChallenges('Basic , , Bearer realm="x"')).toEqual([
      { scheme: 'Basic', params: {} },
      { scheme: 'Bearer', params: { realm: 'x' } },
    ]);
    expect(parseChallenges('Basic , Bearer , realm="x"')).toEqual([
      { scheme: 'Basic', params: {} },
      { scheme: 'Bearer', params: { realm: 'x' } },
    ]);
  });

  it('still refuses a parameter after token68 and a value missing after empty elements', () => {
    expect(() => parseChallenges('Basic abc, , realm="x"')).toThrow(
      ChallengeParseError,
    );
    expect(() => parseChallenges('Bearer , realm=')).toThrow(/parameter value/);
  });

  // Challenges as data, written once plainly and once with empty elements (and optional
  // whitespace) everywhere the list syntax allows them: both read the same.
  const scheme = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,7}$/);
  const param = fc.record({
    name: fc.stringMatching(/^[a-z][a-z_]{0,7}$/),
    value: fc.string({
      unit: fc
        .integer({ min: 0x20, max: 0x7e })
        .map((c) => String.fromCharCode(c)),
      maxLength: 12,
    }),
    quoted: fc.boolean(),
  });
  const challenge = fc.record({
    scheme,
    params: fc.uniqueArray(param, { selector: (p) => p.name, maxLength: 4 }),
  });
  const ows = fc.constantFrom('', ' ', '\t', '  ');
  // *( OWS "," ) OWS, with at least `min` commas.
  const empties = (min: number) =>
    fc
      .tuple(fc.array(ows, { minLength: min, maxLength: min + 3 }), ows)
      .map(([befores, last]) => befores.map((o) => `${o},`).join('') + last);

  const writeValue = (p: { value: string; quoted: boolean }): string =>
    p.quoted || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(p.value)
      ? quoteString(p.value)
      : p.value;

  it('reads challenges the same with and without empty list elements', () => {
    fc.assert(
      fc.property(
        fc.array(challenge, { minLength: 1, maxLength: 4 }),
        fc.infiniteStream(empties(0)),
        fc.infiniteStream(empties(1)),
        (challenges, optional, required) => {
          const plain = challenges
            .map(
              (c) =>
                c.scheme +
                (c.params.length === 0
                  ? ''
                  : ` ${c.params.map((p) => `${p.name}=${writeValue(p)}`).join(', ')}`),
            )
            .join(', ');
          const opt = () => optional.next().value as string;
          const req = () => required.next().value as string;
          const noisy =
            opt() +
            challenges
              .map(
                (c) =>
                  c.scheme +
                  (c.params.length === 0
                    ? ''
                    : ` ${opt()}${c.params.map((p) => `${p.name}=${writeValue(p)}`).join(req())}`),
              )
              .join(req()) +
            opt();
          const expected = challenges.map((c) => ({
            scheme: c.scheme,
            params: Object.fromEntries(c.params.map((p) => [p.name, p.value])),
          }));
          expect(parseChallenges(plain)).toEqual(expected);
          expect(parseChallenges(noisy)).toEqual(expected);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
