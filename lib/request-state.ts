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
 * Marks one handler call (its argument list) as checked, so a guard that Nest runs twice
 * for it (global and per class) does the work once. Returns whether it was marked before.
 */
export function markAuthenticated(args: object): boolean {
  if (AUTHENTICATED.has(args)) return true;
  AUTHENTICATED.add(args);
  return false;
}
