/**
 * Authentication outcomes on `node:diagnostics_channel`, for tracing and metrics. Nothing
 * is built or published while nobody subscribes. No message ever carries a token, a
 * signature or key material: only the outcome, its stable reason code, and where it came
 * from.
 */
import { channel, tracingChannel } from 'node:diagnostics_channel';
import {
  AuthenticationRequiredError,
  AuthServerError,
  BearerError,
  InvalidTokenError,
} from './bearer.errors.js';

/** The channel names. */
export const BEARER_CHANNELS = {
  /** Tracing channel around each verification (`start`, `end`, `asyncStart`, `asyncEnd`, `error`). */
  verify: 'nestjs-bearer:verify',
  /** Tracing channel around each JWKS fetch. */
  jwksFetch: 'nestjs-bearer:jwks-fetch',
  /** Tracing channel around each discovery fetch. */
  discoveryFetch: 'nestjs-bearer:discovery-fetch',
  /** One message per authenticated call ({@link AuthenticatedMessage}). */
  authenticated: 'nestjs-bearer:authenticated',
  /** One message per refused call ({@link RefusedMessage}). */
  refused: 'nestjs-bearer:refused',
} as const;

/** The context of a `verify` trace. */
export interface VerifyTraceContext {
  /** Whether the verification came from the token cache; set once known. */
  cached?: boolean;
  /** The configured issuer the token matched; set once known. */
  issuer?: string;
  /** The failure, on `error`. */
  error?: unknown;
  /** Whether the verification went asynchronous (it then ends with `asyncEnd`); set at `end`. */
  async?: boolean;
}

/** The context of a `jwks-fetch` or `discovery-fetch` trace. */
export interface FetchTraceContext {
  /** The issuer whose keys or metadata are fetched. */
  readonly issuer: string | undefined;
  error?: unknown;
}

/** Published on {@link BEARER_CHANNELS.authenticated}. */
export interface AuthenticatedMessage {
  /** The Nest context type: `http`, `graphql`, `ws`, `rpc`. */
  readonly transport: string;
}

/** Published on {@link BEARER_CHANNELS.refused}. */
export interface RefusedMessage {
  readonly transport: string;
  readonly status: number;
  /** The RFC 6750 code, or `null` (no credentials, or a 500). */
  readonly code: string | null;
  /**
   * A stable reason: an `InvalidTokenError` reason (`expired`, `signature`, ...),
   * `no_credentials`, `server_error`, or the error code.
   */
  readonly reason: string;
}

export const verifyTrace = tracingChannel<
  VerifyTraceContext,
  VerifyTraceContext
>(BEARER_CHANNELS.verify);
export const jwksFetchTrace = tracingChannel<
  FetchTraceContext,
  FetchTraceContext
>(BEARER_CHANNELS.jwksFetch);
export const discoveryFetchTrace = tracingChannel<
  FetchTraceContext,
  FetchTraceContext
>(BEARER_CHANNELS.discoveryFetch);
const authenticatedChannel = channel(BEARER_CHANNELS.authenticated);
const refusedChannel = channel(BEARER_CHANNELS.refused);

/** The stable reason code of a refusal. */
export function reasonOf(error: BearerError): string {
  if (error instanceof InvalidTokenError) return error.reason;
  if (error instanceof AuthenticationRequiredError) return 'no_credentials';
  if (error instanceof AuthServerError) return 'server_error';
  return error.code ?? 'unknown';
}

/** Publishes an authenticated call, if anyone listens. */
export function publishAuthenticated(transport: string): void {
  if (authenticatedChannel.hasSubscribers) {
    authenticatedChannel.publish({ transport } satisfies AuthenticatedMessage);
  }
}

/** Publishes a refused call, if anyone listens. */
export function publishRefused(transport: string, error: BearerError): void {
  if (refusedChannel.hasSubscribers) {
    refusedChannel.publish({
      transport,
      status: error.getStatus(),
      code: error.code ?? null,
      reason: reasonOf(error),
    } satisfies RefusedMessage);
  }
}

/**
 * Runs `fn` inside a trace, whether it answers synchronously or with a promise, the way
 * `traceSync` and `tracePromise` would. Only called when the trace has subscribers.
 */
export function traceMaybeAsync<
  C extends { error?: unknown; async?: boolean },
  T,
>(
  trace: ReturnType<typeof tracingChannel<C, C>>,
  context: C,
  fn: () => T | Promise<T>,
): T | Promise<T> {
  trace.start.publish(context);
  let result: T | Promise<T>;
  try {
    result = fn();
  } catch (error) {
    context.error = error;
    trace.error.publish(context);
    trace.end.publish(context);
    throw error;
  }
  context.async = result instanceof Promise;
  trace.end.publish(context);
  if (!(result instanceof Promise)) return result;
  return result.then(
    (value) => {
      trace.asyncStart.publish(context);
      trace.asyncEnd.publish(context);
      return value;
    },
    (error: unknown) => {
      context.error = error;
      trace.error.publish(context);
      trace.asyncStart.publish(context);
      trace.asyncEnd.publish(context);
      throw error;
    },
  );
}
