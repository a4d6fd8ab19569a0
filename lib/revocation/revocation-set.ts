/**
 * The in-memory copy of the revocations in force: the memory store itself, and the local
 * copy of the Redis store. Bounded in entries, and each entry is forgotten once no token it
 * matches can still be accepted, so memory follows the live revocations and stays flat.
 */
import {
  RevocationStoreFullError,
  type Revocation,
  type RevocationCandidate,
  type RevocationKind,
} from './revocation-store.js';

/** A subject's or a client's revocation: tokens issued before a time. */
interface IssuedBeforeEntry {
  readonly issuedBefore: number;
  readonly expiresAt: number;
}

/**
 * A map whose entries expire. Keys are filed in buckets by expiry time, so a sweep drops
 * every expired entry without scanning the live ones or keeping a heap.
 */
class ExpiringMap<V> {
  readonly entries = new Map<string, V>();
  private readonly buckets = new Map<number, string[]>();

  constructor(
    private readonly bucketSeconds: number,
    private readonly expiryOf: (value: V) => number,
  ) {}

  set(key: string, value: V): void {
    this.entries.set(key, value);
    const bucket = Math.ceil(this.expiryOf(value) / this.bucketSeconds);
    const keys = this.buckets.get(bucket);
    if (keys === undefined) this.buckets.set(bucket, [key]);
    else keys.push(key);
  }

  /** Drops the entries expired at `now`; returns how many. */
  sweep(now: number): number {
    let removed = 0;
    for (const [bucket, keys] of this.buckets) {
      if (bucket * this.bucketSeconds > now) continue;
      for (const key of keys) {
        const value = this.entries.get(key);
        // A key filed again with a later expiry stays; its newer bucket drops it later.
        if (value !== undefined && this.expiryOf(value) <= now) {
          this.entries.delete(key);
          removed++;
        }
      }
      this.buckets.delete(bucket);
    }
    return removed;
  }

  clear(): void {
    this.entries.clear();
    this.buckets.clear();
  }
}

/** Options of a {@link RevocationSet}. */
export interface RevocationSetOptions {
  /** The most live entries kept; a revocation beyond that is refused, never dropped. */
  readonly maxEntries: number;
  /** The width of an expiry bucket, in seconds: entries are dropped at most this late. */
  readonly bucketSeconds?: number;
  /** The clock, in epoch seconds. */
  readonly now?: () => number;
}

/** Epoch seconds from the system clock. */
export function epochSeconds(): number {
  return Date.now() / 1000;
}

/** The revocations in force, checked synchronously. */
export class RevocationSet {
  // A `jti` entry is only its expiry: at a million entries, every byte per entry counts.
  private readonly jtis: ExpiringMap<number>;
  private readonly subjects: ExpiringMap<IssuedBeforeEntry>;
  private readonly clients: ExpiringMap<IssuedBeforeEntry>;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(options: RevocationSetOptions) {
    const width = options.bucketSeconds ?? 10;
    this.maxEntries = options.maxEntries;
    this.now = options.now ?? epochSeconds;
    this.jtis = new ExpiringMap<number>(width, (expiresAt) => expiresAt);
    this.subjects = new ExpiringMap<IssuedBeforeEntry>(
      width,
      (e) => e.expiresAt,
    );
    this.clients = new ExpiringMap<IssuedBeforeEntry>(
      width,
      (e) => e.expiresAt,
    );
  }

  /** Live and not yet swept entries. */
  get size(): number {
    return (
      this.jtis.entries.size +
      this.subjects.entries.size +
      this.clients.entries.size
    );
  }

  /**
   * Records a revocation, or widens the one already kept for the same value (a later
   * `issuedBefore`, a later expiry). Returns `false` when it changed nothing (already
   * covered, or already expired).
   *
   * @throws RevocationStoreFullError when `maxEntries` live entries leave no room.
   */
  add(revocation: Revocation): boolean {
    const now = this.now();
    if (revocation.expiresAt <= now) return false;
    if (revocation.kind === 'jti') {
      const known = this.jtis.entries.get(revocation.value);
      if (known !== undefined && known >= revocation.expiresAt) return false;
      if (known === undefined) this.makeRoom(now);
      this.jtis.set(revocation.value, revocation.expiresAt);
      return true;
    }
    const map = revocation.kind === 'sub' ? this.subjects : this.clients;
    const known = map.entries.get(revocation.value);
    const issuedBefore = revocation.issuedBefore ?? revocation.expiresAt;
    if (
      known !== undefined &&
      known.issuedBefore >= issuedBefore &&
      known.expiresAt >= revocation.expiresAt
    ) {
      return false;
    }
    if (known === undefined) this.makeRoom(now);
    map.set(revocation.value, {
      issuedBefore: Math.max(issuedBefore, known?.issuedBefore ?? issuedBefore),
      expiresAt: Math.max(revocation.expiresAt, known?.expiresAt ?? 0),
    });
    return true;
  }

  /** The revocation that matches the token, else `undefined`. */
  check(candidate: RevocationCandidate): Revocation | undefined {
    const now = this.now();
    const { jti, sub, clientId, iat } = candidate;
    if (jti !== undefined) {
      const expiresAt = this.jtis.entries.get(jti);
      if (expiresAt !== undefined && expiresAt > now) {
        return { kind: 'jti', value: jti, expiresAt };
      }
    }
    if (sub !== undefined) {
      const hit = matchIssuedBefore(this.subjects, sub, iat, now);
      if (hit !== undefined) return { kind: 'sub', value: sub, ...hit };
    }
    if (clientId !== undefined) {
      const hit = matchIssuedBefore(this.clients, clientId, iat, now);
      if (hit !== undefined) return { kind: 'client', value: clientId, ...hit };
    }
    return undefined;
  }

  /** Every live entry, as revocations (for tests and a rebuild's comparison). */
  *entries(): IterableIterator<Revocation> {
    const now = this.now();
    for (const [value, expiresAt] of this.jtis.entries) {
      if (expiresAt > now) yield { kind: 'jti', value, expiresAt };
    }
    const kinds: [RevocationKind, ExpiringMap<IssuedBeforeEntry>][] = [
      ['sub', this.subjects],
      ['client', this.clients],
    ];
    for (const [kind, map] of kinds) {
      for (const [value, entry] of map.entries) {
        if (entry.expiresAt > now) yield { kind, value, ...entry };
      }
    }
  }

  /** Forgets the entries that can no longer match an acceptable token; returns how many. */
  sweep(): number {
    const now = this.now();
    return (
      this.jtis.sweep(now) + this.subjects.sweep(now) + this.clients.sweep(now)
    );
  }

  /** Forgets everything. */
  clear(): void {
    this.jtis.clear();
    this.subjects.clear();
    this.clients.clear();
  }

  private makeRoom(now: number): void {
    if (this.size < this.maxEntries) return;
    this.jtis.sweep(now);
    this.subjects.sweep(now);
    this.clients.sweep(now);
    // Dropping a live revocation would quietly accept a revoked token again.
    if (this.size >= this.maxEntries) {
      throw new RevocationStoreFullError(this.maxEntries);
    }
  }
}

function matchIssuedBefore(
  map: ExpiringMap<IssuedBeforeEntry>,
  key: string,
  iat: number | undefined,
  now: number,
): IssuedBeforeEntry | undefined {
  const entry = map.entries.get(key);
  if (entry === undefined || entry.expiresAt <= now) return undefined;
  // A token without `iat` cannot show that it was issued after the revocation.
  if (iat !== undefined && iat >= entry.issuedBefore) return undefined;
  return entry;
}
