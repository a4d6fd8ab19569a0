/**
 * Stateless DPoP nonces (RFC 9449 section 9): a nonce is an HMAC of a time slot, so every
 * instance that shares the secret issues and accepts the same nonces without sharing state.
 */
import { createHmac } from 'node:crypto';

/** How a proof's nonce compares with the server's. */
export type NonceStanding = 'current' | 'previous' | 'invalid';

/**
 * Issues the nonce of the current slot and accepts it and the previous slot's, so a nonce
 * lives between one and two slots and a client never races the rotation.
 */
export class DpopNonces {
  private slot = Number.NaN;
  private currentNonce = '';
  private previousNonce = '';

  /**
   * @param secret the HMAC key, shared by every instance of the API.
   * @param lifetime the length of a slot, in seconds.
   * @param clock now, in milliseconds since the epoch.
   */
  constructor(
    private readonly secret: Buffer,
    private readonly lifetime: number,
    private readonly clock: () => number = Date.now,
  ) {}

  /** The nonce a client should use now; it changes when a new slot starts. */
  current(): string {
    this.rotate();
    return this.currentNonce;
  }

  /** Whether `nonce` is the current slot's, the previous slot's, or neither. */
  check(nonce: string | undefined): NonceStanding {
    this.rotate();
    if (nonce === undefined) return 'invalid';
    if (nonce === this.currentNonce) return 'current';
    if (nonce === this.previousNonce) return 'previous';
    return 'invalid';
  }

  private rotate(): void {
    const slot = Math.floor(this.clock() / 1000 / this.lifetime);
    if (slot === this.slot) return;
    this.previousNonce =
      slot === this.slot + 1 ? this.currentNonce : this.nonceOf(slot - 1);
    this.currentNonce = this.nonceOf(slot);
    this.slot = slot;
  }

  private nonceOf(slot: number): string {
    return createHmac('sha256', this.secret)
      .update(`nestjs-bearer DPoP nonce ${slot}`)
      .digest()
      .subarray(0, 16)
      .toString('base64url');
  }
}
