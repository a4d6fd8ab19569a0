/**
 * Public JWKs of DPoP proofs: which members make a public key, and its RFC 7638 SHA-256
 * thumbprint (the `jkt` of RFC 9449 section 6.1). Pure.
 */
import { createHash } from 'node:crypto';

/** A JSON Web Key as it arrives: any JSON object. */
export type JsonWebKeyLike = Readonly<Record<string, unknown>>;

/** RFC 7638 section 3.2: the required members of each key type, in lexicographic order. */
const REQUIRED_MEMBERS: ReadonlyMap<string, readonly string[]> = new Map([
  ['EC', ['crv', 'kty', 'x', 'y']],
  ['OKP', ['crv', 'kty', 'x']],
  ['RSA', ['e', 'kty', 'n']],
]);

/** Members that only a private or a symmetric key has (RFC 7518 section 6). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

/**
 * The required members of a public asymmetric key, as strings, or `undefined` when the
 * JWK is not one: an unknown `kty`, a missing or non-string member, or any private member.
 */
export function publicKeyMembers(
  jwk: JsonWebKeyLike,
): Readonly<Record<string, string>> | undefined {
  const kty = Object.hasOwn(jwk, 'kty') ? jwk.kty : undefined;
  if (typeof kty !== 'string') return undefined;
  const required = REQUIRED_MEMBERS.get(kty);
  if (required === undefined) return undefined;
  for (const member of PRIVATE_MEMBERS) {
    if (Object.hasOwn(jwk, member)) return undefined;
  }
  const members: Record<string, string> = {};
  for (const name of required) {
    const value = Object.hasOwn(jwk, name) ? jwk[name] : undefined;
    if (typeof value !== 'string' || value === '') return undefined;
    members[name] = value;
  }
  return members;
}

/**
 * The RFC 7638 thumbprint: base64url(SHA-256) of the required members written as JSON with
 * no whitespace, in lexicographic order. `members` is {@link publicKeyMembers}' result.
 */
export function jwkThumbprint(
  members: Readonly<Record<string, string>>,
): string {
  // The members are already in lexicographic order, and JSON.stringify keeps insertion order.
  return createHash('sha256')
    .update(JSON.stringify(members))
    .digest('base64url');
}
