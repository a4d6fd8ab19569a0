import { jest } from '@jest/globals';
import fc from 'fast-check';
import { InvalidTokenError, type InvalidTokenReason } from './bearer.errors.js';
import {
  inspectCompactToken,
  isCompactJws,
  inspectToken,
  matchIssuer,
  MAX_KID_LENGTH,
  TENANT_PLACEHOLDER,
  type TokenPolicy,
} from './token-policy.js';

const NOW = 1_700_000_000;
const ISS = 'https://login.example.com/tenant/v2.0';
const POLICY: TokenPolicy = {
  algorithms: ['RS256', 'ES256'],
  issuers: [ISS, 'https://other.example.com'],
  audiences: ['api://app', 'client-id'],
  clockTolerance: 30,
  maxTokenLength: 8192,
  requireAtJwt: false,
};
const HEADER = { alg: 'RS256', kid: 'key-1', typ: 'JWT' };
const CLAIMS = {
  iss: ISS,
  aud: 'api://app',
  sub: 'user-1',
  iat: NOW - 10,
  nbf: NOW - 10,
  exp: NOW + 300,
};
const AT_JWT_CLAIMS = { ...CLAIMS, jti: 'id-1', client_id: 'client-1' };

function segment(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/**
 * A segment of 4n characters (padded with a `pad` member), so that one character more is
 * a dangling one: Buffer's lenient decoder would drop it and still see the same JSON.
 */
function aligned(record: Record<string, unknown>): string {
  for (let pad = ''; ; pad += 'x') {
    const encoded = segment({ ...record, pad });
    if (encoded.length % 4 === 0) return encoded;
  }
}

function rawSegment(text: string): string {
  return Buffer.from(text).toString('base64url');
}

/** A compact JWS with a dummy signature: the policy never looks at the signature bytes. */
function token(
  header: Record<string, unknown> = {},
  claims: Record<string, unknown> = {},
): string {
  return `${segment(strip({ ...HEADER, ...header }))}.${segment(strip({ ...CLAIMS, ...claims }))}.c2ln`;
}

function strip(record: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(record).filter(([, value]) => value !== undefined),
  );
}

function refusal(
  jwt: string,
  policy: Partial<TokenPolicy> = {},
  now = NOW,
): InvalidTokenError {
  try {
    inspectToken(jwt, { ...POLICY, ...policy }, now);
  } catch (error) {
    if (error instanceof InvalidTokenError) return error;
    throw error;
  }
  throw new Error('expected the token to be refused');
}

/** `'accepted'`, or the reason of the `InvalidTokenError` the check throws. */
function outcomeOf(check: () => unknown): string {
  try {
    check();
    return 'accepted';
  } catch (error) {
    if (error instanceof InvalidTokenError) return error.reason;
    throw error;
  }
}

function expectRefused(
  jwt: string,
  reason: InvalidTokenReason,
  policy: Partial<TokenPolicy> = {},
  now = NOW,
): void {
  expect(refusal(jwt, policy, now).reason).toBe(reason);
}

function expectAccepted(
  jwt: string,
  policy: Partial<TokenPolicy> = {},
  now = NOW,
): void {
  expect(() => inspectToken(jwt, { ...POLICY, ...policy }, now)).not.toThrow();
}

describe('inspectToken', () => {
  it('returns the decoded parts of a good token', () => {
    const jwt = token();
    expect(inspectToken(jwt, POLICY, NOW)).toEqual({
      alg: 'RS256',
      kid: 'key-1',
      iss: ISS,
      issuer: ISS,
      exp: NOW + 300,
      claims: CLAIMS,
    });
  });

  it('uses the current time by default', () => {
    const now = Math.floor(Date.now() / 1000);
    expect(() =>
      inspectToken(token({}, { iat: now, nbf: now, exp: now + 60 }), POLICY),
    ).not.toThrow();
    let thrown: unknown;
    try {
      inspectToken(token({}, { iat: now - 600, exp: now - 300 }), POLICY);
    } catch (error) {
      thrown = error;
    }
    expect((thrown as InvalidTokenError).reason).toBe('expired');
  });

  describe('compact serialization', () => {
    it('refuses a token over maxTokenLength before decoding it', () => {
      const jwt = token();
      expectRefused(jwt, 'too_long', { maxTokenLength: jwt.length - 1 });
      expectAccepted(jwt, { maxTokenLength: jwt.length });
    });

    it.each([
      ['1 segment', 'abc'],
      ['2 segments', `${segment(HEADER)}.${segment(CLAIMS)}`],
      ['4 segments', `${token()}.c2ln`],
      [
        'a 5-segment JWE',
        `${segment({ alg: 'RSA-OAEP', enc: 'A256GCM' })}.a2V5.aXY.Y2lwaGVy.dGFn`,
      ],
    ])('refuses %s', (_what, jwt) => {
      expectRefused(jwt, 'malformed');
    });

    it.each([
      [
        'an empty signature (alg none style)',
        `${segment(HEADER)}.${segment(CLAIMS)}.`,
      ],
      ['an empty header', `.${segment(CLAIMS)}.c2ln`],
      [
        '"+" (base64, not base64url)',
        `${segment(HEADER)}.${segment(CLAIMS)}.ab+c`,
      ],
      [
        '"/" (base64, not base64url)',
        `${segment(HEADER)}.${segment(CLAIMS)}.ab/c`,
      ],
      ['"=" padding', `${segment(HEADER)}=.${segment(CLAIMS)}.c2ln`],
      ['a space', `${segment(HEADER)}.${segment(CLAIMS)}.c2 ln`],
    ])('refuses a segment with %s', (_what, jwt) => {
      expectRefused(jwt, 'malformed');
    });

    it.each([
      ['an empty payload', `${segment(HEADER)}..c2ln`],
      ['two dots only', '..'],
      ['nothing at all', ''],
      ['a dot at the end of a 4-segment token', `${token()}.`],
      [
        'a header with a dangling character (length 4n + 1)',
        `${aligned(HEADER)}A.${segment(CLAIMS)}.c2ln`,
      ],
      [
        'a payload with a dangling character (length 4n + 1)',
        `${segment(HEADER)}.${aligned(CLAIMS)}A.c2ln`,
      ],
      [
        'a signature of one character',
        `${segment(HEADER)}.${segment(CLAIMS)}.c`,
      ],
      [
        'a signature of 4n + 1 characters',
        `${segment(HEADER)}.${segment(CLAIMS)}.c2lnA`,
      ],
      ['a non-ASCII letter', `${segment(HEADER)}.${segment(CLAIMS)}.c2l\u00e9`],
      [
        'a fullwidth letter (U+FF21)',
        `${segment(HEADER)}.${segment(CLAIMS)}.c2l\uff21`,
      ],
      ['a NUL character', `${segment(HEADER)}.${segment(CLAIMS)}.c2l\u0000`],
      ['a DEL character', `${segment(HEADER)}.${segment(CLAIMS)}.c2l\u007f`],
      [
        'a character whose low byte is a dot (U+012E)',
        `${segment(HEADER)}\u012e${segment(CLAIMS)}.c2ln`,
      ],
    ])('refuses %s', (_what, jwt) => {
      expectRefused(jwt, 'malformed');
    });

    it('accepts segments of every length base64url allows (4n, 4n + 2, 4n + 3)', () => {
      for (const pad of ['', 'x', 'xy', 'xyz']) {
        const jwt = `${segment(HEADER)}.${segment({ ...CLAIMS, pad })}.c2ln`;
        expectAccepted(jwt);
      }
      for (const signature of ['c2ln', 'c2lu', 'c2lnbg', 'c2lnbmE']) {
        expectAccepted(`${segment(HEADER)}.${segment(CLAIMS)}.${signature}`);
      }
    });

    it('finds the segments in one pass, agreeing with split and a regex', () => {
      const jwt = token();
      const model = (candidate: string): boolean => {
        const parts = candidate.split('.');
        return (
          parts.length === 3 &&
          parts.every(
            (part) => /^[A-Za-z0-9_-]+$/.test(part) && part.length % 4 !== 1,
          )
        );
      };
      fc.assert(
        fc.property(
          fc.nat({ max: jwt.length }),
          fc.constantFrom('.', '=', '+', '/', ' ', 'A', 'é', '\n', '..'),
          fc.nat({ max: 3 }),
          (at, insert, times) => {
            // Inserts after the payload only, so the header and payload stay valid JSON.
            const position = Math.max(at, jwt.lastIndexOf('.') + 1);
            const candidate =
              jwt.slice(0, position) +
              insert.repeat(times) +
              jwt.slice(position);
            const outcome = outcomeOf(() =>
              inspectToken(candidate, POLICY, NOW),
            );
            expect(outcome === 'accepted').toBe(model(candidate));
            if (outcome !== 'accepted') expect(outcome).toBe('malformed');
          },
        ),
        { numRuns: 500 },
      );
    });

    it('checks a token that passed isCompactJws exactly as any other token', () => {
      // A valid token with RFC 6750 b64token characters (~ + / = .) put anywhere: the
      // one-scan predicate and the full inspection agree on every candidate.
      const jwt = token();
      const realNow = jest.spyOn(Date, 'now').mockReturnValue(NOW * 1000);
      try {
        fc.assert(
          fc.property(
            fc.nat({ max: jwt.length }),
            fc.constantFrom('~', '+', '/', '=', '.', '..', 'A', '-', '_'),
            fc.nat({ max: 2 }),
            (at, insert, times) => {
              const candidate =
                jwt.slice(0, at) + insert.repeat(times) + jwt.slice(at);
              expect(
                isCompactJws(candidate)
                  ? outcomeOf(() => inspectCompactToken(candidate, POLICY))
                  : 'malformed',
              ).toBe(outcomeOf(() => inspectToken(candidate, POLICY, NOW)));
            },
          ),
          { numRuns: 1000 },
        );
        for (const bad of [
          '.a.b',
          'a..b',
          'a.b.',
          'a.b.c.d',
          'a~.b.c',
          'a.b=.c',
        ]) {
          expect(isCompactJws(bad)).toBe(false);
        }
        expect(isCompactJws(jwt)).toBe(true);
      } finally {
        realNow.mockRestore();
      }
    });

    it.each([
      ['not JSON', rawSegment('{alg:RS256')],
      ['an array', segment([HEADER])],
      ['a number', segment(42)],
      ['null', segment(null)],
      ['a string', segment('RS256')],
    ])('refuses a header that is %s', (_what, header) => {
      expectRefused(`${header}.${segment(CLAIMS)}.c2ln`, 'malformed');
    });

    it.each([
      ['not JSON', rawSegment('not json')],
      ['an array', segment([CLAIMS])],
      ['a number', segment(1)],
      ['null', segment(null)],
      ['true', segment(true)],
    ])('refuses a payload that is %s', (_what, payload) => {
      expectRefused(`${segment(HEADER)}.${payload}.c2ln`, 'malformed');
    });

    /** A segment holding `{"k":"` + bytes + `"}` plus the other claims. */
    function withBytes(
      record: Record<string, unknown>,
      bytes: number[],
    ): string {
      const json = JSON.stringify({ ...record, k: '@' });
      const [before, after] = json.split('@') as [string, string];
      return Buffer.concat([
        Buffer.from(before),
        Buffer.from(bytes),
        Buffer.from(after),
      ]).toString('base64url');
    }

    it.each([
      ['a lone continuation byte', [0x80]],
      ['a truncated two-byte sequence', [0xc3]],
      ['an overlong "/" (C0 AF)', [0xc0, 0xaf]],
      ['an encoded surrogate (ED A0 80)', [0xed, 0xa0, 0x80]],
      ['a code point over U+10FFFF (F4 90 80 80)', [0xf4, 0x90, 0x80, 0x80]],
      ['the byte FF', [0xff]],
    ])(
      'refuses a header or payload with %s (not UTF-8, RFC 7519 section 7.2)',
      (_what, bytes) => {
        expectRefused(
          `${withBytes(HEADER, bytes)}.${segment(CLAIMS)}.c2ln`,
          'malformed',
        );
        expectRefused(
          `${segment(HEADER)}.${withBytes(CLAIMS, bytes)}.c2ln`,
          'malformed',
        );
      },
    );

    it('accepts UTF-8 text in the payload', () => {
      const claims = inspectToken(
        `${segment(HEADER)}.${withBytes(CLAIMS, [0xc3, 0xa9, 0xf0, 0x9f, 0x94, 0x91])}.c2ln`,
        POLICY,
        NOW,
      ).claims;
      expect(claims.k).toBe('\u00e9\u{1f511}');
    });

    it('refuses a header or payload starting with a byte order mark (RFC 8259 section 8.1)', () => {
      const bom = (value: unknown): string =>
        Buffer.concat([
          Buffer.of(0xef, 0xbb, 0xbf),
          Buffer.from(JSON.stringify(value)),
        ]).toString('base64url');
      expectRefused(`${bom(HEADER)}.${segment(CLAIMS)}.c2ln`, 'malformed');
      expectRefused(`${segment(HEADER)}.${bom(CLAIMS)}.c2ln`, 'malformed');
    });

    it('accepts JSON whitespace before the object', () => {
      const header = rawSegment(` \t\r\n${JSON.stringify(HEADER)}`);
      expectAccepted(`${header}.${segment(CLAIMS)}.c2ln`);
    });

    it('checks the header before it decodes the payload', () => {
      const garbage = rawSegment('not json');
      expectRefused(
        `${segment({ ...HEADER, alg: 'none' })}.${garbage}.c2ln`,
        'algorithm',
      );
      expectRefused(
        `${segment({ ...HEADER, typ: 'dpop+jwt' })}.${garbage}.c2ln`,
        'type',
      );
      expectRefused(
        `${segment({ ...HEADER, crit: ['b64'] })}.${garbage}.c2ln`,
        'unsupported_header',
      );
    });

    it('never decodes the payload of a token refused for its header', () => {
      const jwt = `${segment({ ...HEADER, alg: 'none' })}.${segment(CLAIMS)}.c2ln`;
      const from = jest.spyOn(Buffer, 'from');
      try {
        expect(refusal(jwt).reason).toBe('algorithm');
        // One decode: the header's.
        expect(from).toHaveBeenCalledTimes(1);
      } finally {
        from.mockRestore();
      }
    });
  });

  describe('alg', () => {
    it.each([
      ['none', 'none'],
      ['HS256 (HMAC with the public key)', 'HS256'],
      ['an algorithm outside the allowlist', 'PS256'],
      ['another case of an allowed one', 'rs256'],
      ['a non-string', 256],
      ['missing', undefined],
    ])('refuses alg %s', (_what, alg) => {
      expectRefused(token({ alg }), 'algorithm');
    });

    it('accepts every algorithm of the allowlist', () => {
      expectAccepted(token({ alg: 'ES256' }));
    });

    it('reads alg only as an own property', () => {
      const header = JSON.parse(
        '{"__proto__":{"alg":"RS256"},"typ":"JWT"}',
      ) as unknown;
      expectRefused(`${segment(header)}.${segment(CLAIMS)}.c2ln`, 'algorithm');
    });
  });

  describe('typ', () => {
    it.each([
      undefined,
      'JWT',
      'jwt',
      'application/jwt',
      'Application/JWT',
      'at+jwt',
      'AT+JWT',
      'application/at+jwt',
      'Application/AT+JWT',
    ])('accepts typ %p (RFC 7515 section 4.1.9)', (typ) => {
      expectAccepted(token({ typ }));
    });

    it.each([
      'dpop+jwt',
      'application/dpop+jwt',
      'logout+jwt',
      'secevent+jwt',
      'JOSE',
      'application/jose',
      'application/json',
      'application/application/jwt',
      'text/jwt',
      'jwt ',
      ' jwt',
      '',
    ])('refuses typ %p (RFC 8725 section 3.11)', (typ) => {
      expectRefused(token({ typ }), 'type');
    });

    it('refuses a non-string typ', () => {
      expectRefused(token({ typ: ['JWT'] }), 'type');
      expectRefused(token({ typ: null }), 'type');
    });
  });

  describe('requireAtJwt (RFC 9068)', () => {
    const STRICT = { requireAtJwt: true };

    it.each(['at+jwt', 'application/at+jwt', 'AT+JWT'])(
      'accepts typ %p with sub, iat, jti and client_id',
      (typ) => {
        expectAccepted(token({ typ }, AT_JWT_CLAIMS), STRICT);
      },
    );

    it.each([undefined, 'JWT', 'application/jwt', 'Application/JWT'])(
      'refuses typ %p',
      (typ) => {
        expectRefused(token({ typ }, AT_JWT_CLAIMS), 'type', STRICT);
      },
    );

    it.each(['sub', 'iat', 'jti', 'client_id'])(
      'refuses a token without %s',
      (name) => {
        expectRefused(
          token({ typ: 'at+jwt' }, { ...AT_JWT_CLAIMS, [name]: undefined }),
          'claims',
          STRICT,
        );
      },
    );

    it.each(['sub', 'jti', 'client_id'])(
      'refuses an empty or non-string %s',
      (name) => {
        expectRefused(
          token({ typ: 'at+jwt' }, { ...AT_JWT_CLAIMS, [name]: '' }),
          'claims',
          STRICT,
        );
        expectRefused(
          token({ typ: 'at+jwt' }, { ...AT_JWT_CLAIMS, [name]: 42 }),
          'claims',
          STRICT,
        );
      },
    );

    it('does not require those claims without the option', () => {
      expectAccepted(
        token({ typ: 'at+jwt' }, { sub: undefined, iat: undefined }),
      );
    });
  });

  describe('header parameters', () => {
    it.each([
      ['crit', { crit: ['exp'] }],
      ['an empty crit', { crit: [] }],
      ['b64: false (RFC 7797)', { b64: false, crit: undefined }],
      ['b64: true', { b64: true }],
      ['cty: JWT (nested JWT)', { cty: 'JWT' }],
      ['cty: jwt', { cty: 'jwt' }],
      ['cty: application/jwt', { cty: 'application/jwt' }],
      ['cty: Application/JWT', { cty: 'Application/JWT' }],
    ])('refuses %s', (_what, header) => {
      expectRefused(token(header), 'unsupported_header');
    });

    it('accepts another cty', () => {
      expectAccepted(token({ cty: 'application/json' }));
    });

    it('ignores jwk, jku, x5u and x5c (keys come only from the JWKS)', () => {
      const result = inspectToken(
        token({
          jwk: { kty: 'RSA', n: 'x', e: 'AQAB' },
          jku: 'https://attacker.example/jwks',
          x5u: 'https://attacker.example/cert',
          x5c: ['MIIB'],
        }),
        POLICY,
        NOW,
      );
      expect(result.kid).toBe('key-1');
    });

    it('accepts a token without kid', () => {
      expect(inspectToken(token({ kid: undefined }), POLICY, NOW).kid).toBe(
        undefined,
      );
    });

    it(`accepts a kid of ${MAX_KID_LENGTH} characters`, () => {
      expectAccepted(token({ kid: 'k'.repeat(MAX_KID_LENGTH) }));
    });

    it.each([
      ['a number', 7],
      ['an object', { id: 'x' }],
      ['null', null],
      ['empty', ''],
      ['too long', 'k'.repeat(MAX_KID_LENGTH + 1)],
    ])('refuses a kid that is %s', (_what, kid) => {
      expectRefused(token({ kid }), 'malformed');
    });
  });

  describe('registered claims', () => {
    it.each([
      ['missing', undefined],
      ['a string', String(NOW + 300)],
      ['null', null],
      ['an array', [NOW + 300]],
      ['a boolean', true],
    ])('refuses exp that is %s', (_what, exp) => {
      expectRefused(token({}, { exp }), 'claims');
    });

    it('refuses exp overflowing to Infinity', () => {
      const payload = rawSegment(
        JSON.stringify({ ...CLAIMS, exp: 0 }).replace('"exp":0', '"exp":1e999'),
      );
      expectRefused(`${segment(HEADER)}.${payload}.c2ln`, 'claims');
    });

    it.each(['nbf', 'iat'])('refuses a non-numeric %s', (name) => {
      expectRefused(token({}, { [name]: 'yesterday' }), 'claims');
      expectRefused(token({}, { [name]: null }), 'claims');
    });

    it.each(['sub', 'jti'])(
      'refuses a %s that is not a string, and accepts one that is or none',
      (name) => {
        for (const value of [42, null, { id: 'admin' }, ['a'], true]) {
          expectRefused(token({}, { [name]: value }), 'claims');
        }
        expectAccepted(token({}, { [name]: 'a-string' }));
        expectAccepted(token({}, { [name]: undefined }));
      },
    );

    it('accepts a token without nbf and iat', () => {
      expectAccepted(token({}, { nbf: undefined, iat: undefined }));
    });

    it('accepts fractional NumericDates', () => {
      expectAccepted(token({}, { iat: NOW - 0.5, exp: NOW + 0.5 }), {
        clockTolerance: 0,
      });
    });
  });

  describe('iss', () => {
    it('accepts each configured issuer', () => {
      expect(
        inspectToken(
          token({}, { iss: 'https://other.example.com' }),
          POLICY,
          NOW,
        ).iss,
      ).toBe('https://other.example.com');
    });

    it.each([
      ['missing', undefined],
      ['unknown', 'https://evil.example.com'],
      ['with a trailing slash', `${ISS}/`],
      ['in another case', ISS.toUpperCase()],
      ['with a prefix match only', `${ISS}x`],
      ['a number', 1],
      ['an array holding the issuer', [ISS]],
    ])('refuses an issuer that is %s (exact match only)', (_what, iss) => {
      expectRefused(token({}, { iss }), 'issuer');
    });

    it('checks iss before the clock, so a foreign expired token is "issuer"', () => {
      expectRefused(
        token({}, { iss: 'https://evil.example.com', exp: NOW - 1000 }),
        'issuer',
      );
    });
  });

  describe('aud', () => {
    it.each([
      ['a matching string', 'client-id'],
      ['an array holding a match', ['other', 'api://app']],
      ['an array with non-strings and a match', [1, null, 'client-id']],
    ])('accepts aud as %s', (_what, aud) => {
      expectAccepted(token({}, { aud }));
    });

    it.each([
      ['missing', undefined],
      ['another audience', 'api://other'],
      ['an empty array', []],
      ['an array without a match', ['a', 'b']],
      ['a prefix of ours', 'api://ap'],
      ['an object', { aud: 'api://app' }],
      ['a number', 1],
    ])('refuses aud that is %s', (_what, aud) => {
      expectRefused(token({}, { aud }), 'audience');
    });
  });

  describe('the clock', () => {
    const exp = NOW + 300;

    it('accepts a token until exp + tolerance and refuses it from then on', () => {
      const jwt = token({}, { exp });
      expectAccepted(jwt, {}, exp + 29);
      expectRefused(jwt, 'expired', {}, exp + 30);
    });

    it('refuses a token at exp without tolerance', () => {
      const jwt = token({}, { exp });
      expectAccepted(jwt, { clockTolerance: 0 }, exp - 1);
      expectRefused(jwt, 'expired', { clockTolerance: 0 }, exp);
    });

    it('describes an expired token with the fixed sentence', () => {
      expect(refusal(token({}, { exp: NOW - 100 })).description).toBe(
        'The access token is expired.',
      );
    });

    it('refuses a token before nbf - tolerance', () => {
      const nbf = NOW + 100;
      const jwt = token({}, { nbf, iat: undefined });
      expectRefused(jwt, 'not_yet_valid', {}, nbf - 31);
      expectAccepted(jwt, {}, nbf - 30);
      expectRefused(jwt, 'not_yet_valid', { clockTolerance: 0 }, nbf - 1);
      expectAccepted(jwt, { clockTolerance: 0 }, nbf);
    });

    it('refuses a token issued in the future beyond the tolerance', () => {
      const iat = NOW + 100;
      const jwt = token({}, { iat, nbf: undefined });
      expectRefused(jwt, 'issued_in_future', {}, iat - 31);
      expectAccepted(jwt, {}, iat - 30);
      expectRefused(jwt, 'issued_in_future', { clockTolerance: 0 }, iat - 1);
      expectAccepted(jwt, { clockTolerance: 0 }, iat);
    });
  });

  describe('multi-tenant issuers', () => {
    const TID = '7fe81447-da57-4385-becb-6de57f21477e';
    const TEMPLATE = `https://login.microsoftonline.com/${TENANT_PLACEHOLDER}/v2.0`;
    const tenantIss = `https://login.microsoftonline.com/${TID}/v2.0`;
    const MULTI = { issuers: [TEMPLATE] };

    it("accepts an iss that the template gives with the token's own tid", () => {
      const result = inspectToken(
        token({}, { iss: tenantIss, tid: TID }),
        { ...POLICY, ...MULTI },
        NOW,
      );
      expect(result.iss).toBe(tenantIss);
      expect(result.issuer).toBe(TEMPLATE);
    });

    it.each([
      ['no tid', undefined],
      ['another tid', '00000000-0000-0000-0000-000000000000'],
      ['a tid that is not a GUID', 'contoso'],
      ['a numeric tid', 7],
    ])('refuses the tenant iss with %s', (_what, tid) => {
      expectRefused(token({}, { iss: tenantIss, tid }), 'issuer', MULTI);
    });

    it('refuses a tid outside allowedTenants', () => {
      expectRefused(token({}, { iss: tenantIss, tid: TID }), 'issuer', {
        ...MULTI,
        allowedTenants: ['00000000-0000-0000-0000-000000000000'],
      });
      expectAccepted(token({}, { iss: tenantIss, tid: TID }), {
        ...MULTI,
        allowedTenants: [TID],
      });
    });

    it('never accepts the template itself as an iss', () => {
      expectRefused(token({}, { iss: TEMPLATE, tid: TID }), 'issuer', MULTI);
      expectRefused(token({}, { iss: TEMPLATE }), 'issuer', MULTI);
    });

    it('matchIssuer prefers an exact entry', () => {
      expect(matchIssuer(ISS, {}, POLICY)).toBe(ISS);
      expect(matchIssuer('https://x', { tid: TID }, POLICY)).toBeUndefined();
    });
  });
});
