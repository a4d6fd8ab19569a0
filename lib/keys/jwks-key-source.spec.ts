import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import v8 from 'node:v8';
import vm from 'node:vm';
import { jwtVerify } from 'jose';
import type { JwksOptions } from '../auth-options.js';
import { AuthServerError, InvalidTokenError } from '../bearer.errors.js';
import { JwksKeySource, MIN_RSA_BITS } from './jwks-key-source.js';
import {
  createTestKey,
  JwksServer,
  type JwksServerMode,
  type TestKey,
} from '../../test/support/jwks-server.js';
import { mintToken } from '../../test/support/tokens.js';

const OPTIONS: Required<JwksOptions> = {
  timeout: 300,
  cacheMaxAge: 60_000,
  cooldown: 30_000,
  staleMaxAge: 100_000,
  maxResponseBytes: 64 * 1024,
  requireAtStartup: false,
};

/** A controllable clock for the source's policy; the network runs in real time. */
class Clock {
  now = 1_000_000_000;
  advance(ms: number): void {
    this.now += ms;
  }
}

class Log {
  readonly warnings: string[] = [];
  readonly debugs: string[] = [];
  warn(message: string): void {
    this.warnings.push(message);
  }
  debug(message: string): void {
    this.debugs.push(message);
  }
}

interface Setup {
  source: JwksKeySource;
  clock: Clock;
  log: Log;
}

function createSource(
  server: JwksServer,
  options: Partial<JwksOptions> = {},
): Setup {
  const clock = new Clock();
  const log = new Log();
  const source = new JwksKeySource(
    () => Promise.resolve(server.jwksUri),
    { ...OPTIONS, ...options },
    log,
    () => clock.now,
  );
  return { source, clock, log };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

async function expectUnknownKey(promise: Promise<unknown>): Promise<void> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(InvalidTokenError);
  expect((error as InvalidTokenError).reason).toBe('unknown_key');
}

async function expectServerError(promise: Promise<unknown>): Promise<void> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(AuthServerError);
  expect(error).not.toBeInstanceOf(InvalidTokenError);
}

function sameKey(key: KeyObject, test: TestKey): boolean {
  const jwk = key.export({ format: 'jwk' });
  return jwk.n === test.publicJwk.n && jwk.x === test.publicJwk.x;
}

/** A test key whose RSA modulus jose refuses to generate (under 2048 bits). */
function createWeakRsaKey(kid: string, bits: number): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: bits,
  });
  return {
    kid,
    alg: 'RS256',
    privateKey,
    publicJwk: {
      ...publicKey.export({ format: 'jwk' }),
      kid,
      alg: 'RS256',
      use: 'sig',
    },
  };
}

/** `global.gc`, made available through V8 flags when the process was not started with it. */
function findGc(): (() => void) | undefined {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === 'function') return existing;
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc: unknown = vm.runInNewContext('gc');
    return typeof gc === 'function' ? (gc as () => void) : undefined;
  } catch {
    return undefined;
  }
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason);
};

describe('JwksKeySource', () => {
  let keyA: TestKey;
  let keyB: TestKey;
  let ecKey: TestKey;
  let server: JwksServer;

  beforeAll(async () => {
    process.on('unhandledRejection', onUnhandled);
    [keyA, keyB, ecKey] = await Promise.all([
      createTestKey({ kid: 'key-a' }),
      createTestKey({ kid: 'key-b' }),
      createTestKey({ kid: 'key-ec', alg: 'ES256' }),
    ]);
  });

  beforeEach(async () => {
    server = await JwksServer.start({ keys: [keyA] });
  });

  afterEach(() => server.close());

  afterAll(async () => {
    // Give any stray rejection a turn of the event loop to surface.
    await new Promise((resolve) => setTimeout(resolve, 20));
    process.off('unhandledRejection', onUnhandled);
    expect(unhandled).toEqual([]);
  });

  describe('fetching', () => {
    it('treats several keys without kid as ambiguous for a token without kid', async () => {
      const unnamed = async (): Promise<TestKey> => {
        const key = await createTestKey();
        const { kid: _kid, ...jwk } = key.publicJwk;
        return { ...key, publicJwk: jwk };
      };
      server.setKeys([keyA, await unnamed(), await unnamed()]);
      const { source } = createSource(server);
      await expectUnknownKey(source.getKey(undefined, 'RS256'));
      expect(sameKey(await source.getKey('key-a', 'RS256'), keyA)).toBe(true);
    });

    it('fetches once at first use and then serves from memory', async () => {
      const { source } = createSource(server);
      const first = await source.getKey('key-a', 'RS256');
      const second = await source.getKey('key-a', 'RS256');
      expect(sameKey(first, keyA)).toBe(true);
      expect(second).toBe(first);
      expect(server.jwksRequests).toBe(1);
      expect(source.fetches).toBe(1);
    });

    it('returns a KeyObject that verifies a token signed by the key', async () => {
      const { source } = createSource(server);
      const key = await source.getKey('key-a', 'RS256');
      expect(key.type).toBe('public');
      const token = await mintToken(keyA, { sub: 'x' });
      await expect(jwtVerify(token, key)).resolves.toHaveProperty(
        'payload.sub',
        'x',
      );
    });

    it('shares one fetch among 100 concurrent cold requests', async () => {
      server.setJwksDelay(50);
      const { source } = createSource(server);
      const keys = await Promise.all(
        Array.from({ length: 100 }, () => source.getKey('key-a', 'RS256')),
      );
      expect(server.jwksRequests).toBe(1);
      expect(source.fetches).toBe(1);
      expect(new Set(keys).size).toBe(1);
    });

    it('warmUp fetches in the background, once', async () => {
      server.setJwksDelay(30);
      const { source } = createSource(server);
      source.warmUp();
      source.warmUp();
      await source.getKey('key-a', 'RS256');
      source.warmUp();
      expect(server.jwksRequests).toBe(1);
    });

    it('warmUp against a failing JWKS rejects nothing', async () => {
      server.setMode('down');
      const { source } = createSource(server);
      source.warmUp();
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(source.fetches).toBe(1);
    });

    it('accepts EC keys', async () => {
      server.setKeys([ecKey]);
      const { source } = createSource(server);
      expect(sameKey(await source.getKey('key-ec', 'ES256'), ecKey)).toBe(true);
    });

    it('resolves the JWKS URI at fetch time', async () => {
      let calls = 0;
      const resolveUri = (): Promise<string> => {
        calls++;
        return Promise.resolve(server.jwksUri);
      };
      const source = new JwksKeySource(resolveUri, OPTIONS, new Log());
      expect(calls).toBe(0);
      await source.getKey('key-a', 'RS256');
      expect(calls).toBe(1);
    });

    it('answers AuthServerError when the URI cannot be resolved (discovery failed)', async () => {
      const source = new JwksKeySource(
        () => Promise.reject(new Error('discovery failed')),
        OPTIONS,
        new Log(),
      );
      await expectServerError(source.getKey('key-a', 'RS256'));
    });

    it('logs a successful fetch at debug level', async () => {
      const { source, log } = createSource(server);
      await source.getKey('key-a', 'RS256');
      expect(log.debugs).toEqual(['JWKS fetched: 1 signing key(s)']);
      expect(log.warnings).toEqual([]);
    });
  });

  describe('kid lookup', () => {
    it('matches a token without kid when the set has exactly one key', async () => {
      const { source } = createSource(server);
      const key = await source.getKey(undefined, 'RS256');
      expect(sameKey(key, keyA)).toBe(true);
      expect(source.isCurrent(undefined, key, 'RS256')).toBe(true);
    });

    it('refuses a token without kid when the set has several keys', async () => {
      server.setKeys([keyA, keyB]);
      const { source } = createSource(server);
      await expectUnknownKey(source.getKey(undefined, 'RS256'));
    });

    it('refetches for an unknown kid at most once per cooldown', async () => {
      const { source, clock } = createSource(server);
      await source.getKey('key-a', 'RS256');
      clock.advance(OPTIONS.cooldown);
      await expectUnknownKey(source.getKey('nope-1', 'RS256'));
      expect(server.jwksRequests).toBe(2);
      clock.advance(OPTIONS.cooldown - 1);
      await expectUnknownKey(source.getKey('nope-2', 'RS256'));
      expect(server.jwksRequests).toBe(2);
      clock.advance(1);
      await expectUnknownKey(source.getKey('nope-3', 'RS256'));
      expect(server.jwksRequests).toBe(3);
    });

    it('decides an unknown kid without a promise inside the cooldown, and leaves it to a refetch after', async () => {
      const { source, clock } = createSource(server);
      await source.getKey('key-a', 'RS256');
      expect(
        sameKey(source.getKnownKey('key-a', 'RS256') as KeyObject, keyA),
      ).toBe(true);
      let thrown: unknown;
      try {
        source.getKnownKey('nope', 'RS256');
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(InvalidTokenError);
      expect((thrown as InvalidTokenError).reason).toBe('unknown_key');
      clock.advance(OPTIONS.cooldown);
      expect(source.getKnownKey('nope', 'RS256')).toBeUndefined();
      expect(server.jwksRequests).toBe(1);
    });

    it('counts the first fetch in the cooldown', async () => {
      const { source } = createSource(server);
      await expectUnknownKey(source.getKey('nope', 'RS256'));
      expect(server.jwksRequests).toBe(1);
    });

    it('finds a rotated key on the refetch an unknown kid causes', async () => {
      const { source, clock } = createSource(server);
      await source.getKey('key-a', 'RS256');
      server.setKeys([keyA, keyB]);
      clock.advance(OPTIONS.cooldown);
      expect(sameKey(await source.getKey('key-b', 'RS256'), keyB)).toBe(true);
      expect(server.jwksRequests).toBe(2);
    });

    it('lets an unknown kid share a fetch already in flight', async () => {
      const { source, clock } = createSource(server);
      await source.getKey('key-a', 'RS256');
      server.setKeys([keyA, keyB]);
      server.setJwksDelay(50);
      clock.advance(OPTIONS.cooldown);
      const flood = source.getKey('random', 'RS256');
      const rotated = source.getKey('key-b', 'RS256');
      await expectUnknownKey(flood);
      expect(sameKey(await rotated, keyB)).toBe(true);
      expect(server.jwksRequests).toBe(2);
    });

    it('survives a flood of 10,000 random kids with a handful of fetches and little heap', async () => {
      const gc = findGc();
      const { source } = createSource(server);
      await source.getKey('key-a', 'RS256');
      gc?.();
      const heapBefore = process.memoryUsage().heapUsed;
      let unknown = 0;
      for (let batch = 0; batch < 20; batch++) {
        const results = await Promise.allSettled(
          Array.from({ length: 500 }, () =>
            source.getKey(randomUUID(), 'RS256'),
          ),
        );
        for (const result of results) {
          if (
            result.status === 'rejected' &&
            result.reason instanceof InvalidTokenError &&
            result.reason.reason === 'unknown_key'
          ) {
            unknown++;
          }
        }
      }
      expect(unknown).toBe(10_000);
      expect(server.jwksRequests).toBeLessThanOrEqual(3);
      gc?.();
      const growth = process.memoryUsage().heapUsed - heapBefore;
      // Without a gc() to call, garbage still counts: allow for it.
      expect(growth).toBeLessThan(
        gc === undefined ? 40 * 1024 ** 2 : 10 * 1024 ** 2,
      );
      // The real key is still served.
      expect(sameKey(await source.getKey('key-a', 'RS256'), keyA)).toBe(true);
    });

    it('accepts a rotated key during a flood once the cooldown has passed', async () => {
      const { source, clock } = createSource(server);
      await source.getKey('key-a', 'RS256');
      const flood = async (count: number): Promise<void> => {
        await Promise.allSettled(
          Array.from({ length: count }, () =>
            source.getKey(randomUUID(), 'RS256'),
          ),
        );
      };
      await flood(200);
      server.setKeys([keyA, keyB]);
      clock.advance(1000);
      await flood(200);
      // Inside the cooldown that the flood started, the new key is not fetched yet.
      await expectUnknownKey(source.getKey('key-b', 'RS256'));
      const fetchesDuringFlood = server.jwksRequests;
      expect(fetchesDuringFlood).toBeLessThanOrEqual(2);
      clock.advance(OPTIONS.cooldown);
      // The flood goes on, and the rotated key gets through alongside it.
      const [, rotated] = await Promise.all([
        flood(200),
        source.getKey('key-b', 'RS256'),
        flood(200),
      ]);
      expect(sameKey(rotated, keyB)).toBe(true);
      expect(server.jwksRequests).toBe(fetchesDuringFlood + 1);
    });
  });

  describe('faults with no key known', () => {
    const MODES: JwksServerMode[] = [
      'down',
      'hang',
      'status500',
      'garbage',
      'oversized',
      'redirect',
      'empty',
      'no-signing-keys',
    ];

    it.each(MODES)(
      'answers AuthServerError when the JWKS is %s',
      async (mode) => {
        server.setMode(mode);
        const { source, log } = createSource(server);
        const started = Date.now();
        await expectServerError(source.getKey('key-a', 'RS256'));
        expect(Date.now() - started).toBeLessThan(OPTIONS.timeout + 700);
        expect(server.jwksRequests).toBe(1);
        expect(log.warnings).toHaveLength(1);
      },
    );

    it('answers a hanging JWKS within the timeout', async () => {
      server.setMode('hang');
      const { source } = createSource(server, { timeout: 150 });
      const started = Date.now();
      await expectServerError(source.getKey('key-a', 'RS256'));
      const elapsed = Date.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(140);
      expect(elapsed).toBeLessThan(1000);
    });

    it('shares the failure among concurrent cold requests', async () => {
      server.setMode('status500');
      const { source } = createSource(server);
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, () => source.getKey('key-a', 'RS256')),
      );
      for (const result of results) {
        expect(result.status).toBe('rejected');
        expect((result as PromiseRejectedResult).reason).toBeInstanceOf(
          AuthServerError,
        );
      }
      expect(server.jwksRequests).toBe(1);
    });

    it('waits 1 s, then 2 s, doubling up to the cooldown, between failed fetches, then recovers', async () => {
      server.setMode('status500');
      const { source, clock } = createSource(server, { cooldown: 5000 });
      await expectServerError(source.getKey('key-a', 'RS256'));
      clock.advance(999);
      await expectServerError(source.getKey('key-a', 'RS256'));
      expect(server.jwksRequests).toBe(1);
      clock.advance(1); // 1 s after the first failure: a second try, which fails
      await expectServerError(source.getKey('key-a', 'RS256'));
      expect(server.jwksRequests).toBe(2);
      clock.advance(1999);
      await expectServerError(source.getKey('key-a', 'RS256'));
      expect(server.jwksRequests).toBe(2);
      clock.advance(1); // 2 s after the second failure: a third try
      await expectServerError(source.getKey('key-a', 'RS256'));
      expect(server.jwksRequests).toBe(3);
      clock.advance(4000); // 4 s: a fourth try; from now on the wait is the 5 s cooldown
      await expectServerError(source.getKey('key-a', 'RS256'));
      expect(server.jwksRequests).toBe(4);
      clock.advance(4999);
      await expectServerError(source.getKey('key-a', 'RS256'));
      expect(server.jwksRequests).toBe(4);
      server.setMode('ok');
      clock.advance(1);
      expect(sameKey(await source.getKey('key-a', 'RS256'), keyA)).toBe(true);
      expect(server.jwksRequests).toBe(5);
    });

    it('answers AuthServerError, not unknown_key, when the only key is weaker than 2048 bits', async () => {
      server.setKeys([createWeakRsaKey('weak', 1024)]);
      const { source, log } = createSource(server);
      await expectServerError(source.getKey('weak', 'RS256'));
      expect(log.warnings).toContain(
        `JWKS key refused: RSA modulus under ${MIN_RSA_BITS} bits`,
      );
    });
  });

  describe('keys', () => {
    it('refuses an RSA key under 2048 bits and keeps the others', async () => {
      server.setKeys([createWeakRsaKey('weak', 1024), keyA]);
      const { source } = createSource(server);
      expect(sameKey(await source.getKey('key-a', 'RS256'), keyA)).toBe(true);
      await expectUnknownKey(source.getKey('weak', 'RS256'));
    });

    it('accepts an RSA key of exactly 2048 bits built outside jose', async () => {
      const key = createWeakRsaKey('k2048', 2048);
      server.setKeys([key]);
      const { source } = createSource(server);
      await expect(source.getKey('k2048', 'RS256')).resolves.toBeDefined();
    });

    it('refuses a token alg that differs from the JWK alg', async () => {
      const { source } = createSource(server);
      const error = await rejection(source.getKey('key-a', 'RS384'));
      expect(error).toBeInstanceOf(InvalidTokenError);
      expect((error as InvalidTokenError).reason).toBe('algorithm');
    });

    it('leaves the alg check to the verifier when the JWK names no alg', async () => {
      server.setKeys([
        { ...keyA, publicJwk: { ...keyA.publicJwk, alg: undefined } },
      ]);
      const { source } = createSource(server);
      await expect(source.getKey('key-a', 'RS512')).resolves.toBeDefined();
    });

    it('keeps the same KeyObject across a refetch of an unchanged key', async () => {
      const { source, clock } = createSource(server);
      const first = await source.getKey('key-a', 'RS256');
      clock.advance(OPTIONS.cacheMaxAge);
      const second = await source.getKey('key-a', 'RS256');
      expect(server.jwksRequests).toBe(2);
      expect(second).toBe(first);
      expect(source.isCurrent('key-a', first, 'RS256')).toBe(true);
    });

    it('follows a change of the JWK alg on an unchanged key', async () => {
      const { source, clock } = createSource(server);
      const first = await source.getKey('key-a', 'RS256');
      server.setKeys([
        { ...keyA, publicJwk: { ...keyA.publicJwk, alg: 'RS512' } },
      ]);
      clock.advance(OPTIONS.cacheMaxAge);
      expect(await source.getKey('key-a', 'RS512')).toBe(first);
      const error = await rejection(source.getKey('key-a', 'RS256'));
      expect((error as InvalidTokenError).reason).toBe('algorithm');
    });

    it('isCurrent refuses the old algorithm once the JWK alg changed', async () => {
      const { source, clock } = createSource(server);
      const first = await source.getKey('key-a', 'RS256');
      server.setKeys([
        { ...keyA, publicJwk: { ...keyA.publicJwk, alg: 'RS512' } },
      ]);
      clock.advance(OPTIONS.cacheMaxAge);
      expect(await source.getKey('key-a', 'RS512')).toBe(first);
      // The same KeyObject, but a cached RS256 token must not be admitted any more.
      expect(source.isCurrent('key-a', first, 'RS256')).toBe(false);
      expect(source.isCurrent('key-a', first, 'RS512')).toBe(true);
    });

    it('replaces the KeyObject when a kid gets new key material', async () => {
      const { source, clock } = createSource(server);
      const first = await source.getKey('key-a', 'RS256');
      server.setKeys([
        {
          ...keyB,
          kid: 'key-a',
          publicJwk: { ...keyB.publicJwk, kid: 'key-a' },
        },
      ]);
      clock.advance(OPTIONS.cacheMaxAge);
      const second = await source.getKey('key-a', 'RS256');
      expect(second).not.toBe(first);
      expect(sameKey(second, keyB)).toBe(true);
      expect(source.isCurrent('key-a', first, 'RS256')).toBe(false);
    });

    it('stops serving a key removed from the JWKS once the cache max age has passed', async () => {
      server.setKeys([keyA, keyB]);
      const { source, clock } = createSource(server);
      const key = await source.getKey('key-a', 'RS256');
      server.setKeys([keyB]);
      clock.advance(OPTIONS.cacheMaxAge - 1);
      expect(await source.getKey('key-a', 'RS256')).toBe(key);
      expect(source.isCurrent('key-a', key, 'RS256')).toBe(true);
      expect(server.jwksRequests).toBe(1);
      clock.advance(1);
      expect(source.isCurrent('key-a', key, 'RS256')).toBe(false);
      await expectUnknownKey(source.getKey('key-a', 'RS256'));
      // One refetch for the age, none more for the kid it no longer finds.
      expect(server.jwksRequests).toBe(2);
      expect(source.isCurrent('key-a', key, 'RS256')).toBe(false);
      expect(sameKey(await source.getKey('key-b', 'RS256'), keyB)).toBe(true);
    });

    it('isCurrent answers false for a key it never served', async () => {
      const { source } = createSource(server);
      await source.getKey('key-a', 'RS256');
      const other = generateKeyPairSync('ec', {
        namedCurve: 'P-256',
      }).publicKey;
      expect(source.isCurrent('key-a', other, 'RS256')).toBe(false);
      expect(source.isCurrent('unknown', other, 'RS256')).toBe(false);
    });
  });

  describe('stale on error', () => {
    it('keeps known keys while the JWKS is down, logs once, then drops them after staleMaxAge', async () => {
      const { source, clock, log } = createSource(server);
      const key = await source.getKey('key-a', 'RS256');
      server.setMode('down');

      clock.advance(OPTIONS.cacheMaxAge + 1_000); // 61 s: expired, refetch fails
      expect(await source.getKey('key-a', 'RS256')).toBe(key);
      expect(server.jwksRequests).toBe(2);

      clock.advance(900); // 61.9 s: inside the 1 s retry wait, no fetch
      expect(await source.getKey('key-a', 'RS256')).toBe(key);
      expect(server.jwksRequests).toBe(2);

      clock.advance(33_100); // 95 s: retry, fails again, still within staleMaxAge
      expect(await source.getKey('key-a', 'RS256')).toBe(key);
      expect(server.jwksRequests).toBe(3);
      expect(
        log.warnings.filter((w) => w.includes('known keys stay in use')),
      ).toHaveLength(1);

      clock.advance(6_000); // 101 s: beyond staleMaxAge
      await expectServerError(source.getKey('key-a', 'RS256'));
      expect(log.warnings).toContain(
        'JWKS unreachable beyond staleMaxAge: known keys are dropped',
      );
      expect(source.isCurrent('key-a', key, 'RS256')).toBe(false);

      server.setMode('ok');
      clock.advance(OPTIONS.cooldown);
      expect(await source.getKey('key-a', 'RS256')).not.toBeUndefined();
    });

    it('drops known keys when a failed refetch finds them too stale', async () => {
      const { source, clock } = createSource(server, {
        cacheMaxAge: 1000,
        staleMaxAge: 0,
      });
      await source.getKey('key-a', 'RS256');
      server.setMode('status500');
      clock.advance(1000);
      await expectServerError(source.getKey('key-a', 'RS256'));
      expect(server.jwksRequests).toBe(2);
    });

    it('answers an unknown kid during an outage with AuthServerError and no extra fetch', async () => {
      const { source, clock } = createSource(server);
      await source.getKey('key-a', 'RS256');
      server.setMode('down');
      clock.advance(OPTIONS.cooldown);
      // The refetch fails, so the key may well exist: a server fault, not a bad token.
      await expectServerError(source.getKey('new-kid', 'RS256'));
      expect(server.jwksRequests).toBe(2);
      // Inside the cooldown, the synchronous path does not call it a bad token either.
      expect(source.getKnownKey('new-kid', 'RS256')).toBeUndefined();
      clock.advance(1_000);
      await expectServerError(source.getKey('new-kid-2', 'RS256'));
      expect(server.jwksRequests).toBe(2);
      // Known keys are unaffected by the failed refetch.
      await expect(source.getKey('key-a', 'RS256')).resolves.toBeDefined();
      // Once a fetch succeeds again, a kid the set lacks is a bad token.
      server.setMode('ok');
      clock.advance(OPTIONS.cooldown);
      await expectUnknownKey(source.getKey('new-kid', 'RS256'));
      expect(server.jwksRequests).toBe(3);
    });

    it('keeps known keys when the JWKS hangs, answering within the timeout', async () => {
      const { source, clock } = createSource(server, { timeout: 150 });
      const key = await source.getKey('key-a', 'RS256');
      server.setMode('hang');
      clock.advance(OPTIONS.cacheMaxAge);
      const started = Date.now();
      expect(await source.getKey('key-a', 'RS256')).toBe(key);
      expect(Date.now() - started).toBeLessThan(1000);
    });
  });
});
