/**
 * A Map bounded in entries: setting past the bound drops the least recently used entry.
 * For small, rarely touched sets (issuers, their key sources); the token cache has its
 * own linked-list LRU for its hot path.
 */
export class LruMap<K, V> {
  private readonly entries = new Map<K, V>();

  constructor(
    readonly maxEntries: number,
    /** Called with each entry the bound pushes out (not with deleted ones). */
    private readonly onEvict?: (key: K, value: V) => void,
  ) {}

  /** The value, marked most recently used. */
  get(key: K): V | undefined {
    const value = this.entries.get(key);
    if (value === undefined) return undefined;
    // A Map iterates in insertion order: re-inserting makes the key the newest.
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  /** The value, without changing its rank: one Map lookup. */
  peek(key: K): V | undefined {
    return this.entries.get(key);
  }

  /** Stores a value as the most recently used, dropping the oldest past the bound. */
  set(key: K, value: V): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done === true) break;
      const evicted = this.entries.get(oldest.value) as V;
      this.entries.delete(oldest.value);
      this.onEvict?.(oldest.value, evicted);
    }
  }

  delete(key: K): boolean {
    return this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  values(): IterableIterator<V> {
    return this.entries.values();
  }
}
