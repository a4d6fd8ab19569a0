/**
 * The revocation store shared by every instance: Redis (through `ioredis`, an optional peer
 * dependency, loaded only when this store is configured).
 *
 * Redis holds the revocations in one sorted set scored by expiry, and every change is
 * published on a channel in the same atomic script. Each instance keeps a local copy, fed
 * by that channel, and answers every request from it: Redis is never on the hot path. After
 * a reconnect the copy is rebuilt from the sorted set, so revocations made while this
 * instance was cut off are honoured. Until then the store reports itself unavailable, and
 * the `onStoreUnavailable` option decides: fail closed (500) or fail open.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { epochSeconds, RevocationSet } from './revocation-set.js';
import {
  RevocationStoreUnavailableError,
  type Revocation,
  type RevocationCandidate,
  type RevocationKind,
  type RevocationListener,
  type RevocationStore,
} from './revocation-store.js';

/** Where the store reports what it does. */
export interface RevocationStoreLogger {
  log(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}

/** Options of a {@link RedisRevocationStore}. */
export interface RedisRevocationStoreOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://` for TLS. */
  url: string;
  /**
   * The prefix of every key and channel, so several apps can share one Redis.
   * @default 'nestjs-bearer:'
   */
  keyPrefix?: string;
  /**
   * The most live revocations kept in the local copy.
   * @default 1000000
   */
  maxEntries?: number;
  /**
   * How often the connection is checked with a PING, in milliseconds; a PING that takes
   * longer than this counts as a lost connection (a silent network partition).
   * @default 1000
   */
  heartbeatInterval?: number;
  /** Where the store logs. */
  logger?: RevocationStoreLogger;
  /** Extra ioredis options (TLS, sentinels, ...); the store's own ones win. */
  redisOptions?: RedisOptions;
}

// Atomically drops expired entries, adds this one (keeping the later expiry), makes the
// whole set expire with its last entry, and tells every instance.
const ADD_SCRIPT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
local last = redis.call('ZREVRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if last[2] then redis.call('EXPIREAT', KEYS[1], math.ceil(tonumber(last[2])) + 1) end
redis.call('PUBLISH', KEYS[2], ARGV[4])
return 1
`;

type Encoded = [RevocationKind, string, number | null];

function encodeMember(revocation: Revocation): string {
  const member: Encoded = [
    revocation.kind,
    revocation.value,
    revocation.issuedBefore ?? null,
  ];
  return JSON.stringify(member);
}

/** A member of the sorted set (or a message) back to a revocation; junk gives `undefined`. */
function decode(member: string, expiresAt: number): Revocation | undefined {
  let value: unknown;
  try {
    value = JSON.parse(member);
  } catch {
    return undefined;
  }
  if (!Array.isArray(value) || value.length !== 3) return undefined;
  const [kind, subject, issuedBefore] = value as unknown[];
  if (kind !== 'jti' && kind !== 'sub' && kind !== 'client') return undefined;
  if (typeof subject !== 'string' || !Number.isFinite(expiresAt))
    return undefined;
  if (kind === 'jti') return { kind, value: subject, expiresAt };
  if (typeof issuedBefore !== 'number') return undefined;
  return { kind, value: subject, issuedBefore, expiresAt };
}

const SILENT: RevocationStoreLogger = {
  log: () => undefined,
  warn: () => undefined,
  debug: () => undefined,
};

/** Revocations shared through Redis, with a local copy for the hot path. */
export class RedisRevocationStore implements RevocationStore {
  private readonly local: RevocationSet;
  private readonly client: Redis;
  private readonly subscriber: Redis;
  private readonly setKey: string;
  private readonly onceKey: string;
  private readonly channel: string;
  private readonly listeners = new Set<RevocationListener>();
  private readonly logger: RevocationStoreLogger;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly sweeper: NodeJS.Timeout;
  private readonly heartbeatInterval: number;
  /** Whether the local copy is complete: connected, subscribed and rebuilt. */
  private synced = false;
  /** Bumped on every loss of connection, so a rebuild that raced one is not trusted. */
  private epoch = 0;
  private everSynced = false;
  private closed = false;
  private pinging = false;
  private readyWaiters: (() => void)[] = [];

  constructor(options: RedisRevocationStoreOptions) {
    const prefix = options.keyPrefix ?? 'nestjs-bearer:';
    this.setKey = `${prefix}revocations`;
    this.onceKey = `${prefix}once:`;
    this.channel = `${prefix}revocations:changes`;
    this.logger = options.logger ?? SILENT;
    this.heartbeatInterval = options.heartbeatInterval ?? 1000;
    this.local = new RevocationSet({
      maxEntries: options.maxEntries ?? 1_000_000,
    });
    const redisOptions: RedisOptions = {
      ...options.redisOptions,
      // Fail now rather than queue: a revocation or a replay check must not wait for a
      // reconnect that may never come, and the hot path never asks Redis anyway.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResubscribe: false,
      connectTimeout: options.redisOptions?.connectTimeout ?? 2000,
      // Reconnect for ever, quickly at first, then every 2 s.
      retryStrategy: (times: number) => Math.min(100 * times, 2000),
      lazyConnect: false,
    };
    this.client = new Redis(options.url, redisOptions);
    this.subscriber = new Redis(options.url, redisOptions);
    for (const connection of [this.client, this.subscriber]) {
      // Without a listener ioredis prints every connection error to the console.
      connection.on('error', (error: Error) =>
        this.logger.debug(`revocation store (Redis): ${error.message}`),
      );
      connection.on('close', () => this.lost('connection closed'));
      connection.on('ready', () => void this.rebuild());
    }
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.receive(message);
    });
    this.heartbeat = setInterval(
      () => void this.ping(),
      this.heartbeatInterval,
    );
    this.heartbeat.unref();
    this.sweeper = setInterval(() => this.local.sweep(), 10_000);
    this.sweeper.unref();
  }

  /** Live entries in the local copy. */
  get size(): number {
    return this.local.size;
  }

  async add(revocation: Revocation): Promise<void> {
    const now = epochSeconds();
    if (revocation.expiresAt <= now) return;
    const member = encodeMember(revocation);
    const message = JSON.stringify([member, revocation.expiresAt]);
    try {
      await this.client.eval(
        ADD_SCRIPT,
        2,
        this.setKey,
        this.channel,
        member,
        String(revocation.expiresAt),
        String(now),
        message,
      );
    } catch (error) {
      throw new RevocationStoreUnavailableError(
        'the revocation could not be stored in Redis',
        { cause: error },
      );
    }
    // This instance refuses the token at once, whatever the channel's delay.
    if (this.local.add(revocation)) this.emit(revocation);
  }

  check(candidate: RevocationCandidate): Revocation | undefined {
    return this.local.check(candidate);
  }

  isAvailable(): boolean {
    return this.synced;
  }

  subscribe(listener: RevocationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async addIfAbsent(key: string, expiresAt: number): Promise<boolean> {
    const at = Math.ceil(expiresAt);
    if (at <= epochSeconds()) return true;
    try {
      const answer = await this.client.set(
        `${this.onceKey}${key}`,
        '1',
        'EXAT',
        at,
        'NX',
      );
      return answer === 'OK';
    } catch (error) {
      throw new RevocationStoreUnavailableError(
        'Redis could not record a one-time value',
        { cause: error },
      );
    }
  }

  whenReady(timeoutMs: number): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      timer.unref();
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.readyWaiters.push(done);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.synced = false;
    clearInterval(this.heartbeat);
    clearInterval(this.sweeper);
    this.listeners.clear();
    for (const done of this.readyWaiters) done();
    this.readyWaiters = [];
    await Promise.all(
      [this.client, this.subscriber].map((connection) =>
        connection.quit().catch(() => connection.disconnect()),
      ),
    );
  }

  /** Subscribes, then reads the whole set: nothing published in between is missed. */
  private async rebuild(): Promise<void> {
    if (this.closed) return;
    if (this.client.status !== 'ready' || this.subscriber.status !== 'ready')
      return;
    const epoch = this.epoch;
    try {
      await this.subscriber.subscribe(this.channel);
      const now = epochSeconds();
      const flat = await this.client.zrangebyscore(
        this.setKey,
        `(${now}`,
        '+inf',
        'WITHSCORES',
      );
      let learnt = 0;
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const revocation = decode(flat[i], Number(flat[i + 1]));
        // Merged, never replaced: an entry Redis lost (a restart without persistence)
        // is still honoured here.
        if (revocation !== undefined && this.local.add(revocation)) {
          learnt++;
          this.emit(revocation);
        }
      }
      if (epoch !== this.epoch || this.closed) return;
      this.synced = true;
      if (this.everSynced) {
        this.logger.log(
          `revocation store (Redis) reconnected; local copy rebuilt (${learnt} new of ${flat.length / 2})`,
        );
      }
      this.everSynced = true;
      for (const done of this.readyWaiters) done();
      this.readyWaiters = [];
    } catch (error) {
      this.logger.debug(
        `revocation store (Redis): rebuild failed: ${(error as Error).message}`,
      );
      this.lost('rebuild failed');
    }
  }

  private lost(why: string): void {
    this.epoch++;
    if (!this.synced || this.closed) return;
    this.synced = false;
    this.logger.warn(
      `revocation store (Redis) unavailable (${why}); reconnecting`,
    );
  }

  /** A silent partition closes no socket; a PING that does not come back in time does. */
  private async ping(): Promise<void> {
    if (this.pinging || this.closed || this.client.status !== 'ready') return;
    this.pinging = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.client.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error('PING timed out')),
            this.heartbeatInterval,
          );
        }),
      ]);
    } catch (error) {
      this.lost((error as Error).message);
      // Reconnecting both makes the rebuild run once the path is back.
      this.client.disconnect(true);
      this.subscriber.disconnect(true);
    } finally {
      clearTimeout(timer);
      this.pinging = false;
    }
  }

  private receive(message: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      return;
    }
    if (!Array.isArray(parsed) || typeof parsed[0] !== 'string') return;
    const revocation = decode(parsed[0], Number(parsed[1]));
    if (revocation === undefined) return;
    try {
      if (this.local.add(revocation)) this.emit(revocation);
    } catch (error) {
      // A full local copy cannot vouch for every revocation: unavailable until it can.
      this.logger.warn(`revocation store (Redis): ${(error as Error).message}`);
      this.lost('local copy full');
    }
  }

  private emit(revocation: Revocation): void {
    for (const listener of this.listeners) listener(revocation);
  }
}
