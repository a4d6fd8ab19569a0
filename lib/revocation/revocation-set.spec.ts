import { MemoryRevocationStore } from './memory-revocation.store.js';
import { RevocationSet } from './revocation-set.js';
import {
  RevocationStoreFullError,
  type RevocationCandidate,
} from './revocation-store.js';

const NONE: RevocationCandidate = {
  jti: undefined,
  sub: undefined,
  clientId: undefined,
  iat: undefined,
};

function clock(start = 1_000_000): {
  now: () => number;
  advance(s: number): void;
} {
  let t = start;
  return { now: () => t, advance: (s) => (t += s) };
}

describe('RevocationSet', () => {
  it('matches a jti until its expiry, then forgets it at the sweep', () => {
    const time = clock();
    const set = new RevocationSet({
      maxEntries: 10,
      bucketSeconds: 1,
      now: time.now,
    });
    expect(
      set.add({ kind: 'jti', value: 'j1', expiresAt: time.now() + 60 }),
    ).toBe(true);
    expect(set.check({ ...NONE, jti: 'j1' })).toEqual({
      kind: 'jti',
      value: 'j1',
      expiresAt: time.now() + 60,
    });
    expect(set.check({ ...NONE, jti: 'j2' })).toBeUndefined();
    time.advance(60);
    expect(set.check({ ...NONE, jti: 'j1' })).toBeUndefined();
    expect(set.size).toBe(1);
    expect(set.sweep()).toBe(1);
    expect(set.size).toBe(0);
  });

  it('matches a subject or a client only for tokens issued before the time, or without iat', () => {
    const time = clock();
    const set = new RevocationSet({ maxEntries: 10, now: time.now });
    const before = time.now();
    set.add({
      kind: 'sub',
      value: 'alice',
      issuedBefore: before,
      expiresAt: before + 3600,
    });
    set.add({
      kind: 'client',
      value: 'app',
      issuedBefore: before,
      expiresAt: before + 3600,
    });
    expect(set.check({ ...NONE, sub: 'alice', iat: before - 1 })?.kind).toBe(
      'sub',
    );
    expect(set.check({ ...NONE, sub: 'alice', iat: before })).toBeUndefined();
    expect(set.check({ ...NONE, sub: 'alice' })?.kind).toBe('sub');
    expect(set.check({ ...NONE, sub: 'bob', iat: 0 })).toBeUndefined();
    expect(
      set.check({ ...NONE, clientId: 'app', iat: before - 10 }),
    ).toMatchObject({
      kind: 'client',
      value: 'app',
      issuedBefore: before,
    });
    expect(
      set.check({ ...NONE, clientId: 'app', iat: before + 1 }),
    ).toBeUndefined();
  });

  it('widens a subject revocation to the later time and keeps the later expiry', () => {
    const time = clock();
    const set = new RevocationSet({ maxEntries: 10, now: time.now });
    const t = time.now();
    set.add({
      kind: 'sub',
      value: 'alice',
      issuedBefore: t,
      expiresAt: t + 100,
    });
    expect(
      set.add({
        kind: 'sub',
        value: 'alice',
        issuedBefore: t - 50,
        expiresAt: t + 50,
      }),
    ).toBe(false);
    expect(
      set.add({
        kind: 'sub',
        value: 'alice',
        issuedBefore: t + 10,
        expiresAt: t + 50,
      }),
    ).toBe(true);
    expect(set.check({ ...NONE, sub: 'alice', iat: t + 5 })).toMatchObject({
      issuedBefore: t + 10,
      expiresAt: t + 100,
    });
    expect(set.size).toBe(1);
  });

  it('ignores entries already expired', () => {
    const time = clock();
    const set = new RevocationSet({ maxEntries: 10, now: time.now });
    expect(set.add({ kind: 'jti', value: 'old', expiresAt: time.now() })).toBe(
      false,
    );
    expect(set.size).toBe(0);
  });

  it('refuses a revocation beyond maxEntries rather than dropping a live one, and makes room from expired ones', () => {
    const time = clock();
    const set = new RevocationSet({
      maxEntries: 2,
      bucketSeconds: 1,
      now: time.now,
    });
    set.add({ kind: 'jti', value: 'a', expiresAt: time.now() + 10 });
    set.add({ kind: 'jti', value: 'b', expiresAt: time.now() + 100 });
    expect(() =>
      set.add({ kind: 'jti', value: 'c', expiresAt: time.now() + 10 }),
    ).toThrow(RevocationStoreFullError);
    expect(set.check({ ...NONE, jti: 'a' })).toBeDefined();
    time.advance(10);
    expect(
      set.add({ kind: 'jti', value: 'c', expiresAt: time.now() + 10 }),
    ).toBe(true);
    expect(set.check({ ...NONE, jti: 'b' })).toBeDefined();
    expect(set.check({ ...NONE, jti: 'c' })).toBeDefined();
  });

  it('keeps an entry filed again with a later expiry past its first bucket', () => {
    const time = clock();
    const set = new RevocationSet({
      maxEntries: 10,
      bucketSeconds: 1,
      now: time.now,
    });
    set.add({ kind: 'jti', value: 'a', expiresAt: time.now() + 5 });
    set.add({ kind: 'jti', value: 'a', expiresAt: time.now() + 50 });
    time.advance(6);
    expect(set.sweep()).toBe(0);
    expect(set.check({ ...NONE, jti: 'a' })).toBeDefined();
    time.advance(50);
    expect(set.sweep()).toBe(1);
  });

  it('stays flat: a hundred thousand short-lived revocations leave nothing after they expire', () => {
    const time = clock();
    const set = new RevocationSet({
      maxEntries: 200_000,
      bucketSeconds: 1,
      now: time.now,
    });
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 100_000; i++) {
        set.add({
          kind: 'jti',
          value: `r${round}-${i}`,
          expiresAt: time.now() + 1 + (i % 5),
        });
      }
      expect(set.size).toBe(100_000);
      time.advance(6);
      set.sweep();
      expect(set.size).toBe(0);
      expect([...set.entries()]).toEqual([]);
    }
  });
});

describe('MemoryRevocationStore', () => {
  it('adds, checks and tells subscribers once per new revocation', async () => {
    const store = new MemoryRevocationStore();
    const seen: string[] = [];
    const unsubscribe = store.subscribe((r) =>
      seen.push(`${r.kind}:${r.value}`),
    );
    const expiresAt = Date.now() / 1000 + 60;
    await store.add({ kind: 'jti', value: 'j', expiresAt });
    await store.add({ kind: 'jti', value: 'j', expiresAt });
    expect(seen).toEqual(['jti:j']);
    expect(store.check({ ...NONE, jti: 'j' })).toBeDefined();
    expect(store.isAvailable()).toBe(true);
    unsubscribe();
    await store.add({ kind: 'sub', value: 's', issuedBefore: 1, expiresAt });
    expect(seen).toEqual(['jti:j']);
    await store.close();
  });

  it('addIfAbsent: true the first time only, in its own key space', async () => {
    const time = clock(Date.now() / 1000);
    const store = new MemoryRevocationStore({ now: time.now });
    await expect(store.addIfAbsent('proof-1', time.now() + 60)).resolves.toBe(
      true,
    );
    await expect(store.addIfAbsent('proof-1', time.now() + 60)).resolves.toBe(
      false,
    );
    expect(store.check({ ...NONE, jti: 'proof-1' })).toBeUndefined();
    time.advance(61);
    await expect(store.addIfAbsent('proof-1', time.now() + 60)).resolves.toBe(
      true,
    );
    await store.close();
  });

  it('rejects (never throws) when full', async () => {
    const store = new MemoryRevocationStore({ maxEntries: 1 });
    const expiresAt = Date.now() / 1000 + 60;
    await store.add({ kind: 'jti', value: 'a', expiresAt });
    await expect(
      store.add({ kind: 'jti', value: 'b', expiresAt }),
    ).rejects.toBeInstanceOf(RevocationStoreFullError);
    await store.close();
  });
});
