/**
 * Signing keys and compact JWS signing for the test kit, with node:crypto only.
 */
import {
  createHash,
  generateKeyPair,
  sign,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import { promisify } from 'node:util';

/** The algorithms a test issuer can sign with. */
export type TestSigningAlgorithm = 'RS256' | 'ES256';

/** A public key as a JWKS publishes it (RFC 7517 section 4). */
export interface TestPublicJwk extends JsonWebKey {
  kty: 'RSA' | 'EC';
  kid: string;
  alg: TestSigningAlgorithm;
  use: 'sig';
}

/** A key pair of a test issuer. */
export interface TestSigningKey {
  /** The key id: the RFC 7638 thumbprint of the public key unless given. */
  readonly kid: string;
  readonly alg: TestSigningAlgorithm;
  readonly privateKey: KeyObject;
  readonly publicJwk: TestPublicJwk;
}

const generate = promisify(generateKeyPair);

// RFC 7638 section 3.2: only the required members, in lexicographic order.
const THUMBPRINT_MEMBERS: Record<TestPublicJwk['kty'], readonly string[]> = {
  EC: ['crv', 'kty', 'x', 'y'],
  RSA: ['e', 'kty', 'n'],
};

/** The RFC 7638 thumbprint (SHA-256, base64url) of a public JWK. */
export function computeJwkThumbprint(jwk: JsonWebKey): string {
  const members = THUMBPRINT_MEMBERS[jwk.kty as TestPublicJwk['kty']];
  if (members === undefined) {
    throw new TypeError(`no thumbprint rule for key type ${String(jwk.kty)}`);
  }
  const required = Object.fromEntries(members.map((name) => [name, jwk[name]]));
  return createHash('sha256')
    .update(JSON.stringify(required))
    .digest('base64url');
}

/** Makes a fresh key pair: RSA 2048 for RS256, P-256 for ES256. */
export async function createSigningKey(
  alg: TestSigningAlgorithm,
  kid?: string,
): Promise<TestSigningKey> {
  const { privateKey, publicKey } =
    alg === 'ES256'
      ? await generate('ec', { namedCurve: 'P-256' })
      : await generate('rsa', { modulusLength: 2048 });
  const exported = publicKey.export({ format: 'jwk' });
  const keyId = kid ?? computeJwkThumbprint(exported);
  const publicJwk: TestPublicJwk =
    alg === 'ES256'
      ? {
          kty: 'EC',
          crv: exported.crv,
          x: exported.x,
          y: exported.y,
          kid: keyId,
          alg,
          use: 'sig',
        }
      : {
          kty: 'RSA',
          n: exported.n,
          e: exported.e,
          kid: keyId,
          alg,
          use: 'sig',
        };
  return { kid: keyId, alg, privateKey, publicJwk };
}

function encodeSegment(value: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/**
 * Signs `payload` as a compact JWS (RFC 7515 section 7.1) with `key`, under `header`.
 * The header is written as given; its `alg` should match the key.
 */
export function signCompactJws(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  key: TestSigningKey,
): string {
  const input = `${encodeSegment(header)}.${encodeSegment(payload)}`;
  // RFC 7518 section 3.4: an ES256 signature is r || s, not the DER form node:crypto defaults to.
  const signature =
    key.alg === 'ES256'
      ? sign('sha256', Buffer.from(input), {
          key: key.privateKey,
          dsaEncoding: 'ieee-p1363',
        })
      : sign('sha256', Buffer.from(input), key.privateKey);
  return `${input}.${signature.toString('base64url')}`;
}
