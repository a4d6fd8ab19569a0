/**
 * Per-request state that the module keeps out of sight (never enumerable), on objects
 * it does not own: the transport's request, a WebSocket, an RPC context.
 */
import type { BearerPrincipal } from './claims.js';

const PRINCIPAL = Symbol('nestjs-bearer:principal');
/** Argument lists that cannot take a property (frozen by someone): marked here instead. */
const ADMITTED_FROZEN = new WeakSet<object>();

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

/** Returns the object it is given, so that a subclass's fields land on that object. */
class Adopt {
  constructor(target: object) {
    return target;
  }
}

/**
 * Stamps an argument list with a private field, which no reflection lists, no copy takes
 * and no other code can read or forge. Adding one is a plain store with a shape
 * transition; `Object.defineProperty` with a symbol is a runtime call, some 0.3 µs more
 * per request on Node 24.
 */
class AdmittedCall extends Adopt {
  #admitted = true;

  static isMarked(args: object): boolean {
    return #admitted in args;
  }
}

/**
 * Whether one handler call (its argument list) was admitted already, by a guard that Nest
 * runs twice for it (global and per class): the second run then does no work.
 */
export function isAuthenticated(args: object): boolean {
  return AdmittedCall.isMarked(args) || ADMITTED_FROZEN.has(args);
}

/**
 * Marks one handler call as admitted (only success is marked: a refusal ends the call).
 * The mark lives on the call's own argument list, exactly as long as the call: a `WeakSet`
 * of every call's arguments costs its ephemeron table's growth and the collector's work on
 * each request, so it only holds lists that cannot take a field (frozen by someone).
 */
export function markAuthenticated(args: object): void {
  // A field is added once only: a second mark would throw.
  if (AdmittedCall.isMarked(args)) return;
  if (Object.isExtensible(args)) {
    new AdmittedCall(args);
  } else {
    ADMITTED_FROZEN.add(args);
  }
}
