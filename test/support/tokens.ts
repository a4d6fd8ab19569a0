import { SignJWT, type JWTHeaderParameters } from 'jose';
import type { TestKey } from './jwks-server.js';

/** Options for {@link mintToken}. */
export interface MintTokenOptions {
  /**
   * Header fields merged over the defaults (`alg`, `kid`, `typ: "JWT"`).
   * A field set to `undefined` is removed, such as `{ kid: undefined }`.
   */
  header?: Record<string, unknown>;
  /**
   * Lifetime in seconds from now, giving `exp`; negative values give an expired
   * token and `null` omits `exp`.
   * @default 300
   */
  expiresIn?: number | null;
  /**
   * `iat` in seconds since the epoch; `null` omits it.
   * @default the current time
   */
  issuedAt?: number | null;
}

/**
 * Signs a JWT with `key`. Claims given explicitly, including `exp` and `iat`,
 * win over the ones derived from the options.
 */
export async function mintToken(
  key: TestKey,
  claims: Record<string, unknown>,
  opts: MintTokenOptions = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const expiresIn = opts.expiresIn === undefined ? 300 : opts.expiresIn;
  const issuedAt = opts.issuedAt === undefined ? now : opts.issuedAt;
  const payload = {
    ...(issuedAt !== null && { iat: issuedAt }),
    ...(expiresIn !== null && { exp: now + expiresIn }),
    ...claims,
  };
  const header = withoutUndefined({
    alg: key.alg,
    kid: key.kid,
    typ: 'JWT',
    ...opts.header,
  }) as JWTHeaderParameters;
  return new SignJWT(payload).setProtectedHeader(header).sign(key.privateKey);
}

/** Builds an unsigned JWS, `b64url(header).b64url(payload).`, as with `alg: "none"`. */
export function forgeUnsigned(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
): string {
  return `${encodeSegment(header)}.${encodeSegment(payload)}.`;
}

/** Returns `token` with one bit of its signature flipped, so it no longer verifies. */
export function tamper(token: string): string {
  const parts = token.split('.');
  if (parts.length !== 3 || parts[2] === '') {
    throw new Error('tamper() needs a signed compact JWS');
  }
  const signature = Buffer.from(parts[2], 'base64url');
  signature[0] ^= 0x01;
  return `${parts[0]}.${parts[1]}.${signature.toString('base64url')}`;
}

function encodeSegment(value: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

function withoutUndefined(
  record: Record<string, unknown>,
): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(record).filter(([, value]) => value !== undefined),
  );
}
