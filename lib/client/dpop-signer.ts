/**
 * The client's DPoP key and proofs (RFC 9449 sections 4.2 and 4.3), made with WebCrypto
 * (`globalThis.crypto.subtle`) alone. No Nest dependency, no JOSE library.
 */
import type { webcrypto } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type JsonWebKey = webcrypto.JsonWebKey;
type SubtleCrypto = webcrypto.SubtleCrypto;

/**
 * The algorithms a client signs proofs with: ECDSA (RFC 7518 section 3.4), EdDSA with
 * Ed25519 (RFC 8037), and RSA (RFC 7518 sections 3.3 and 3.5, 2048-bit keys).
 */
export type DpopAlgorithm =
  'ES256' | 'ES384' | 'ES512' | 'EdDSA' | 'RS256' | 'PS256';

/** The DPoP options of `createBearerFetch`. */
export interface DpopClientOptions {
  /**
   * The proof algorithm. With `keyPair`, it must be the key's, and can be left out.
   * @default 'ES256', or the algorithm of `keyPair`
   */
  algorithm?: DpopAlgorithm;
  /**
   * The key pair to sign with, for example one kept across restarts; keeping its private
   * key safe is then yours. The public key must be exportable (WebCrypto public keys
   * always are).
   * @default a new key pair of `algorithm`, made on the first request, whose private key
   *   cannot be exported (`extractable: false`)
   */
  keyPair?: CryptoKeyPair;
}

/** What a token provider may need of the DPoP key (RFC 9449 sections 5 and 10). */
export interface DpopKeyInfo {
  /** The algorithm proofs are signed with. */
  readonly algorithm: DpopAlgorithm;
  /**
   * The RFC 7638 SHA-256 thumbprint of the public key, base64url: the `dpop_jkt` of an
   * authorization request, and the `cnf.jkt` of a token bound to this key.
   */
  readonly jkt: string;
  /**
   * Signs a proof for another request, such as the token request of RFC 9449 section 5
   * (`createProof('POST', tokenEndpoint, { nonce })`, no access token).
   */
  createProof(
    method: string,
    url: string | URL,
    options?: { accessToken?: string; nonce?: string },
  ): Promise<string>;
}

interface AlgorithmParams {
  generate:
    | webcrypto.EcKeyGenParams
    | webcrypto.RsaHashedKeyGenParams
    | webcrypto.Algorithm;
  sign: webcrypto.EcdsaParams | webcrypto.RsaPssParams | webcrypto.Algorithm;
}

const RSA_EXPONENT = new Uint8Array([1, 0, 1]);

const ALGORITHMS: Readonly<Record<DpopAlgorithm, AlgorithmParams>> = {
  ES256: {
    generate: { name: 'ECDSA', namedCurve: 'P-256' },
    sign: { name: 'ECDSA', hash: 'SHA-256' },
  },
  ES384: {
    generate: { name: 'ECDSA', namedCurve: 'P-384' },
    sign: { name: 'ECDSA', hash: 'SHA-384' },
  },
  ES512: {
    generate: { name: 'ECDSA', namedCurve: 'P-521' },
    sign: { name: 'ECDSA', hash: 'SHA-512' },
  },
  EdDSA: { generate: { name: 'Ed25519' }, sign: { name: 'Ed25519' } },
  RS256: {
    generate: {
      name: 'RSASSA-PKCS1-v1_5',
      modulusLength: 2048,
      publicExponent: RSA_EXPONENT,
      hash: 'SHA-256',
    },
    sign: { name: 'RSASSA-PKCS1-v1_5' },
  },
  PS256: {
    generate: {
      name: 'RSA-PSS',
      modulusLength: 2048,
      publicExponent: RSA_EXPONENT,
      hash: 'SHA-256',
    },
    // RFC 7518 section 3.5: the salt is as long as the hash.
    sign: { name: 'RSA-PSS', saltLength: 32 },
  },
};

const DPOP_ALGORITHMS = Object.keys(ALGORITHMS) as DpopAlgorithm[];

// The members RFC 7638 section 3.2 hashes, in lexicographic order, per key type.
const REQUIRED_MEMBERS: Readonly<Record<string, readonly string[]>> = {
  EC: ['crv', 'kty', 'x', 'y'],
  OKP: ['crv', 'kty', 'x'],
  RSA: ['e', 'kty', 'n'],
};

function subtle(): SubtleCrypto {
  const webCrypto = globalThis.crypto as webcrypto.Crypto | undefined;
  if (webCrypto?.subtle === undefined) {
    throw new TypeError('DPoP needs WebCrypto (globalThis.crypto.subtle).');
  }
  return webCrypto.subtle;
}

// By its tag, not `instanceof`: a key made in another realm (a VM context, a test runner)
// is a CryptoKey too.
function isCryptoKey(value: unknown): value is CryptoKey {
  return Object.prototype.toString.call(value) === '[object CryptoKey]';
}

function base64url(bytes: ArrayBuffer | Uint8Array): string {
  return Buffer.from(
    bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes),
  ).toString('base64url');
}

function base64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

/** The algorithm a WebCrypto key signs with, or `undefined` for none we support. */
function algorithmOf(key: CryptoKey): DpopAlgorithm | undefined {
  const params = key.algorithm as Partial<
    webcrypto.EcKeyAlgorithm & webcrypto.RsaHashedKeyAlgorithm
  >;
  switch (params.name) {
    case 'ECDSA':
      return (
        { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' } as const
      )[params.namedCurve as 'P-256'];
    case 'Ed25519':
      return 'EdDSA';
    case 'RSASSA-PKCS1-v1_5':
    case 'RSA-PSS':
      // RFC 7518 section 3.3 and RFC 9449's resource servers refuse smaller RSA keys.
      if ((params.modulusLength ?? 0) < 2048) return undefined;
      if (params.hash?.name !== 'SHA-256') return undefined;
      return params.name === 'RSA-PSS' ? 'PS256' : 'RS256';
    default:
      return undefined;
  }
}

/** The public JWK with only the members RFC 7638 requires, as a proof's `jwk` carries it. */
function publicMembers(jwk: JsonWebKey): Record<string, string> {
  const names = REQUIRED_MEMBERS[jwk.kty ?? ''];
  if (names === undefined) {
    throw new TypeError(`A ${String(jwk.kty)} key has no JWK thumbprint.`);
  }
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = (jwk as Record<string, unknown>)[name];
    if (typeof value !== 'string' || value === '') {
      throw new TypeError(`The JWK has no "${name}" member.`);
    }
    out[name] = value;
  }
  return out;
}

/**
 * Makes a DPoP key pair with WebCrypto whose private key cannot be exported
 * (`extractable: false`); its public key can, as for every WebCrypto key pair.
 */
export async function generateDpopKeyPair(
  algorithm: DpopAlgorithm = 'ES256',
): Promise<CryptoKeyPair> {
  const params = ALGORITHMS[checkAlgorithm(algorithm, 'algorithm')];
  return (await subtle().generateKey(params.generate, false, [
    'sign',
    'verify',
  ])) as CryptoKeyPair;
}

/**
 * The RFC 7638 JWK thumbprint of a public key, SHA-256, base64url: what an authorization
 * server is given as `dpop_jkt` (RFC 9449 section 10) and writes as a token's `cnf.jkt`.
 * Takes a WebCrypto key (the public key, or an extractable private one) or a JWK.
 */
export async function computeJwkThumbprint(
  key: CryptoKey | JsonWebKey,
): Promise<string> {
  const jwk = isCryptoKey(key) ? await subtle().exportKey('jwk', key) : key;
  // The members in lexicographic order, no whitespace (RFC 7638 section 3.3).
  const text = JSON.stringify(publicMembers(jwk));
  const digest = await subtle().digest(
    'SHA-256',
    new TextEncoder().encode(text),
  );
  return base64url(digest);
}

function checkAlgorithm(value: unknown, option: string): DpopAlgorithm {
  if (!DPOP_ALGORITHMS.includes(value as DpopAlgorithm)) {
    throw new TypeError(
      `${option}: ${JSON.stringify(value)} is not one of ${DPOP_ALGORITHMS.join(', ')}.`,
    );
  }
  return value as DpopAlgorithm;
}

function checkKeyPair(value: unknown): CryptoKeyPair {
  const pair = value as Partial<CryptoKeyPair> | null;
  if (
    typeof pair !== 'object' ||
    pair === null ||
    !isCryptoKey(pair.privateKey) ||
    !isCryptoKey(pair.publicKey)
  ) {
    throw new TypeError(
      'dpop.keyPair must be a WebCrypto CryptoKeyPair (privateKey and publicKey).',
    );
  }
  if (
    pair.privateKey.type !== 'private' ||
    !pair.privateKey.usages.includes('sign')
  ) {
    throw new TypeError(
      'dpop.keyPair.privateKey must be a private key usable to sign.',
    );
  }
  if (pair.publicKey.type !== 'public') {
    throw new TypeError('dpop.keyPair.publicKey must be a public key.');
  }
  return pair as CryptoKeyPair;
}

interface DpopKey {
  privateKey: CryptoKey;
  jwk: Record<string, string>;
  jkt: string;
}

/** What a proof is made for. */
export interface ProofRequest {
  /** The HTTP method; written upper-case as `htm`. */
  method: string;
  /** The request URL; `htu` is it without query and fragment. */
  url: string | URL;
  /** The access token the request carries, for `ath`. */
  accessToken?: string;
  /** The server's last `DPoP-Nonce`. */
  nonce?: string;
}

/**
 * Signs DPoP proofs with one key, made on first use. Used by `createBearerFetch`; not
 * part of the public API.
 */
export class DpopSigner {
  private key: Promise<DpopKey> | undefined;

  private constructor(
    readonly algorithm: DpopAlgorithm,
    private readonly keyPair: CryptoKeyPair | undefined,
  ) {}

  /** Checks the options; throws `TypeError` naming the wrong one. */
  static create(options: true | DpopClientOptions): DpopSigner {
    const o: DpopClientOptions = options === true ? {} : options;
    if (typeof o !== 'object' || o === null) {
      throw new TypeError('dpop must be true, false or an object.');
    }
    for (const name of Object.keys(o)) {
      if (name !== 'algorithm' && name !== 'keyPair') {
        throw new TypeError(`dpop.${name} is not a known option.`);
      }
    }
    subtle();
    if (o.keyPair === undefined) {
      return new DpopSigner(
        checkAlgorithm(o.algorithm ?? 'ES256', 'dpop.algorithm'),
        undefined,
      );
    }
    const keyPair = checkKeyPair(o.keyPair);
    const own = algorithmOf(keyPair.privateKey);
    if (own === undefined) {
      throw new TypeError(
        `dpop.keyPair: a ${keyPair.privateKey.algorithm.name} key signs none of ${DPOP_ALGORITHMS.join(', ')} (RSA keys need 2048 bits and SHA-256).`,
      );
    }
    if (o.algorithm !== undefined && o.algorithm !== own) {
      throw new TypeError(
        `dpop.algorithm: ${JSON.stringify(o.algorithm)} is not the algorithm of dpop.keyPair (${own}).`,
      );
    }
    return new DpopSigner(own, keyPair);
  }

  /** The RFC 7638 thumbprint of the public key. */
  async thumbprint(): Promise<string> {
    return (await this.loadKey()).jkt;
  }

  /** The key's public facts and a proof maker, for the token provider. */
  async info(): Promise<DpopKeyInfo> {
    const jkt = await this.thumbprint();
    return Object.freeze({
      algorithm: this.algorithm,
      jkt,
      createProof: (
        method: string,
        url: string | URL,
        options: { accessToken?: string; nonce?: string } = {},
      ) => this.sign({ method, url, ...options }),
    });
  }

  /** A signed proof JWT (RFC 9449 section 4.2). */
  async sign(request: ProofRequest): Promise<string> {
    const key = await this.loadKey();
    const url = new URL(String(request.url));
    const header = { typ: 'dpop+jwt', alg: this.algorithm, jwk: key.jwk };
    const payload: Record<string, string | number> = {
      // 128 random bits: unique per proof, so that a replay cache can tell them apart.
      jti: base64url(globalThis.crypto.getRandomValues(new Uint8Array(16))),
      htm: request.method.toUpperCase(),
      // RFC 9449 section 4.2: the target URI without query and fragment.
      htu: `${url.protocol}//${url.host}${url.pathname}`,
      iat: Math.floor(Date.now() / 1000),
    };
    if (request.accessToken !== undefined) {
      const digest = await subtle().digest(
        'SHA-256',
        new TextEncoder().encode(request.accessToken),
      );
      payload.ath = base64url(digest);
    }
    if (request.nonce !== undefined) payload.nonce = request.nonce;
    const input = `${base64urlJson(header)}.${base64urlJson(payload)}`;
    // WebCrypto's ECDSA signature is r || s, the form JWS uses (RFC 7518 section 3.4).
    const signature = await subtle().sign(
      ALGORITHMS[this.algorithm].sign,
      key.privateKey,
      new TextEncoder().encode(input),
    );
    return `${input}.${base64url(signature)}`;
  }

  private loadKey(): Promise<DpopKey> {
    this.key ??= this.makeKey().catch((error: unknown) => {
      // A failure (an algorithm this runtime lacks) is reported, and tried again next time.
      this.key = undefined;
      throw error;
    });
    return this.key;
  }

  private async makeKey(): Promise<DpopKey> {
    const pair = this.keyPair ?? (await generateDpopKeyPair(this.algorithm));
    const jwk = publicMembers(await subtle().exportKey('jwk', pair.publicKey));
    return {
      privateKey: pair.privateKey,
      jwk,
      jkt: await computeJwkThumbprint(jwk),
    };
  }
}
