import { TokenCache } from './token-cache.js';

function cacheAt(maxEntries: number) {
  const clock = { now: 1_000 };
  const cache = new TokenCache<string>(maxEntries, () => clock.now);
  return { cache, clock };
}

describe('TokenCache', () => {
  it('returns what was stored, with its expiry', () => {
    const { cache } = cacheAt(10);
    cache.set('t', 'v', 2_000);
    expect(cache.get('t')).toEqual({ value: 'v', expiresAt: 2_000 });
    expect(cache.size).toBe(1);
  });

  it('answers undefined for an unknown token', () => {
    expect(cacheAt(10).cache.get('nope')).toBeUndefined();
  });

  it('serves an entry until just before its expiry and drops it at expiry', () => {
    const { cache, clock } = cacheAt(10);
    cache.set('t', 'v', 2_000);
    clock.now = 1_999;
    expect(cache.get('t')?.value).toBe('v');
    clock.now = 2_000;
    expect(cache.get('t')).toBeUndefined();
    expect(cache.size).toBe(0);
    clock.now = 1_000;
    expect(cache.get('t')).toBeUndefined();
  });

  it('does not store an entry that is already expired', () => {
    const { cache } = cacheAt(10);
    cache.set('past', 'v', 999);
    cache.set('now', 'v', 1_000);
    expect(cache.size).toBe(0);
  });

  it('replaces the value and expiry of a token stored again', () => {
    const { cache } = cacheAt(10);
    cache.set('t', 'old', 2_000);
    cache.set('t', 'new', 3_000);
    expect(cache.size).toBe(1);
    expect(cache.get('t')).toEqual({ value: 'new', expiresAt: 3_000 });
  });

  it('never holds more than maxEntries, evicting the oldest first', () => {
    const { cache } = cacheAt(3);
    for (const token of ['a', 'b', 'c', 'd', 'e'])
      cache.set(token, token, 9_000);
    expect(cache.size).toBe(3);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('b')).toBeUndefined();
    expect(['c', 'd', 'e'].map((t) => cache.get(t)?.value)).toEqual([
      'c',
      'd',
      'e',
    ]);
  });

  it('evicts the least recently used entry: a get refreshes an entry', () => {
    const { cache } = cacheAt(3);
    cache.set('a', 'a', 9_000);
    cache.set('b', 'b', 9_000);
    cache.set('c', 'c', 9_000);
    expect(cache.get('a')?.value).toBe('a');
    cache.set('d', 'd', 9_000);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')?.value).toBe('a');
    expect(cache.get('c')?.value).toBe('c');
    expect(cache.get('d')?.value).toBe('d');
  });

  it('evicts the least recently used entry: a set refreshes an entry', () => {
    const { cache } = cacheAt(2);
    cache.set('a', 'a', 9_000);
    cache.set('b', 'b', 9_000);
    cache.set('a', 'a2', 9_000);
    cache.set('c', 'c', 9_000);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')?.value).toBe('a2');
  });

  it('stays bounded under many distinct tokens', () => {
    const { cache } = cacheAt(100);
    for (let i = 0; i < 10_000; i++) cache.set(`t${i}`, 'v', 9_000);
    expect(cache.size).toBe(100);
    expect(cache.get('t9999')?.value).toBe('v');
    expect(cache.get('t9899')).toBeUndefined();
  });

  it('forgets a deleted token and ignores an unknown one', () => {
    const { cache } = cacheAt(10);
    cache.set('a', 'a', 9_000);
    cache.set('b', 'b', 9_000);
    cache.delete('a');
    cache.delete('unknown');
    expect(cache.get('a')).toBeUndefined();
    expect(cache.get('b')?.value).toBe('b');
    expect(cache.size).toBe(1);
  });

  describe('tokens whose fingerprints collide (the same last 16 characters)', () => {
    const tail = '.same-signature-tail';
    const [a, b, c] = ['a', 'b', 'c'].map((p) => `${p}.payload${tail}`);

    it('keeps each under its own token: a lookup compares the whole string', () => {
      const { cache } = cacheAt(10);
      cache.set(a, 'A', 9_000);
      cache.set(b, 'B', 9_000);
      cache.set(c, 'C', 9_000);
      expect([a, b, c].map((t) => cache.get(t)?.value)).toEqual([
        'A',
        'B',
        'C',
      ]);
      expect(cache.get(`x.payload${tail}`)).toBeUndefined();
      expect(cache.size).toBe(3);
    });

    it('deletes, replaces and evicts one without losing the others', () => {
      const { cache } = cacheAt(3);
      cache.set(a, 'A', 9_000);
      cache.set(b, 'B', 9_000);
      cache.set(c, 'C', 9_000);
      cache.delete(b); // the middle of the chain
      expect([a, b, c].map((t) => cache.get(t)?.value)).toEqual([
        'A',
        undefined,
        'C',
      ]);
      cache.set(c, 'C2', 9_000); // the head of the chain, replaced
      cache.set('other', 'O', 9_000);
      cache.set(b, 'B2', 9_000); // evicts the least recently used: a
      expect([a, b, c].map((t) => cache.get(t)?.value)).toEqual([
        undefined,
        'B2',
        'C2',
      ]);
      expect(cache.size).toBe(3);
    });
  });

  it('uses Date.now by default', () => {
    const cache = new TokenCache<number>(1);
    cache.set('past', 1, Date.now() - 1);
    cache.set('future', 2, Date.now() + 60_000);
    expect(cache.get('past')).toBeUndefined();
    expect(cache.get('future')?.value).toBe(2);
  });

  describe('admit(): an entry only for a token seen before', () => {
    it('refuses the first sight of a token and admits the second', () => {
      const cache = new TokenCache<number>(10);
      expect(cache.admit('a.b.signature-one')).toBe(false);
      expect(cache.admit('a.b.signature-one')).toBe(true);
      expect(cache.admit('a.b.signature-two')).toBe(false);
    });

    it('keeps what it has seen across clear()', () => {
      const cache = new TokenCache<number>(10);
      cache.admit('a.b.signature-one');
      cache.clear();
      expect(cache.admit('a.b.signature-one')).toBe(true);
    });

    it('forgets a fingerprint whose slot another token took', () => {
      const cache = new TokenCache<number>(1);
      // 1,024 slots: enough distinct tokens overwrite every slot.
      cache.admit('x.y.first');
      for (let i = 0; i < 20_000; i++) cache.admit(`x.y.other-${i}`);
      expect(cache.admit('x.y.first')).toBe(false);
    });
  });

  describe('admit() when full: frequency decides (TinyLFU-like)', () => {
    /** What the authenticator does per request: a hit, else admit and maybe store. */
    function use(cache: TokenCache<number>, token: string): boolean {
      if (cache.get(token) !== undefined) return true;
      if (cache.admit(token)) cache.set(token, 1, Number.MAX_SAFE_INTEGER);
      return false;
    }

    it('caches a working set smaller than the cache: every token hits once it came back', () => {
      const cache = new TokenCache<number>(1000);
      const pool = Array.from({ length: 500 }, (_, i) => `h.p.token-${i}`);
      for (let cycle = 0; cycle < 8; cycle++)
        pool.forEach((t) => use(cache, t));
      let hits = 0;
      for (const token of pool) if (use(cache, token)) hits++;
      expect(hits).toBe(500);
      expect(cache.size).toBe(500);
    });

    it('never stores a token that comes back only after twice as many tokens as the cache holds', () => {
      // 1,000 entries age every 2,000 sightings: a token of a 2,000-token cycle is forgotten
      // before it comes back, as an LRU of 1,000 would have evicted it, so memory stays flat.
      const cache = new TokenCache<number>(1000);
      const pool = Array.from({ length: 2000 }, (_, i) => `h.p.token-${i}`);
      let hits = 0;
      for (let cycle = 0; cycle < 4; cycle++)
        for (const token of pool) if (use(cache, token)) hits++;
      expect(hits).toBe(0);
      expect(cache.size).toBe(0);
    });

    it('forgets a token seen once when an aging period passes, and counts it anew', () => {
      const cache = new TokenCache<number>(10);
      expect(cache.admit('f.f.once')).toBe(false);
      // 1,024 other sightings (the smallest aging period) halve the count of 1 to 0.
      for (let i = 0; i < 1024; i++) cache.admit(`f.f.noise-${i % 3}`);
      expect(cache.admit('f.f.once')).toBe(false);
      expect(cache.admit('f.f.once')).toBe(true);
    });

    it('stores entries only while it has room, then stops churning on a cyclic pool', () => {
      const cache = new TokenCache<number>(100);
      const pool = Array.from({ length: 300 }, (_, i) => `c.p.token-${i}`);
      for (let cycle = 0; cycle < 2; cycle++)
        pool.forEach((t) => use(cache, t));
      let stored = 0;
      for (const token of pool) {
        if (cache.get(token) === undefined && cache.admit(token)) stored++;
      }
      expect(stored).toBe(0);
    });

    it('admits a token used more often than the least recently used entry', () => {
      const cache = new TokenCache<number>(2);
      for (const token of ['a.a.one', 'a.a.two']) {
        use(cache, token);
        use(cache, token);
      }
      expect(cache.size).toBe(2);
      // A third token, seen as often: not admitted over an entry seen as often.
      use(cache, 'a.a.three');
      expect(cache.admit('a.a.three')).toBe(false);
      // Seen more often than the victim: admitted.
      for (let i = 0; i < 3; i++) use(cache, 'a.a.three');
      expect(cache.get('a.a.three')).toBeDefined();
      expect(cache.size).toBe(2);
    });

    it('lets old popularity fade, so a new hot token can replace a stale one', () => {
      const cache = new TokenCache<number>(1);
      for (let i = 0; i < 15; i++) use(cache, 'o.o.stale');
      // The aging period is 1,024 sightings for a small cache: after enough other
      // sightings the stale count has been halved down, and a reused token wins.
      for (let i = 0; i < 5000; i++) cache.admit(`o.o.noise-${i % 7}`);
      for (let i = 0; i < 6; i++) use(cache, 'o.o.fresh');
      expect(cache.get('o.o.fresh')).toBeDefined();
      expect(cache.get('o.o.stale')).toBeUndefined();
    });
  });
});
