/**
 * The revocation store contract: where revocations are kept, how an instance checks a token
 * against them without I/O, and how it learns of new ones. The same store offers an atomic
 * "add if absent, with a lifetime" for one-time values such as DPoP proof `jti`s.
 */

/** What a revocation matches: one token (`jti`), or a subject's or client's older tokens. */
export type RevocationKind = 'jti' | 'sub' | 'client';

/** One revocation. Entries are never keyed by the token string, only by these claims. */
export interface Revocation {
  readonly kind: RevocationKind;
  /** The `jti`, the `sub`, or the client id (`client_id`, `azp` or `appid`). */
  readonly value: string;
  /**
   * For `sub` and `client`: tokens whose `iat` is earlier than this (epoch seconds) are
   * revoked; a token without `iat` is revoked too, since it cannot show it is newer.
   * Absent for `jti`.
   */
  readonly issuedBefore?: number;
  /**
   * Epoch seconds after which no token the entry matches can still be accepted (its `exp`
   * plus the clock tolerance); the entry is forgotten then, so memory stays flat.
   */
  readonly expiresAt: number;
}

/** The claims of a verified token that revocations are matched against. */
export interface RevocationCandidate {
  readonly jti: string | undefined;
  readonly sub: string | undefined;
  readonly clientId: string | undefined;
  /** `iat` in epoch seconds. */
  readonly iat: number | undefined;
}

/** Called with each revocation the store learns of, from this instance or another. */
export type RevocationListener = (revocation: Revocation) => void;

/**
 * Where revocations live. `check` runs on every request and must answer from memory,
 * synchronously; a shared store keeps a local copy for that and learns of changes by
 * subscription.
 */
export interface RevocationStore {
  /**
   * Records a revocation, for every instance that shares the store; resolves once it is
   * stored (and, for a shared store, published).
   * @throws RevocationStoreUnavailableError when the store cannot take it.
   */
  add(revocation: Revocation): Promise<void>;
  /** The revocation in force that matches the token, else `undefined`; no I/O. */
  check(candidate: RevocationCandidate): Revocation | undefined;
  /**
   * Whether {@link check} answers from a complete, current copy. A shared store is
   * unavailable while it is disconnected and until its copy is rebuilt after a reconnect.
   */
  isAvailable(): boolean;
  /** Calls `listener` for every revocation learnt from now on; returns the unsubscribe. */
  subscribe(listener: RevocationListener): () => void;
  /**
   * Atomically records `key` until `expiresAt` (epoch seconds) unless it is already
   * recorded: `true` when it was new. For one-time values (a DPoP proof's `jti`), shared
   * by every instance on a shared store.
   * @throws RevocationStoreUnavailableError when the store cannot answer.
   */
  addIfAbsent(key: string, expiresAt: number): Promise<boolean>;
  /**
   * {@link addIfAbsent} answered at once, for a store that keeps one-time values in this
   * process (the memory store); the DPoP check then needs no promise.
   * @throws RevocationStoreFullError when the store has no room.
   */
  addIfAbsentNow?(key: string, expiresAt: number): boolean;
  /**
   * Resolves once the store can answer (a shared store's first sync), or after
   * `timeoutMs`; never rejects. The module waits for it at start.
   */
  whenReady?(timeoutMs: number): Promise<void>;
  /** Releases timers and connections; the module calls it at shutdown for stores it made. */
  close?(): Promise<void>;
}

/** The store cannot answer (Redis unreachable, say); the request is a 500, never a 401. */
export class RevocationStoreUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RevocationStoreUnavailableError';
  }
}

/** The local copy is full of live entries and cannot take another without forgetting one. */
export class RevocationStoreFullError extends Error {
  constructor(maxEntries: number) {
    super(
      `the revocation store holds ${maxEntries} live entries (revocation.maxEntries); a revocation is never dropped to make room`,
    );
    this.name = 'RevocationStoreFullError';
  }
}
