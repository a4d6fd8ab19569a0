import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { KeyObject } from 'node:crypto';
import { RESOLVED_AUTH_OPTIONS } from '../auth.constants.js';
import type {
  ResolvedAuthOptions,
  ResolvedIssuerConfig,
} from '../auth-options.js';
import { AuthServerError } from '../bearer.errors.js';
import { LruMap } from '../lru-map.js';
import { TENANT_PLACEHOLDER } from '../token-policy.js';
import { IssuerDiscovery } from './issuer-discovery.js';
import { JwksKeySource, type KeySourceLogger } from './jwks-key-source.js';

export type { IssuerMetadata } from './issuer-discovery.js';

/** The key source of an issuer a resolver vouched for, and the JWKS it was made for. */
interface ResolvedSource {
  readonly source: JwksKeySource;
  readonly jwksUri: string | undefined;
}

/** How many key sources exist (`IssuerKeysService.stats()`). */
export interface KeySourceStats {
  /** Key sources of configured issuers (top-level `issuer` and the `issuers` list). */
  readonly configured: number;
  /** Key sources of issuers a resolver vouched for; at most `issuers.maxIssuers`. */
  readonly resolved: number;
}

/**
 * Keys per issuer. With `jwksUri` every top-level issuer shares one key source; without it
 * each issuer's `jwks_uri` is read once from its discovery document
 * ({@link IssuerDiscovery}). Each `issuers` entry has its own. Issuers vouched for by a
 * resolver get theirs on first use, in a bounded LRU: an evicted source is dropped.
 */
@Injectable()
export class IssuerKeysService implements OnApplicationBootstrap {
  private readonly logger = new Logger('nestjs-bearer');
  private readonly sources = new Map<string, JwksKeySource>();
  private readonly discoveries = new Map<string, IssuerDiscovery>();
  private readonly resolved: LruMap<string, ResolvedSource>;
  private readonly log: KeySourceLogger;

  constructor(
    @Inject(RESOLVED_AUTH_OPTIONS)
    private readonly options: ResolvedAuthOptions,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
  ) {
    const log = {
      warn: (message: string) => this.logger.warn(message),
      debug: (message: string) => this.logger.debug(message),
    };
    this.log = log;
    this.resolved = new LruMap(options.issuerResolver?.maxIssuers ?? 0);
    const listed = new Set(
      options.issuerConfigs.map((config) => config.issuer),
    );
    const topLevel = options.issuers.filter((issuer) => !listed.has(issuer));
    const shared =
      options.jwksUri === undefined
        ? undefined
        : new JwksKeySource(
            () => Promise.resolve(options.jwksUri as string),
            options.jwks,
            log,
          );
    if (shared !== undefined && topLevel.length === 1) {
      shared.traceIssuer = topLevel[0];
    }
    for (const issuer of topLevel) {
      // A `{tenantid}` template names no real issuer, so it has no discovery document.
      if (!issuer.includes(TENANT_PLACEHOLDER)) {
        this.discoveries.set(issuer, this.createDiscovery(issuer));
      }
      this.sources.set(
        issuer,
        shared ?? this.createSource(issuer, undefined, this.discoveries),
      );
    }
    for (const config of options.issuerConfigs) {
      if (config.jwksUri === undefined) {
        this.discoveries.set(
          config.issuer,
          this.createDiscovery(config.issuer),
        );
      }
      this.sources.set(
        config.issuer,
        this.createSource(config.issuer, config.jwksUri, this.discoveries),
      );
    }
  }

  private createDiscovery(issuer: string): IssuerDiscovery {
    const { jwks } = this.options;
    const limits = {
      timeout: jwks.timeout,
      maxBytes: jwks.maxResponseBytes,
      cooldown: jwks.cooldown,
    };
    return new IssuerDiscovery(issuer, limits, this.log);
  }

  /** A key source for one issuer: its `jwksUri`, else its discovery in `discoveries`. */
  private createSource(
    issuer: string,
    jwksUri: string | undefined,
    discoveries: ReadonlyMap<string, IssuerDiscovery>,
  ): JwksKeySource {
    const discovery = discoveries.get(issuer);
    const source = new JwksKeySource(
      jwksUri === undefined
        ? async () => (await (discovery as IssuerDiscovery).resolve()).jwks_uri
        : () => Promise.resolve(jwksUri),
      this.options.jwks,
      this.log,
    );
    source.traceIssuer = issuer;
    return source;
  }

  /** Fetches keys (and discovery) in the background so the first request is fast. */
  async onApplicationBootstrap(): Promise<void> {
    if (this.options.jwks.requireAtStartup) {
      await this.loadAll();
      return;
    }
    const host = this.adapterHost;
    // Before listen() the issuer may be unreachable for a reason that ends with it: an
    // issuer served by this very app (the sample's development issuer), or a sidecar that
    // waits for the app's port. A failed warm-up would then hold fetches back for a while.
    if (host?.httpAdapter !== undefined && !host.listening) {
      const subscription = host.listen$.subscribe(() => {
        subscription.unsubscribe();
        this.warmUp();
      });
      return;
    }
    this.warmUp();
  }

  /** `jwks.requireAtStartup`: every key source must load before the app starts. */
  private async loadAll(): Promise<void> {
    try {
      await Promise.all(
        [...new Set(this.sources.values())].map((source) => source.load()),
      );
    } catch (error) {
      const reason =
        error instanceof AuthServerError
          ? error.cause instanceof Error
            ? error.cause.message
            : error.internalReason
          : 'unknown error';
      throw new Error(
        `nestjs-bearer: the issuer's keys could not be loaded at start (${reason}); jwks.requireAtStartup is on.`,
        { cause: error },
      );
    }
  }

  private warmUp(): void {
    for (const source of new Set(this.sources.values())) source.warmUp();
    if (this.options.authorizationUri === undefined) {
      void this.discoveryOf(this.options.issuers[0])
        ?.resolve()
        .catch(() => undefined);
    }
  }

  /** The key source of a trusted issuer (configured, or resolved and still kept). */
  sourceFor(issuer: string): JwksKeySource {
    const source = this.findSource(issuer);
    // The token policy admits only trusted issuers, so this is a programming error.
    if (source === undefined)
      throw new AuthServerError(`no key source for issuer`);
    return source;
  }

  /**
   * The key source of a configured issuer, or of a resolved one while it is kept;
   * `undefined` otherwise. One or two Map lookups: the token cache asks this on every hit.
   */
  findSource(issuer: string): JwksKeySource | undefined {
    return this.sources.get(issuer) ?? this.resolved.peek(issuer)?.source;
  }

  /**
   * The key source of an issuer a resolver vouched for, made on first use. A new answer
   * with another `jwksUri` replaces it (and so the keys it verified). At most
   * `issuers.maxIssuers` are kept; the least recently used is dropped.
   */
  resolvedSource(config: ResolvedIssuerConfig): JwksKeySource {
    const configured = this.sources.get(config.issuer);
    if (configured !== undefined) return configured;
    const kept = this.resolved.get(config.issuer);
    if (kept !== undefined && kept.jwksUri === config.jwksUri) {
      return kept.source;
    }
    // The discovery lives with its source only, so a dropped source takes it along.
    const discoveries = new Map<string, IssuerDiscovery>();
    if (config.jwksUri === undefined) {
      discoveries.set(config.issuer, this.createDiscovery(config.issuer));
    }
    const source = this.createSource(
      config.issuer,
      config.jwksUri,
      discoveries,
    );
    this.resolved.set(config.issuer, { source, jwksUri: config.jwksUri });
    return source;
  }

  /** Drops the key source of a resolved issuer (its resolver no longer vouches for it). */
  dropResolved(issuer: string): void {
    this.resolved.delete(issuer);
  }

  /** How many key sources exist. */
  stats(): KeySourceStats {
    return {
      configured: new Set(this.sources.values()).size,
      resolved: this.resolved.size,
    };
  }

  /** The discovery of a configured issuer; `undefined` for a `{tenantid}` template. */
  discoveryOf(issuer: string | undefined): IssuerDiscovery | undefined {
    return issuer === undefined ? undefined : this.discoveries.get(issuer);
  }

  /** The key for a token of `issuer` with this `kid` and `alg`. */
  getKey(
    issuer: string,
    kid: string | undefined,
    alg: string,
  ): Promise<KeyObject> {
    return this.sourceFor(issuer).getKey(kid, alg);
  }

  /** JWKS fetches started, over all sources. */
  get fetches(): number {
    let total = 0;
    for (const source of new Set(this.sources.values()))
      total += source.fetches;
    for (const { source } of this.resolved.values()) total += source.fetches;
    return total;
  }
}
