/**
 * The default revocation store: this process's memory. Right for a single instance; for
 * several instances behind a load balancer, use the Redis store so they agree.
 */
import { epochSeconds, RevocationSet } from './revocation-set.js';
import type {
  Revocation,
  RevocationCandidate,
  RevocationListener,
  RevocationStore,
} from './revocation-store.js';

/** Options of a {@link MemoryRevocationStore}. */
export interface MemoryRevocationStoreOptions {
  /**
   * The most live entries (revocations plus one-time values) kept.
   * @default 1000000
   */
  maxEntries?: number;
  /**
   * How often expired entries are dropped, in milliseconds.
   * @default 10000
   */
  sweepInterval?: number;
  /** The clock, in epoch seconds (tests). */
  now?: () => number;
}

/** Revocations and one-time values in this process's memory, bounded and self-cleaning. */
export class MemoryRevocationStore implements RevocationStore {
  private readonly revocations: RevocationSet;
  // One-time values share the bound and the sweep; they live in their own key space.
  private readonly once: RevocationSet;
  private readonly listeners = new Set<RevocationListener>();
  private readonly timer: NodeJS.Timeout;
  private readonly now: () => number;

  constructor(options: MemoryRevocationStoreOptions = {}) {
    const maxEntries = options.maxEntries ?? 1_000_000;
    const sweepInterval = options.sweepInterval ?? 10_000;
    this.now = options.now ?? epochSeconds;
    const set = {
      maxEntries,
      bucketSeconds: Math.max(1, sweepInterval / 1000),
      now: this.now,
    };
    this.revocations = new RevocationSet(set);
    this.once = new RevocationSet(set);
    this.timer = setInterval(() => this.sweep(), sweepInterval);
    // The sweep must never keep a process alive on its own.
    this.timer.unref();
  }

  /** Live entries held (revocations and one-time values). */
  get size(): number {
    return this.revocations.size + this.once.size;
  }

  // async, so a full store rejects rather than throws.
  // eslint-disable-next-line @typescript-eslint/require-await
  async add(revocation: Revocation): Promise<void> {
    if (this.revocations.add(revocation)) this.emit(revocation);
  }

  check(candidate: RevocationCandidate): Revocation | undefined {
    return this.revocations.check(candidate);
  }

  isAvailable(): boolean {
    return true;
  }

  subscribe(listener: RevocationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // eslint-disable-next-line @typescript-eslint/require-await
  async addIfAbsent(key: string, expiresAt: number): Promise<boolean> {
    return this.addIfAbsentNow(key, expiresAt);
  }

  addIfAbsentNow(key: string, expiresAt: number): boolean {
    const candidate = {
      jti: key,
      sub: undefined,
      clientId: undefined,
      iat: undefined,
    };
    if (this.once.check(candidate) !== undefined) return false;
    // A value already past its lifetime needs no record: it could not be replayed.
    if (expiresAt <= this.now()) return true;
    return this.once.add({ kind: 'jti', value: key, expiresAt });
  }

  whenReady(): Promise<void> {
    return Promise.resolve();
  }

  /** Drops every expired entry now (the timer does it every `sweepInterval`). */
  sweep(): number {
    return this.revocations.sweep() + this.once.sweep();
  }

  close(): Promise<void> {
    clearInterval(this.timer);
    this.listeners.clear();
    return Promise.resolve();
  }

  private emit(revocation: Revocation): void {
    for (const listener of this.listeners) listener(revocation);
  }
}
