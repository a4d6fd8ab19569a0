/**
 * What a sender constraint binds to, read from the request without trusting it blindly:
 * the origins a DPoP proof's `htu` may name, and the TLS client certificate of an
 * mTLS-bound token. Forwarded headers count only from an allowlisted proxy, and the
 * `Host` header never does.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import type { RequestSocket, TokenRequest } from '../token-extractor.js';

/** Where the request's origin and client certificate are read. */
export interface RequestBindingOptions {
  /** The API's public origins; unset, the origin of the socket's local address. */
  readonly origins: readonly string[] | undefined;
  /** Peer addresses whose `X-Forwarded-*` and certificate headers are believed. */
  readonly trustedProxies: readonly string[];
  /** The lower-case header a trusted proxy puts the client certificate in. */
  readonly clientCertificateHeader: string | undefined;
}

/** An address as peers are compared: lower case, `::ffff:127.0.0.1` as `127.0.0.1`. */
export function plainAddress(address: string): string {
  const lower = address.toLowerCase();
  return lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4
    ? lower.slice(7)
    : lower;
}

function isLoopback(address: string): boolean {
  return address === '::1' || address.startsWith('127.');
}

function firstValue(request: TokenRequest, name: string): string | undefined {
  const raw = request.headers[name];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (typeof value !== 'string') return undefined;
  // A proxy appends; the first element is the one the client's side of the proxy set.
  const first = value.split(',')[0]?.trim();
  return first === '' ? undefined : first;
}

/** Whether the request came straight from an allowlisted proxy. */
export function fromTrustedProxy(
  request: TokenRequest,
  options: RequestBindingOptions,
): boolean {
  const peer = request.socket?.remoteAddress;
  return (
    peer !== undefined && options.trustedProxies.includes(plainAddress(peer))
  );
}

/**
 * The origins a DPoP proof for this request may name: the configured ones; else the one a
 * trusted proxy forwards (`X-Forwarded-Proto`, `X-Forwarded-Host`); else the socket's
 * local address (and `localhost` for a loopback one). Empty when none can be known.
 */
export function requestOrigins(
  request: TokenRequest,
  options: RequestBindingOptions,
): readonly string[] {
  if (options.origins !== undefined) return options.origins;
  const socket = request.socket;
  if (fromTrustedProxy(request, options)) {
    const host = firstValue(request, 'x-forwarded-host');
    const proto = firstValue(request, 'x-forwarded-proto')?.toLowerCase();
    if (host !== undefined && (proto === 'https' || proto === 'http')) {
      try {
        return [new URL(`${proto}://${host}`).origin];
      } catch {
        return [];
      }
    }
  }
  if (socket === undefined) return [];
  // A connection's local address never changes: its origins are built once per socket.
  let origins = socketOrigins.get(socket);
  if (origins === undefined) {
    origins = originsOfSocket(socket);
    socketOrigins.set(socket, origins);
  }
  return origins;
}

const socketOrigins = new WeakMap<RequestSocket, readonly string[]>();

/** The origin of the socket's local address, and `localhost`'s for a loopback one. */
function originsOfSocket(socket: RequestSocket): readonly string[] {
  const local = socket.localAddress;
  const port = socket.localPort;
  if (local === undefined || port === undefined) return [];
  const scheme = socket.encrypted === true ? 'https' : 'http';
  const address = plainAddress(local);
  const host = isIP(address) === 6 ? `[${address}]` : address;
  let origins: string[];
  try {
    origins = [new URL(`${scheme}://${host}:${port}`).origin];
  } catch {
    // A link-local address carries its zone ("fe80::1%eth0"), which no URL can hold.
    return [];
  }
  if (isLoopback(address)) {
    origins.push(new URL(`${scheme}://localhost:${port}`).origin);
  }
  return origins;
}

/** The DER bytes of an RFC 9440 `Client-Cert` value (`:base64:`) or a (URL-encoded) PEM. */
function decodeCertificateHeader(value: string): Buffer | undefined {
  const text = value.trim();
  try {
    if (text.startsWith(':') && text.endsWith(':') && text.length > 2) {
      return new X509Certificate(Buffer.from(text.slice(1, -1), 'base64')).raw;
    }
    const pem = text.includes('%') ? decodeURIComponent(text) : text;
    return new X509Certificate(pem).raw;
  } catch {
    return undefined;
  }
}

/**
 * The base64url SHA-256 thumbprint of the client certificate (RFC 8705 section 3.1
 * `x5t#S256`): from the TLS connection, or, on a request from a trusted proxy, from the
 * configured header. `undefined` when the request presents none.
 */
export function clientCertificateThumbprint(
  request: TokenRequest,
  options: RequestBindingOptions,
): string | undefined {
  let der: Buffer | undefined;
  const header = options.clientCertificateHeader;
  if (header !== undefined && fromTrustedProxy(request, options)) {
    const value = firstValue(request, header);
    der = value === undefined ? undefined : decodeCertificateHeader(value);
  } else {
    const certificate = request.socket?.getPeerCertificate?.(false) as
      { raw?: unknown } | null | undefined;
    der = Buffer.isBuffer(certificate?.raw) ? certificate.raw : undefined;
  }
  return der === undefined
    ? undefined
    : createHash('sha256').update(der).digest('base64url');
}
