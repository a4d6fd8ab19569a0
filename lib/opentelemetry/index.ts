/**
 * OpenTelemetry metrics for nestjs-bearer, fed by the module's `node:diagnostics_channel`
 * channels. `@opentelemetry/api` is an optional peer: import this entry point only when the
 * app has it. Nothing is recorded, and nothing costs, until {@link enableBearerMetrics}.
 */
import { metrics, type Attributes, type Meter } from '@opentelemetry/api';
import {
  subscribe,
  tracingChannel,
  unsubscribe,
  type TracingChannel,
} from 'node:diagnostics_channel';
import {
  BEARER_CHANNELS,
  type AuthenticatedMessage,
  type FetchTraceContext,
  type RefusedMessage,
  type VerifyTraceContext,
} from '../diagnostics.js';

/** The instruments, as they appear in your metrics backend. */
export const BEARER_METRICS = {
  /** Counter: calls answered, by `outcome` (`accepted`/`refused`), `transport`, `code`, `reason`. */
  authentications: 'nestjs_bearer.authentications',
  /** Counter: token verifications, by `cached` (`true` is a token-cache hit) and `outcome`. */
  verifications: 'nestjs_bearer.verifications',
  /** Histogram (ms): time to verify a token, by `cached` and `outcome`. */
  verifyDuration: 'nestjs_bearer.verify.duration',
  /** Counter: JWKS and discovery fetches, by `kind` (`jwks`/`discovery`) and `outcome`. */
  fetches: 'nestjs_bearer.fetches',
  /** Histogram (ms): time of one JWKS or discovery fetch, by `kind` and `outcome`. */
  fetchDuration: 'nestjs_bearer.fetch.duration',
} as const;

/** Options of {@link enableBearerMetrics}. */
export interface BearerMetricsOptions {
  /**
   * The meter to record with.
   * @default metrics.getMeter('nestjs-bearer') from the global MeterProvider
   */
  meter?: Meter;
}

/** Stops recording. */
export interface BearerMetricsHandle {
  disable(): void;
}

type Trace<C extends object> = TracingChannel<C, C>;

/** Subscribes to a trace and reports each finished span's duration and outcome. */
function timeTrace<C extends object & { error?: unknown }>(
  trace: Trace<C>,
  record: (context: C, ms: number) => void,
): () => void {
  const started = new WeakMap<object, number>();
  const finish = (context: C): void => {
    const start = started.get(context);
    if (start === undefined) return;
    started.delete(context);
    record(context, performance.now() - start);
  };
  const handlers = {
    start: (context: C) => {
      started.set(context, performance.now());
    },
    // A synchronous span ends with `end`; one that went asynchronous ends with `asyncEnd`.
    end: (context: C) => {
      if (!(context as { async?: boolean }).async) finish(context);
    },
    asyncEnd: finish,
  };
  trace.subscribe(handlers as never);
  return () => trace.unsubscribe(handlers as never);
}

/**
 * Records counters and histograms of every authentication outcome, verification and key
 * fetch. Attributes carry only stable codes, never a token or a subject.
 *
 * @example
 * enableBearerMetrics(); // after the OpenTelemetry SDK has registered its MeterProvider
 */
export function enableBearerMetrics(
  options: BearerMetricsOptions = {},
): BearerMetricsHandle {
  const meter = options.meter ?? metrics.getMeter('nestjs-bearer');
  const authentications = meter.createCounter(BEARER_METRICS.authentications, {
    description: 'Calls answered by the bearer guard',
  });
  const verifications = meter.createCounter(BEARER_METRICS.verifications, {
    description: 'Bearer token verifications (cached: token-cache hits)',
  });
  const verifyDuration = meter.createHistogram(BEARER_METRICS.verifyDuration, {
    description: 'Time to verify a bearer token',
    unit: 'ms',
  });
  const fetches = meter.createCounter(BEARER_METRICS.fetches, {
    description: 'JWKS and OpenID discovery fetches',
  });
  const fetchDuration = meter.createHistogram(BEARER_METRICS.fetchDuration, {
    description: 'Time of one JWKS or discovery fetch',
    unit: 'ms',
  });

  const onAuthenticated = (message: unknown): void => {
    const { transport } = message as AuthenticatedMessage;
    authentications.add(1, { outcome: 'accepted', transport });
  };
  const onRefused = (message: unknown): void => {
    const { transport, code, reason } = message as RefusedMessage;
    const attributes: Attributes = { outcome: 'refused', transport, reason };
    if (code !== null) attributes.code = code;
    authentications.add(1, attributes);
  };
  subscribe(BEARER_CHANNELS.authenticated, onAuthenticated);
  subscribe(BEARER_CHANNELS.refused, onRefused);

  const stops = [
    timeTrace<VerifyTraceContext>(
      tracingChannel<VerifyTraceContext, VerifyTraceContext>(
        BEARER_CHANNELS.verify,
      ),
      (context, ms) => {
        const attributes = {
          cached: context.cached === true,
          outcome: context.error === undefined ? 'ok' : 'error',
        };
        verifications.add(1, attributes);
        verifyDuration.record(ms, attributes);
      },
    ),
    ...(
      [
        ['jwks', BEARER_CHANNELS.jwksFetch],
        ['discovery', BEARER_CHANNELS.discoveryFetch],
      ] as const
    ).map(([kind, name]) =>
      timeTrace(
        tracingChannel<FetchTraceContext, FetchTraceContext>(name),
        (context, ms) => {
          const attributes = {
            kind,
            outcome: context.error === undefined ? 'ok' : 'error',
          };
          fetches.add(1, attributes);
          fetchDuration.record(ms, attributes);
        },
      ),
    ),
  ];

  return {
    disable(): void {
      unsubscribe(BEARER_CHANNELS.authenticated, onAuthenticated);
      unsubscribe(BEARER_CHANNELS.refused, onRefused);
      for (const stop of stops) stop();
    },
  };
}
