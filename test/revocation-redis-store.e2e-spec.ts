/**
 * RedisRevocationStore against a real redis-server: pub/sub between instances, the local
 * copy, a partition (a cut relay) and a restart of Redis itself.
 */
import { RedisRevocationStore } from '../lib/revocation/redis-revocation.store.js';
import type { RevocationCandidate } from '../lib/revocation/revocation-store.js';
import {
  RedisProxy,
  RedisServer,
  redisCommand,
} from './support/redis-server.js';

const NONE: RevocationCandidate = {
  jti: undefined,
  sub: undefined,
  clientId: undefined,
  iat: undefined,
};

async function waitFor(
  condition: () => boolean,
  timeoutMs: number,
): Promise<number> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) {
      throw new Error(`condition not met within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return Date.now() - start;
}

describe('RedisRevocationStore with a real redis-server', () => {
  let redis: RedisServer;
  let proxy: RedisProxy;
  let direct: RedisRevocationStore;
  let relayed: RedisRevocationStore;
  const later = (): number => Date.now() / 1000 + 300;

  beforeAll(async () => {
    redis = await RedisServer.start();
    proxy = await RedisProxy.start(redis.port);
    direct = new RedisRevocationStore({ url: redis.url, keyPrefix: 'unit:' });
    relayed = new RedisRevocationStore({
      url: proxy.url,
      keyPrefix: 'unit:',
      heartbeatInterval: 200,
    });
    await Promise.all([direct.whenReady(5000), relayed.whenReady(5000)]);
  });

  afterAll(async () => {
    await direct?.close();
    await relayed?.close();
    await proxy?.close();
    await redis?.dispose();
  });

  it('becomes available once connected and synced', () => {
    expect(direct.isAvailable()).toBe(true);
    expect(relayed.isAvailable()).toBe(true);
  });

  it('tells every instance of a revocation within one round trip', async () => {
    const seen: string[] = [];
    const unsubscribe = relayed.subscribe((r) => seen.push(r.value));
    await direct.add({ kind: 'jti', value: 'j-1', expiresAt: later() });
    expect(direct.check({ ...NONE, jti: 'j-1' })).toBeDefined();
    const ms = await waitFor(
      () => relayed.check({ ...NONE, jti: 'j-1' }) !== undefined,
      1000,
    );
    expect(ms).toBeLessThan(1000);
    expect(seen).toEqual(['j-1']);
    unsubscribe();
    const before = Math.floor(Date.now() / 1000);
    await relayed.add({
      kind: 'sub',
      value: 'alice',
      issuedBefore: before,
      expiresAt: later(),
    });
    await waitFor(
      () =>
        direct.check({ ...NONE, sub: 'alice', iat: before - 1 }) !== undefined,
      1000,
    );
    expect(
      direct.check({ ...NONE, sub: 'alice', iat: before }),
    ).toBeUndefined();
  });

  it('addIfAbsent is atomic across instances', async () => {
    const expiresAt = later();
    const answers = await Promise.all([
      direct.addIfAbsent('proof-1', expiresAt),
      relayed.addIfAbsent('proof-1', expiresAt),
      direct.addIfAbsent('proof-1', expiresAt),
    ]);
    expect(answers.filter(Boolean)).toHaveLength(1);
  });

  it('cut off: unavailable at once; back: rebuilt with the revocations made meanwhile', async () => {
    proxy.cut();
    await waitFor(() => !relayed.isAvailable(), 1000);
    await expect(
      relayed.add({ kind: 'jti', value: 'refused', expiresAt: later() }),
    ).rejects.toThrow('could not be stored');
    await direct.add({ kind: 'jti', value: 'while-cut', expiresAt: later() });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(relayed.check({ ...NONE, jti: 'while-cut' })).toBeUndefined();
    proxy.restore();
    await waitFor(() => relayed.isAvailable(), 5000);
    expect(relayed.check({ ...NONE, jti: 'while-cut' })).toBeDefined();
    expect(relayed.check({ ...NONE, jti: 'j-1' })).toBeDefined();
  });

  it('Redis restarted: both reconnect, and what Redis kept is still honoured', async () => {
    await redis.stop();
    await waitFor(() => !direct.isAvailable() && !relayed.isAvailable(), 2000);
    await redis.restart();
    await waitFor(() => direct.isAvailable() && relayed.isAvailable(), 8000);
    const fresh = new RedisRevocationStore({
      url: redis.url,
      keyPrefix: 'unit:',
    });
    try {
      await fresh.whenReady(5000);
      expect(fresh.isAvailable()).toBe(true);
      // A new instance learns everything from Redis alone.
      expect(fresh.check({ ...NONE, jti: 'while-cut' })).toBeDefined();
      expect(fresh.check({ ...NONE, sub: 'alice', iat: 0 })).toBeDefined();
    } finally {
      await fresh.close();
    }
    await direct.add({
      kind: 'jti',
      value: 'after-restart',
      expiresAt: later(),
    });
    await waitFor(
      () => relayed.check({ ...NONE, jti: 'after-restart' }) !== undefined,
      1000,
    );
  });

  it('forgets an entry at its expiry, here and in Redis (dropped by the next write)', async () => {
    const soon = Date.now() / 1000 + 1;
    await direct.add({ kind: 'jti', value: 'short', expiresAt: soon });
    expect(direct.check({ ...NONE, jti: 'short' })).toBeDefined();
    const member = `'["jti","short",null]'`;
    expect(
      await redisCommand(redis.port, `ZSCORE unit:revocations ${member}`),
    ).toMatch(/^\$\d+$/);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    expect(direct.check({ ...NONE, jti: 'short' })).toBeUndefined();
    await direct.add({ kind: 'jti', value: 'next', expiresAt: later() });
    expect(
      await redisCommand(redis.port, `ZSCORE unit:revocations ${member}`),
    ).toBe('$-1');
    expect(
      Number((await redisCommand(redis.port, 'TTL unit:revocations')).slice(1)),
    ).toBeGreaterThan(0);
  });
});
