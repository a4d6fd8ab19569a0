/**
 * The signature check of a compact JWS on node:crypto (RFC 7515 section 5.2, RFC 7518
 * section 3). One synchronous, one-shot `crypto.verify` per token: this runs on every
 * request that misses the token cache. Pure: no I/O, no key lookup.
 */
import {
  constants,
  verify,
  type KeyObject,
  type VerifyKeyObjectInput,
} from 'node:crypto';
import { isCompactJws } from './token-policy.js';

/** How one `alg` is verified. */
interface AlgorithmEntry {
  /** The digest for `crypto.verify`; `null` for EdDSA, whose curve fixes the hash. */
  readonly hash: string | null;
  /** Whether the key is of the family, curve and size the algorithm needs. */
  readonly fits: (facts: KeyFacts) => boolean;
  /** The exact signature length in bytes, where the algorithm alone fixes it (ECDSA). */
  readonly signatureLength: number | undefined;
  /** The key argument of `crypto.verify`: the key alone, or with padding. */
  readonly input: (key: KeyObject) => KeyObject | VerifyKeyObjectInput;
  /**
   * ECDSA: the JWS carries R || S (RFC 7518 section 3.4), re-encoded as the DER structure
   * OpenSSL reads natively. On Node 24 that is about a quarter faster than passing
   * `dsaEncoding: 'ieee-p1363'`, which makes Node prepare the key on every call.
   */
  readonly fromP1363: boolean;
}

/** One unsigned big-endian integer as a DER INTEGER: minimal, with a sign byte if needed. */
function derInteger(bytes: Buffer): Buffer {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  const value = bytes.subarray(start);
  const pad = (value[0] & 0x80) !== 0 ? 1 : 0;
  const out = Buffer.allocUnsafe(2 + pad + value.length);
  out[0] = 0x02;
  out[1] = pad + value.length;
  if (pad === 1) out[2] = 0;
  value.copy(out, 2 + pad);
  return out;
}

/** R || S (two halves of equal length) as a DER `SEQUENCE { INTEGER r, INTEGER s }`. */
export function p1363ToDer(signature: Buffer): Buffer {
  const half = signature.length >> 1;
  const r = derInteger(signature.subarray(0, half));
  const s = derInteger(signature.subarray(half));
  const length = r.length + s.length;
  // P-521 needs the long form: its SEQUENCE can exceed 127 bytes.
  const head =
    length < 0x80
      ? Buffer.from([0x30, length])
      : Buffer.from([0x30, 0x81, length]);
  return Buffer.concat([head, r, s], head.length + length);
}

// RFC 7518 section 3.3 and 3.5: "a key of size 2048 bits or larger MUST be used".
const MIN_RSA_BITS = 2048;

/** What the algorithms ask of a key, read once per key: Node builds the details anew on each read. */
interface KeyFacts {
  readonly type: string | undefined;
  readonly modulusLength: number | undefined;
  readonly namedCurve: string | undefined;
}

const KEY_FACTS = new WeakMap<KeyObject, KeyFacts>();

function factsOf(key: KeyObject): KeyFacts {
  let facts = KEY_FACTS.get(key);
  if (facts === undefined) {
    const details = key.asymmetricKeyDetails;
    facts = {
      type: key.asymmetricKeyType,
      modulusLength: details?.modulusLength,
      namedCurve: details?.namedCurve,
    };
    KEY_FACTS.set(key, facts);
  }
  return facts;
}

function hasRsaModulus(facts: KeyFacts): boolean {
  const bits = facts.modulusLength;
  return bits !== undefined && bits >= MIN_RSA_BITS;
}

// PKCS#1 v1.5 needs a plain RSA key: an rsa-pss key is bound to PSS padding.
const fitsRsa = (facts: KeyFacts): boolean =>
  facts.type === 'rsa' && hasRsaModulus(facts);

const fitsRsaPss = (facts: KeyFacts): boolean =>
  (facts.type === 'rsa' || facts.type === 'rsa-pss') && hasRsaModulus(facts);

const fitsCurve =
  (namedCurve: string) =>
  (facts: KeyFacts): boolean =>
    facts.type === 'ec' && facts.namedCurve === namedCurve;

// RFC 8037 section 3.1: EdDSA covers both Edwards curves; the key picks one.
const fitsEdwards = (facts: KeyFacts): boolean =>
  facts.type === 'ed25519' || facts.type === 'ed448';

const keyAlone = (key: KeyObject): KeyObject => key;

// RFC 7518 section 3.5: MGF1 with the same hash, and a salt as long as the digest.
const withPss = (key: KeyObject): VerifyKeyObjectInput => ({
  key,
  padding: constants.RSA_PKCS1_PSS_PADDING,
  saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
});

function rsa(hash: string): AlgorithmEntry {
  return {
    hash,
    fits: fitsRsa,
    signatureLength: undefined,
    input: keyAlone,
    fromP1363: false,
  };
}

function pss(hash: string): AlgorithmEntry {
  return {
    hash,
    fits: fitsRsaPss,
    signatureLength: undefined,
    input: withPss,
    fromP1363: false,
  };
}

function ecdsa(
  hash: string,
  namedCurve: string,
  signatureLength: number,
): AlgorithmEntry {
  return {
    hash,
    fits: fitsCurve(namedCurve),
    signatureLength,
    input: keyAlone,
    fromP1363: true,
  };
}

// A Map, not an object: an `alg` such as "__proto__" or "toString" finds nothing.
const ALGORITHMS: ReadonlyMap<string, AlgorithmEntry> = new Map([
  ['RS256', rsa('sha256')],
  ['RS384', rsa('sha384')],
  ['RS512', rsa('sha512')],
  ['PS256', pss('sha256')],
  ['PS384', pss('sha384')],
  ['PS512', pss('sha512')],
  ['ES256', ecdsa('sha256', 'prime256v1', 64)],
  ['ES384', ecdsa('sha384', 'secp384r1', 96)],
  ['ES512', ecdsa('sha512', 'secp521r1', 132)],
  [
    'EdDSA',
    {
      hash: null,
      fits: fitsEdwards,
      signatureLength: undefined,
      input: keyAlone,
      fromP1363: false,
    },
  ],
]);

/** The `alg` values {@link verifyJwsSignature} can check (RFC 7518 section 3.1, RFC 8037). */
export const VERIFIABLE_ALGORITHMS: readonly string[] = Object.freeze([
  ...ALGORITHMS.keys(),
]);

// The 6-bit value of each base64url character (RFC 4648 section 5).
const SEXTET = new Uint8Array(128);
const ALPHABET =
  'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
for (let i = 0; i < ALPHABET.length; i++) SEXTET[ALPHABET.charCodeAt(i)] = i;

/**
 * The index of the dot before the signature, or -1 unless the token is three non-empty
 * base64url segments whose signature is canonically encoded. The check does not trust its
 * caller: Buffer's decoder skips foreign characters and drops a dangling one, so without
 * it two different strings could carry the same signature bytes.
 */
function findSignatureDot(token: string): number {
  if (!isCompactJws(token)) return -1;
  return canonicalSignatureDot(token);
}

/**
 * {@link findSignatureDot} for a token known to be three non-empty base64url segments:
 * only the signature's encoding is left to check.
 */
function canonicalSignatureDot(token: string): number {
  const dot = token.lastIndexOf('.');
  const rest = (token.length - dot - 1) & 3;
  // One character left over encodes no byte; it is never valid base64url.
  if (rest === 1) return -1;
  // The bits after the last byte must be zero (RFC 4648 section 3.5), so that each
  // signature has exactly one encoding.
  if (rest !== 0) {
    const unused = rest === 2 ? 0x0f : 0x03;
    const last = SEXTET[token.charCodeAt(token.length - 1)];
    if ((last & unused) !== 0) return -1;
  }
  return dot;
}

/**
 * Whether the token is three non-empty base64url segments whose signature is canonically
 * encoded (RFC 4648 section 3.5), as {@link verifyJwsSignature} requires.
 */
export function hasCanonicalSignature(token: string): boolean {
  return findSignatureDot(token) !== -1;
}

/**
 * Checks the signature of a compact JWS with one key (RFC 7515 section 5.2): RS256-512
 * (PKCS#1 v1.5), PS256-512 (PSS, salt as long as the digest), ES256-512 (R || S of the
 * curve's size) and EdDSA (Ed25519 or Ed448). The signing input is the ASCII text before
 * the last dot.
 *
 * The key must fit the algorithm: `rsa` of 2048 bits or more for RS*, `rsa` or `rsa-pss`
 * for PS*, `ec` on P-256, P-384 or P-521 for ES256, ES384 or ES512, `ed25519` or `ed448`
 * for EdDSA. It does not check `alg` against an allowlist: `inspectToken` does.
 *
 * @returns `true` only for a valid signature; `false` for anything else, never a throw.
 */
export function verifyJwsSignature(
  token: string,
  alg: string,
  key: KeyObject,
): boolean {
  return verifyAt(token, findSignatureDot(token), alg, key);
}

/**
 * {@link verifyJwsSignature} for a token that passed `inspectToken` (or `decodeToken`),
 * which checked its three base64url segments: the whole token is not scanned again.
 */
export function verifyInspectedSignature(
  token: string,
  alg: string,
  key: KeyObject,
): boolean {
  return verifyAt(token, canonicalSignatureDot(token), alg, key);
}

function verifyAt(
  token: string,
  dot: number,
  alg: string,
  key: KeyObject,
): boolean {
  try {
    const entry = ALGORITHMS.get(alg);
    if (entry === undefined || dot === -1 || !entry.fits(factsOf(key))) {
      return false;
    }
    const signature = Buffer.from(token.slice(dot + 1), 'base64url');
    if (
      entry.signatureLength !== undefined &&
      signature.length !== entry.signatureLength
    ) {
      return false;
    }
    // Every character is base64url or a dot (checked above), so latin1 gives its ASCII bytes.
    const data = Buffer.from(token.slice(0, dot), 'latin1');
    return verify(
      entry.hash,
      data,
      entry.input(key),
      entry.fromP1363 ? p1363ToDer(signature) : signature,
    );
  } catch {
    // OpenSSL refuses some inputs (a key restricted to another hash) by throwing.
    return false;
  }
}
