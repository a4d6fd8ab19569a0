/**
 * Revocation through the compiled sample app (contract, "Revocation and introspection"):
 * POST /admin/revocations, then 401 "The access token is revoked." on the cached and the
 * fresh path; with Redis, on every instance within one second, through a partition, and
 * across a restart of Redis, in the configured failure mode.
 */
import { randomUUID } from 'node:crypto';
import { bearer, send, type HttpResult } from './support/http.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { RedisProxy, RedisServer } from './support/redis-server.js';
import { SampleAppProcess } from './support/sample-app-process.js';
import { mintToken } from './support/tokens.js';

const AUDIENCE = 'api://revocation';
const REVOKED =
  'error="invalid_token", error_description="The access token is revoked."';

let key: TestKey;
let jwks: JwksServer;

beforeAll(async () => {
  key = await createTestKey();
  jwks = await JwksServer.start({ keys: [key] });
});
afterAll(async () => {
  await SampleAppProcess.stopAll();
  await jwks?.close();
});

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    AUTH_ISSUER: jwks.issuer,
    AUTH_AUDIENCE: AUDIENCE,
    AUTH_JWKS_URI: jwks.jwksUri,
    ...extra,
  };
}

function token(claims: Record<string, unknown> = {}, issuedAt?: number) {
  return mintToken(
    key,
    {
      iss: jwks.issuer,
      aud: AUDIENCE,
      sub: 'alice',
      jti: randomUUID(),
      ...claims,
    },
    issuedAt === undefined ? {} : { issuedAt },
  );
}

function jtiOf(jwt: string): string {
  const payload = JSON.parse(
    Buffer.from(jwt.split('.')[1], 'base64url').toString(),
  ) as { jti: string };
  return payload.jti;
}

function me(app: SampleAppProcess, jwt: string): Promise<HttpResult> {
  return send(`${app.url}/me`, { headers: bearer(jwt) });
}

async function revoke(
  app: SampleAppProcess,
  body: unknown,
  admin?: string,
): Promise<HttpResult> {
  const adminToken = admin ?? (await token({ sub: 'root', roles: ['Admin'] }));
  return send(`${app.url}/admin/revocations`, {
    method: 'POST',
    headers: { ...bearer(adminToken), 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

function expectRevoked(res: HttpResult): void {
  expect(res.status).toBe(401);
  expect(res.headers['www-authenticate']).toMatch(/^Bearer /);
  expect(res.headers['www-authenticate']).toContain(REVOKED);
  expect(JSON.parse(res.text)).toMatchObject({
    error: 'invalid_token',
    error_description: 'The access token is revoked.',
  });
}

/** Polls until `check` passes; returns how long it took. */
async function within(
  ms: number,
  check: () => Promise<boolean>,
): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await check()) return Date.now() - start;
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe.each(['express', 'fastify'])(
  'the memory store (default), on %s',
  (adapter) => {
    let app: SampleAppProcess;

    beforeAll(async () => {
      app = await SampleAppProcess.start(env({ HTTP_ADAPTER: adapter }));
    });
    afterAll(() => app?.stop());

    it('revokes one token by jti, cached or not; others still pass', async () => {
      const revoked = await token();
      const other = await token();
      expect((await me(app, revoked)).status).toBe(200);
      expect((await me(app, revoked)).status).toBe(200);
      expect((await revoke(app, { jti: jtiOf(revoked) })).status).toBe(204);
      expectRevoked(await me(app, revoked));
      expectRevoked(await me(app, revoked));
      expect((await me(app, other)).status).toBe(200);
    });

    it('revokes every token of a subject issued before a time, and none issued after', async () => {
      const now = Math.floor(Date.now() / 1000);
      const old = await token({ sub: 'bob' }, now - 60);
      const fresh = await token({ sub: 'bob' }, now);
      const otherSubject = await token({ sub: 'carol' }, now - 60);
      expect((await me(app, old)).status).toBe(200);
      const res = await revoke(app, { sub: 'bob', issuedBefore: now - 10 });
      expect(res.status).toBe(204);
      expect(res.text).toBe('');
      expectRevoked(await me(app, old));
      expect((await me(app, fresh)).status).toBe(200);
      expect((await me(app, otherSubject)).status).toBe(200);
    });

    it('revokes by client (client_id or azp)', async () => {
      const now = Math.floor(Date.now() / 1000);
      const byClientId = await token({ client_id: 'app-1' }, now - 60);
      const byAzp = await token({ azp: 'app-1' }, now - 60);
      expect(
        (await revoke(app, { clientId: 'app-1', issuedBefore: now - 10 }))
          .status,
      ).toBe(204);
      expectRevoked(await me(app, byClientId));
      expectRevoked(await me(app, byAzp));
    });

    it.each([
      ['not JSON', '{"jti":'],
      ['an array', [{ jti: 'zq-marker' }]],
      ['no subject', {}],
      ['sub without issuedBefore', { sub: 'bob' }],
      ['issuedBefore as text', { sub: 'bob', issuedBefore: '1700000000' }],
      ['two subjects', { jti: 'zq-marker', sub: 'bob', issuedBefore: 1 }],
      ['an empty jti', { jti: '' }],
      ['an unknown field', { jti: 'zq-marker', reason: 'zq-marker' }],
    ])('answers a malformed body (%s) with 400', async (_name, body) => {
      const res = await revoke(app, body);
      expect(res.status).toBe(400);
      expect(res.text).not.toContain('zq-marker');
    });

    it('is for the Admin role only', async () => {
      const res = await revoke(app, { jti: 'x' }, await token({ roles: [] }));
      expect(res.status).toBe(403);
      expect(JSON.parse(res.text)).toMatchObject({
        error: 'insufficient_access',
      });
      const anonymous = await send(`${app.url}/admin/revocations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"jti":"x"}',
      });
      expect(anonymous.status).toBe(401);
    });
  },
);

describe('several instances sharing one Redis', () => {
  let redis: RedisServer;
  let proxy: RedisProxy;
  /** Talks to Redis directly. */
  let a: SampleAppProcess;
  /** Through the relay, fail-closed (the default). */
  let b: SampleAppProcess;
  /** Through the relay, fail-open. */
  let c: SampleAppProcess;

  beforeAll(async () => {
    redis = await RedisServer.start();
    proxy = await RedisProxy.start(redis.port);
    [a, b, c] = await Promise.all([
      SampleAppProcess.start(env({ AUTH_REVOCATION_STORE: redis.url })),
      SampleAppProcess.start(
        env({ AUTH_REVOCATION_STORE: proxy.url, HTTP_ADAPTER: 'fastify' }),
      ),
      SampleAppProcess.start(
        env({
          AUTH_REVOCATION_STORE: proxy.url,
          AUTH_REVOCATION_ON_STORE_UNAVAILABLE: 'fail-open',
        }),
      ),
    ]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop(), c?.stop()]);
    await proxy?.close();
    await redis?.dispose();
  });

  it('a revocation through one instance is honoured by the others within one second, cached tokens included', async () => {
    const jwt = await token();
    for (const app of [a, b, c]) expect((await me(app, jwt)).status).toBe(200);
    expect((await revoke(a, { jti: jtiOf(jwt) })).status).toBe(204);
    expectRevoked(await me(a, jwt));
    for (const app of [b, c]) {
      const ms = await within(
        1000,
        async () => (await me(app, jwt)).status === 401,
      );
      expect(ms).toBeLessThan(1000);
      expectRevoked(await me(app, jwt));
    }
  });

  it('a subject revocation through another instance reaches the first', async () => {
    const now = Math.floor(Date.now() / 1000);
    const jwt = await token({ sub: 'dave' }, now - 30);
    expect((await me(a, jwt)).status).toBe(200);
    expect((await revoke(b, { sub: 'dave', issuedBefore: now })).status).toBe(
      204,
    );
    await within(1000, async () => (await me(a, jwt)).status === 401);
    expectRevoked(await me(a, jwt));
  });

  it('cut off from Redis: fail-closed answers 500, fail-open goes on and warns; back: revocations made meanwhile are honoured', async () => {
    const jwt = await token();
    const bystander = await token();
    for (const app of [a, b, c]) expect((await me(app, jwt)).status).toBe(200);
    proxy.cut();
    await within(2000, async () => (await me(b, bystander)).status === 500);
    const closed = await me(b, bystander);
    expect(closed.status).toBe(500);
    expect(closed.text).not.toMatch(/redis|revocation/i);
    expect(closed.headers['www-authenticate']).toBeUndefined();
    // The warning comes on the child's stdout, which may arrive after its answer, and only
    // once that instance has noticed the cut: ask until both are there.
    await within(
      2000,
      async () =>
        (await me(c, bystander)).status === 200 &&
        /revocation store unavailable: failing open/.test(c.stdout + c.stderr),
    );
    expect((await me(c, bystander)).status).toBe(200);
    expect(c.stdout + c.stderr).toMatch(
      /revocation store unavailable: failing open/,
    );
    // A revocation cannot be taken by an instance that is cut off.
    expect((await revoke(b, { jti: 'cut-off' })).status).toBe(500);
    // ... but one that still reaches Redis takes it.
    expect((await revoke(a, { jti: jtiOf(jwt) })).status).toBe(204);
    expect((await me(c, jwt)).status).toBe(200);
    proxy.restore();
    for (const app of [b, c]) {
      await within(5000, async () => (await me(app, jwt)).status === 401);
      expectRevoked(await me(app, jwt));
      expect((await me(app, bystander)).status).toBe(200);
    }
  });

  it('Redis stopped: fail-closed instances answer 500 (revocations too); restarted: every revocation is still honoured', async () => {
    const earlier = await token();
    const bystander = await token();
    expect((await revoke(a, { jti: jtiOf(earlier) })).status).toBe(204);
    // Every instance has the revocation before the outage (it travels within a second).
    for (const app of [b, c]) {
      await within(1000, async () => (await me(app, earlier)).status === 401);
    }
    await redis.stop();
    await within(2000, async () => (await me(a, bystander)).status === 500);
    expect((await me(b, bystander)).status).toBe(500);
    expect((await me(c, bystander)).status).toBe(200);
    expectRevoked(await me(c, earlier));
    expect((await revoke(a, { jti: 'down' })).status).toBe(500);
    await redis.restart();
    for (const app of [a, b, c]) {
      await within(8000, async () => (await me(app, bystander)).status === 200);
      expectRevoked(await me(app, earlier));
    }
    // A new instance learns the revocations from Redis alone.
    const d = await SampleAppProcess.start(
      env({ AUTH_REVOCATION_STORE: redis.url }),
    );
    try {
      expectRevoked(await me(d, earlier));
      expect((await me(d, bystander)).status).toBe(200);
    } finally {
      await d.stop();
    }
  });
});
