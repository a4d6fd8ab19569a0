/**
 * The verified-token cache: positive results only, keyed by the exact token string,
 * bounded in entries (least recently used goes first) and in time.
 */

/**
 * FNV-1a of the last 16 characters of a token, never 0 (0 marks an empty slot). For a JWS
 * those are signature bytes, effectively random; an attacker can pick them but cannot get
 * a token with them into the cache (only verified tokens are stored), so a collision only
 * ever costs a verification.
 */
function fingerprint(token: string): number {
  let hash = 0x811c9dc5;
  for (let i = Math.max(0, token.length - 16); i < token.length; i++) {
    hash = Math.imul(hash ^ token.charCodeAt(i), 0x01000193);
  }
  return hash >>> 0 || 1;
}

/** One verified token. */
export interface CacheEntry<T> {
  readonly value: T;
  /** Epoch milliseconds after which the entry is not used. */
  readonly expiresAt: number;
}

/** The bits of a fingerprint that key the map: a small integer (a Smi), never boxed. */
const KEY_BITS = 0x3fffffff;

interface Node<T> {
  readonly key: string;
  readonly entry: CacheEntry<T>;
  /** Its map key: the fingerprint's key bits. */
  readonly slot: number;
  /** The next node whose fingerprint has the same key bits. */
  sameKey: Node<T> | undefined;
  /** Toward the least recently used end. */
  older: Node<T> | undefined;
  /** Toward the most recently used end. */
  newer: Node<T> | undefined;
}

/**
 * A small LRU map with per-entry expiry. A hit only relinks its node in a doubly linked
 * list: deleting and re-inserting into a `Map` on every hit would leave deleted slots that
 * make a hot key slow and churn memory.
 *
 * The map is keyed by the token's fingerprint, and a node matches only when its token is
 * the same string: a token arrives as a new string on every request, and hashing a whole
 * kilobyte-long string to look it up by itself costs more than the rest of a hit (about
 * 1.5 µs against 0.2 µs on Node 24).
 */
export class TokenCache<T> {
  private readonly nodes = new Map<number, Node<T>>();
  /** Nodes held, chains included. */
  private entries = 0;
  private oldest: Node<T> | undefined;
  private newest: Node<T> | undefined;
  /** Fingerprints of tokens verified before (see {@link admit}); a slot per fingerprint. */
  private readonly seen: Uint32Array;
  /** How often the token of each slot was seen, saturating at 15, halved as it ages. */
  private readonly counts: Uint8Array;
  private readonly seenMask: number;
  /** Sightings until the counts are halved, so old popularity fades. */
  private untilAging: number;
  private readonly agingPeriod: number;

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {
    // A power of two at least eight times the entries (few collisions among a working set a
    // few times the cache), between 1,024 and 1,048,576 slots (5 MiB).
    let slots = 1024;
    while (slots < maxEntries * 8 && slots < 1 << 20) slots *= 2;
    this.seen = new Uint32Array(slots);
    this.counts = new Uint8Array(slots);
    this.seenMask = slots - 1;
    // A token that does not come back within twice as many sightings as the cache holds
    // would be evicted before its next use anyway (least recently used first) when those
    // are distinct tokens: its sighting is forgotten by then, so it never costs an entry.
    this.agingPeriod = Math.max(1024, maxEntries * 2);
    this.untilAging = this.agingPeriod;
  }

  /**
   * Whether a freshly verified token is worth an entry (TinyLFU-like admission):
   *
   * - only once it has been seen before, recently: within the same aging period (twice
   *   `maxEntries` sightings), so a token used once (a flood of fresh tokens), or reused
   *   only after twice as many other tokens as the cache holds, never costs an entry, and
   *   the cache's memory follows the working set that can hit;
   * - when the cache is full, only when it has been seen more often than the entry it would
   *   evict (the least recently used), so a working set larger than the cache keeps a
   *   stable part cached instead of evicting every entry before its next use, and entries
   *   do not churn through the old generation.
   *
   * A token's fingerprint is a hash of its last characters (signature bytes, so effectively
   * random); a collision only changes when a token is cached, never whether it is valid.
   */
  admit(token: string): boolean {
    const count = this.record(fingerprint(token));
    if (count < 2) return false;
    const victim = this.oldest;
    if (this.entries < this.maxEntries || victim === undefined) return true;
    return count > this.countOf(victim.key);
  }

  /** Counts one sighting of a token (its fingerprint); returns its count (1 for a first). */
  private record(hash: number): number {
    if (--this.untilAging === 0) this.age();
    const first = hash & this.seenMask;
    const second = this.secondSlot(hash);
    const found = this.liveSlot(hash, first, second);
    if (found !== -1) {
      if (this.counts[found] < 15) this.counts[found]++;
      return this.counts[found];
    }
    // Each fingerprint has two candidate slots; a newcomer takes the less used one, so two
    // tokens that share one slot do not keep erasing each other's sightings.
    const slot = this.counts[first] <= this.counts[second] ? first : second;
    this.seen[slot] = hash;
    this.counts[slot] = 1;
    return 1;
  }

  /** Which of the two slots holds a live sighting of `hash`, or -1 (a count aged to 0 is forgotten). */
  private liveSlot(hash: number, first: number, second: number): number {
    if (this.seen[first] === hash && this.counts[first] > 0) return first;
    if (this.seen[second] === hash && this.counts[second] > 0) return second;
    return -1;
  }

  private secondSlot(hash: number): number {
    return Math.imul(hash ^ (hash >>> 16), 0x45d9f3b) & this.seenMask;
  }

  private countOf(token: string): number {
    const hash = fingerprint(token);
    const slot = this.liveSlot(
      hash,
      hash & this.seenMask,
      this.secondSlot(hash),
    );
    return slot === -1 ? 0 : this.counts[slot];
  }

  /** Halves every count: a token seen once and not since is forgotten (its count is 0). */
  private age(): void {
    this.untilAging = this.agingPeriod;
    const counts = this.counts;
    for (let i = 0; i < counts.length; i++) counts[i] >>= 1;
  }

  /** The live entry for `token`, marked most recently used; an expired entry is dropped. */
  get(token: string): CacheEntry<T> | undefined {
    const hash = fingerprint(token);
    const node = this.find(token, hash);
    if (node === undefined) return undefined;
    if (this.now() >= node.entry.expiresAt) {
      this.remove(node);
      return undefined;
    }
    if (node !== this.newest) {
      this.unlink(node);
      this.append(node);
    }
    // A hit counts as a sighting, so a token in use outranks one that is not.
    this.record(hash);
    return node.entry;
  }

  /** The node of exactly `token`, among those whose fingerprint shares its key bits. */
  private find(token: string, hash: number): Node<T> | undefined {
    let node = this.nodes.get(hash & KEY_BITS);
    while (node !== undefined && node.key !== token) node = node.sameKey;
    return node;
  }

  /** Stores a verified token until `expiresAt`. */
  set(token: string, value: T, expiresAt: number): void {
    if (expiresAt <= this.now()) return;
    const hash = fingerprint(token);
    const existing = this.find(token, hash);
    if (existing !== undefined) this.remove(existing);
    const slot = hash & KEY_BITS;
    const node: Node<T> = {
      key: token,
      entry: { value, expiresAt },
      slot,
      sameKey: this.nodes.get(slot),
      older: undefined,
      newer: undefined,
    };
    this.nodes.set(slot, node);
    this.entries++;
    this.append(node);
    while (this.entries > this.maxEntries && this.oldest !== undefined) {
      this.remove(this.oldest);
    }
  }

  /** Forgets one token (for example when its key left the JWKS). */
  delete(token: string): void {
    const node = this.find(token, fingerprint(token));
    if (node !== undefined) this.remove(node);
  }

  /** Forgets every token. */
  clear(): void {
    // The fingerprints stay: a token seen before is still worth an entry when verified again.
    this.nodes.clear();
    this.entries = 0;
    this.oldest = undefined;
    this.newest = undefined;
  }

  get size(): number {
    return this.entries;
  }

  private remove(node: Node<T>): void {
    this.unlink(node);
    this.entries--;
    const { slot } = node;
    const first = this.nodes.get(slot);
    if (first === node) {
      if (node.sameKey === undefined) this.nodes.delete(slot);
      else this.nodes.set(slot, node.sameKey);
    } else {
      let before = first;
      while (before !== undefined && before.sameKey !== node) {
        before = before.sameKey;
      }
      if (before !== undefined) before.sameKey = node.sameKey;
    }
    node.sameKey = undefined;
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
