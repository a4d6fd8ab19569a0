import {
  AuthenticationRequiredError,
  InvalidTokenError,
  type AuthScheme,
  type BearerError,
} from './bearer.errors.js';
import {
  extractToken,
  TOKEN_LOCATIONS,
  type ExtractOptions,
  type ExtractResult,
  type TokenRequest,
} from './token-extractor.js';

const TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJl';
const FORM = 'application/x-www-form-urlencoded';

function options(
  schemes: readonly AuthScheme[] | undefined,
  locations = TOKEN_LOCATIONS,
): ExtractOptions {
  return schemes === undefined
    ? { locations, maxTokenLength: 64 }
    : { locations, maxTokenLength: 64, schemes };
}

function withHeader(value: string): TokenRequest {
  return { method: 'GET', url: '/', headers: { authorization: value } };
}

function errorOf(result: ExtractResult): BearerError {
  if (result.ok) throw new Error(`expected an error, got ${result.token}`);
  return result.error;
}

function expectNoCredentials(result: ExtractResult): void {
  expect(errorOf(result)).toBeInstanceOf(AuthenticationRequiredError);
}

const bodyRequest: TokenRequest = {
  method: 'POST',
  url: '/',
  headers: { 'content-type': FORM },
  body: { access_token: TOKEN },
};
const queryRequest: TokenRequest = {
  method: 'GET',
  url: `/?access_token=${TOKEN}`,
  headers: {},
};

describe('extractToken with the schemes option', () => {
  describe("['Bearer', 'DPoP']", () => {
    const both = options(['Bearer', 'DPoP']);

    it.each(['DPoP', 'dpop', 'DPOP', 'dPoP'])(
      'reads "%s <token>" as a DPoP token',
      (scheme) => {
        expect(extractToken(withHeader(`${scheme} ${TOKEN}`), both)).toEqual({
          ok: true,
          token: TOKEN,
          location: 'header',
          scheme: 'DPoP',
        });
      },
    );

    it.each(['Bearer', 'bearer', 'BEARER'])(
      'reads "%s <token>" as a Bearer token',
      (scheme) => {
        expect(extractToken(withHeader(`${scheme} ${TOKEN}`), both)).toEqual({
          ok: true,
          token: TOKEN,
          location: 'header',
          scheme: 'Bearer',
        });
      },
    );

    it('reads the token after several spaces and around blanks', () => {
      expect(extractToken(withHeader(`  DPoP   ${TOKEN}  `), both)).toEqual({
        ok: true,
        token: TOKEN,
        location: 'header',
        scheme: 'DPoP',
      });
    });

    it('reads the same when the schemes are listed the other way round', () => {
      const result = extractToken(
        withHeader(`dpop ${TOKEN}`),
        options(['DPoP', 'Bearer']),
      );
      expect(result).toMatchObject({ ok: true, scheme: 'DPoP' });
    });

    it.each(['DPoPx', 'DPo', 'D-PoP', 'Bearer-DPoP'])(
      'treats the scheme %s as no credentials',
      (scheme) => {
        expectNoCredentials(
          extractToken(withHeader(`${scheme} ${TOKEN}`), both),
        );
      },
    );

    it('refuses DPoP with nothing after it as a missing token', () => {
      const error = errorOf(extractToken(withHeader('DPoP'), both));
      expect(error).toBeInstanceOf(InvalidTokenError);
      expect((error as InvalidTokenError).reason).toBe('missing');
    });

    it.each([
      ['outside the b64token syntax', `DPoP ${TOKEN}!`, 'malformed'],
      ['over the length cap', `DPoP ${'a'.repeat(65)}`, 'too_long'],
    ])('refuses a DPoP token %s', (_name, header, reason) => {
      const error = errorOf(extractToken(withHeader(header), both));
      expect(error).toBeInstanceOf(InvalidTokenError);
      expect((error as InvalidTokenError).reason).toBe(reason);
    });

    it('still reads body and query tokens, as Bearer tokens', () => {
      expect(extractToken(bodyRequest, both)).toEqual({
        ok: true,
        token: TOKEN,
        location: 'body',
        scheme: 'Bearer',
      });
      expect(extractToken(queryRequest, both)).toEqual({
        ok: true,
        token: TOKEN,
        location: 'query',
        scheme: 'Bearer',
      });
    });

    it('refuses a DPoP header together with a query token', () => {
      const request = {
        ...queryRequest,
        headers: { authorization: `DPoP ${TOKEN}` },
      };
      expect(errorOf(extractToken(request, both)).code).toBe('invalid_request');
    });
  });

  describe("['DPoP']", () => {
    const dpopOnly = options(['DPoP']);

    it('reads a DPoP token', () => {
      expect(extractToken(withHeader(`DPoP ${TOKEN}`), dpopOnly)).toEqual({
        ok: true,
        token: TOKEN,
        location: 'header',
        scheme: 'DPoP',
      });
    });

    it.each(['Bearer', 'bearer'])(
      'treats "%s <token>" as no credentials',
      (scheme) => {
        expectNoCredentials(
          extractToken(withHeader(`${scheme} ${TOKEN}`), dpopOnly),
        );
      },
    );

    it('treats a Bearer header as no credentials, however long or malformed', () => {
      expectNoCredentials(
        extractToken(withHeader(`Bearer ${'a'.repeat(10_000)}`), dpopOnly),
      );
      expectNoCredentials(extractToken(withHeader('Bearer'), dpopOnly));
      expectNoCredentials(extractToken(withHeader('Bearer !!'), dpopOnly));
    });

    it('skips body and query tokens', () => {
      expectNoCredentials(extractToken(bodyRequest, dpopOnly));
      expectNoCredentials(extractToken(queryRequest, dpopOnly));
    });

    it('skips a malformed body token rather than refusing it', () => {
      const request = { ...bodyRequest, method: 'GET' };
      expect(errorOf(extractToken(request, options(['Bearer']))).code).toBe(
        'invalid_request',
      );
      expectNoCredentials(extractToken(request, dpopOnly));
    });

    it('reads the header token when a query token is also sent', () => {
      const request = {
        ...queryRequest,
        headers: { authorization: `DPoP ${TOKEN}` },
      };
      expect(extractToken(request, dpopOnly)).toMatchObject({
        ok: true,
        location: 'header',
        scheme: 'DPoP',
      });
    });
  });

  describe("['Bearer'] and the default", () => {
    it.each([
      ['schemes: ["Bearer"]', options(['Bearer'])],
      ['no schemes', options(undefined)],
    ])('treat "DPoP <token>" as no credentials with %s', (_name, opts) => {
      expectNoCredentials(extractToken(withHeader(`DPoP ${TOKEN}`), opts));
      expectNoCredentials(extractToken(withHeader(`dpop ${TOKEN}`), opts));
    });

    it.each([
      ['schemes: ["Bearer"]', options(['Bearer'])],
      ['no schemes', options(undefined)],
    ])('treat a long DPoP header as no credentials with %s', (_name, opts) => {
      expectNoCredentials(
        extractToken(withHeader(`DPoP ${'a'.repeat(10_000)}`), opts),
      );
    });

    it('reads a Bearer token as Bearer', () => {
      expect(
        extractToken(withHeader(`Bearer ${TOKEN}`), options(undefined)),
      ).toEqual({
        ok: true,
        token: TOKEN,
        location: 'header',
        scheme: 'Bearer',
      });
    });
  });
});
