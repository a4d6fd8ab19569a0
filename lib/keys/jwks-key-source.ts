/**
 * The issuer's signing keys, fetched with jwks-rsa and kept as `KeyObject`s per `kid`.
 *
 * jwks-rsa fetches (through our bounded fetcher) and turns JWKs into public keys; this
 * class decides when to fetch: once at first use, again when the set is older than its
 * max age, and on an unknown `kid` at most once per cooldown. At most one fetch is in
 * flight, and known keys outlive a failed fetch for a bounded time.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import jwksRsa from 'jwks-rsa';
import { AuthServerError, InvalidTokenError } from '../bearer.errors.js';
import { fetchJson } from './fetch-json.js';
import { jwksFetchTrace } from '../diagnostics.js';
import type { JwksOptions } from '../auth-options.js';

/** A signing key of the set. */
export interface SigningKeyEntry {
  readonly kid: string | undefined;
  /** The JWK's `alg`, when it names one; a token's `alg` must then match it. */
  readonly alg: string | undefined;
  readonly key: KeyObject;
  /** The SPKI PEM, to keep the same `KeyObject` across refetches of an unchanged key. */
  readonly pem: string;
}

/** Where the key source reports what it does. */
export interface KeySourceLogger {
  warn(message: string): void;
  debug(message: string): void;
}

/** The smallest RSA modulus accepted (RFC 8725 section 3.5, NIST SP 800-131A). */
export const MIN_RSA_BITS = 2048;

/**
 * The wait after the n-th failed fetch in a row: 1 s, doubling with each failure, up to the
 * cooldown and at most 30 s. Shared by the JWKS and discovery fetches.
 */
export function retryDelay(failures: number, cooldown: number): number {
  const cap = Math.min(cooldown, 30_000);
  return Math.min(cap, 1000 * 2 ** Math.min(failures - 1, 10));
}

/** One JWKS, its fetch policy and its keys. */
export class JwksKeySource {
  /** How many JWKS fetches were started (for tests, benchmarks and metrics). */
  fetches = 0;
  /** The issuer named in fetch traces; `undefined` for a JWKS shared by several issuers. */
  traceIssuer: string | undefined;

  private keys = new Map<string, SigningKeyEntry>();
  /** The set's only key, which also matches tokens without `kid`; none when there are more. */
  private soleKey: SigningKeyEntry | undefined;
  private loaded = false;
  private fetchedAt = 0;
  private lastFetchStart = Number.NEGATIVE_INFINITY;
  private retryAfter = 0;
  /** Whether the last fetch failed (then an unknown kid may well exist). */
  private lastFetchFailed = false;
  private failures = 0;
  private inflight: Promise<void> | undefined;
  private staleLogged = false;
  private readonly client: jwksRsa.JwksClient;

  constructor(
    private readonly resolveUri: () => Promise<string>,
    private readonly options: Readonly<Required<JwksOptions>>,
    private readonly logger: KeySourceLogger,
    private readonly now: () => number = Date.now,
  ) {
    const limits = {
      timeout: options.timeout,
      maxBytes: options.maxResponseBytes,
    };
    // jwks-rsa's own cache and rate limiter are per kid; ours covers the whole set.
    this.client = jwksRsa({
      jwksUri: 'configured-at-fetch-time',
      cache: false,
      rateLimit: false,
      fetcher: async () => {
        const doc = await fetchJson(await this.resolveUri(), limits);
        return { keys: doc.keys };
      },
    });
  }

  /** Starts a fetch in the background if no key set was loaded yet; never rejects. */
  warmUp(): void {
    if (!this.loaded) void this.refresh().catch(() => undefined);
  }

  /**
   * Fetches the key set now unless one is loaded.
   * @throws AuthServerError when it cannot be fetched or holds no usable key.
   */
  async load(): Promise<void> {
    if (!this.loaded) await this.refresh();
  }

  /**
   * Whether `key` is still the current key for `kid` and still admits `alg` (the token
   * cache asks this): a JWK whose `alg` changed keeps its `KeyObject`, yet no longer
   * verifies tokens of the old algorithm.
   */
  isCurrent(kid: string | undefined, key: KeyObject, alg: string): boolean {
    const entry = this.lookup(kid);
    return (
      entry?.key === key &&
      (entry.alg === undefined || entry.alg === alg) &&
      !this.isExpired()
    );
  }

  /**
   * The key for `kid` and `alg` when it can be decided without waiting: the set is loaded
   * and fresh, and either holds the key or cannot be refetched yet (cooldown). Returns
   * `undefined` when only {@link getKey} can decide (a fetch is due or in flight).
   *
   * @throws InvalidTokenError `unknown_key` or `algorithm`, as {@link getKey} would.
   */
  getKnownKey(kid: string | undefined, alg: string): KeyObject | undefined {
    if (!this.loaded || this.isExpired()) return undefined;
    const entry = this.lookup(kid);
    if (entry === undefined) {
      const canRefetch =
        this.inflight !== undefined ||
        (this.now() - this.lastFetchStart >= this.options.cooldown &&
          this.now() >= this.retryAfter);
      if (canRefetch || this.lastFetchFailed) return undefined;
      throw new InvalidTokenError('unknown_key');
    }
    if (entry.alg !== undefined && entry.alg !== alg) {
      throw new InvalidTokenError('algorithm');
    }
    return entry.key;
  }

  /**
   * The key that verifies a token with this `kid` and `alg`.
   *
   * @throws InvalidTokenError `unknown_key` when the set, freshly fetched if allowed, lacks it;
   *   `algorithm` when the key names another algorithm.
   * @throws AuthServerError when the key cannot be known because the JWKS cannot be fetched.
   */
  async getKey(kid: string | undefined, alg: string): Promise<KeyObject> {
    if (!this.loaded || this.isExpired()) await this.refreshIfAllowed();
    if (!this.loaded) {
      throw new AuthServerError(
        'the JWKS could not be fetched and no key is known',
      );
    }
    let entry = this.lookup(kid);
    if (entry === undefined) {
      if (this.inflight !== undefined) {
        // A fetch is already on its way (rotation seen by another request): share it.
        await this.inflight.catch(() => undefined);
      } else if (
        this.now() - this.lastFetchStart >= this.options.cooldown &&
        this.now() >= this.retryAfter
      ) {
        // An unknown kid may mean a rotation; a flood of them still fetches once per cooldown.
        await this.refresh().catch(() => undefined);
      }
      entry = this.lookup(kid);
    }
    if (entry === undefined) {
      // The last fetch failed, so the key may well exist: a server fault, not a bad token.
      if (this.lastFetchFailed) {
        throw new AuthServerError(
          'the JWKS cannot be fetched to look up an unknown kid',
        );
      }
      throw new InvalidTokenError('unknown_key');
    }
    if (entry.alg !== undefined && entry.alg !== alg) {
      throw new InvalidTokenError('algorithm');
    }
    return entry.key;
  }

  private lookup(kid: string | undefined): SigningKeyEntry | undefined {
    if (kid !== undefined) return this.keys.get(kid);
    // A token without `kid` is matched only when the set has exactly one key.
    return this.soleKey;
  }

  private isExpired(): boolean {
    return this.now() - this.fetchedAt >= this.options.cacheMaxAge;
  }

  /** Refreshes unless a recent failure asks to wait; on failure keeps known keys a while. */
  private async refreshIfAllowed(): Promise<void> {
    if (this.now() < this.retryAfter && this.inflight === undefined) {
      this.dropIfTooStale();
      return;
    }
    try {
      await this.refresh();
    } catch {
      this.dropIfTooStale();
    }
  }

  private dropIfTooStale(): void {
    if (this.loaded && this.now() - this.fetchedAt > this.options.staleMaxAge) {
      this.logger.warn(
        'JWKS unreachable beyond staleMaxAge: known keys are dropped',
      );
      this.keys = new Map();
      this.soleKey = undefined;
      this.loaded = false;
    }
  }

  /**
   * How long to wait after a failed fetch: 1 s, doubling with each failure in a row, up to
   * the cooldown (at most 30 s), so a short outage ends quickly and a long one costs little.
   */
  private backoff(): number {
    this.failures++;
    return retryDelay(this.failures, this.options.cooldown);
  }

  /** One fetch at a time; concurrent callers share it. */
  private refresh(): Promise<void> {
    this.inflight ??= this.fetchKeys().finally(() => {
      this.inflight = undefined;
    });
    return this.inflight;
  }

  private async fetchKeys(): Promise<void> {
    this.fetches++;
    this.lastFetchStart = this.now();
    let signingKeys: jwksRsa.SigningKey[];
    try {
      signingKeys = jwksFetchTrace.hasSubscribers
        ? await jwksFetchTrace.tracePromise(
            () => this.client.getSigningKeys(),
            {
              issuer: this.traceIssuer,
            },
          )
        : await this.client.getSigningKeys();
    } catch (error) {
      this.lastFetchFailed = true;
      this.retryAfter = this.now() + this.backoff();
      const reason = error instanceof Error ? error.message : 'unknown error';
      if (this.loaded && !this.staleLogged) {
        this.staleLogged = true;
        this.logger.warn(
          `JWKS fetch failed (${reason}); known keys stay in use`,
        );
      } else if (!this.loaded) {
        this.logger.warn(`JWKS fetch failed (${reason}); no key is known yet`);
      }
      throw new AuthServerError('JWKS fetch failed', { cause: error });
    }
    const next = new Map<string, SigningKeyEntry>();
    const usable: SigningKeyEntry[] = [];
    for (const signingKey of signingKeys) {
      const entry = this.importKey(signingKey);
      if (entry === undefined) continue;
      usable.push(entry);
      if (entry.kid !== undefined) next.set(entry.kid, entry);
    }
    if (usable.length === 0) {
      this.lastFetchFailed = true;
      this.retryAfter = this.now() + this.backoff();
      this.logger.warn('JWKS holds no usable signing key');
      throw new AuthServerError('JWKS holds no usable signing key');
    }
    this.keys = next;
    this.soleKey = usable.length === 1 ? usable[0] : undefined;
    this.loaded = true;
    this.fetchedAt = this.now();
    this.retryAfter = 0;
    this.failures = 0;
    this.lastFetchFailed = false;
    this.staleLogged = false;
    this.logger.debug(`JWKS fetched: ${next.size} signing key(s)`);
  }

  private importKey(
    signingKey: jwksRsa.SigningKey,
  ): SigningKeyEntry | undefined {
    const pem = signingKey.getPublicKey();
    const kid = signingKey.kid;
    const jwkAlg = (signingKey as { alg?: unknown }).alg;
    const alg = typeof jwkAlg === 'string' ? jwkAlg : undefined;
    const previous = this.lookup(kid);
    if (previous !== undefined && previous.pem === pem) {
      // Same key material: keep its KeyObject, but follow a change of the JWK's `alg`.
      return previous.alg === alg ? previous : { ...previous, alg };
    }
    let key: KeyObject;
    try {
      key = createPublicKey(pem);
    } catch {
      return undefined;
    }
    const bits = key.asymmetricKeyDetails?.modulusLength;
    if (
      key.asymmetricKeyType === 'rsa' ||
      key.asymmetricKeyType === 'rsa-pss'
    ) {
      if (bits === undefined || bits < MIN_RSA_BITS) {
        this.logger.warn(
          `JWKS key refused: RSA modulus under ${MIN_RSA_BITS} bits`,
        );
        return undefined;
      }
    }
    return { kid, alg, key, pem };
  }
}
