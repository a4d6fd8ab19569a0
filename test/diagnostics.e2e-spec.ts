/**
 * Every outcome on node:diagnostics_channel, with stable reason codes, and never a token
 * byte or key material in any message.
 */
import {
  subscribe,
  tracingChannel,
  unsubscribe,
} from 'node:diagnostics_channel';
import { BEARER_CHANNELS } from '../lib/index.js';
import {
  ADAPTERS,
  startScenarioApp,
  type ScenarioApp,
} from './scenario/scenario-app.js';
import { bearer, send } from './support/http.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { mintToken, tamper } from './support/tokens.js';

const AUDIENCE = 'api://diagnostics';
const EVENTS = ['start', 'end', 'asyncStart', 'asyncEnd', 'error'] as const;

interface Seen {
  channel: string;
  event?: string;
  message: unknown;
}

/** Serializes a message, errors included, so that its text can be searched. */
function serialize(message: unknown): string {
  return JSON.stringify(message, (_key, value: unknown) =>
    value instanceof Error
      ? {
          ...(value as unknown as Record<string, unknown>),
          name: value.name,
          message: value.message,
          stack: value.stack,
        }
      : value,
  );
}

describe.each(ADAPTERS)('diagnostics channels on %s', (adapter) => {
  let jwks: JwksServer;
  let key: TestKey;
  let stranger: TestKey;
  let scenario: ScenarioApp;
  const seen: Seen[] = [];
  const plain = (channel: string) => (message: unknown) => {
    seen.push({ channel, message });
  };
  const handlers = {
    authenticated: plain(BEARER_CHANNELS.authenticated),
    refused: plain(BEARER_CHANNELS.refused),
  };
  const traced = [
    BEARER_CHANNELS.verify,
    BEARER_CHANNELS.jwksFetch,
    BEARER_CHANNELS.discoveryFetch,
  ].map((name) => {
    const subscribers = Object.fromEntries(
      EVENTS.map((event) => [
        event,
        (message: unknown) => {
          // Contexts are mutated as a trace goes on: keep a snapshot of each event.
          seen.push({
            channel: name,
            event,
            message: JSON.parse(serialize(message)),
          });
        },
      ]),
    );
    return { channel: tracingChannel(name), subscribers };
  });

  beforeAll(async () => {
    key = await createTestKey();
    stranger = await createTestKey();
    jwks = await JwksServer.start({ keys: [key] });
    subscribe(BEARER_CHANNELS.authenticated, handlers.authenticated);
    subscribe(BEARER_CHANNELS.refused, handlers.refused);
    for (const { channel, subscribers } of traced)
      channel.subscribe(subscribers as never);
    // No jwksUri: discovery is fetched, so its trace is exercised too.
    scenario = await startScenarioApp(
      { issuer: jwks.issuer, audience: AUDIENCE, jwks: { cooldown: 0 } },
      { adapter },
    );
  });

  afterAll(async () => {
    unsubscribe(BEARER_CHANNELS.authenticated, handlers.authenticated);
    unsubscribe(BEARER_CHANNELS.refused, handlers.refused);
    for (const { channel, subscribers } of traced)
      channel.unsubscribe(subscribers as never);
    await scenario?.app.close();
    await jwks?.close();
  });

  it('publishes outcomes with reason codes, traces, and no token bytes', async () => {
    const claims = (extra: Record<string, unknown> = {}) => ({
      iss: jwks.issuer,
      aud: AUDIENCE,
      sub: 'alice',
      ...extra,
    });
    const valid = await mintToken(key, claims({ scp: 'documents.read' }));
    const tokens = {
      valid,
      tampered: tamper(valid),
      expired: await mintToken(key, claims(), { expiresIn: -3600 }),
      unknownKey: await mintToken(stranger, claims()),
      noScope: await mintToken(key, claims({ scp: 'other' })),
    };
    const get = (path: string, token?: string) =>
      send(`${scenario.url}${path}`, {
        headers: token === undefined ? {} : bearer(token),
      });
    seen.length = 0;
    // Cached on its second verification, so the third use is a cache hit.
    for (let i = 0; i < 3; i++) {
      expect((await get('/read', tokens.valid)).status).toBe(200);
    }
    expect((await get('/me', tokens.tampered)).status).toBe(401);
    expect((await get('/me', tokens.expired)).status).toBe(401);
    expect((await get('/me', tokens.unknownKey)).status).toBe(401);
    expect((await get('/read', tokens.noScope)).status).toBe(403);
    expect((await get('/me')).status).toBe(401);

    const refused = seen
      .filter((s) => s.channel === BEARER_CHANNELS.refused)
      .map((s) => s.message);
    expect(refused).toEqual([
      {
        transport: 'http',
        status: 401,
        code: 'invalid_token',
        reason: 'signature',
      },
      {
        transport: 'http',
        status: 401,
        code: 'invalid_token',
        reason: 'expired',
      },
      {
        transport: 'http',
        status: 401,
        code: 'invalid_token',
        reason: 'unknown_key',
      },
      {
        transport: 'http',
        status: 403,
        code: 'insufficient_scope',
        reason: 'insufficient_scope',
      },
      { transport: 'http', status: 401, code: null, reason: 'no_credentials' },
    ]);
    const authenticated = seen.filter(
      (s) => s.channel === BEARER_CHANNELS.authenticated,
    );
    expect(authenticated.map((s) => s.message)).toEqual([
      { transport: 'http' },
      { transport: 'http' },
      { transport: 'http' },
      // The token without the scope authenticated, then failed authorization.
    ]);
    const verifyEnds = seen.filter(
      (s) => s.channel === BEARER_CHANNELS.verify && s.event === 'end',
    );
    // valid (fresh, fresh, cached), tampered, expired, unknown kid, no scope.
    expect(
      verifyEnds.map((s) => (s.message as { cached?: boolean }).cached),
    ).toEqual([false, false, true, false, false, false, false]);
    const verifyErrors = seen.filter(
      (s) => s.channel === BEARER_CHANNELS.verify && s.event === 'error',
    );
    expect(verifyErrors).toHaveLength(3);
    // The unknown kid caused one refetch of the JWKS, traced with its issuer.
    const fetches = seen.filter(
      (s) => s.channel === BEARER_CHANNELS.jwksFetch && s.event === 'start',
    );
    expect(fetches.map((s) => s.message)).toEqual([{ issuer: jwks.issuer }]);

    const everything = serialize(seen);
    for (const token of Object.values(tokens)) {
      const [head, body, signature] = token.split('.');
      expect(everything).not.toContain(token);
      expect(everything).not.toContain(signature);
      expect(everything).not.toContain(body);
      expect(everything).not.toContain(`${head}.${body}`);
    }
    expect(everything).not.toContain(String(key.publicJwk.n));
  });
});
