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

interface Node<T> {
  readonly key: string;
  readonly entry: CacheEntry<T>;
  /** Toward the least recently used end. */
  older: Node<T> | undefined;
  /** Toward the most recently used end. */
  newer: Node<T> | undefined;
}

/**
 * A small LRU map with per-entry expiry. A hit only relinks its node in a doubly linked
 * list: deleting and re-inserting into a `Map` on every hit would leave deleted slots that
 * make a hot key slow and churn memory.
 */
export class TokenCache<T> {
  private readonly nodes = new Map<string, Node<T>>();
  private oldest: Node<T> | undefined;
  private newest: Node<T> | undefined;
  /** Fingerprints of tokens verified once (see {@link admit}); a slot per fingerprint. */
  private readonly seen: Uint32Array;
  private readonly seenMask: number;

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {
    // A power of two at least twice the entries, between 1,024 and 1,048,576 slots (4 MiB).
    let slots = 1024;
    while (slots < maxEntries * 2 && slots < 1 << 20) slots *= 2;
    this.seen = new Uint32Array(slots);
    this.seenMask = slots - 1;
  }

  /**
   * Whether a freshly verified token is worth an entry: only once it has been seen before.
   * A token used once (a flood of fresh tokens, say) then never costs an entry, so it neither
   * evicts tokens that are reused nor fills the old generation with entries that die young;
   * a reused token is verified twice, then served from the cache. The first call for a token
   * records a fingerprint of its last characters (signature bytes, so effectively random);
   * a collision only changes when a token is cached, never whether it is valid.
   */
  admit(token: string): boolean {
    let hash = 0x811c9dc5;
    for (let i = Math.max(0, token.length - 16); i < token.length; i++) {
      hash = Math.imul(hash ^ token.charCodeAt(i), 0x01000193);
    }
    // Zero marks an empty slot.
    hash = hash >>> 0 || 1;
    const slot = hash & this.seenMask;
    if (this.seen[slot] === hash) return true;
    this.seen[slot] = hash;
    return false;
  }

  /** The live entry for `token`, marked most recently used; an expired entry is dropped. */
  get(token: string): CacheEntry<T> | undefined {
    const node = this.nodes.get(token);
    if (node === undefined) return undefined;
    if (this.now() >= node.entry.expiresAt) {
      this.remove(node);
      return undefined;
    }
    if (node !== this.newest) {
      this.unlink(node);
      this.append(node);
    }
    return node.entry;
  }

  /** Stores a verified token until `expiresAt`. */
  set(token: string, value: T, expiresAt: number): void {
    if (expiresAt <= this.now()) return;
    const existing = this.nodes.get(token);
    if (existing !== undefined) this.remove(existing);
    const node: Node<T> = {
      key: token,
      entry: { value, expiresAt },
      older: undefined,
      newer: undefined,
    };
    this.nodes.set(token, node);
    this.append(node);
    while (this.nodes.size > this.maxEntries && this.oldest !== undefined) {
      this.remove(this.oldest);
    }
  }

  /** Forgets one token (for example when its key left the JWKS). */
  delete(token: string): void {
    const node = this.nodes.get(token);
    if (node !== undefined) this.remove(node);
  }

  /** Forgets every token. */
  clear(): void {
    // The fingerprints stay: a token seen before is still worth an entry when verified again.
    this.nodes.clear();
    this.oldest = undefined;
    this.newest = undefined;
  }

  get size(): number {
    return this.nodes.size;
  }

  private remove(node: Node<T>): void {
    this.unlink(node);
    this.nodes.delete(node.key);
  }

  private append(node: Node<T>): void {
    node.older = this.newest;
    node.newer = undefined;
    if (this.newest !== undefined) this.newest.newer = node;
    this.newest = node;
    this.oldest ??= node;
  }

  private unlink(node: Node<T>): void {
    if (node.older !== undefined) node.older.newer = node.newer;
    else this.oldest = node.newer;
    if (node.newer !== undefined) node.newer.older = node.older;
    else this.newest = node.older;
    node.older = undefined;
    node.newer = undefined;
  }
}
