import fc from 'fast-check';
import { UseDpopNonceError } from '../bearer.errors.js';
import { DpopNonces } from './dpop-nonce.js';

const SECRET = Buffer.from('a shared secret of at least 32 characters', 'utf8');
const OTHER_SECRET = Buffer.from(
  'another secret, also 32 characters long',
  'utf8',
);
const LIFETIME = 300;
const SLOT_MS = LIFETIME * 1000;
/** The start of a slot, in milliseconds. */
const T0 = 5_000 * SLOT_MS;

/** A DpopNonces whose clock the test moves. */
function nonceClock(secret = SECRET, start = T0) {
  const clock = { now: start };
  const nonces = new DpopNonces(secret, LIFETIME, () => clock.now);
  return { clock, nonces };
}

describe('DpopNonces', () => {
  it('issues a nonce of 128 bits in base64url', () => {
    expect(nonceClock().nonces.current()).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('keeps the nonce for the whole slot', () => {
    const { clock, nonces } = nonceClock();
    const first = nonces.current();
    for (const offset of [1, 1000, SLOT_MS / 2, SLOT_MS - 1]) {
      clock.now = T0 + offset;
      expect(nonces.current()).toBe(first);
      expect(nonces.check(first)).toBe('current');
    }
  });

  it('changes the nonce at the slot boundary', () => {
    const { clock, nonces } = nonceClock();
    clock.now = T0 + SLOT_MS - 1;
    const before = nonces.current();
    clock.now = T0 + SLOT_MS;
    const after = nonces.current();
    expect(after).not.toBe(before);
    expect(nonces.check(after)).toBe('current');
  });

  it('accepts the nonce of the previous slot as previous for exactly one more slot', () => {
    const { clock, nonces } = nonceClock();
    const old = nonces.current();
    clock.now = T0 + SLOT_MS;
    expect(nonces.check(old)).toBe('previous');
    clock.now = T0 + 2 * SLOT_MS - 1;
    expect(nonces.check(old)).toBe('previous');
    clock.now = T0 + 2 * SLOT_MS;
    expect(nonces.check(old)).toBe('invalid');
  });

  it('refuses a stale nonce after the clock jumps several slots ahead', () => {
    const { clock, nonces } = nonceClock();
    const stale = nonces.current();
    clock.now = T0 + 3 * SLOT_MS;
    expect(nonces.check(stale)).toBe('invalid');
    // The slot before the new one is still the previous slot, though this instance never
    // issued its nonce.
    const reference = nonceClock(SECRET, T0 + 2 * SLOT_MS).nonces.current();
    expect(nonces.check(reference)).toBe('previous');
  });

  it('refuses a stale nonce after a jump of exactly two slots', () => {
    const { clock, nonces } = nonceClock();
    const stale = nonces.current();
    clock.now = T0 + 2 * SLOT_MS;
    expect(nonces.check(stale)).toBe('invalid');
  });

  it('accepts the nonce of the previous slot on an instance that starts in the next slot', () => {
    const issued = nonceClock(SECRET, T0).nonces.current();
    const fresh = nonceClock(SECRET, T0 + SLOT_MS).nonces;
    expect(fresh.check(issued)).toBe('previous');
  });

  it('refuses a nonce of a future slot', () => {
    const future = nonceClock(SECRET, T0 + SLOT_MS).nonces.current();
    expect(nonceClock().nonces.check(future)).toBe('invalid');
  });

  it('refuses a missing, empty or unknown nonce', () => {
    const { nonces } = nonceClock();
    expect(nonces.check(undefined)).toBe('invalid');
    expect(nonces.check('')).toBe('invalid');
    expect(nonces.check('AAAAAAAAAAAAAAAAAAAAAA')).toBe('invalid');
    expect(nonces.check(`${nonces.current()}x`)).toBe('invalid');
  });

  it('agrees across instances that share the secret', () => {
    const a = nonceClock().nonces;
    const b = nonceClock().nonces;
    expect(b.current()).toBe(a.current());
    expect(b.check(a.current())).toBe('current');
  });

  it('does not agree across instances with different secrets', () => {
    const a = nonceClock(SECRET).nonces;
    const b = nonceClock(OTHER_SECRET).nonces;
    expect(b.current()).not.toBe(a.current());
    expect(b.check(a.current())).toBe('invalid');
  });

  it('gives every slot its own nonce, and each instance the same one', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: 0, max: SLOT_MS - 1 }),
        fc.integer({ min: 0, max: SLOT_MS - 1 }),
        (slot, offsetA, offsetB) => {
          const a = nonceClock(SECRET, slot * SLOT_MS + offsetA).nonces;
          const b = nonceClock(SECRET, slot * SLOT_MS + offsetB).nonces;
          const before = nonceClock(SECRET, (slot - 1) * SLOT_MS).nonces;
          expect(a.current()).toBe(b.current());
          expect(a.current()).not.toBe(before.current());
          expect(a.check(before.current())).toBe('previous');
        },
      ),
      { numRuns: 200 },
    );
  });

  it('reads the clock on every call, with the slot length it was given', () => {
    const clock = { now: 0 };
    const short = new DpopNonces(SECRET, 10, () => clock.now);
    const first = short.current();
    clock.now = 9_999;
    expect(short.current()).toBe(first);
    clock.now = 10_000;
    expect(short.current()).not.toBe(first);
    expect(short.check(first)).toBe('previous');
  });
});

describe('UseDpopNonceError', () => {
  it('is a 401 use_dpop_nonce of the DPoP scheme that carries the nonce in DPoP-Nonce', () => {
    const error = new UseDpopNonceError('eyJ7S_zG.eyJH0-Z');
    expect(error.getStatus()).toBe(401);
    expect(error.code).toBe('use_dpop_nonce');
    expect(error.scheme).toBe('DPoP');
    expect(error.responseHeaders).toEqual({ 'DPoP-Nonce': 'eyJ7S_zG.eyJH0-Z' });
    expect(error.toBody()).toEqual({
      statusCode: 401,
      error: 'use_dpop_nonce',
      error_description:
        'The resource server requires a nonce in the DPoP proof.',
    });
  });
});
