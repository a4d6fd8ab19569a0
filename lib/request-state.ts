/**
 * Per-request state that the module keeps out of sight (never enumerable), on objects
 * it does not own: the transport's request, a WebSocket, an RPC context.
 */
import type { BearerPrincipal } from './claims.js';

const PRINCIPAL = Symbol('nestjs-bearer:principal');
const AUTHENTICATED = new WeakSet<object>();

type Holder = { [PRINCIPAL]?: BearerPrincipal };

/** The principal the module attached to `holder`, if any. */
export function readPrincipal(holder: unknown): BearerPrincipal | undefined {
  if (typeof holder !== 'object' || holder === null) return undefined;
  return (holder as Holder)[PRINCIPAL];
}

/** Attaches the principal to `holder` (a WebSocket, an RPC context). */
export function writePrincipal(
  holder: object,
  principal: BearerPrincipal | undefined,
): void {
  Object.defineProperty(holder, PRINCIPAL, {
    value: principal,
    enumerable: false,
    configurable: true,
    writable: true,
  });
}

/**
 * Whether one handler call (its argument list) was admitted already, by a guard that Nest
 * runs twice for it (global and per class): the second run then does no work.
 */
export function isAuthenticated(args: object): boolean {
  return AUTHENTICATED.has(args);
}

/** Marks one handler call as admitted (only success is marked: a refusal ends the call). */
export function markAuthenticated(args: object): void {
  AUTHENTICATED.add(args);
}
