/**
 * Per-request state that the module keeps out of sight (never enumerable), on objects
 * it does not own: the transport's request, a WebSocket, an RPC context.
 */
import type { BearerPrincipal } from './claims.js';

const PRINCIPAL = Symbol('nestjs-bearer:principal');
const ADMITTED = Symbol('nestjs-bearer:admitted');
/** Argument lists that cannot take a property (frozen by someone): marked here instead. */
const ADMITTED_FROZEN = new WeakSet<object>();

type Holder = { [PRINCIPAL]?: BearerPrincipal };
type Marked = { [ADMITTED]?: true };

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
  return (args as Marked)[ADMITTED] === true || ADMITTED_FROZEN.has(args);
}

/**
 * Marks one handler call as admitted (only success is marked: a refusal ends the call).
 * The mark is a symbol-keyed property of the call's own argument list, which lives exactly
 * as long as the call: a `WeakSet` of every call's arguments costs its ephemeron table's
 * growth and the collector's work on each request.
 */
export function markAuthenticated(args: object): void {
  if (Object.isExtensible(args)) {
    Object.defineProperty(args, ADMITTED, { value: true, configurable: true });
  } else {
    ADMITTED_FROZEN.add(args);
  }
}
