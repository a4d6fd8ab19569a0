import { Inject, Injectable, Logger } from '@nestjs/common';
import { RESOLVED_AUTH_OPTIONS } from './auth.constants.js';
import {
  AuthConfigurationError,
  resolveIssuerConfig,
  type IssuerDefaults,
  type ResolvedAuthOptions,
  type ResolvedIssuerConfig,
  type ResolvedIssuerResolver,
} from './auth-options.js';
import { AuthServerError, InvalidTokenError } from './bearer.errors.js';
import { readOwnClaim } from './claims.js';
import { IssuerKeysService } from './keys/issuer-keys.service.js';
import type { JwksKeySource } from './keys/jwks-key-source.js';
import { LruMap } from './lru-map.js';
import type { TokenRequest } from './token-extractor.js';
import {
  checkDecodedToken,
  decodeToken,
  inspectToken,
  matchIssuer,
  TENANT_PLACEHOLDER,
  type InspectedToken,
  type TokenPolicy,
} from './token-policy.js';

/** What a trusted issuer's tokens are checked against, and where its claims are read. */
export interface IssuerEntry {
  /** The key-free policy of the issuer's tokens (its algorithms and audiences). */
  readonly policy: TokenPolicy;
  /** The audiences of its configuration (a route's `@Resource()` aside). */
  readonly audiences: readonly string[];
  /** Its claim map. */
  readonly scopeClaims: readonly string[];
  readonly roleClaim: string;
  /** The resolver's configuration for a resolved issuer; `undefined` for a configured one. */
  readonly resolved: ResolvedIssuerConfig | undefined;
  /** Epoch milliseconds until which the entry holds: `Infinity`, or the resolver's answer. */
  readonly expiresAt: number;
}

/** A token that passed its issuer's key-free policy, and that issuer. */
export interface IssuedToken {
  readonly inspected: InspectedToken;
  readonly entry: IssuerEntry;
}

/** What the registry holds (`IssuerRegistry.stats()`), for tests and metrics. */
export interface IssuerStats {
  /** Statically configured issuers (top-level `issuer` and the `issuers` list). */
  readonly configured: number;
  /** Cached resolver answers, "not trusted" included; at most `issuers.maxIssuers`. */
  readonly resolved: number;
  /** Resolver calls in flight. */
  readonly pending: number;
  /** Resolver calls made since start. */
  readonly resolverCalls: number;
  /** Key sources of resolved issuers; at most `issuers.maxIssuers`. */
  readonly resolvedKeySources: number;
}

/** A cached resolver answer: an entry, or `undefined` for "not trusted". */
interface CachedAnswer {
  readonly entry: IssuerEntry | undefined;
  readonly expiresAt: number;
}

/**
 * The trusted issuers and, for each, its policy and claim map: the top-level `issuer`, the
 * `issuers` list, and the answers of an `issuers` resolver.
 *
 * A token's `iss` is read from its unverified payload and picks the entry; its key then
 * comes only from that issuer's JWKS, so an `iss` cannot choose a key it was not vouched
 * for. A configured issuer is decided synchronously. An issuer neither configured nor
 * vouched for by the resolver is refused before anything is fetched; the resolver's
 * answers are cached in a bounded LRU, so a flood of invented issuers costs one resolver
 * call each, no network call, and bounded memory.
 */
@Injectable()
export class IssuerRegistry {
  private readonly logger = new Logger('nestjs-bearer');
  /** Whether anything but the top-level issuer is configured. */
  readonly multiple: boolean;
  private readonly configured = new Map<string, IssuerEntry>();
  private topLevel: IssuerEntry;
  private readonly topLevelTemplated: boolean;
  private readonly resolver: ResolvedIssuerResolver | undefined;
  private readonly answers: LruMap<string, CachedAnswer>;
  private readonly pending = new Map<
    string,
    Promise<IssuerEntry | undefined>
  >();
  private readonly defaults: IssuerDefaults;
  private extraAudiences: readonly string[] = [];
  private resolverCalls = 0;
  /** The clock of the answers' lifetimes (epoch milliseconds). */
  protected now: () => number = Date.now;

  constructor(
    @Inject(RESOLVED_AUTH_OPTIONS)
    private readonly options: ResolvedAuthOptions,
    private readonly keys: IssuerKeysService,
  ) {
    this.resolver = options.issuerResolver;
    this.multiple =
      options.issuerConfigs.length > 0 || this.resolver !== undefined;
    this.answers = new LruMap(this.resolver?.maxIssuers ?? 0);
    this.defaults = {
      audiences: options.audiences,
      algorithms: options.algorithms,
      roleClaim: options.roleClaim,
      scopeClaims: options.scopeClaims,
    };
    const listed = new Set(options.issuerConfigs.map((c) => c.issuer));
    const topIssuers = options.issuers.filter((issuer) => !listed.has(issuer));
    this.topLevelTemplated = topIssuers.some((issuer) =>
      issuer.includes(TENANT_PLACEHOLDER),
    );
    this.topLevel = this.createTopLevel(topIssuers);
    this.indexConfigured(topIssuers);
  }

  private createTopLevel(issuers: readonly string[]): IssuerEntry {
    const { options } = this;
    return {
      policy: {
        ...options,
        issuers,
        audiences: [...options.audiences, ...this.extraAudiences],
      },
      audiences: options.audiences,
      scopeClaims: options.scopeClaims,
      roleClaim: options.roleClaim,
      resolved: undefined,
      expiresAt: Infinity,
    };
  }

  private createEntry(
    config: ResolvedIssuerConfig,
    resolved: boolean,
    expiresAt: number,
  ): IssuerEntry {
    const { options } = this;
    return {
      policy: {
        algorithms: config.algorithms,
        issuers: [config.issuer],
        allowedTenants: undefined,
        audiences: [...config.audiences, ...this.extraAudiences],
        clockTolerance: options.clockTolerance,
        maxTokenLength: options.maxTokenLength,
        requireAtJwt: options.requireAtJwt,
      },
      audiences: config.audiences,
      scopeClaims: config.scopeClaims,
      roleClaim: config.roleClaim,
      resolved: resolved ? config : undefined,
      expiresAt,
    };
  }

  private indexConfigured(topIssuers: readonly string[]): void {
    this.configured.clear();
    for (const issuer of topIssuers) {
      if (!issuer.includes(TENANT_PLACEHOLDER)) {
        this.configured.set(issuer, this.topLevel);
      }
    }
    for (const config of this.options.issuerConfigs) {
      this.configured.set(
        config.issuer,
        this.createEntry(config, false, Infinity),
      );
    }
  }

  /**
   * Admits tokens for `audience` too, from every issuer (a route's `@Resource()`). Cached
   * answers are forgotten, so the next lookups build their policies with it.
   */
  acceptAudience(audience: string): void {
    this.extraAudiences = [...this.extraAudiences, audience];
    this.topLevel = this.createTopLevel(this.topLevel.policy.issuers);
    this.indexConfigured(this.topLevel.policy.issuers);
    this.answers.clear();
  }

  /** The policy of the top-level `issuer` (the whole policy when nothing else is configured). */
  get topLevelPolicy(): TokenPolicy {
    return this.topLevel.policy;
  }

  /**
   * The entry of a token's `iss`: configured (synchronously), cached, or asked of the
   * resolver (a promise); `undefined` when nobody vouches for it.
   *
   * @throws AuthServerError (or rejects with it) when the resolver throws or answers
   *   something invalid; that is never cached.
   */
  lookup(
    iss: string,
    claims: Readonly<Record<string, unknown>>,
    request: TokenRequest | undefined,
  ): IssuerEntry | undefined | Promise<IssuerEntry | undefined> {
    const configured = this.configured.get(iss);
    if (configured !== undefined) return configured;
    if (
      this.topLevelTemplated &&
      matchIssuer(iss, claims, this.topLevel.policy) !== undefined
    ) {
      return this.topLevel;
    }
    if (this.resolver === undefined) return undefined;
    const cached = this.answers.get(iss);
    if (cached !== undefined) {
      if (this.now() < cached.expiresAt) return cached.entry;
      this.answers.delete(iss);
    }
    return this.pending.get(iss) ?? this.ask(this.resolver, iss, request);
  }

  /** One resolver call per issuer at a time; its answer is validated, then cached. */
  private ask(
    resolver: ResolvedIssuerResolver,
    iss: string,
    request: TokenRequest | undefined,
  ): Promise<IssuerEntry | undefined> {
    this.resolverCalls++;
    const call = (async () => {
      let answer: unknown;
      try {
        answer = await resolver.resolve(iss, request);
      } catch (error) {
        this.logger.warn(
          `the issuer resolver failed (${error instanceof Error ? error.message : 'unknown error'})`,
        );
        throw new AuthServerError('the issuer resolver failed', {
          cause: error,
        });
      }
      const expiresAt = this.now() + resolver.cacheMaxAge * 1000;
      if (answer === undefined) {
        this.keys.dropResolved(iss);
        this.answers.set(iss, { entry: undefined, expiresAt });
        return undefined;
      }
      const config = this.checkAnswer(answer, iss);
      const entry = this.createEntry(config, true, expiresAt);
      this.answers.set(iss, { entry, expiresAt });
      return entry;
    })().finally(() => this.pending.delete(iss));
    this.pending.set(iss, call);
    return call;
  }

  private checkAnswer(answer: unknown, iss: string): ResolvedIssuerConfig {
    let config: ResolvedIssuerConfig;
    try {
      config = resolveIssuerConfig(answer, 'issuers.resolve()', this.defaults);
    } catch (error) {
      const reason =
        error instanceof AuthConfigurationError ? error.message : 'invalid';
      this.logger.warn(`the issuer resolver's answer is invalid: ${reason}`);
      throw new AuthServerError(
        'the issuer resolver answered an invalid configuration',
        {
          cause: error,
        },
      );
    }
    // The answer must be about the issuer asked: it decides which JWKS vouches for `iss`.
    if (config.issuer !== iss) {
      this.logger.warn(
        `the issuer resolver answered for another issuer than the one asked`,
      );
      throw new AuthServerError('the issuer resolver answered another issuer');
    }
    return config;
  }

  /** The key source of an entry's issuer (`issuer`: the matched configured entry). */
  sourceOf(entry: IssuerEntry, issuer: string): JwksKeySource {
    return entry.resolved === undefined
      ? this.keys.sourceFor(issuer)
      : this.keys.resolvedSource(entry.resolved);
  }

  /**
   * The audiences configured for a token's issuer (the top-level `audience` when its
   * issuer is not known here), without waiting: a configured issuer or a cached answer.
   */
  audiencesOf(claims: Readonly<Record<string, unknown>>): readonly string[] {
    const iss = readOwnClaim(claims, 'iss');
    if (typeof iss !== 'string') return this.options.audiences;
    return (
      this.configured.get(iss)?.audiences ??
      this.answers.peek(iss)?.entry?.audiences ??
      this.options.audiences
    );
  }

  /**
   * Decodes a token and applies its issuer's key-free policy (for the passport strategy;
   * the authenticator inlines the same steps on its hot path).
   *
   * @throws InvalidTokenError, or AuthServerError from the resolver; synchronously or as
   *   the promise's rejection.
   */
  inspect(
    token: string,
    request: TokenRequest | undefined,
  ): IssuedToken | Promise<IssuedToken> {
    if (!this.multiple) {
      return {
        inspected: inspectToken(token, this.topLevel.policy),
        entry: this.topLevel,
      };
    }
    const decoded = decodeToken(token, this.options);
    const iss = readOwnClaim(decoded.claims, 'iss');
    if (typeof iss !== 'string') throw new InvalidTokenError('issuer');
    const found = this.lookup(iss, decoded.claims, request);
    const finish = (entry: IssuerEntry | undefined): IssuedToken => {
      if (entry === undefined) throw new InvalidTokenError('issuer');
      return { inspected: checkDecodedToken(decoded, entry.policy), entry };
    };
    return found instanceof Promise ? found.then(finish) : finish(found);
  }

  /**
   * Forgets the cached answer and key source of a resolved issuer, so the resolver is asked
   * again at its next token (say, after a tenant was removed).
   */
  forget(issuer: string): void {
    this.answers.delete(issuer);
    this.keys.dropResolved(issuer);
  }

  /** Sizes of the registry and of the resolved issuers' key sources. */
  stats(): IssuerStats {
    return {
      configured: this.configured.size,
      resolved: this.answers.size,
      pending: this.pending.size,
      resolverCalls: this.resolverCalls,
      resolvedKeySources: this.keys.stats().resolved,
    };
  }
}
