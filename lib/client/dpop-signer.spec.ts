import {
  calculateJwkThumbprint,
  decodeProtectedHeader,
  EmbeddedJWK,
  exportJWK,
  generateKeyPair,
  jwtVerify,
} from 'jose';
import { createHash, generateKeyPairSync, type webcrypto } from 'node:crypto';
import {
  computeJwkThumbprint,
  DpopSigner,
  generateDpopKeyPair,
  type DpopAlgorithm,
} from './dpop-signer.js';

type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALGORITHMS: DpopAlgorithm[] = [
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'RS256',
  'PS256',
];

// RFC 7638 section 3.1: the example key and its SHA-256 thumbprint.
const RFC7638_KEY = {
  kty: 'RSA',
  n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
  e: 'AQAB',
  alg: 'RS256',
  kid: '2011-04-29',
};
const RFC7638_THUMBPRINT = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';

const MEMBERS: Record<string, string[]> = {
  EC: ['crv', 'kty', 'x', 'y'],
  OKP: ['crv', 'kty', 'x'],
  RSA: ['e', 'kty', 'n'],
};

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('base64url');
}

describe('generateDpopKeyPair', () => {
  it.each(ALGORITHMS)(
    '%s: a private key that cannot be exported, a public one that can',
    async (alg) => {
      const { privateKey, publicKey } = await generateDpopKeyPair(alg);
      expect(privateKey.extractable).toBe(false);
      expect(privateKey.type).toBe('private');
      expect(privateKey.usages).toEqual(['sign']);
      await expect(
        globalThis.crypto.subtle.exportKey('jwk', privateKey),
      ).rejects.toThrow();
      expect(publicKey.extractable).toBe(true);
      const jwk = await globalThis.crypto.subtle.exportKey('jwk', publicKey);
      expect(jwk.d).toBeUndefined();
    },
  );

  it('makes ES256 keys by default and refuses other algorithms', async () => {
    const { privateKey } = await generateDpopKeyPair();
    expect(privateKey.algorithm).toEqual({
      name: 'ECDSA',
      namedCurve: 'P-256',
    });
    await expect(generateDpopKeyPair('HS256' as DpopAlgorithm)).rejects.toThrow(
      'algorithm: "HS256" is not one of',
    );
  });
});

describe('computeJwkThumbprint (RFC 7638)', () => {
  it('gives the RFC 7638 example thumbprint, whatever other members the JWK has', async () => {
    expect(await computeJwkThumbprint(RFC7638_KEY)).toBe(RFC7638_THUMBPRINT);
    const { kty, n, e } = RFC7638_KEY;
    expect(await computeJwkThumbprint({ n, e, kty })).toBe(RFC7638_THUMBPRINT);
  });

  it.each(ALGORITHMS)(
    '%s: agrees with jose for the public key and its JWK',
    async (alg) => {
      const { publicKey } = await generateDpopKeyPair(alg);
      const jwk = await globalThis.crypto.subtle.exportKey('jwk', publicKey);
      const expected = await calculateJwkThumbprint(jwk, 'sha256');
      expect(await computeJwkThumbprint(publicKey)).toBe(expected);
      expect(await computeJwkThumbprint(jwk)).toBe(expected);
    },
  );

  it('refuses a key type without a thumbprint definition and a JWK missing a member', async () => {
    await expect(
      computeJwkThumbprint({ kty: 'oct', k: 'AAAA' }),
    ).rejects.toThrow(TypeError);
    await expect(
      computeJwkThumbprint({ kty: 'EC', crv: 'P-256', x: 'AAAA' }),
    ).rejects.toThrow('The JWK has no "y" member.');
  });
});

describe('DpopSigner proofs (RFC 9449 section 4.2)', () => {
  it.each(ALGORITHMS)(
    '%s: a proof jose verifies with its embedded key, with exactly the RFC claims',
    async (alg) => {
      const signer = DpopSigner.create({ algorithm: alg });
      const token = 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.sig-_~+/=';
      const before = Math.floor(Date.now() / 1000);
      const proof = await signer.sign({
        method: 'post',
        url: 'https://API.example.com:443/orders/7?expand=1#top',
        accessToken: token,
        nonce: 'n-1',
      });
      const after = Math.floor(Date.now() / 1000);
      const { payload, protectedHeader } = await jwtVerify(proof, EmbeddedJWK, {
        typ: 'dpop+jwt',
        algorithms: [alg],
      });
      expect(Object.keys(protectedHeader).sort()).toEqual([
        'alg',
        'jwk',
        'typ',
      ]);
      expect(protectedHeader.alg).toBe(alg);
      const jwk = protectedHeader.jwk as Record<string, string>;
      expect(Object.keys(jwk).sort()).toEqual(MEMBERS[jwk.kty]);
      expect(await calculateJwkThumbprint(jwk)).toBe(await signer.thumbprint());
      expect(Object.keys(payload)).toEqual([
        'jti',
        'htm',
        'htu',
        'iat',
        'ath',
        'nonce',
      ]);
      expect(payload).toMatchObject({
        htm: 'POST',
        htu: 'https://api.example.com/orders/7',
        ath: sha256(token),
        nonce: 'n-1',
      });
      expect(payload.iat).toBeGreaterThanOrEqual(before);
      expect(payload.iat).toBeLessThanOrEqual(after);
      // 128 random bits, base64url.
      expect(payload.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
    },
  );

  it('signs every proof with one key and a new jti; leaves out ath and nonce when not given', async () => {
    const signer = DpopSigner.create(true);
    expect(signer.algorithm).toBe('ES256');
    const proofs = await Promise.all(
      Array.from({ length: 20 }, () =>
        signer.sign({ method: 'GET', url: 'http://127.0.0.1:8080/a' }),
      ),
    );
    const jtis = new Set<unknown>();
    const keys = new Set<string>();
    for (const proof of proofs) {
      const { payload } = await jwtVerify(proof, EmbeddedJWK, {
        typ: 'dpop+jwt',
      });
      expect(Object.keys(payload)).toEqual(['jti', 'htm', 'htu', 'iat']);
      expect(payload.htu).toBe('http://127.0.0.1:8080/a');
      jtis.add(payload.jti);
      keys.add(JSON.stringify(decodeProtectedHeader(proof).jwk));
    }
    expect(jtis.size).toBe(20);
    expect(keys.size).toBe(1);
  });

  it('uses a key pair of its own, its algorithm inferred, and hands out proofs for the token endpoint', async () => {
    const keyPair = await generateDpopKeyPair('EdDSA');
    const signer = DpopSigner.create({ keyPair });
    expect(signer.algorithm).toBe('EdDSA');
    const info = await signer.info();
    expect(info.jkt).toBe(await computeJwkThumbprint(keyPair.publicKey));
    expect(info.algorithm).toBe('EdDSA');
    expect(Object.isFrozen(info)).toBe(true);
    const proof = await info.createProof(
      'POST',
      new URL('https://login.example.com/token?x=1'),
      { nonce: 'as-nonce' },
    );
    const { payload, key } = await jwtVerify(proof, EmbeddedJWK, {
      typ: 'dpop+jwt',
    });
    expect(payload).toMatchObject({
      htm: 'POST',
      htu: 'https://login.example.com/token',
      nonce: 'as-nonce',
    });
    expect(payload.ath).toBeUndefined();
    // Signed with the private key given: its public key verifies the proof.
    expect(await exportJWK(key)).toMatchObject({
      x: (await globalThis.crypto.subtle.exportKey('jwk', keyPair.publicKey)).x,
    });
  });

  it('makes its key once, on first use', async () => {
    const subtle = globalThis.crypto.subtle;
    const made: CryptoKeyPair[] = [];
    const original = subtle.generateKey.bind(subtle);
    Object.defineProperty(subtle, 'generateKey', {
      configurable: true,
      value: async (...args: Parameters<typeof original>) => {
        const pair = (await original(...args)) as CryptoKeyPair;
        made.push(pair);
        return pair;
      },
    });
    try {
      const signer = DpopSigner.create({ algorithm: 'ES384' });
      expect(made).toHaveLength(0);
      await Promise.all([
        signer.thumbprint(),
        signer.sign({ method: 'GET', url: 'https://a.example/' }),
      ]);
      await signer.sign({ method: 'GET', url: 'https://a.example/' });
      expect(made).toHaveLength(1);
      expect(made[0].privateKey.extractable).toBe(false);
    } finally {
      delete (subtle as unknown as Record<string, unknown>).generateKey;
    }
    expect(subtle.generateKey).toBe(Object.getPrototypeOf(subtle).generateKey);
  });

  it.each<[string, unknown, RegExp]>([
    [
      'an unknown algorithm',
      { algorithm: 'HS256' },
      /^dpop\.algorithm: "HS256"/,
    ],
    [
      'an unknown option',
      { algorithms: ['ES256'] },
      /^dpop\.algorithms is not/,
    ],
    ['a string', 'ES256', /^dpop must be/],
    ['a key pair that is not one', { keyPair: {} }, /^dpop\.keyPair must be/],
  ])('refuses %s', (_what, options, message) => {
    expect(() => DpopSigner.create(options as true)).toThrow(message);
  });

  it('refuses key pairs that cannot sign a DPoP algorithm, or that disagree with algorithm', async () => {
    const es256 = await generateDpopKeyPair('ES256');
    expect(() =>
      DpopSigner.create({ keyPair: es256, algorithm: 'EdDSA' }),
    ).toThrow(
      'dpop.algorithm: "EdDSA" is not the algorithm of dpop.keyPair (ES256).',
    );
    expect(() =>
      DpopSigner.create({
        keyPair: { privateKey: es256.publicKey, publicKey: es256.publicKey },
      }),
    ).toThrow(/^dpop\.keyPair\.privateKey/);
    expect(() =>
      DpopSigner.create({
        keyPair: { privateKey: es256.privateKey, publicKey: es256.privateKey },
      }),
    ).toThrow(/^dpop\.keyPair\.publicKey/);

    const { privateKey, publicKey } = generateKeyPairSync('rsa', {
      modulusLength: 1024,
    });
    const rsa1024 = {
      privateKey: await globalThis.crypto.subtle.importKey(
        'pkcs8',
        privateKey.export({ type: 'pkcs8', format: 'der' }),
        { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
        false,
        ['sign'],
      ),
      publicKey: await globalThis.crypto.subtle.importKey(
        'spki',
        publicKey.export({ type: 'spki', format: 'der' }),
        { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
        true,
        ['verify'],
      ),
    };
    expect(() => DpopSigner.create({ keyPair: rsa1024 })).toThrow(
      /RSA keys need 2048 bits/,
    );
    const hmac = await globalThis.crypto.subtle.generateKey(
      { name: 'HMAC', hash: 'SHA-256' },
      false,
      ['sign', 'verify'],
    );
    expect(() =>
      DpopSigner.create({ keyPair: { privateKey: hmac, publicKey: hmac } }),
    ).toThrow(TypeError);
  });

  it('agrees with jose about RSA keys made elsewhere', async () => {
    // A PS256 pair from jose, made non-extractable, as an app might bring its own.
    const { privateKey, publicKey } = await generateKeyPair('PS256');
    const signer = DpopSigner.create({ keyPair: { privateKey, publicKey } });
    expect(signer.algorithm).toBe('PS256');
    const proof = await signer.sign({
      method: 'GET',
      url: 'https://a.example/',
    });
    await expect(
      jwtVerify(proof, EmbeddedJWK, { algorithms: ['PS256'] }),
    ).resolves.toBeDefined();
  });
});
