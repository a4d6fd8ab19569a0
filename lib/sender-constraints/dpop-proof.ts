/**
 * The DPoP proof check of RFC 9449 section 4.3, for one request. Pure and synchronous:
 * the replay cache and the nonce are the caller's (`SenderConstraints`).
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { InvalidDpopProofError } from '../bearer.errors.js';
import { readOwnClaim } from '../claims.js';
import { verifyJwsSignature } from '../token-verifier.js';
import {
  jwkThumbprint,
  publicKeyMembers,
  type JsonWebKeyLike,
} from './jwk-thumbprint.js';

/** The longest proof read, in characters: an RSA-4096 JWK and the claims fit in far less. */
export const MAX_PROOF_LENGTH = 8192;
/** The longest `jti` accepted; RFC 9449 asks for 96 bits of randomness, some 16 characters. */
export const MAX_JTI_LENGTH = 256;
/** How many imported proof keys are kept, by thumbprint. */
const KEY_CACHE_SIZE = 1024;

/** What a proof must match: the request, the token and the policy. */
export interface DpopProofExpectation {
  /** The request's method, upper-case. */
  readonly method: string;
  /** The request's path, as {@link normalizePath} writes it. */
  readonly path: string;
  /** The origins the request may have been sent to (`https://api.example.com`). */
  readonly origins: readonly string[];
  /** The access token sent with the proof, for `ath`. */
  readonly accessToken: string;
  /** The accepted `alg` values. */
  readonly algorithms: readonly string[];
  /** Now, in epoch seconds. */
  readonly now: number;
  /** How old a proof's `iat` may be, in seconds. */
  readonly maxAge: number;
  /** Seconds of clock skew allowed, both ways. */
  readonly clockTolerance: number;
}

/** A proof that passed every check. */
export interface VerifiedDpopProof {
  /** The RFC 7638 thumbprint of the proof's key, to compare with the token's `cnf.jkt`. */
  readonly jkt: string;
  readonly jti: string;
  readonly iat: number;
  readonly nonce: string | undefined;
}

const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

function decodeObject(segment: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(
      Buffer.from(segment, 'base64url').toString('utf8'),
    );
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The origin and path of an http(s) URI, without query, fragment and user info, with the
 * scheme and host in lower case, the default port dropped and dot segments resolved
 * (RFC 9449 section 4.3 step 9, RFC 3986 section 6.2.2); `undefined` when it is not one.
 */
export function splitHttpUri(
  text: string,
): { origin: string; path: string } | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  if (url.username !== '' || url.password !== '') return undefined;
  return {
    origin: `${url.protocol}//${url.host}`,
    path: normalizePercent(url.pathname),
  };
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/**
 * RFC 3986 section 6.2.2.2: a percent-encoded unreserved character is the character
 * itself, and the hex digits of the others are upper case.
 */
function normalizePercent(path: string): string {
  if (!path.includes('%')) return path;
  return path.replace(/%([0-9A-Fa-f]{2})/g, (match, hex: string) => {
    const char = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(char) ? char : match.toUpperCase();
  });
}

/** A `.` or `..` segment, plain or percent-encoded (`%2e`). */
const DOT_SEGMENT = /(?:^|\/)(?:\.|%2e){1,2}(?:\/|$)/i;

/** A request target's path, normalized as {@link splitHttpUri} normalizes a URI's. */
export function normalizePath(target: string): string | undefined {
  const end = target.search(/[?#]/);
  const path = end === -1 ? target : target.slice(0, end);
  // The router serves the path as sent: one with dot segments is not the URI a proof names
  // once they are resolved, so it matches none (RFC 9449 section 4.3, step 9).
  if (DOT_SEGMENT.test(path)) return undefined;
  if (!path.startsWith('/')) return splitHttpUri(path)?.path;
  try {
    return normalizePercent(new URL(`http://localhost${path}`).pathname);
  } catch {
    return undefined;
  }
}

/** base64url(SHA-256(token)): the `ath` of RFC 9449 section 4.2. */
export function accessTokenHash(token: string): string {
  return createHash('sha256').update(token, 'ascii').digest('base64url');
}

const keyCache = new Map<string, KeyObject>();

/** The proof's public key, imported once per thumbprint. */
function importKey(
  thumbprint: string,
  members: Readonly<Record<string, string>>,
): KeyObject | undefined {
  const known = keyCache.get(thumbprint);
  if (known !== undefined) return known;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: { ...members }, format: 'jwk' });
  } catch {
    return undefined;
  }
  if (keyCache.size >= KEY_CACHE_SIZE) {
    const oldest = keyCache.keys().next();
    if (oldest.done !== true) keyCache.delete(oldest.value);
  }
  keyCache.set(thumbprint, key);
  return key;
}

/**
 * Checks one DPoP proof (RFC 9449 section 4.3 steps 2 to 9 and 11 to 12): a compact JWS with
 * `typ` `dpop+jwt`, an accepted asymmetric `alg`, a public `jwk` (never a private or a
 * symmetric one) that verifies the signature, and `jti`, `htm`, `htu`, `iat` and `ath`
 * that match the request and the token. The caller checks the key binding, the nonce
 * and the replay.
 *
 * @throws InvalidDpopProofError with the first fault found; never a library's message.
 */
export function verifyDpopProof(
  proof: string,
  expected: DpopProofExpectation,
): VerifiedDpopProof {
  if (proof.length > MAX_PROOF_LENGTH || !COMPACT_JWS.test(proof)) {
    throw new InvalidDpopProofError('malformed');
  }
  const dot = proof.indexOf('.');
  const header = decodeObject(proof.slice(0, dot));
  const payload = decodeObject(proof.slice(dot + 1, proof.lastIndexOf('.')));
  if (header === undefined || payload === undefined) {
    throw new InvalidDpopProofError('malformed');
  }
  const typ = readOwnClaim(header, 'typ');
  if (typeof typ !== 'string' || typ.toLowerCase() !== 'dpop+jwt') {
    throw new InvalidDpopProofError('type');
  }
  const alg = readOwnClaim(header, 'alg');
  if (typeof alg !== 'string' || !expected.algorithms.includes(alg)) {
    throw new InvalidDpopProofError('algorithm');
  }
  // No extension is understood, so none may be critical (RFC 7515 section 4.1.11).
  if (readOwnClaim(header, 'crit') !== undefined) {
    throw new InvalidDpopProofError('malformed');
  }
  const jwk = readOwnClaim(header, 'jwk');
  const members =
    typeof jwk === 'object' && jwk !== null && !Array.isArray(jwk)
      ? publicKeyMembers(jwk as JsonWebKeyLike)
      : undefined;
  if (members === undefined) throw new InvalidDpopProofError('key');
  const jkt = jwkThumbprint(members);
  const key = importKey(jkt, members);
  if (key === undefined) throw new InvalidDpopProofError('key');
  if (!verifyJwsSignature(proof, alg, key)) {
    throw new InvalidDpopProofError('signature');
  }
  const jti = readOwnClaim(payload, 'jti');
  const htm = readOwnClaim(payload, 'htm');
  const htu = readOwnClaim(payload, 'htu');
  const iat = readOwnClaim(payload, 'iat');
  const ath = readOwnClaim(payload, 'ath');
  const nonce = readOwnClaim(payload, 'nonce');
  if (
    typeof jti !== 'string' ||
    jti === '' ||
    jti.length > MAX_JTI_LENGTH ||
    typeof htm !== 'string' ||
    typeof htu !== 'string' ||
    typeof iat !== 'number' ||
    !Number.isFinite(iat) ||
    (nonce !== undefined && typeof nonce !== 'string')
  ) {
    throw new InvalidDpopProofError('malformed');
  }
  if (htm !== expected.method) throw new InvalidDpopProofError('method');
  const target = splitHttpUri(htu);
  if (
    target === undefined ||
    target.path !== expected.path ||
    !expected.origins.includes(target.origin)
  ) {
    throw new InvalidDpopProofError('uri');
  }
  const { now, maxAge, clockTolerance } = expected;
  if (iat > now + clockTolerance || iat < now - maxAge - clockTolerance) {
    throw new InvalidDpopProofError('issued_at');
  }
  if (
    typeof ath !== 'string' ||
    ath !== accessTokenHash(expected.accessToken)
  ) {
    throw new InvalidDpopProofError('token_hash');
  }
  return { jkt, jti, iat, nonce };
}
