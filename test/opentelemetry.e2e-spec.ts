/** OpenTelemetry metrics from the diagnostics channels, read through a real SDK reader. */
import {
  MeterProvider,
  MetricReader,
  type DataPoint,
  type Histogram,
} from '@opentelemetry/sdk-metrics';
import {
  BEARER_METRICS,
  enableBearerMetrics,
  type BearerMetricsHandle,
} from '../lib/opentelemetry/index.js';
import { startScenarioApp, type ScenarioApp } from './scenario/scenario-app.js';
import { bearer, send } from './support/http.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { mintToken } from './support/tokens.js';

/** A reader that collects on demand. */
class CollectingReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

const AUDIENCE = 'api://otel';

describe('OpenTelemetry metrics', () => {
  let jwks: JwksServer;
  let key: TestKey;
  let scenario: ScenarioApp;
  let reader: CollectingReader;
  let provider: MeterProvider;
  let handle: BearerMetricsHandle;

  beforeAll(async () => {
    key = await createTestKey();
    jwks = await JwksServer.start({ keys: [key] });
    reader = new CollectingReader();
    provider = new MeterProvider({ readers: [reader] });
    handle = enableBearerMetrics({ meter: provider.getMeter('test') });
    scenario = await startScenarioApp({
      issuer: jwks.issuer,
      audience: AUDIENCE,
      jwksUri: jwks.jwksUri,
    });
  });

  afterAll(async () => {
    handle?.disable();
    await scenario?.app.close();
    await provider?.shutdown();
    await jwks?.close();
  });

  async function points(name: string): Promise<DataPoint<unknown>[]> {
    const { resourceMetrics } = await reader.collect();
    const metric = resourceMetrics.scopeMetrics
      .flatMap((scope) => scope.metrics)
      .find((m) => m.descriptor.name === name);
    return metric?.dataPoints ?? [];
  }

  const value = (
    list: DataPoint<unknown>[],
    attributes: Record<string, unknown>,
  ) =>
    list.find(
      (p) => JSON.stringify(p.attributes) === JSON.stringify(attributes),
    )?.value;

  it('counts outcomes by code and reason, verifications with cache hits, and fetches', async () => {
    const token = await mintToken(key, {
      iss: jwks.issuer,
      aud: AUDIENCE,
      sub: 'alice',
      scp: 'documents.read',
    });
    const expired = await mintToken(
      key,
      { iss: jwks.issuer, aud: AUDIENCE },
      { expiresIn: -3600 },
    );
    for (const t of [token, token, token]) {
      expect(
        (await send(`${scenario.url}/read`, { headers: bearer(t) })).status,
      ).toBe(200);
    }
    expect(
      (await send(`${scenario.url}/me`, { headers: bearer(expired) })).status,
    ).toBe(401);
    expect((await send(`${scenario.url}/me`)).status).toBe(401);

    const outcomes = await points(BEARER_METRICS.authentications);
    expect(value(outcomes, { outcome: 'accepted', transport: 'http' })).toBe(3);
    expect(
      value(outcomes, {
        outcome: 'refused',
        transport: 'http',
        reason: 'expired',
        code: 'invalid_token',
      }),
    ).toBe(1);
    expect(
      value(outcomes, {
        outcome: 'refused',
        transport: 'http',
        reason: 'no_credentials',
      }),
    ).toBe(1);

    const verifications = await points(BEARER_METRICS.verifications);
    // A token is cached on its second verification: fresh, fresh, then a hit.
    expect(value(verifications, { cached: false, outcome: 'ok' })).toBe(2);
    expect(value(verifications, { cached: true, outcome: 'ok' })).toBe(1);
    expect(value(verifications, { cached: false, outcome: 'error' })).toBe(1);

    const durations = await points(BEARER_METRICS.verifyDuration);
    const fresh = value(durations, {
      cached: false,
      outcome: 'ok',
    }) as Histogram;
    expect(fresh.count).toBe(2);
    expect(fresh.sum).toBeGreaterThan(0);

    const fetches = await points(BEARER_METRICS.fetches);
    expect(value(fetches, { kind: 'jwks', outcome: 'ok' })).toBe(1);
  });

  it('records nothing once disabled', async () => {
    handle.disable();
    const before = value(await points(BEARER_METRICS.authentications), {
      outcome: 'refused',
      transport: 'http',
      reason: 'no_credentials',
    });
    await send(`${scenario.url}/me`);
    const after = value(await points(BEARER_METRICS.authentications), {
      outcome: 'refused',
      transport: 'http',
      reason: 'no_credentials',
    });
    expect(after).toBe(before);
  });
});
