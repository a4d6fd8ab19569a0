import {
  constants,
  createHmac,
  generateKeyPairSync,
  sign,
  type KeyObject,
} from 'node:crypto';
import fc from 'fast-check';
import { calculateJwkThumbprint, SignJWT, type JWK } from 'jose';
import {
  InvalidDpopProofError,
  type DpopProofFault,
} from '../bearer.errors.js';
import {
  accessTokenHash,
  MAX_JTI_LENGTH,
  MAX_PROOF_LENGTH,
  normalizePath,
  splitHttpUri,
  verifyDpopProof,
  type DpopProofExpectation,
} from './dpop-proof.js';

type Json = Record<string, unknown>;

interface ProofKey {
  readonly alg: string;
  readonly privateKey: KeyObject;
  readonly jwk: JWK;
}

function keyOf(
  alg: string,
  pair: { publicKey: KeyObject; privateKey: KeyObject },
): ProofKey {
  return {
    alg,
    privateKey: pair.privateKey,
    jwk: pair.publicKey.export({ format: 'jwk' }),
  };
}

const KEYS: Record<string, ProofKey> = {
  ES256: keyOf('ES256', generateKeyPairSync('ec', { namedCurve: 'P-256' })),
  EdDSA: keyOf('EdDSA', generateKeyPairSync('ed25519')),
  PS256: keyOf('PS256', generateKeyPairSync('rsa', { modulusLength: 2048 })),
  RS256: keyOf('RS256', generateKeyPairSync('rsa', { modulusLength: 2048 })),
};
const ES256 = KEYS.ES256;
const OTHER_P256 = keyOf(
  'ES256',
  generateKeyPairSync('ec', { namedCurve: 'P-256' }),
);
const P384 = keyOf('ES384', generateKeyPairSync('ec', { namedCurve: 'P-384' }));
const RSA_1024 = keyOf(
  'RS256',
  generateKeyPairSync('rsa', { modulusLength: 1024 }),
);

const NOW = 1_800_000_000;
const MAX_AGE = 60;
const TOLERANCE = 5;
const ACCESS_TOKEN = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl';
const ORIGIN = 'https://api.example.com';
const HTU = `${ORIGIN}/resource`;
const EXPECTED: DpopProofExpectation = {
  method: 'GET',
  path: '/resource',
  origins: [ORIGIN],
  accessToken: ACCESS_TOKEN,
  algorithms: ['ES256', 'EdDSA', 'PS256', 'RS256'],
  now: NOW,
  maxAge: MAX_AGE,
  clockTolerance: TOLERANCE,
};

function claims(overrides: Json = {}): Json {
  return {
    jti: 'e1j3V_bKic8-LAEB',
    htm: 'GET',
    htu: HTU,
    iat: NOW,
    ath: accessTokenHash(ACCESS_TOKEN),
    ...overrides,
  };
}

function header(key: ProofKey, overrides: Json = {}): Json {
  return { typ: 'dpop+jwt', alg: key.alg, jwk: key.jwk, ...overrides };
}

/** A proof signed by jose, as a client would make it. */
async function joseProof(
  key: ProofKey,
  payload: Json = claims(),
  headerOverrides: Json = {},
): Promise<string> {
  return new SignJWT(payload)
    .setProtectedHeader({
      typ: 'dpop+jwt',
      alg: key.alg,
      jwk: key.jwk,
      ...headerOverrides,
    })
    .sign(key.privateKey);
}

function encode(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

/** Signs any header and payload (even ones jose refuses), with `key`'s algorithm. */
function signSegments(
  protectedSegment: string,
  payloadSegment: string,
  key: ProofKey,
): string {
  const input = Buffer.from(`${protectedSegment}.${payloadSegment}`, 'ascii');
  let signature: Buffer;
  switch (key.alg) {
    case 'ES256':
    case 'ES384':
      signature = sign(key.alg === 'ES256' ? 'sha256' : 'sha384', input, {
        key: key.privateKey,
        dsaEncoding: 'ieee-p1363',
      });
      break;
    case 'EdDSA':
      signature = sign(null, input, key.privateKey);
      break;
    case 'PS256':
      signature = sign('sha256', input, {
        key: key.privateKey,
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
      });
      break;
    default:
      signature = sign('sha256', input, key.privateKey);
  }
  return `${protectedSegment}.${payloadSegment}.${signature.toString('base64url')}`;
}

function rawProof(
  headerValue: unknown,
  payloadValue: unknown,
  key: ProofKey = ES256,
): string {
  return signSegments(encode(headerValue), encode(payloadValue), key);
}

function faultOf(
  proof: string,
  expected: DpopProofExpectation = EXPECTED,
): DpopProofFault {
  try {
    verifyDpopProof(proof, expected);
  } catch (error) {
    if (error instanceof InvalidDpopProofError) return error.fault;
    throw error;
  }
  throw new Error('expected the proof to be refused');
}

describe('verifyDpopProof', () => {
  describe.each(Object.keys(KEYS))('a valid %s proof', (alg) => {
    const key = KEYS[alg];

    it('passes and returns the key thumbprint, jti, iat and no nonce', async () => {
      const proof = await joseProof(key);
      expect(verifyDpopProof(proof, EXPECTED)).toEqual({
        jkt: await calculateJwkThumbprint(key.jwk, 'sha256'),
        jti: 'e1j3V_bKic8-LAEB',
        iat: NOW,
        nonce: undefined,
      });
    });

    it('returns the nonce it carries', async () => {
      const proof = await joseProof(key, claims({ nonce: 'eyJ7S_zG.eyJH0-Z' }));
      expect(verifyDpopProof(proof, EXPECTED).nonce).toBe('eyJ7S_zG.eyJH0-Z');
    });
  });

  it('gives a thumbprint of the required members only, whatever else the jwk holds', async () => {
    const plain = verifyDpopProof(await joseProof(ES256), EXPECTED);
    const decorated = verifyDpopProof(
      await joseProof(ES256, claims({ jti: 'second' }), {
        jwk: { ...ES256.jwk, alg: 'ES256', use: 'sig', kid: 'k1' },
      }),
      EXPECTED,
    );
    expect(decorated.jkt).toBe(plain.jkt);
    const other = verifyDpopProof(await joseProof(OTHER_P256), EXPECTED);
    expect(other.jkt).not.toBe(plain.jkt);
  });

  it('returns a fractional iat as it was sent', async () => {
    const proof = await joseProof(ES256, claims({ iat: NOW - 0.5 }));
    expect(verifyDpopProof(proof, EXPECTED).iat).toBe(NOW - 0.5);
  });

  describe('a malformed proof', () => {
    it.each([
      ['no dots', 'abc'],
      ['two segments', 'eyJh.eyJi'],
      ['four segments', 'eyJh.eyJi.c2ln.c2ln'],
      ['an empty signature', 'eyJh.eyJi.'],
      ['an empty header', '.eyJi.c2ln'],
      ['standard base64 characters', 'eyJh+.eyJi.c2ln'],
      ['padding', 'eyJh.eyJi.c2ln=='],
      ['a space', 'eyJh .eyJi.c2ln'],
      ['the empty string', ''],
    ])('is refused with %s', (_name, proof) => {
      expect(faultOf(proof)).toBe('malformed');
    });

    it('is refused when the header is not JSON', () => {
      const proof = signSegments(
        Buffer.from('{"typ":"dpop+jwt"').toString('base64url'),
        encode(claims()),
        ES256,
      );
      expect(faultOf(proof)).toBe('malformed');
    });

    it('is refused when the payload is not JSON', () => {
      const proof = signSegments(
        encode(header(ES256)),
        Buffer.from('not json').toString('base64url'),
        ES256,
      );
      expect(faultOf(proof)).toBe('malformed');
    });

    it.each([
      ['an array', [header(ES256)]],
      ['a string', 'dpop+jwt'],
      ['null', null],
      ['a number', 7],
    ])('is refused when the header is %s', (_name, value) => {
      expect(faultOf(rawProof(value, claims()))).toBe('malformed');
    });

    it.each([
      ['an array', [claims()]],
      ['a string', 'claims'],
      ['null', null],
      ['true', true],
    ])('is refused when the payload is %s', (_name, value) => {
      expect(faultOf(rawProof(header(ES256), value))).toBe('malformed');
    });

    it('is refused when it carries crit, even signed', () => {
      const proof = rawProof(
        header(ES256, { crit: ['exp'], exp: NOW + 60 }),
        claims(),
      );
      expect(faultOf(proof)).toBe('malformed');
    });

    it(`is refused over ${MAX_PROOF_LENGTH} characters and accepted at exactly that length`, () => {
      // The ES256 signature is always 86 characters, so the length is known before signing.
      const lengthOf = (pad: string, kid: string): number =>
        encode(header(ES256, { kid })).length +
        encode(claims({ pad })).length +
        88;
      let exact: { pad: string; kid: string } | undefined;
      for (let n = 4000; exact === undefined && n < 8200; n++) {
        for (const kid of ['', 'a', 'ab', 'abc']) {
          if (lengthOf('x'.repeat(n), kid) === MAX_PROOF_LENGTH) {
            exact = { pad: 'x'.repeat(n), kid };
            break;
          }
        }
      }
      if (exact === undefined) throw new Error('no padding fits');
      const atLimit = rawProof(
        header(ES256, { kid: exact.kid }),
        claims({ pad: exact.pad }),
      );
      expect(atLimit).toHaveLength(MAX_PROOF_LENGTH);
      expect(verifyDpopProof(atLimit, EXPECTED).jti).toBe('e1j3V_bKic8-LAEB');
      const over = rawProof(
        header(ES256, { kid: exact.kid }),
        claims({ pad: `${exact.pad}xxx` }),
      );
      expect(over.length).toBeGreaterThan(MAX_PROOF_LENGTH);
      expect(faultOf(over)).toBe('malformed');
    });
  });

  describe('typ', () => {
    it.each([
      ['missing', undefined],
      ['JWT', 'JWT'],
      ['the media type with application/', 'application/dpop+jwt'],
      ['with a trailing space', 'dpop+jwt '],
      ['a number', 1],
      ['an access token type', 'at+jwt'],
    ])('is refused when %s', (_name, typ) => {
      expect(faultOf(rawProof(header(ES256, { typ }), claims()))).toBe('type');
    });

    it('is compared without regard to case', async () => {
      const proof = await joseProof(ES256, claims(), { typ: 'DPoP+JWT' });
      expect(verifyDpopProof(proof, EXPECTED).jti).toBe('e1j3V_bKic8-LAEB');
    });
  });

  describe('alg', () => {
    it('is refused when it is not in the allowlist, though the signature is valid', async () => {
      const proof = await joseProof(P384);
      expect(faultOf(proof)).toBe('algorithm');
      expect(
        verifyDpopProof(proof, { ...EXPECTED, algorithms: ['ES384'] }).jti,
      ).toBe('e1j3V_bKic8-LAEB');
    });

    it('is refused when the allowlist leaves out an otherwise valid algorithm', async () => {
      const proof = await joseProof(KEYS.EdDSA);
      expect(faultOf(proof, { ...EXPECTED, algorithms: ['ES256'] })).toBe(
        'algorithm',
      );
    });

    it('is refused as none', () => {
      const proof = `${encode(header(ES256, { alg: 'none' }))}.${encode(claims())}.AAAA`;
      expect(faultOf(proof)).toBe('algorithm');
    });

    it('is refused as HS256 with a MAC made from the public key', () => {
      const input = `${encode(header(ES256, { alg: 'HS256' }))}.${encode(claims())}`;
      const mac = createHmac('sha256', JSON.stringify(ES256.jwk))
        .update(input)
        .digest('base64url');
      expect(faultOf(`${input}.${mac}`)).toBe('algorithm');
    });

    it.each([
      ['missing', undefined],
      ['not a string', 256],
      ['in the wrong case', 'es256'],
    ])('is refused when %s', (_name, alg) => {
      expect(faultOf(rawProof(header(ES256, { alg }), claims()))).toBe(
        'algorithm',
      );
    });
  });

  describe('jwk', () => {
    const jwk = ES256.jwk as Json;

    it.each([
      ['missing', undefined],
      ['a string', JSON.stringify(jwk)],
      ['an array', [jwk]],
      ['null', null],
      ['a private key (d)', { ...jwk, d: 'AAAA' }],
      [
        'a symmetric key (oct)',
        { kty: 'oct', k: 'c2VjcmV0LXNlY3JldC1zZWNyZXQ' },
      ],
      ['an oct key without k', { kty: 'oct' }],
      ['of an unknown kty', { ...jwk, kty: 'EC2' }],
      ['without kty', { crv: jwk.crv, x: jwk.x, y: jwk.y }],
      ['without y', { kty: 'EC', crv: jwk.crv, x: jwk.x }],
      ['with a non-string x', { ...jwk, x: 12 }],
      ['a point that is not on the curve', { ...jwk, x: jwk.y }],
      ['on an unknown curve', { ...jwk, crv: 'P-255' }],
    ])('is refused when %s', (_name, value) => {
      expect(faultOf(rawProof(header(ES256, { jwk: value }), claims()))).toBe(
        'key',
      );
    });

    it('is refused when it is not the key that signed', async () => {
      const proof = await joseProof(ES256, claims(), { jwk: OTHER_P256.jwk });
      expect(faultOf(proof)).toBe('signature');
    });

    it('is refused when it is an RSA key under 2048 bits', () => {
      const proof = rawProof(header(RSA_1024), claims(), RSA_1024);
      expect(faultOf(proof)).toBe('signature');
    });

    it('is refused when its type does not fit the algorithm', async () => {
      const proof = await joseProof(ES256, claims(), {
        jwk: KEYS.EdDSA.jwk,
      });
      expect(faultOf(proof)).toBe('signature');
    });
  });

  describe('signature', () => {
    it.each(Object.keys(KEYS))(
      'is refused for %s when one bit of it is flipped',
      async (alg) => {
        const proof = await joseProof(KEYS[alg]);
        const dot = proof.lastIndexOf('.');
        const signature = Buffer.from(proof.slice(dot + 1), 'base64url');
        signature[7] ^= 0x01;
        const flipped = `${proof.slice(0, dot)}.${signature.toString('base64url')}`;
        expect(faultOf(flipped)).toBe('signature');
      },
    );

    it('is refused when truncated', async () => {
      const proof = await joseProof(ES256);
      expect(faultOf(proof.slice(0, -4))).toBe('signature');
    });

    it('is refused when it was made over another payload', async () => {
      const proof = await joseProof(ES256);
      const [h, , s] = proof.split('.');
      expect(faultOf(`${h}.${encode(claims({ jti: 'other' }))}.${s}`)).toBe(
        'signature',
      );
    });
  });

  describe('htm', () => {
    it.each(['POST', 'get', 'Get', 'HEAD', ''])(
      'is refused as %j on a GET',
      async (htm) => {
        expect(faultOf(await joseProof(ES256, claims({ htm })))).toBe('method');
      },
    );

    it('is accepted when it matches another method', async () => {
      const proof = await joseProof(ES256, claims({ htm: 'DELETE' }));
      expect(
        verifyDpopProof(proof, { ...EXPECTED, method: 'DELETE' }).jti,
      ).toBe('e1j3V_bKic8-LAEB');
      expect(faultOf(proof)).toBe('method');
    });
  });

  describe('htu', () => {
    it.each([
      ['another path', `${ORIGIN}/other`],
      ['a trailing slash', `${ORIGIN}/resource/`],
      ['a path in another case', `${ORIGIN}/Resource`],
      ['a prefix of the path', `${ORIGIN}/res`],
      ['another host', 'https://evil.example.com/resource'],
      ['a sub-domain', 'https://x.api.example.com/resource'],
      ['http instead of https', 'http://api.example.com/resource'],
      ['another port', 'https://api.example.com:8443/resource'],
      ['the https port on http', 'http://api.example.com:443/resource'],
      ['user info', 'https://alice@api.example.com/resource'],
      ['user and password', 'https://alice:secret@api.example.com/resource'],
      ['a relative reference', '/resource'],
      ['not a URL', 'resource'],
      ['another scheme', 'ftp://api.example.com/resource'],
      ['a websocket scheme', 'wss://api.example.com/resource'],
    ])('is refused with %s', async (_name, htu) => {
      expect(faultOf(await joseProof(ES256, claims({ htu })))).toBe('uri');
    });

    it.each([
      ['a query', `${HTU}?a=1&b=2`],
      ['a fragment', `${HTU}#part`],
      ['a query and a fragment', `${HTU}?a=1#part`],
      ['the default port', 'https://api.example.com:443/resource'],
      ['the host in upper case', 'https://API.Example.COM/resource'],
      ['the scheme in upper case', 'HTTPS://api.example.com/resource'],
      ['dot segments', `${ORIGIN}/a/../resource`],
      ['a single-dot segment', `${ORIGIN}/./resource`],
    ])('is accepted with %s', async (_name, htu) => {
      const proof = await joseProof(ES256, claims({ htu }));
      expect(verifyDpopProof(proof, EXPECTED).jti).toBe('e1j3V_bKic8-LAEB');
    });

    it('treats an explicit default port as the same origin (https://x:443/a is https://x/a)', async () => {
      const expected = { ...EXPECTED, origins: ['https://x'], path: '/a' };
      for (const htu of ['https://x:443/a', 'https://x/a']) {
        const proof = await joseProof(ES256, claims({ htu }));
        expect(verifyDpopProof(proof, expected).jti).toBe('e1j3V_bKic8-LAEB');
      }
      const http = await joseProof(ES256, claims({ htu: 'http://x:80/a' }));
      expect(
        verifyDpopProof(http, { ...expected, origins: ['http://x'] }).jti,
      ).toBe('e1j3V_bKic8-LAEB');
    });

    it('is accepted for any of the expected origins, and refused with none', async () => {
      const proof = await joseProof(
        ES256,
        claims({ htu: 'http://localhost:3000/resource' }),
      );
      const origins = ['http://127.0.0.1:3000', 'http://localhost:3000'];
      expect(verifyDpopProof(proof, { ...EXPECTED, origins }).jti).toBe(
        'e1j3V_bKic8-LAEB',
      );
      expect(faultOf(proof, { ...EXPECTED, origins: [] })).toBe('uri');
    });
  });

  describe('iat', () => {
    const oldest = NOW - MAX_AGE - TOLERANCE;
    const newest = NOW + TOLERANCE;

    it.each([
      ['as old as the window and the tolerance allow', oldest],
      ['as far ahead as the tolerance allows', newest],
      ['just now', NOW],
    ])('is accepted %s', async (_name, iat) => {
      const proof = await joseProof(ES256, claims({ iat }));
      expect(verifyDpopProof(proof, EXPECTED).iat).toBe(iat);
    });

    it.each([
      ['one second too old', oldest - 1],
      ['a fraction of a second too old', oldest - 0.001],
      ['one second too far ahead', newest + 1],
      ['a fraction of a second too far ahead', newest + 0.001],
      ['a day old', NOW - 86_400],
      ['zero', 0],
    ])('is refused %s', async (_name, iat) => {
      expect(faultOf(await joseProof(ES256, claims({ iat })))).toBe(
        'issued_at',
      );
    });

    it.each([
      ['missing', undefined],
      ['a string', String(NOW)],
      ['null', null],
    ])('is malformed when %s', (_name, iat) => {
      expect(faultOf(rawProof(header(ES256), claims({ iat })))).toBe(
        'malformed',
      );
    });
  });

  describe('ath', () => {
    it.each([
      ['missing', undefined],
      ['the hash of another token', accessTokenHash(`${ACCESS_TOKEN}x`)],
      ['the token itself', ACCESS_TOKEN],
      ['padded', `${accessTokenHash(ACCESS_TOKEN)}=`],
      ['not a string', 1],
    ])('is refused when %s', (_name, ath) => {
      expect(faultOf(rawProof(header(ES256), claims({ ath })))).toBe(
        'token_hash',
      );
    });
  });

  describe('jti', () => {
    it.each([
      ['missing', undefined],
      ['empty', ''],
      ['too long', 'j'.repeat(MAX_JTI_LENGTH + 1)],
      ['a number', 42],
      ['an object', { id: 'a' }],
    ])('is malformed when %s', (_name, jti) => {
      expect(faultOf(rawProof(header(ES256), claims({ jti })))).toBe(
        'malformed',
      );
    });

    it(`is accepted with ${MAX_JTI_LENGTH} characters`, async () => {
      const jti = 'j'.repeat(MAX_JTI_LENGTH);
      expect(
        verifyDpopProof(await joseProof(ES256, claims({ jti })), EXPECTED).jti,
      ).toBe(jti);
    });
  });

  describe('the other claims', () => {
    it.each([
      ['a numeric nonce', { nonce: 7 }],
      ['a null nonce', { nonce: null }],
      ['a missing htm', { htm: undefined }],
      ['a numeric htm', { htm: 1 }],
      ['a missing htu', { htu: undefined }],
      ['an object htu', { htu: { href: HTU } }],
    ])('are malformed with %s', (_name, overrides) => {
      expect(faultOf(rawProof(header(ES256), claims(overrides)))).toBe(
        'malformed',
      );
    });
  });

  describe('InvalidDpopProofError', () => {
    it('is a 401 invalid_dpop_proof of the DPoP scheme with a fixed sentence per fault', () => {
      const error = new InvalidDpopProofError('uri');
      expect(error.getStatus()).toBe(401);
      expect(error.code).toBe('invalid_dpop_proof');
      expect(error.scheme).toBe('DPoP');
      expect(error.fault).toBe('uri');
      expect(error.description).toBe(
        'The DPoP proof was made for another URI.',
      );
      expect(new InvalidDpopProofError('signature').description).not.toBe(
        error.description,
      );
    });
  });

  describe('mutations of a valid proof', () => {
    const ALPHABET =
      'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.+/= \u00e9';
    const proofs: Record<string, string> = {};

    beforeAll(async () => {
      for (const alg of Object.keys(KEYS)) {
        proofs[alg] = await joseProof(KEYS[alg]);
        expect(() => verifyDpopProof(proofs[alg], EXPECTED)).not.toThrow();
      }
    });

    /** The mutant passes only when it is the proof itself. */
    function checkMutant(original: string, mutant: string): void {
      if (mutant === original) {
        expect(() => verifyDpopProof(mutant, EXPECTED)).not.toThrow();
      } else {
        expect(() => verifyDpopProof(mutant, EXPECTED)).toThrow(
          InvalidDpopProofError,
        );
      }
    }

    it.each(Object.keys(KEYS))(
      'never pass for %s when one character changes',
      (alg) => {
        const proof = proofs[alg];
        fc.assert(
          fc.property(
            fc.nat({ max: proof.length - 1 }),
            fc.constantFrom(...ALPHABET),
            (index, character) => {
              checkMutant(
                proof,
                proof.slice(0, index) + character + proof.slice(index + 1),
              );
            },
          ),
          { numRuns: 200 },
        );
      },
    );

    it('never pass when a character is inserted or removed', () => {
      const proof = proofs.ES256;
      fc.assert(
        fc.property(
          fc.nat({ max: proof.length - 1 }),
          fc.option(fc.constantFrom(...ALPHABET), { nil: undefined }),
          (index, character) => {
            const mutant =
              character === undefined
                ? proof.slice(0, index) + proof.slice(index + 1)
                : proof.slice(0, index) + character + proof.slice(index);
            checkMutant(proof, mutant);
          },
        ),
        { numRuns: 200 },
      );
    });

    it('never pass with their segments reordered', () => {
      const segments = proofs.ES256.split('.');
      const orders = [
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
        [0, 0, 2],
        [1, 1, 2],
      ];
      for (const order of orders) {
        const mutant = order.map((i) => segments[i]).join('.');
        expect(() => verifyDpopProof(mutant, EXPECTED)).toThrow(
          InvalidDpopProofError,
        );
      }
    });

    it('never pass with segments taken from another proof by the same key', async () => {
      const other = (
        await joseProof(ES256, claims({ jti: 'other-jti' }))
      ).split('.');
      const mine = proofs.ES256.split('.');
      expect(verifyDpopProof(other.join('.'), EXPECTED).jti).toBe('other-jti');
      for (const mixed of [
        [mine[0], other[1], mine[2]],
        [mine[0], mine[1], other[2]],
      ]) {
        expect(faultOf(mixed.join('.'))).toBe('signature');
      }
    });

    it('never pass when a claim or header member changes and the signature is kept', () => {
      const [h, p, s] = proofs.ES256.split('.');
      const headerValue = JSON.parse(
        Buffer.from(h, 'base64url').toString(),
      ) as Json;
      const payloadValue = JSON.parse(
        Buffer.from(p, 'base64url').toString(),
      ) as Json;
      fc.assert(
        fc.property(
          fc.boolean(),
          fc.constantFrom(
            'typ',
            'alg',
            'jwk',
            'jti',
            'htm',
            'htu',
            'iat',
            'ath',
            'nonce',
            'extra',
          ),
          fc.jsonValue(),
          (inHeader, name, value) => {
            const target = inHeader ? headerValue : payloadValue;
            const changed = { ...target, [name]: value };
            const mutant = inHeader
              ? `${encode(changed)}.${p}.${s}`
              : `${h}.${encode(changed)}.${s}`;
            checkMutant(proofs.ES256, mutant);
          },
        ),
        { numRuns: 200 },
      );
    });

    it('never pass when re-signed with a claim that no longer fits the request', async () => {
      const wrongClaim = fc.oneof(
        fc.record({
          htm: fc.constantFrom(
            'POST',
            'PUT',
            'PATCH',
            'DELETE',
            'get',
            'OPTIONS',
          ),
        }),
        fc.record({
          htu: fc
            .webPath()
            .map((path) => `${ORIGIN}${path.startsWith('/') ? '' : '/'}${path}`)
            .filter((htu) => new URL(htu).pathname !== '/resource'),
        }),
        fc.record({
          iat: fc.oneof(
            fc.integer({ min: NOW + TOLERANCE + 1, max: NOW + 1e7 }),
            fc.integer({ min: 0, max: NOW - MAX_AGE - TOLERANCE - 1 }),
          ),
        }),
        fc.record({
          ath: fc
            .string({ minLength: 1 })
            .filter((ath) => ath !== accessTokenHash(ACCESS_TOKEN)),
        }),
      );
      await fc.assert(
        fc.asyncProperty(wrongClaim, async (overrides) => {
          const proof = await joseProof(ES256, claims(overrides));
          expect(() => verifyDpopProof(proof, EXPECTED)).toThrow(
            InvalidDpopProofError,
          );
        }),
        { numRuns: 200 },
      );
    });
  });
});

describe('splitHttpUri', () => {
  it.each([
    ['https://api.example.com/a', 'https://api.example.com', '/a'],
    ['HTTPS://API.EXAMPLE.COM/A', 'https://api.example.com', '/A'],
    ['https://api.example.com:443/a', 'https://api.example.com', '/a'],
    ['http://api.example.com:80/a', 'http://api.example.com', '/a'],
    ['http://api.example.com:443/a', 'http://api.example.com:443', '/a'],
    ['https://api.example.com', 'https://api.example.com', '/'],
    [
      'https://api.example.com/a/b/../c/./d?x=1#y',
      'https://api.example.com',
      '/a/c/d',
    ],
    ['http://[::1]:3000/a', 'http://[::1]:3000', '/a'],
    ['http://127.0.0.1:3000/a', 'http://127.0.0.1:3000', '/a'],
  ])('splits %s', (uri, origin, path) => {
    expect(splitHttpUri(uri)).toEqual({ origin, path });
  });

  it.each([
    'https://user@api.example.com/a',
    'https://user:pw@api.example.com/a',
    'ftp://api.example.com/a',
    'file:///etc/passwd',
    'urn:example:a',
    '/a',
    '',
    'https://',
  ])('refuses %j', (uri) => {
    expect(splitHttpUri(uri)).toBeUndefined();
  });
});

describe('normalizePath', () => {
  it.each([
    ['/a', '/a'],
    ['/a?x=1', '/a'],
    ['/a#f', '/a'],
    ['/a?x=/../b', '/a'],
    ['/', '/'],
    ['/a.b/..c/...', '/a.b/..c/...'],
    ['/%64ocuments/%7e%2f', '/documents/~%2F'],
  ])('writes %s as %s', (target, path) => {
    expect(normalizePath(target)).toBe(path);
  });

  // The router serves such a path as sent, not the URI its resolution names.
  it.each([
    '/a/../b',
    '/a/./b',
    '/../a',
    '/documents/..',
    '/a/%2e%2e/b',
    '/a/%2E/b',
    'https://api.example.com/a/../b?q',
  ])('refuses %j, which holds a dot segment', (target) => {
    expect(normalizePath(target)).toBeUndefined();
  });

  it('compares percent-encoded unreserved characters as the characters (RFC 3986 section 6.2.2.2)', () => {
    expect(splitHttpUri('https://x/%64ocuments')?.path).toBe(
      normalizePath('/documents'),
    );
  });

  it.each(['a', '', '?x', 'ftp://x/a', 'https://u@x/a'])(
    'refuses %j',
    (target) => {
      expect(normalizePath(target)).toBeUndefined();
    },
  );

  it('agrees with the path splitHttpUri takes from the same URI', () => {
    fc.assert(
      fc.property(fc.webPath(), (webPath) => {
        const path = webPath.startsWith('/') ? webPath : `/${webPath}`;
        fc.pre(!/(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i.test(path));
        expect(normalizePath(path)).toBe(
          splitHttpUri(`https://api.example.com${path}`)?.path,
        );
      }),
      { numRuns: 200 },
    );
  });
});

describe('accessTokenHash', () => {
  it('matches the example of RFC 9449 section 7.1', () => {
    expect(accessTokenHash('Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU')).toBe(
      'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo',
    );
  });
});
