import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { calculateJwkThumbprint, type JWK } from 'jose';
import {
  jwkThumbprint,
  publicKeyMembers,
  type JsonWebKeyLike,
} from './jwk-thumbprint.js';

/** The RSA key of RFC 7638 section 3.1, with its optional members. */
const RFC_7638_KEY = {
  kty: 'RSA',
  n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
  e: 'AQAB',
  alg: 'RS256',
  kid: '2011-04-29',
};
const RFC_7638_THUMBPRINT = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';

/** The Ed25519 key of RFC 8037 appendix A.2 and its thumbprint from appendix A.3. */
const RFC_8037_KEY = {
  kty: 'OKP',
  crv: 'Ed25519',
  x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo',
};
const RFC_8037_THUMBPRINT = 'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k';

function thumbprintOf(jwk: JsonWebKeyLike): string {
  const members = publicKeyMembers(jwk);
  if (members === undefined) throw new Error('not a public key');
  return jwkThumbprint(members);
}

function exportJwk(pair: { publicKey: KeyObject }): Record<string, unknown> {
  return pair.publicKey.export({ format: 'jwk' });
}

const EC_JWK = exportJwk(generateKeyPairSync('ec', { namedCurve: 'P-256' }));
const RSA_JWK = exportJwk(generateKeyPairSync('rsa', { modulusLength: 2048 }));
const OKP_JWK = exportJwk(generateKeyPairSync('ed25519'));

describe('jwkThumbprint', () => {
  it('gives the thumbprint of the RFC 7638 section 3.1 example', () => {
    expect(thumbprintOf(RFC_7638_KEY)).toBe(RFC_7638_THUMBPRINT);
  });

  it('gives the thumbprint of the RFC 8037 appendix A.3 example', () => {
    expect(thumbprintOf(RFC_8037_KEY)).toBe(RFC_8037_THUMBPRINT);
  });

  it('hashes the members written as JSON without whitespace, in lexicographic order', () => {
    const { n, e } = RFC_7638_KEY;
    const text = `{"e":"${e}","kty":"RSA","n":"${n}"}`;
    expect(jwkThumbprint({ e, kty: 'RSA', n })).toBe(
      createHash('sha256').update(text).digest('base64url'),
    );
  });

  it.each([
    ['EC', EC_JWK],
    ['RSA', RSA_JWK],
    ['OKP', OKP_JWK],
  ])('agrees with jose for a generated %s key', async (_kty, jwk) => {
    expect(thumbprintOf(jwk)).toBe(
      await calculateJwkThumbprint(jwk as JWK, 'sha256'),
    );
  });

  it('does not depend on the order of the members', () => {
    fc.assert(
      fc.property(
        fc.shuffledSubarray(Object.keys(RFC_7638_KEY), {
          minLength: 5,
          maxLength: 5,
        }),
        (order) => {
          const shuffled: Record<string, unknown> = {};
          for (const name of order) {
            shuffled[name] = RFC_7638_KEY[name as keyof typeof RFC_7638_KEY];
          }
          expect(thumbprintOf(shuffled)).toBe(RFC_7638_THUMBPRINT);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('changes when any required member changes', () => {
    expect(thumbprintOf({ ...RFC_7638_KEY, e: 'AQAC' })).not.toBe(
      RFC_7638_THUMBPRINT,
    );
    expect(thumbprintOf({ ...EC_JWK, x: EC_JWK.y, y: EC_JWK.x })).not.toBe(
      thumbprintOf(EC_JWK),
    );
    expect(thumbprintOf({ ...RFC_8037_KEY, crv: 'Ed448' })).not.toBe(
      RFC_8037_THUMBPRINT,
    );
  });
});

describe('publicKeyMembers', () => {
  it.each([
    ['RSA', RFC_7638_KEY as Record<string, unknown>, ['e', 'kty', 'n']],
    ['EC', EC_JWK, ['crv', 'kty', 'x', 'y']],
    ['OKP', OKP_JWK, ['crv', 'kty', 'x']],
  ])(
    'keeps only the required members of an %s key, in lexicographic order',
    (_kty, jwk, names) => {
      const members = publicKeyMembers({ ...jwk, use: 'sig', kid: 'a' });
      expect(Object.keys(members ?? {})).toEqual(names);
      for (const name of names) expect(members?.[name]).toBe(jwk[name]);
    },
  );

  it.each(['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'])(
    'refuses a key with the private member %s',
    (member) => {
      expect(publicKeyMembers({ ...RFC_7638_KEY, [member]: 'AQAB' })).toBe(
        undefined,
      );
    },
  );

  it('refuses a real private JWK', () => {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = pair.privateKey.export({ format: 'jwk' }) as JsonWebKeyLike;
    expect(publicKeyMembers(jwk)).toBeUndefined();
  });

  it.each([
    ['a symmetric key', { kty: 'oct', k: 'c2VjcmV0' }],
    ['an unknown kty', { ...EC_JWK, kty: 'ECC' }],
    ['a kty in another case', { ...EC_JWK, kty: 'ec' }],
    ['no kty', { crv: 'P-256', x: EC_JWK.x, y: EC_JWK.y }],
    ['a numeric kty', { ...EC_JWK, kty: 1 }],
    ['a missing required member', { kty: 'EC', crv: 'P-256', x: EC_JWK.x }],
    ['an empty required member', { ...RFC_7638_KEY, e: '' }],
    ['a numeric required member', { ...RFC_7638_KEY, e: 65537 }],
    ['an array member', { ...RFC_8037_KEY, x: [RFC_8037_KEY.x] }],
  ])('refuses %s', (_name, jwk) => {
    expect(publicKeyMembers(jwk)).toBeUndefined();
  });

  it('reads own members only, never inherited ones', () => {
    const inherited = Object.create(RFC_8037_KEY) as JsonWebKeyLike;
    expect(publicKeyMembers(inherited)).toBeUndefined();
    const withInheritedX = Object.assign(
      Object.create({ x: RFC_8037_KEY.x }) as Record<string, unknown>,
      { kty: 'OKP', crv: 'Ed25519' },
    );
    expect(publicKeyMembers(withInheritedX)).toBeUndefined();
    expect(publicKeyMembers({ ...RFC_8037_KEY })).toEqual(RFC_8037_KEY);
  });
});
