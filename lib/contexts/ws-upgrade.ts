/**
 * The parts of WebSocket authentication that need neither `ws` nor `@nestjs/platform-ws`:
 * the credential request of an upgrade, the refusal written on its socket, the close at
 * the token's expiry or revocation, and which access a gateway path needs.
 * `BearerWsAdapter` puts them together.
 */
import type { Type } from '@nestjs/common';
import type { MetadataScanner, Reflector } from '@nestjs/core';
import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { CredentialRequest } from '../bearer-authenticator.service.js';
import type { BearerErrorResponse } from '../bearer-challenges.service.js';
import { BearerError, InvalidTokenError } from '../bearer.errors.js';
import type { BearerPrincipal } from '../claims.js';
import {
  resolveRouteRequirements,
  type RouteAccess,
} from '../route-requirements.js';

// Nest's metadata keys (`@nestjs/websockets`), spelled out as in the coverage service.
const GATEWAY_METADATA = 'websockets:is_gateway';
const GATEWAY_OPTIONS = 'websockets:gateway_options';
const PORT_METADATA = 'port';
const MESSAGE_METADATA = 'message';

/** RFC 6455 section 7.4.1: 1008, the endpoint closes because a policy is violated. */
export const WS_POLICY_VIOLATION = 1008;

/** The close reason sent with {@link WS_POLICY_VIOLATION} when the token expires. */
export const WS_EXPIRED_REASON: string =
  new InvalidTokenError('expired').description ??
  'The access token is expired.';

// The longest delay setTimeout keeps; a longer one would fire at once.
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The credential request of an upgrade: the same parts an HTTP route reads, no body. */
export function toUpgradeCredentialRequest(
  request: IncomingMessage,
): CredentialRequest {
  return {
    method: request.method,
    url: request.url,
    headers: request.headers,
    rawHeaders: request.rawHeaders,
    socket: request.socket,
  };
}

/**
 * Answers a refused upgrade with the status, challenge and body of the same refusal on a
 * REST route, then closes the socket. No WebSocket is ever opened on it.
 */
export function writeUpgradeRefusal(
  socket: Duplex,
  response: BearerErrorResponse,
  extraHeaders: Readonly<Record<string, string>> = {},
): void {
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(response.body);
  const lines = [
    `HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? 'Error'}`,
    'Connection: close',
    `Content-Type: ${response.contentType}`,
    `Content-Length: ${Buffer.byteLength(body)}`,
  ];
  if (response.challenge !== undefined) {
    lines.push(`WWW-Authenticate: ${response.challenge}`);
  }
  for (const name in extraHeaders) lines.push(`${name}: ${extraHeaders[name]}`);
  socket.once('finish', () => socket.destroy());
  socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
}

/** What {@link closeAtExpiry} needs of a socket (a `ws` WebSocket fits). */
export interface ClosableSocket {
  close(code: number, reason: string): void;
  once(event: 'close', listener: () => void): unknown;
}

/**
 * Closes the socket with 1008 once `exp` plus the clock tolerance has passed. The timer is
 * unref'd, so it never keeps the process alive, and cleared when the socket closes. A
 * principal without a numeric `exp` is closed at once.
 */
export function closeAtExpiry(
  socket: ClosableSocket,
  exp: unknown,
  clockToleranceSeconds: number,
): void {
  const deadline =
    typeof exp === 'number' ? (exp + clockToleranceSeconds) * 1000 : 0;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const check = (): void => {
    timer = undefined;
    if (closed) return;
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      socket.close(WS_POLICY_VIOLATION, WS_EXPIRED_REASON);
      return;
    }
    // Timers may fire a little early, and a far deadline takes several: check again then.
    timer = setTimeout(check, Math.min(remaining, MAX_TIMER_MS));
    timer.unref();
  };
  socket.once('close', () => {
    closed = true;
    clearTimeout(timer);
    timer = undefined;
  });
  check();
}

/** RFC 6455 section 5.5: a close frame's payload is at most 125 bytes, 2 of them the code. */
const MAX_CLOSE_REASON_BYTES = 123;

/**
 * The open sockets of authenticated principals, each closed with 1008 as soon as its
 * principal no longer stands (say, its token was revoked): {@link recheck} runs when a
 * standing check may answer differently, and each message is checked by the guard anyway.
 */
export class SocketStandings {
  private readonly sockets = new Map<ClosableSocket, BearerPrincipal>();

  constructor(
    /** Throws a `BearerError` for a principal that no longer stands. */
    private readonly checkStanding: (principal: BearerPrincipal) => void,
  ) {}

  /**
   * Follows `socket` until it closes. Its principal is checked once more first: a
   * revocation reported while the upgrade was being verified found no socket to close.
   */
  watch(socket: ClosableSocket, principal: BearerPrincipal): void {
    if (this.closeIfRefused(socket, principal)) return;
    this.sockets.set(socket, principal);
    socket.once('close', () => this.sockets.delete(socket));
  }

  /** Sockets followed. */
  get size(): number {
    return this.sockets.size;
  }

  /**
   * Closes, with 1008 and the refusal's description, every socket whose principal a check
   * refuses with a 4xx. A check that cannot answer (5xx, a store outage) closes nothing:
   * the guard answers each message of such a socket as it answers requests meanwhile.
   */
  recheck(): void {
    for (const [socket, principal] of this.sockets) {
      if (this.closeIfRefused(socket, principal)) this.sockets.delete(socket);
    }
  }

  /** Closes `socket` when a check refuses its principal with a 4xx; whether it did. */
  private closeIfRefused(
    socket: ClosableSocket,
    principal: BearerPrincipal,
  ): boolean {
    try {
      this.checkStanding(principal);
      return false;
    } catch (error) {
      if (!(error instanceof BearerError) || error.getStatus() >= 500) {
        return false;
      }
      socket.close(WS_POLICY_VIOLATION, closeReasonOf(error));
      return true;
    }
  }
}

function closeReasonOf(error: BearerError): string {
  const { description } = error;
  return description !== undefined &&
    Buffer.byteLength(description) <= MAX_CLOSE_REASON_BYTES
    ? description
    : 'The access token is no longer accepted.';
}

const STRICTNESS: Readonly<Record<RouteAccess, number>> = {
  public: 0,
  optional: 1,
  required: 2,
};

/** A gateway path as Nest's `WsAdapter` matches it: one leading slash, none trailing. */
export function normalizeGatewayPath(path: unknown): string {
  const text = typeof path === 'string' ? path : '';
  const trimmed = text.replace(/^\/+|\/+$/g, '');
  return `/${trimmed}`;
}

/** Whether a class is a Nest WebSocket gateway. */
export function isGatewayClass(type: Type): boolean {
  return Reflect.getMetadata(GATEWAY_METADATA, type) === true;
}

/** Where a gateway class listens: its port (0: the app's HTTP server) and its path. */
export function gatewayAddressOf(type: Type): { port: number; path: string } {
  const options = Reflect.getMetadata(GATEWAY_OPTIONS, type) as
    { path?: unknown } | undefined;
  const port = Reflect.getMetadata(PORT_METADATA, type) as unknown;
  return {
    port: typeof port === 'number' ? port : 0,
    path: normalizeGatewayPath(options?.path),
  };
}

/**
 * The access one gateway's upgrade needs: the strictest of its `@SubscribeMessage()`
 * handlers, read as the guard reads them. A gateway without handlers is judged by the
 * decorators on its class.
 */
export function resolveGatewayAccess(
  reflector: Reflector,
  scanner: MetadataScanner,
  type: Type,
): RouteAccess {
  const prototype = type.prototype as Record<string, unknown>;
  const handlers = scanner
    .getAllMethodNames(prototype)
    .map((name) => prototype[name])
    .filter(
      (handler): handler is object =>
        typeof handler === 'function' &&
        Reflect.getMetadata(MESSAGE_METADATA, handler) !== undefined,
    );
  if (handlers.length === 0) {
    return resolveRouteRequirements(reflector, type, type).access;
  }
  return strictestAccess(
    handlers.map(
      (handler) => resolveRouteRequirements(reflector, handler, type).access,
    ),
  );
}

/**
 * The strictest of several accesses; `required` for none at all, so that a path nobody
 * vouches for is closed.
 */
export function strictestAccess(accesses: readonly RouteAccess[]): RouteAccess {
  if (accesses.length === 0) return 'required';
  return accesses.reduce((a, b) => (STRICTNESS[b] > STRICTNESS[a] ? b : a));
}
