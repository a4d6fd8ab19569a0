import fc from 'fast-check';
import {
  AuthenticationRequiredError,
  BearerError,
  InvalidRequestError,
  InvalidTokenError,
} from './bearer.errors.js';
import {
  extractToken,
  isB64token,
  TOKEN_LOCATIONS,
  type ExtractOptions,
  type ExtractResult,
  type TokenLocation,
  type TokenRequest,
} from './token-extractor.js';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl';
const ALL: ExtractOptions = { locations: TOKEN_LOCATIONS, maxTokenLength: 64 };
const HEADER_ONLY: ExtractOptions = {
  locations: ['header'],
  maxTokenLength: 64,
};
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
const FORM = 'application/x-www-form-urlencoded';

function request(parts: Partial<TokenRequest> = {}): TokenRequest {
  return { method: 'GET', url: '/', headers: {}, ...parts };
}

function withHeader(value: string | string[]): TokenRequest {
  return request({ headers: { authorization: value } });
}

function postForm(
  body: unknown,
  contentType: string | string[] = FORM,
  method = 'POST',
): TokenRequest {
  return request({ method, headers: { 'content-type': contentType }, body });
}

function expectToken(
  result: ExtractResult,
  token: string,
  location: TokenLocation,
): void {
  expect(result).toEqual({ ok: true, token, location, scheme: 'Bearer' });
}

function errorOf(result: ExtractResult): BearerError {
  if (result.ok) throw new Error(`expected an error, got ${result.token}`);
  return result.error;
}

function expectInvalidToken(result: ExtractResult, reason: string): void {
  const error = errorOf(result);
  expect(error).toBeInstanceOf(InvalidTokenError);
  expect((error as InvalidTokenError).reason).toBe(reason);
}

function expectInvalidRequest(result: ExtractResult, description?: string) {
  const error = errorOf(result);
  expect(error).toBeInstanceOf(InvalidRequestError);
  expect(error.getStatus()).toBe(400);
  if (description !== undefined) expect(error.description).toBe(description);
}

function expectNoCredentials(result: ExtractResult): void {
  expect(errorOf(result)).toBeInstanceOf(AuthenticationRequiredError);
}

const MORE_THAN_ONE_METHOD =
  'The access token was sent by more than one method.';
const MORE_THAN_ONE_HEADER =
  'The request carries more than one Authorization header.';
const PARAMETER_ONCE = 'The access_token parameter must be given exactly once.';
const FORM_ONLY =
  'The access_token body parameter is only accepted in a form-encoded request body.';

describe('extractToken', () => {
  it('exports the locations in the order of RFC 6750 section 2', () => {
    expect(TOKEN_LOCATIONS).toEqual(['header', 'body', 'query']);
  });

  describe('no credentials', () => {
    it('answers AuthenticationRequiredError for a bare request', () => {
      expectNoCredentials(extractToken(request(), ALL));
    });

    it('treats a request with no url, method or body as bare', () => {
      expectNoCredentials(extractToken({ headers: {} }, ALL));
    });

    it('answers AuthenticationRequiredError for an empty or blank header', () => {
      expectNoCredentials(extractToken(withHeader(''), HEADER_ONLY));
      expectNoCredentials(extractToken(withHeader(' \t '), HEADER_ONLY));
    });

    it('answers AuthenticationRequiredError for an empty header array', () => {
      expectNoCredentials(extractToken(withHeader([]), HEADER_ONLY));
    });

    it.each(['Basic dXNlcjpwYXNz', 'Basic', 'DPoP abc', 'Bearerx abc'])(
      'treats another scheme (%s) as no bearer credentials (RFC 6750 section 3.1)',
      (header) => {
        expectNoCredentials(extractToken(withHeader(header), HEADER_ONLY));
      },
    );

    it('ignores a query without access_token and a body without it', () => {
      expectNoCredentials(
        extractToken(
          { ...postForm({ other: 'x' }), url: '/path?x=1&token=2' },
          ALL,
        ),
      );
    });

    it('ignores a url without a query', () => {
      expectNoCredentials(extractToken(request({ url: '/a/b' }), ALL));
    });

    it.each([null, 'access_token=abc', 42, ['access_token', 'abc']])(
      'ignores a body that is not a plain object (%p)',
      (body) => {
        expectNoCredentials(extractToken(postForm(body), ALL));
      },
    );

    it('does not read an inherited access_token of the body', () => {
      const body: unknown = Object.create({ access_token: TOKEN });
      expectNoCredentials(extractToken(postForm(body), ALL));
    });
  });

  describe('Authorization header (RFC 6750 section 2.1)', () => {
    it('returns the token of a Bearer header', () => {
      expectToken(
        extractToken(withHeader(`Bearer ${TOKEN}`), HEADER_ONLY),
        TOKEN,
        'header',
      );
    });

    it.each(['bearer', 'BEARER', 'bEaReR'])(
      'accepts the scheme in any case (%s)',
      (scheme) => {
        expectToken(
          extractToken(withHeader(`${scheme} ${TOKEN}`), HEADER_ONLY),
          TOKEN,
          'header',
        );
      },
    );

    it('accepts every b64token character and trailing "="', () => {
      const token = 'Az09-._~+/==';
      expectToken(
        extractToken(withHeader(`Bearer ${token}`), HEADER_ONLY),
        token,
        'header',
      );
    });

    it('ignores surrounding whitespace and several spaces after the scheme', () => {
      expectToken(
        extractToken(withHeader(` \tBearer   ${TOKEN}\t `), HEADER_ONLY),
        TOKEN,
        'header',
      );
    });

    it('accepts a one-element header array', () => {
      expectToken(
        extractToken(withHeader([`Bearer ${TOKEN}`]), HEADER_ONLY),
        TOKEN,
        'header',
      );
    });

    it('accepts a single entry in headersDistinct', () => {
      const req = withHeader(`Bearer ${TOKEN}`);
      req.headersDistinct = { authorization: [`Bearer ${TOKEN}`] };
      expectToken(extractToken(req, HEADER_ONLY), TOKEN, 'header');
    });

    it.each(['Bearer', 'Bearer ', 'bearer    ', '  Bearer  \t'])(
      'answers "missing" for %p',
      (header) => {
        const result = extractToken(withHeader(header), HEADER_ONLY);
        expectInvalidToken(result, 'missing');
        expect(errorOf(result).description).toBe(
          'The access token is missing.',
        );
      },
    );

    it('answers "missing" when only non-SP/HTAB whitespace follows the scheme', () => {
      expectInvalidToken(
        extractToken(withHeader('Bearer \n'), HEADER_ONLY),
        'missing',
      );
    });

    it.each([
      ['a token followed by junk', `Bearer ${TOKEN} junk`],
      ['a comma-separated second token', `Bearer ${TOKEN}, other`],
      ['a quote', 'Bearer "abc"'],
      ['"=" inside the token', 'Bearer ab=c'],
      ['a non-ASCII character', 'Bearer abcé'],
      ['a tab between scheme and token', `Bearer\t${TOKEN}`],
      ['a header that is not even a scheme', '"Bearer abc"'],
      ['auth-params instead of a token', 'Bearer realm="x"'],
    ])('answers "malformed" for %s', (_what, header) => {
      expectInvalidToken(
        extractToken(withHeader(header), HEADER_ONLY),
        'malformed',
      );
    });

    it('accepts a token of exactly the maximum length', () => {
      const token = 'a'.repeat(ALL.maxTokenLength);
      expectToken(
        extractToken(withHeader(`Bearer ${token}`), HEADER_ONLY),
        token,
        'header',
      );
    });

    it('answers "too_long" for a token one character over the cap', () => {
      const token = 'a'.repeat(ALL.maxTokenLength + 1);
      expectInvalidToken(
        extractToken(withHeader(`Bearer ${token}`), HEADER_ONLY),
        'too_long',
      );
    });

    it('answers "too_long" for a huge header before parsing it', () => {
      // Invalid characters everywhere: only the cap can give "too_long" here.
      const header = 'Bearer ' + '"'.repeat(1_000_000);
      const started = performance.now();
      expectInvalidToken(
        extractToken(withHeader(header), HEADER_ONLY),
        'too_long',
      );
      expect(performance.now() - started).toBeLessThan(50);
    });

    it.each([
      ['Negotiate', `Negotiate ${'a'.repeat(9000)}`],
      ['Basic', `Basic ${'a'.repeat(200)}`],
      ['DPoP', `DPoP ${'a'.repeat(9000)}`],
      ['a scheme of 60 characters', `${'X'.repeat(60)} ${'a'.repeat(9000)}`],
      ['another scheme after blanks', ` \t Negotiate ${'a'.repeat(9000)}`],
      ['another scheme with spaces only', `Negotiate ${' '.repeat(9000)}`],
      ['a Bearer-like scheme', `Bearers ${'a'.repeat(9000)}`],
    ])(
      'answers "no credentials" for a long credential of another scheme (%s)',
      (_what, header) => {
        const error = errorOf(extractToken(withHeader(header), HEADER_ONLY));
        expect(error).toBeInstanceOf(AuthenticationRequiredError);
        expect(error.code).toBeUndefined();
      },
    );

    it('reads the scheme of a huge header of another scheme in bounded time', () => {
      const header = `Negotiate ${'a'.repeat(1_000_000)}`;
      const started = performance.now();
      const error = errorOf(extractToken(withHeader(header), HEADER_ONLY));
      expect(performance.now() - started).toBeLessThan(50);
      expect(error).toBeInstanceOf(AuthenticationRequiredError);
    });

    it.each([
      ['a long Bearer credential', `Bearer ${'a'.repeat(9000)}`],
      ['a long bEaReR credential', `bEaReR ${'a'.repeat(9000)}`],
      [
        'a huge run of blanks before the scheme',
        `${' '.repeat(1_000_000)}Negotiate x`,
      ],
      ['a huge scheme-like token', 'X'.repeat(1_000_000)],
      ['a huge scheme-like token then a space', `${'X'.repeat(100_000)} x`],
      ['a scheme followed by a tab', `Negotiate\t${'a'.repeat(9000)}`],
      ['a huge header with no scheme', `"${'a'.repeat(9000)}`],
    ])('still answers "too_long" for %s', (_what, header) => {
      const started = performance.now();
      expectInvalidToken(
        extractToken(withHeader(header), HEADER_ONLY),
        'too_long',
      );
      expect(performance.now() - started).toBeLessThan(50);
    });

    it('answers the same for a short header of another scheme as before the cap', () => {
      for (const header of [
        'Negotiate',
        'Negotiate ',
        'Negotiate abc',
        'Negotiate\t',
        'Basic dXNlcjpwYXNz',
        '  Basic   abc  ',
      ]) {
        const error = errorOf(extractToken(withHeader(header), HEADER_ONLY));
        expect(error).toBeInstanceOf(AuthenticationRequiredError);
      }
      expectInvalidToken(
        extractToken(withHeader('Negotiate\tabc'), HEADER_ONLY),
        'malformed',
      );
    });

    it('answers invalid_request for two Authorization headers in headersDistinct', () => {
      const req = withHeader(`Bearer ${TOKEN}`);
      req.headersDistinct = {
        authorization: [`Bearer ${TOKEN}`, `Bearer ${TOKEN}`],
      };
      expectInvalidRequest(
        extractToken(req, HEADER_ONLY),
        MORE_THAN_ONE_HEADER,
      );
    });

    it('answers invalid_request for a duplicated header even when one is another scheme', () => {
      const req = withHeader('Basic abc');
      req.headersDistinct = { authorization: ['Basic abc', `Bearer ${TOKEN}`] };
      expectInvalidRequest(
        extractToken(req, HEADER_ONLY),
        MORE_THAN_ONE_HEADER,
      );
    });

    it('answers invalid_request for an Authorization header array of two', () => {
      expectInvalidRequest(
        extractToken(withHeader([`Bearer ${TOKEN}`, 'Bearer x']), HEADER_ONLY),
        MORE_THAN_ONE_HEADER,
      );
    });

    it('turns a request of an unexpected shape into invalid_request, not a throw', () => {
      const req = { headers: { authorization: 42 } } as unknown as TokenRequest;
      expectInvalidRequest(
        extractToken(req, HEADER_ONLY),
        'The request is not well-formed.',
      );
    });
  });

  describe('form body (RFC 6750 section 2.2)', () => {
    const BODY_ONLY: ExtractOptions = {
      locations: ['body'],
      maxTokenLength: 64,
    };

    it.each(['POST', 'PUT', 'PATCH', 'DELETE', 'post'])(
      'returns the token of a %s form body',
      (method) => {
        expectToken(
          extractToken(
            postForm({ access_token: TOKEN }, FORM, method),
            BODY_ONLY,
          ),
          TOKEN,
          'body',
        );
      },
    );

    it.each([
      `${FORM}; charset=utf-8`,
      'Application/X-WWW-Form-Urlencoded',
      ` ${FORM} ;charset=UTF-8`,
    ])('accepts the content type %p', (contentType) => {
      expectToken(
        extractToken(postForm({ access_token: TOKEN }, contentType), BODY_ONLY),
        TOKEN,
        'body',
      );
    });

    it('reads the first content-type when it comes as an array', () => {
      expectToken(
        extractToken(postForm({ access_token: TOKEN }, [FORM]), BODY_ONLY),
        TOKEN,
        'body',
      );
    });

    it.each(['GET', 'HEAD', 'get'])(
      'answers invalid_request for a %s body',
      (method) => {
        expectInvalidRequest(
          extractToken(
            postForm({ access_token: TOKEN }, FORM, method),
            BODY_ONLY,
          ),
          FORM_ONLY,
        );
      },
    );

    it('treats a body without a method as GET', () => {
      const req: TokenRequest = {
        headers: { 'content-type': FORM },
        body: { access_token: TOKEN },
      };
      expectInvalidRequest(extractToken(req, BODY_ONLY), FORM_ONLY);
    });

    it.each([
      ['a JSON body', 'application/json'],
      ['a multipart body', 'multipart/form-data; boundary=x'],
      ['a look-alike type', `${FORM}x`],
    ])('answers invalid_request for %s with access_token', (_what, type) => {
      expectInvalidRequest(
        extractToken(postForm({ access_token: TOKEN }, type), BODY_ONLY),
        FORM_ONLY,
      );
    });

    it('answers invalid_request for a body without a content type', () => {
      const req = request({ method: 'POST', body: { access_token: TOKEN } });
      expectInvalidRequest(extractToken(req, BODY_ONLY), FORM_ONLY);
    });

    it.each([
      ['an array (parameter repeated)', [TOKEN, TOKEN]],
      ['a one-element array', [TOKEN]],
      ['a nested object', { a: TOKEN }],
      ['a number', 42],
      ['null', null],
    ])('answers invalid_request when access_token is %s', (_what, value) => {
      expectInvalidRequest(
        extractToken(postForm({ access_token: value }), BODY_ONLY),
        PARAMETER_ONCE,
      );
    });

    it('answers "missing" for an empty access_token', () => {
      expectInvalidToken(
        extractToken(postForm({ access_token: '' }), BODY_ONLY),
        'missing',
      );
    });

    it('answers "malformed" for a value outside b64token', () => {
      expectInvalidToken(
        extractToken(postForm({ access_token: 'a b' }), BODY_ONLY),
        'malformed',
      );
    });

    it('answers "too_long" for a value over the cap', () => {
      expectInvalidToken(
        extractToken(postForm({ access_token: 'a'.repeat(65) }), BODY_ONLY),
        'too_long',
      );
    });
  });

  describe('query (RFC 6750 section 2.3)', () => {
    const QUERY_ONLY: ExtractOptions = {
      locations: ['query'],
      maxTokenLength: 64,
    };
    const atUrl = (url: string) => request({ url });

    it('returns the token of the query', () => {
      expectToken(
        extractToken(atUrl(`/r?x=1&access_token=${TOKEN}`), QUERY_ONLY),
        TOKEN,
        'query',
      );
    });

    it('percent-decodes the value', () => {
      expectToken(
        extractToken(atUrl('/r?access_token=a%2Bb%2F%3D'), QUERY_ONLY),
        'a+b/=',
        'query',
      );
    });

    it('reads the raw url, not a parsed query object', () => {
      const req = atUrl('/r');
      (req as TokenRequest & { query: unknown }).query = {
        access_token: TOKEN,
      };
      expectNoCredentials(extractToken(req, QUERY_ONLY));
    });

    it.each([
      '/r?access_token=a&access_token=b',
      '/r?access_token=a&access_token=a',
      '/r?access_token=&access_token=',
    ])('answers invalid_request for a repeated parameter (%s)', (url) => {
      expectInvalidRequest(
        extractToken(atUrl(url), QUERY_ONLY),
        PARAMETER_ONCE,
      );
    });

    it.each(['/r?access_token=', '/r?access_token'])(
      'answers "missing" for an empty parameter (%s)',
      (url) => {
        expectInvalidToken(extractToken(atUrl(url), QUERY_ONLY), 'missing');
      },
    );

    it('answers "malformed" for a "+" that decodes to a space', () => {
      expectInvalidToken(
        extractToken(atUrl('/r?access_token=a+b'), QUERY_ONLY),
        'malformed',
      );
    });

    it('answers "too_long" for a value over the cap', () => {
      expectInvalidToken(
        extractToken(atUrl(`/r?access_token=${'a'.repeat(65)}`), QUERY_ONLY),
        'too_long',
      );
    });

    it('does not take a similar parameter name', () => {
      expectNoCredentials(
        extractToken(
          atUrl(`/r?Access_Token=${TOKEN}&access_token2=x`),
          QUERY_ONLY,
        ),
      );
    });
  });

  describe('several methods and enabled locations', () => {
    const headerAndQuery = (): TokenRequest =>
      request({
        url: `/r?access_token=${TOKEN}`,
        headers: { authorization: `Bearer ${TOKEN}` },
      });

    it('answers invalid_request for header and query together', () => {
      expectInvalidRequest(
        extractToken(headerAndQuery(), ALL),
        MORE_THAN_ONE_METHOD,
      );
    });

    it('answers invalid_request for header and body together', () => {
      const req = postForm({ access_token: TOKEN });
      req.headers.authorization = `Bearer ${TOKEN}`;
      expectInvalidRequest(extractToken(req, ALL), MORE_THAN_ONE_METHOD);
    });

    it('answers invalid_request for body and query together', () => {
      const req = {
        ...postForm({ access_token: TOKEN }),
        url: `/r?access_token=${TOKEN}`,
      };
      expectInvalidRequest(extractToken(req, ALL), MORE_THAN_ONE_METHOD);
    });

    it('counts a bad credential as a method too', () => {
      const req = request({
        url: `/r?access_token=${TOKEN}`,
        headers: { authorization: 'Bearer' },
      });
      expectInvalidRequest(extractToken(req, ALL), MORE_THAN_ONE_METHOD);
    });

    it('reports the error of the only method that was used', () => {
      const req = request({
        url: '/r?access_token=a&access_token=b',
        headers: { authorization: 'Basic abc' },
      });
      expectInvalidRequest(extractToken(req, ALL), PARAMETER_ONCE);
    });

    it('takes the query token when the header uses another scheme', () => {
      const req = request({
        url: `/r?access_token=${TOKEN}`,
        headers: { authorization: 'Basic abc' },
      });
      expectToken(extractToken(req, ALL), TOKEN, 'query');
    });

    it('ignores the query when only the header is enabled', () => {
      expectToken(extractToken(headerAndQuery(), HEADER_ONLY), TOKEN, 'header');
      expectNoCredentials(
        extractToken(request({ url: `/r?access_token=${TOKEN}` }), HEADER_ONLY),
      );
    });

    it('ignores the header when only the query is enabled', () => {
      expectToken(
        extractToken(headerAndQuery(), {
          locations: ['query'],
          maxTokenLength: 64,
        }),
        TOKEN,
        'query',
      );
    });

    it('ignores the body when it is not enabled, even a JSON one', () => {
      const req = postForm({ access_token: TOKEN }, 'application/json');
      expectNoCredentials(extractToken(req, HEADER_ONLY));
    });

    it('reads nothing when no location is enabled', () => {
      expectNoCredentials(
        extractToken(headerAndQuery(), { locations: [], maxTokenLength: 64 }),
      );
    });
  });

  describe('deferSyntaxCheck', () => {
    const DEFERRED: ExtractOptions = { ...ALL, deferSyntaxCheck: true };

    it('returns a token outside the b64token syntax for the caller to check', () => {
      for (const req of [
        withHeader('Bearer not$b64'),
        request({ url: '/?access_token=not%24b64' }),
        postForm({ access_token: 'not$b64' }),
      ]) {
        const result = extractToken(req, DEFERRED);
        expect(result).toMatchObject({ ok: true, token: 'not$b64' });
        expect(isB64token('not$b64')).toBe(false);
        expectInvalidToken(extractToken(req, ALL), 'malformed');
      }
      expect(isB64token(TOKEN)).toBe(true);
    });

    it('applies every other rule: length, repetition, several methods', () => {
      expectInvalidToken(
        extractToken(withHeader(`Bearer ${'a'.repeat(65)}`), DEFERRED),
        'too_long',
      );
      expectInvalidRequest(
        extractToken(
          request({ url: '/?access_token=a&access_token=b' }),
          DEFERRED,
        ),
        PARAMETER_ONCE,
      );
      expectInvalidRequest(
        extractToken(
          request({
            url: '/?access_token=x$y',
            headers: { authorization: 'Bearer not$b64' },
          }),
          DEFERRED,
        ),
        MORE_THAN_ONE_METHOD,
      );
    });
  });

  describe('properties', () => {
    const options = fc.constantFrom<ExtractOptions>(ALL, HEADER_ONLY, {
      locations: ['query', 'body'],
      maxTokenLength: 16,
    });
    const anyString = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.stringMatching(/^[ \t]*[Bb][Ee][Aa][Rr][Ee][Rr][ \t]*[ -~]*$/),
    );
    const anyHeader = fc.option(
      fc.oneof(anyString, fc.array(anyString, { maxLength: 3 })),
      { nil: undefined },
    );
    const anyBody = fc.oneof(
      fc.constant(undefined),
      fc.constant(null),
      fc.anything(),
      fc.dictionary(
        fc.constantFrom('access_token', 'other', '__proto__'),
        fc.oneof(anyString, fc.array(anyString), fc.anything()),
      ),
    );
    const anyUrl = fc.oneof(
      anyString,
      fc
        .array(
          fc.tuple(
            fc.constantFrom('access_token', 'x', 'access_token%00'),
            anyString,
          ),
          { maxLength: 3 },
        )
        .map(
          (pairs) =>
            '/r?' +
            pairs
              .map(([k, v]) => `${k}=${encodeURIComponent(v).slice(0, 80)}`)
              .join('&'),
        ),
    );

    it('always answers one b64token or a BearerError, and never throws', () => {
      fc.assert(
        fc.property(
          anyHeader,
          anyUrl,
          anyBody,
          fc.constantFrom('GET', 'POST', 'HEAD', undefined),
          fc.constantFrom(
            FORM,
            `${FORM}; charset=utf-8`,
            'application/json',
            undefined,
          ),
          options,
          (authorization, url, body, method, contentType, opts) => {
            const req: TokenRequest = {
              method,
              url,
              headers: { authorization, 'content-type': contentType },
              body,
            };
            const result = extractToken(req, opts);
            if (result.ok) {
              expect(result.token).toMatch(B64TOKEN);
              expect(result.token.length).toBeLessThanOrEqual(
                opts.maxTokenLength,
              );
              expect(opts.locations).toContain(result.location);
            } else {
              expect(result.error).toBeInstanceOf(BearerError);
            }
          },
        ),
        { numRuns: 2000 },
      );
    });

    it('gives the same answer for whitespace and case variations of a header', () => {
      const caseVariant = fc
        .array(fc.boolean(), { minLength: 6, maxLength: 6 })
        .map((upper) =>
          [...'bearer']
            .map((c, i) => (upper[i] ? c.toUpperCase() : c))
            .join(''),
        );
      const ows = fc.stringMatching(/^[ \t]{0,4}$/);
      const spaces = fc.stringMatching(/^ {1,4}$/);
      const credential = fc.oneof(
        fc.stringMatching(/^[A-Za-z0-9\-._~+/]{1,40}=*$/),
        fc.string({ maxLength: 40 }).filter((s) => s.trim() === s && s !== ''),
      );
      fc.assert(
        fc.property(
          credential,
          caseVariant,
          ows,
          spaces,
          ows,
          (value, scheme, before, between, after) => {
            const canonical = extractToken(
              withHeader(`Bearer ${value}`),
              HEADER_ONLY,
            );
            const variant = extractToken(
              withHeader(`${before}${scheme}${between}${value}${after}`),
              HEADER_ONLY,
            );
            expect(summarize(variant)).toEqual(summarize(canonical));
          },
        ),
        { numRuns: 1000 },
      );
    });
  });
});

function summarize(result: ExtractResult): unknown {
  if (result.ok) return result;
  const error = result.error;
  return {
    type: error.constructor.name,
    code: error.code,
    reason: error instanceof InvalidTokenError ? error.reason : undefined,
  };
}

describe('extractToken: repeated Authorization fields in rawHeaders', () => {
  it('refuses two Authorization fields, whatever their case, with invalid_request', () => {
    const result = extractToken(
      request({
        headers: { authorization: `Bearer ${TOKEN}` },
        rawHeaders: [
          'Host',
          'x',
          'authorization',
          `Bearer ${TOKEN}`,
          'AUTHORIZATION',
          'Bearer other',
        ],
      }),
      HEADER_ONLY,
    );
    expectInvalidRequest(result, MORE_THAN_ONE_HEADER);
  });

  it.each([
    ['Authorization', 'Authorization'],
    ['authorization', 'Authorization'],
    ['AuthoriZation', 'authorization'],
  ])('counts %s and %s as two Authorization fields', (first, second) => {
    const result = extractToken(
      request({
        headers: { authorization: `Bearer ${TOKEN}` },
        rawHeaders: [first, `Bearer ${TOKEN}`, second, 'Bearer other'],
      }),
      HEADER_ONLY,
    );
    expectInvalidRequest(result, MORE_THAN_ONE_HEADER);
  });

  it('accepts one Authorization field listed in rawHeaders', () => {
    const result = extractToken(
      request({
        headers: { authorization: `Bearer ${TOKEN}` },
        rawHeaders: ['Authorization', `Bearer ${TOKEN}`, 'Accept', '*/*'],
      }),
      HEADER_ONLY,
    );
    expectToken(result, TOKEN, 'header');
  });
});
