/**
 * The verified-token cache: positive results only, keyed by the exact token string,
 * bounded in entries (least recently used goes first) and in time.
 */

/** One verified token. */
export interface CacheEntry<T> {
  readonly value: T;
  /** Epoch milliseconds after which the entry is not used. */
  readonly expiresAt: number;
}

/** A small LRU map with per-entry expiry; a `Map` keeps insertion order, which is the LRU order. */
export class TokenCache<T> {
  private readonly entries = new Map<string, CacheEntry<T>>();

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The live entry for `token`, refreshed as most recently used; expired entries are dropped. */
  get(token: string): CacheEntry<T> | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    this.entries.delete(token);
    if (this.now() >= entry.expiresAt) return undefined;
    this.entries.set(token, entry);
    return entry;
  }

  /** Stores a verified token until `expiresAt`. */
  set(token: string, value: T, expiresAt: number): void {
    if (expiresAt <= this.now()) return;
    this.entries.delete(token);
    this.entries.set(token, { value, expiresAt });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  /** Forgets one token (for example when its key left the JWKS). */
  delete(token: string): void {
    this.entries.delete(token);
  }

  get size(): number {
    return this.entries.size;
  }
}
