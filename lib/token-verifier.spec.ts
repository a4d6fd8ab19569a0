import {
  constants,
  createSecretKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import fc from 'fast-check';
import { SignJWT } from 'jose';
import {
  p1363ToDer,
  VERIFIABLE_ALGORITHMS,
  verifyInspectedSignature,
  verifyJwsSignature,
} from './token-verifier.js';

interface KeyPair {
  readonly publicKey: KeyObject;
  readonly privateKey: KeyObject;
}

const RSA = generateKeyPairSync('rsa', { modulusLength: 2048 });
const RSA_PSS = generateKeyPairSync('rsa-pss', { modulusLength: 2048 });
const RSA_PSS_SHA256_ONLY = generateKeyPairSync('rsa-pss', {
  modulusLength: 2048,
  hashAlgorithm: 'sha256',
  mgf1HashAlgorithm: 'sha256',
});
const RSA_1024 = generateKeyPairSync('rsa', { modulusLength: 1024 });
const P256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const P384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const P521 = generateKeyPairSync('ec', { namedCurve: 'P-521' });
const SECP256K1 = generateKeyPairSync('ec', { namedCurve: 'secp256k1' });
const ED25519 = generateKeyPairSync('ed25519');
const ED448 = generateKeyPairSync('ed448');
const X25519 = generateKeyPairSync('x25519');

const OTHER_RSA = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
/** For each algorithm, a key of the right type that did not sign. */
const OTHER_KEYS: Record<string, KeyObject> = {
  RS256: OTHER_RSA,
  RS384: OTHER_RSA,
  RS512: OTHER_RSA,
  PS256: RSA_PSS.publicKey,
  PS384: OTHER_RSA,
  PS512: OTHER_RSA,
  ES256: generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey,
  ES384: generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey,
  ES512: generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey,
  EdDSA: generateKeyPairSync('ed25519').publicKey,
};

const CLAIMS = { iss: 'https://issuer.example', sub: 'user-1', exp: 2e9 };

/** Signs with jose, the reference implementation of RFC 7515. */
async function signJwt(
  alg: string,
  pair: KeyPair,
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT(CLAIMS)
    .setProtectedHeader({ ...header, alg })
    .sign(pair.privateKey);
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Signs raw segments with node:crypto, for what jose will not produce. */
function signRaw(
  signingInput: string,
  hash: string | null,
  key: KeyObject,
  options: {
    dsaEncoding?: 'der' | 'ieee-p1363';
    padding?: number;
    saltLength?: number;
  } = {},
): string {
  const signature = sign(hash, Buffer.from(signingInput), {
    key,
    ...options,
  });
  return `${signingInput}.${signature.toString('base64url')}`;
}

function signingInputOf(alg: string): string {
  return `${base64url({ alg })}.${base64url(CLAIMS)}`;
}

/** The token with its signature segment replaced. */
function withSignature(token: string, signature: Buffer | string): string {
  const encoded =
    typeof signature === 'string' ? signature : signature.toString('base64url');
  return `${token.slice(0, token.lastIndexOf('.'))}.${encoded}`;
}

function signatureOf(token: string): Buffer {
  return Buffer.from(token.slice(token.lastIndexOf('.') + 1), 'base64url');
}

/** RFC 7518 section 3.5's PSS: MGF1 with the same hash, a salt as long as the digest. */
const PSS_WITH_DIGEST_SALT = {
  padding: constants.RSA_PKCS1_PSS_PADDING,
  saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
};

/** Whether OpenSSL alone takes the token's signature over its signing input. */
function opensslAccepts(
  token: string,
  hash: string,
  key: Parameters<typeof verify>[2],
  signature: Buffer = signatureOf(token),
): boolean {
  const signingInput = Buffer.from(token.slice(0, token.lastIndexOf('.')));
  return verify(hash, signingInput, key, signature);
}

/** Replaces the character at `index` by another base64url character. */
function flipCharacter(token: string, index: number): string {
  const replacement = token[index] === 'A' ? 'B' : 'A';
  return token.slice(0, index) + replacement + token.slice(index + 1);
}

const SIGNED_BY_JOSE: readonly [string, KeyPair][] = [
  ['RS256', RSA],
  ['RS384', RSA],
  ['RS512', RSA],
  ['PS256', RSA],
  ['PS384', RSA],
  ['PS512', RSA],
  ['ES256', P256],
  ['ES384', P384],
  ['ES512', P521],
  ['EdDSA', ED25519],
];

describe('VERIFIABLE_ALGORITHMS', () => {
  it('lists the RSA, RSA-PSS, ECDSA and EdDSA algorithms, and no HMAC or none', () => {
    expect([...VERIFIABLE_ALGORITHMS].sort()).toEqual(
      [
        'EdDSA',
        'ES256',
        'ES384',
        'ES512',
        'PS256',
        'PS384',
        'PS512',
        'RS256',
        'RS384',
        'RS512',
      ].sort(),
    );
    expect(Object.isFrozen(VERIFIABLE_ALGORITHMS)).toBe(true);
  });
});

describe('verifyJwsSignature', () => {
  describe.each(SIGNED_BY_JOSE)('%s', (alg, pair) => {
    let token: string;

    beforeAll(async () => {
      token = await signJwt(alg, pair, { kid: 'key-1', typ: 'JWT' });
    });

    it('accepts a token signed with the matching private key', () => {
      expect(verifyJwsSignature(token, alg, pair.publicKey)).toBe(true);
    });

    it('refuses a tampered signature', () => {
      const signature = signatureOf(token);
      signature[signature.length >> 1] ^= 0x01;
      expect(
        verifyJwsSignature(
          withSignature(token, signature),
          alg,
          pair.publicKey,
        ),
      ).toBe(false);
    });

    it('refuses a tampered header and a tampered payload', () => {
      const [header, payload, signature] = token.split('.') as [
        string,
        string,
        string,
      ];
      const otherHeader = base64url({ alg, kid: 'key-2', typ: 'JWT' });
      const otherPayload = base64url({ ...CLAIMS, sub: 'admin' });
      expect(
        verifyJwsSignature(
          `${otherHeader}.${payload}.${signature}`,
          alg,
          pair.publicKey,
        ),
      ).toBe(false);
      expect(
        verifyJwsSignature(
          `${header}.${otherPayload}.${signature}`,
          alg,
          pair.publicKey,
        ),
      ).toBe(false);
      expect(
        verifyJwsSignature(flipCharacter(token, 3), alg, pair.publicKey),
      ).toBe(false);
    });

    it('refuses a signature by another key of the same type', () => {
      const other = OTHER_KEYS[alg];
      expect(verifyJwsSignature(token, alg, other)).toBe(false);
    });

    it('refuses an empty signature', () => {
      expect(
        verifyJwsSignature(withSignature(token, ''), alg, pair.publicKey),
      ).toBe(false);
    });

    it('refuses the token checked as another algorithm', () => {
      for (const other of VERIFIABLE_ALGORITHMS) {
        if (other === alg) continue;
        expect(verifyJwsSignature(token, other, pair.publicKey)).toBe(false);
      }
    });
  });

  describe('keys', () => {
    it('accepts PS256 with an rsa-pss key', () => {
      // jose signs only with plain RSA keys; node:crypto signs with rsa-pss ones.
      const token = signRaw(
        signingInputOf('PS256'),
        'sha256',
        RSA_PSS.privateKey,
        PSS_WITH_DIGEST_SALT,
      );
      expect(verifyJwsSignature(token, 'PS256', RSA_PSS.publicKey)).toBe(true);
    });

    it.each([
      ['no salt', 0],
      ['a 20-byte salt', 20],
      ['the longest salt', constants.RSA_PSS_SALTLEN_MAX_SIGN],
    ])(
      'refuses a PS256 signature with %s (RFC 7518 section 3.5: salt as long as the digest)',
      (_what, saltLength) => {
        for (const pair of [RSA, RSA_PSS]) {
          const token = signRaw(
            signingInputOf('PS256'),
            'sha256',
            pair.privateKey,
            { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength },
          );
          // A valid PSS signature all the same: OpenSSL's automatic salt length takes it.
          expect(
            opensslAccepts(token, 'sha256', {
              key: pair.publicKey,
              padding: constants.RSA_PKCS1_PSS_PADDING,
              saltLength: constants.RSA_PSS_SALTLEN_AUTO,
            }),
          ).toBe(true);
          expect(verifyJwsSignature(token, 'PS256', pair.publicKey)).toBe(
            false,
          );
        }
      },
    );

    it('refuses a PSS signature by an rsa-pss key in a token that says RS256', () => {
      // An rsa-pss key verifies PSS whatever padding is asked: the alg would be confused.
      const token = signRaw(
        signingInputOf('RS256'),
        'sha256',
        RSA_PSS.privateKey,
        PSS_WITH_DIGEST_SALT,
      );
      expect(opensslAccepts(token, 'sha256', RSA_PSS.publicKey)).toBe(true);
      expect(verifyJwsSignature(token, 'RS256', RSA_PSS.publicKey)).toBe(false);
    });

    it('accepts EdDSA with an Ed448 key (RFC 8037)', () => {
      const token = signRaw(signingInputOf('EdDSA'), null, ED448.privateKey);
      expect(verifyJwsSignature(token, 'EdDSA', ED448.publicKey)).toBe(true);
      expect(verifyJwsSignature(token, 'EdDSA', ED25519.publicKey)).toBe(false);
    });

    it('refuses an rsa-pss key for RS256 even over a PKCS#1 v1.5 signature', () => {
      const token = signRaw(signingInputOf('RS256'), 'sha256', RSA.privateKey);
      expect(verifyJwsSignature(token, 'RS256', RSA.publicKey)).toBe(true);
      expect(verifyJwsSignature(token, 'RS256', RSA_PSS.publicKey)).toBe(false);
    });

    it('refuses an rsa-pss key bound to SHA-256 for PS384, without throwing', async () => {
      const bound = RSA_PSS_SHA256_ONLY;
      const ps256 = signRaw(
        signingInputOf('PS256'),
        'sha256',
        bound.privateKey,
        PSS_WITH_DIGEST_SALT,
      );
      expect(verifyJwsSignature(ps256, 'PS256', bound.publicKey)).toBe(true);
      // OpenSSL throws "digest not allowed" for SHA-384 with this key.
      const ps384 = await signJwt('PS384', RSA);
      expect(verifyJwsSignature(ps384, 'PS384', bound.publicKey)).toBe(false);
    });

    it('refuses RSA keys under 2048 bits (RFC 7518 section 3.3)', () => {
      const rs = signRaw(
        signingInputOf('RS256'),
        'sha256',
        RSA_1024.privateKey,
      );
      const ps = signRaw(
        signingInputOf('PS256'),
        'sha256',
        RSA_1024.privateKey,
        PSS_WITH_DIGEST_SALT,
      );
      // The signature itself is good: OpenSSL alone would accept it.
      expect(opensslAccepts(rs, 'sha256', RSA_1024.publicKey)).toBe(true);
      expect(verifyJwsSignature(rs, 'RS256', RSA_1024.publicKey)).toBe(false);
      expect(verifyJwsSignature(ps, 'PS256', RSA_1024.publicKey)).toBe(false);
    });

    it.each([
      ['an RSA key for ES256', 'ES256', RSA.publicKey],
      ['a P-384 key for ES256', 'ES256', P384.publicKey],
      ['a P-256 key for ES384', 'ES384', P256.publicKey],
      ['a P-256 key for ES512', 'ES512', P256.publicKey],
      ['a secp256k1 key for ES256', 'ES256', SECP256K1.publicKey],
      ['an Ed25519 key for ES256', 'ES256', ED25519.publicKey],
      ['an EC key for RS256', 'RS256', P256.publicKey],
      ['an rsa-pss key for RS256', 'RS256', RSA_PSS.publicKey],
      ['an Ed25519 key for PS256', 'PS256', ED25519.publicKey],
      ['an RSA key for EdDSA', 'EdDSA', RSA.publicKey],
      ['an EC key for EdDSA', 'EdDSA', P256.publicKey],
      ['an X25519 key for EdDSA', 'EdDSA', X25519.publicKey],
      ['a secret key for RS256', 'RS256', createSecretKey(Buffer.alloc(32, 1))],
      ['a secret key for EdDSA', 'EdDSA', createSecretKey(Buffer.alloc(32, 1))],
    ])('refuses %s', (_what, alg, key) => {
      // Whatever the signature: the key type alone decides.
      const token = signRaw(signingInputOf(alg), 'sha256', P256.privateKey, {
        dsaEncoding: 'ieee-p1363',
      });
      expect(verifyJwsSignature(token, alg, key)).toBe(false);
    });

    it('refuses an ES256 signature made on secp256k1 (ES256K is not ES256)', () => {
      const token = signRaw(
        signingInputOf('ES256'),
        'sha256',
        SECP256K1.privateKey,
        { dsaEncoding: 'ieee-p1363' },
      );
      expect(verifyJwsSignature(token, 'ES256', SECP256K1.publicKey)).toBe(
        false,
      );
    });
  });

  describe('ECDSA signature encoding (RFC 7518 section 3.4)', () => {
    it.each([
      ['ES256', 'sha256', P256],
      ['ES384', 'sha384', P384],
      ['ES512', 'sha512', P521],
    ] as const)(
      'refuses a DER-encoded %s signature that is valid for OpenSSL',
      (alg, hash, pair) => {
        const der = signRaw(signingInputOf(alg), hash, pair.privateKey, {
          dsaEncoding: 'der',
        });
        expect(verifyJwsSignature(der, alg, pair.publicKey)).toBe(false);
        const p1363 = signRaw(signingInputOf(alg), hash, pair.privateKey, {
          dsaEncoding: 'ieee-p1363',
        });
        expect(verifyJwsSignature(p1363, alg, pair.publicKey)).toBe(true);
      },
    );

    it.each([
      ['one byte short', (s: Buffer) => s.subarray(0, s.length - 1)],
      ['one byte long', (s: Buffer) => Buffer.concat([s, Buffer.of(0)])],
      [
        'one leading zero byte more',
        (s: Buffer) => Buffer.concat([Buffer.of(0), s]),
      ],
      ['doubled', (s: Buffer) => Buffer.concat([s, s])],
    ])('refuses an ES256 signature %s', async (_what, change) => {
      const token = await signJwt('ES256', P256);
      const signature = change(signatureOf(token));
      expect(
        verifyJwsSignature(
          withSignature(token, signature),
          'ES256',
          P256.publicKey,
        ),
      ).toBe(false);
    });

    it.each([
      ['ES256', 'sha256', P256, 32],
      ['ES384', 'sha384', P384, 48],
      ['ES512', 'sha512', P521, 66],
    ] as const)(
      'refuses an %s signature whose R and S each carry one zero byte more (one token, one encoding)',
      (alg, hash, pair, size) => {
        const token = signRaw(signingInputOf(alg), hash, pair.privateKey, {
          dsaEncoding: 'ieee-p1363',
        });
        const signature = signatureOf(token);
        const zero = Buffer.of(0);
        const padded = Buffer.concat([
          zero,
          signature.subarray(0, size),
          zero,
          signature.subarray(size),
        ]);
        // The padded halves are the same integers: OpenSSL takes their DER form.
        expect(
          opensslAccepts(token, hash, pair.publicKey, p1363ToDer(padded)),
        ).toBe(true);
        expect(
          verifyJwsSignature(withSignature(token, padded), alg, pair.publicKey),
        ).toBe(false);
      },
    );

    it('refuses a P-256 signature of the right length for ES384 and ES512', () => {
      const token = signRaw(
        signingInputOf('ES256'),
        'sha256',
        P256.privateKey,
        {
          dsaEncoding: 'ieee-p1363',
        },
      );
      expect(verifyJwsSignature(token, 'ES384', P384.publicKey)).toBe(false);
      expect(verifyJwsSignature(token, 'ES512', P521.publicKey)).toBe(false);
    });

    it('refuses an all-zero signature of the right length', async () => {
      const token = await signJwt('ES256', P256);
      expect(
        verifyJwsSignature(
          withSignature(token, Buffer.alloc(64)),
          'ES256',
          P256.publicKey,
        ),
      ).toBe(false);
    });
  });

  describe('the compact serialization', () => {
    let token: string;
    let ed448Token: string;

    beforeAll(async () => {
      token = await signJwt('ES256', P256);
      // An Ed448 signature is 114 bytes: 152 characters, a multiple of four.
      ed448Token = signRaw(signingInputOf('EdDSA'), null, ED448.privateKey);
    });

    it('refuses a signature with a character more that decodes to no byte', () => {
      expect(verifyJwsSignature(ed448Token, 'EdDSA', ED448.publicKey)).toBe(
        true,
      );
      expect(
        verifyJwsSignature(`${ed448Token}A`, 'EdDSA', ED448.publicKey),
      ).toBe(false);
    });

    it('refuses a signature whose unused trailing bits are set', () => {
      // 64 bytes take 86 characters; the last one carries 4 unused bits.
      const last = token.charAt(token.length - 1);
      const sibling = String.fromCharCode(last.charCodeAt(0) + 1);
      const malleated = token.slice(0, -1) + sibling;
      expect(signatureOf(malleated)).toEqual(signatureOf(token));
      expect(verifyJwsSignature(malleated, 'ES256', P256.publicKey)).toBe(
        false,
      );
    });

    it.each([
      ['"=" padding', (t: string) => `${t}==`],
      ['a space inside', (t: string) => `${t.slice(0, -10)} ${t.slice(-10)}`],
      ['a newline at the end', (t: string) => `${t}\n`],
      ['a base64 "+" in the signature', (t: string) => `${t.slice(0, -1)}+`],
      ['a base64 "/" in the signature', (t: string) => `${t.slice(0, -1)}/`],
      ['a non-ASCII character', (t: string) => `é${t}`],
      ['a fourth segment', (t: string) => `${t}.c2ln`],
      ['two segments only', (t: string) => t.slice(0, t.lastIndexOf('.'))],
      ['an empty header', (t: string) => t.slice(t.indexOf('.'))],
      [
        'an empty payload',
        (t: string) =>
          `${t.slice(0, t.indexOf('.'))}.${t.slice(t.lastIndexOf('.'))}`,
      ],
      ['no dot at all', (t: string) => t.replace(/\./g, '')],
      ['the empty string', () => ''],
    ])('refuses a token with %s', (_what, change) => {
      const changed = change(token);
      expect(changed).not.toBe(token);
      expect(verifyJwsSignature(changed, 'ES256', P256.publicKey)).toBe(false);
    });

    it('checks an inspected token (its segments known good) as a token from anywhere', () => {
      const last = token.charAt(token.length - 1);
      const malleated =
        token.slice(0, -1) + String.fromCharCode(last.charCodeAt(0) + 1);
      for (const [candidate, alg, key, valid] of [
        [token, 'ES256', P256.publicKey, true],
        [malleated, 'ES256', P256.publicKey, false],
        [ed448Token, 'EdDSA', ED448.publicKey, true],
        [`${ed448Token}A`, 'EdDSA', ED448.publicKey, false],
      ] as const) {
        expect(verifyInspectedSignature(candidate, alg, key)).toBe(valid);
        expect(verifyJwsSignature(candidate, alg, key)).toBe(valid);
      }
      // The key must still fit the algorithm.
      expect(verifyInspectedSignature(token, 'ES384', P256.publicKey)).toBe(
        false,
      );
      expect(verifyInspectedSignature(token, 'RS256', P256.publicKey)).toBe(
        false,
      );
    });

    it('signs exactly the text before the last dot', () => {
      const [header, payload] = token.split('.') as [string, string];
      const resigned = signRaw(
        `${header}.${payload}`,
        'sha256',
        P256.privateKey,
        { dsaEncoding: 'ieee-p1363' },
      );
      expect(verifyJwsSignature(resigned, 'ES256', P256.publicKey)).toBe(true);
    });
  });

  describe('algorithms', () => {
    it.each([
      'none',
      'HS256',
      'HS512',
      'rs256',
      'ES256K',
      'Ed25519',
      'RSA-OAEP',
      '',
      '__proto__',
      'toString',
      'constructor',
    ])('refuses alg %p', async (alg) => {
      const token = await signJwt('RS256', RSA);
      expect(verifyJwsSignature(token, alg, RSA.publicKey)).toBe(false);
    });
  });

  describe('garbage', () => {
    const KEYS = [
      RSA.publicKey,
      RSA_PSS.publicKey,
      P256.publicKey,
      P521.publicKey,
      ED25519.publicKey,
      ED448.publicKey,
    ];

    it('never throws, whatever the token, alg and key', () => {
      fc.assert(
        fc.property(
          fc.oneof(
            fc.string({ maxLength: 400 }),
            fc.stringMatching(
              /^[A-Za-z0-9_-]{1,40}\.[A-Za-z0-9_-]{1,40}\.[A-Za-z0-9_-]{0,200}$/,
            ),
          ),
          fc.constantFrom(...VERIFIABLE_ALGORITHMS, 'none', 'HS256', ''),
          fc.constantFrom(...KEYS),
          (token, alg, key) => {
            expect(verifyJwsSignature(token, alg, key)).toBe(false);
          },
        ),
        { numRuns: 500 },
      );
    });

    it.each([
      ['null', null],
      ['undefined', undefined],
      ['a plain object', {}],
      ['a PEM string', 'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA'],
      ['a key-shaped object', { asymmetricKeyType: 'rsa' }],
    ])('answers false for a key that is %s', async (_what, key) => {
      const token = await signJwt('RS256', RSA);
      expect(
        verifyJwsSignature(token, 'RS256', key as unknown as KeyObject),
      ).toBe(false);
    });

    it('answers false for a token that is not a string', () => {
      for (const token of [null, undefined, 42, {}, ['a.b.c']]) {
        expect(
          verifyJwsSignature(token as string, 'RS256', RSA.publicKey),
        ).toBe(false);
      }
    });
  });
});

describe('p1363ToDer', () => {
  it('writes minimal INTEGERs: leading zeros dropped, a sign byte before a high bit', () => {
    const r = Buffer.alloc(32);
    r[31] = 1;
    const s = Buffer.alloc(32, 0xff);
    expect(p1363ToDer(Buffer.concat([r, s])).toString('hex')).toBe(
      `3026020101022100${'ff'.repeat(32)}`,
    );
    // Zero is one zero byte, never an empty INTEGER.
    expect(p1363ToDer(Buffer.alloc(64)).toString('hex')).toBe(
      '3006020100020100',
    );
  });

  it('uses the long length form when the SEQUENCE exceeds 127 bytes (P-521)', () => {
    const der = p1363ToDer(Buffer.alloc(132, 0x80));
    expect(der.subarray(0, 3).toString('hex')).toBe('30818a');
    expect(der.length).toBe(3 + 0x8a);
  });

  it.each([
    ['prime256v1', 'sha256'],
    ['secp384r1', 'sha384'],
    ['secp521r1', 'sha512'],
  ])('verifies 300 real %s signatures after conversion', (namedCurve, hash) => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve });
    for (let i = 0; i < 300; i++) {
      const data = Buffer.from(`message ${i}`);
      const signature = sign(hash, data, {
        key: privateKey,
        dsaEncoding: 'ieee-p1363',
      });
      expect(verify(hash, data, publicKey, p1363ToDer(signature))).toBe(true);
    }
  });
});
