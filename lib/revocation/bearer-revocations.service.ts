import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { RESOLVED_AUTH_OPTIONS } from '../auth.constants.js';
import type { ResolvedAuthOptions } from '../auth-options.js';
import { BearerAuthenticator } from '../bearer-authenticator.service.js';
import { AuthServerError, InvalidTokenError } from '../bearer.errors.js';
import {
  readOwnClaim,
  type BearerPrincipal,
  type JwtClaims,
} from '../claims.js';
import type { ConfiguredRevocationStore } from './create-revocation-store.js';
import { REVOCATION_STORE } from './revocation.constants.js';
import { epochSeconds } from './revocation-set.js';
import type {
  Revocation,
  RevocationCandidate,
  RevocationStore,
} from './revocation-store.js';

/** The longest `jti`, `sub` or client id accepted for a revocation. */
export const MAX_REVOCATION_VALUE_LENGTH = 1024;
/** How long the module waits at start for a shared store's first sync, in milliseconds. */
const READY_WAIT_MS = 3000;
/** The least time between two evictions of the token cache, in milliseconds. */
const EVICTION_INTERVAL_MS = 1000;

/** The claims a revocation can match, read from a verified token. */
export function toRevocationCandidate(claims: JwtClaims): RevocationCandidate {
  const text = (name: string): string | undefined => {
    const value = readOwnClaim(claims, name);
    return typeof value === 'string' && value !== '' ? value : undefined;
  };
  const iat = readOwnClaim(claims, 'iat');
  return {
    jti: text('jti'),
    sub: text('sub'),
    // RFC 9068 `client_id`, else OIDC's `azp` (Azure AD v2), else Azure AD v1's `appid`.
    clientId: text('client_id') ?? text('azp') ?? text('appid'),
    iat: typeof iat === 'number' && Number.isFinite(iat) ? iat : undefined,
  };
}

function checkValue(value: unknown, name: string): string {
  if (
    typeof value !== 'string' ||
    value === '' ||
    value.length > MAX_REVOCATION_VALUE_LENGTH
  ) {
    throw new TypeError(
      `nestjs-bearer: ${name} must be a non-empty string of at most ${MAX_REVOCATION_VALUE_LENGTH} characters`,
    );
  }
  return value;
}

function checkTime(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(
      `nestjs-bearer: ${name} must be a time in seconds since the epoch`,
    );
  }
  return value;
}

/**
 * Revokes access tokens before their `exp`: one token by its `jti`, or every token of a
 * subject or a client issued before a time. A revoked token is refused with 401
 * `invalid_token`, "The access token is revoked.", on the cached and the fresh path, by
 * every instance that shares the store (the `revocation` option).
 *
 * Entries are keyed by claims, never by the token string, and kept only as long as a token
 * they match can still be accepted.
 */
@Injectable()
export class BearerRevocations implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('nestjs-bearer');
  private readonly configured: ConfiguredRevocationStore | undefined;
  private unsubscribe: (() => void) | undefined;
  private lastEviction = 0;
  private evictionTimer: NodeJS.Timeout | undefined;
  private outage = false;

  constructor(
    @Inject(RESOLVED_AUTH_OPTIONS)
    private readonly options: ResolvedAuthOptions,
    private readonly authenticator: BearerAuthenticator,
    @Inject(REVOCATION_STORE)
    configured: ConfiguredRevocationStore | undefined,
  ) {
    this.configured = configured;
  }

  /** The configured store, or `undefined` when revocation is off. */
  get store(): RevocationStore | undefined {
    return this.configured?.store;
  }

  /** Whether revocation is on (the `revocation` option is set). */
  get enabled(): boolean {
    return this.configured !== undefined;
  }

  async onModuleInit(): Promise<void> {
    const store = this.store;
    if (store === undefined) return;
    this.authenticator.addVerificationHook(this.verify);
    // An open WebSocket was verified once: its messages, and its socket, check again.
    this.authenticator.addStandingCheck(this.verify);
    this.unsubscribe = store.subscribe(() => {
      this.evict();
      this.authenticator.standingChanged();
    });
    await store.whenReady?.(READY_WAIT_MS);
  }

  async onApplicationShutdown(): Promise<void> {
    this.unsubscribe?.();
    clearTimeout(this.evictionTimer);
    if (this.configured?.owned === true) await this.configured.store.close?.();
  }

  /**
   * Revokes one token by its `jti`. Pass its `exp` (seconds since the epoch) so the entry
   * ends with it; without one the entry is kept `revocation.maxTokenLifetime`.
   */
  async revokeToken(jti: string, exp?: number): Promise<void> {
    const value = checkValue(jti, 'jti');
    const until =
      exp === undefined
        ? epochSeconds() + this.revocation().maxTokenLifetime
        : checkTime(exp, 'exp');
    await this.add({
      kind: 'jti',
      value,
      expiresAt: until + this.options.clockTolerance,
    });
  }

  /**
   * Revokes every token of a subject (`sub`) issued before `before` (seconds since the
   * epoch; `iat` earlier than it, or no `iat`).
   * @param before defaults to now, so every token issued so far.
   */
  async revokeSubject(sub: string, before?: number): Promise<void> {
    await this.addIssuedBefore('sub', checkValue(sub, 'sub'), before);
  }

  /**
   * Revokes every token of a client (`client_id`, else `azp`, else `appid`) issued before
   * `before` (seconds since the epoch).
   * @param before defaults to now, so every token issued so far.
   */
  async revokeClient(clientId: string, before?: number): Promise<void> {
    await this.addIssuedBefore(
      'client',
      checkValue(clientId, 'clientId'),
      before,
    );
  }

  /** Whether a verified principal is revoked, by the store's local copy. */
  isRevoked(principal: BearerPrincipal): boolean {
    const store = this.store;
    if (store === undefined) return false;
    return store.check(toRevocationCandidate(principal.claims)) !== undefined;
  }

  /** The verification hook: runs on every request, from memory only. */
  private readonly verify = (principal: BearerPrincipal): void => {
    const store = this.store as RevocationStore;
    if (!store.isAvailable()) this.whileUnavailable();
    else if (this.outage) this.outage = false;
    if (store.check(toRevocationCandidate(principal.claims)) !== undefined) {
      throw new InvalidTokenError('revoked');
    }
  };

  private whileUnavailable(): void {
    if (this.revocation().onStoreUnavailable === 'fail-closed') {
      throw new AuthServerError('the revocation store is unavailable');
    }
    if (!this.outage) {
      this.outage = true;
      this.logger.warn(
        'revocation store unavailable: failing open, with only the revocations known so far',
      );
    }
  }

  private async addIssuedBefore(
    kind: 'sub' | 'client',
    value: string,
    before: number | undefined,
  ): Promise<void> {
    // Rounded up: a token issued in the current second is covered.
    const issuedBefore =
      before === undefined
        ? Math.ceil(epochSeconds())
        : checkTime(before, 'before');
    const { maxTokenLifetime } = this.revocation();
    await this.add({
      kind,
      value,
      issuedBefore,
      expiresAt: issuedBefore + maxTokenLifetime + this.options.clockTolerance,
    });
  }

  private async add(revocation: Revocation): Promise<void> {
    const store = this.store;
    if (store === undefined) throw notConfigured();
    try {
      await store.add(revocation);
    } catch (error) {
      throw new AuthServerError('the revocation could not be stored', {
        cause: error,
      });
    }
    this.evict();
  }

  private revocation(): NonNullable<ResolvedAuthOptions['revocation']> {
    const revocation = this.options.revocation;
    if (revocation === undefined) throw notConfigured();
    return revocation;
  }

  /**
   * Empties the token cache after a revocation, at most once a second (a burst of
   * revocations would otherwise turn every request into a signature check); the hook
   * refuses a revoked token on a cache hit in between anyway.
   */
  private evict(): void {
    const now = Date.now();
    const wait = this.lastEviction + EVICTION_INTERVAL_MS - now;
    if (wait <= 0) {
      this.lastEviction = now;
      this.authenticator.clearCache();
      return;
    }
    if (this.evictionTimer !== undefined) return;
    this.evictionTimer = setTimeout(() => {
      this.evictionTimer = undefined;
      this.lastEviction = Date.now();
      this.authenticator.clearCache();
    }, wait);
    this.evictionTimer.unref();
  }
}

function notConfigured(): Error {
  return new Error(
    'nestjs-bearer: revocation is off; set the "revocation" option of AuthModule',
  );
}
