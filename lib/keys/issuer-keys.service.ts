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
import type { ResolvedAuthOptions } from '../auth-options.js';
import { AuthServerError } from '../bearer.errors.js';
import { TENANT_PLACEHOLDER } from '../token-policy.js';
import { IssuerDiscovery } from './issuer-discovery.js';
import { JwksKeySource } from './jwks-key-source.js';

export type { IssuerMetadata } from './issuer-discovery.js';

/**
 * Keys per issuer. With `jwksUri` every issuer shares one key source; without it each
 * issuer's `jwks_uri` is read once from its discovery document ({@link IssuerDiscovery}).
 */
@Injectable()
export class IssuerKeysService implements OnApplicationBootstrap {
  private readonly logger = new Logger('nestjs-bearer');
  private readonly sources = new Map<string, JwksKeySource>();
  private readonly discoveries = new Map<string, IssuerDiscovery>();

  constructor(
    @Inject(RESOLVED_AUTH_OPTIONS)
    private readonly options: ResolvedAuthOptions,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
  ) {
    const log = {
      warn: (message: string) => this.logger.warn(message),
      debug: (message: string) => this.logger.debug(message),
    };
    const limits = {
      timeout: options.jwks.timeout,
      maxBytes: options.jwks.maxResponseBytes,
      cooldown: options.jwks.cooldown,
    };
    const shared =
      options.jwksUri === undefined
        ? undefined
        : new JwksKeySource(
            () => Promise.resolve(options.jwksUri as string),
            options.jwks,
            log,
          );
    if (shared !== undefined && options.issuers.length === 1) {
      shared.traceIssuer = options.issuers[0];
    }
    for (const issuer of options.issuers) {
      // A `{tenantid}` template names no real issuer, so it has no discovery document.
      if (!issuer.includes(TENANT_PLACEHOLDER)) {
        this.discoveries.set(issuer, new IssuerDiscovery(issuer, limits, log));
      }
      const discovery = this.discoveries.get(issuer);
      let source = shared;
      if (source === undefined) {
        source = new JwksKeySource(
          async () => (await (discovery as IssuerDiscovery).resolve()).jwks_uri,
          options.jwks,
          log,
        );
        source.traceIssuer = issuer;
      }
      this.sources.set(issuer, source);
    }
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

  /** The key source of a trusted issuer. */
  sourceFor(issuer: string): JwksKeySource {
    const source = this.sources.get(issuer);
    // The token policy admits only configured issuers, so this is a programming error.
    if (source === undefined)
      throw new AuthServerError(`no key source for issuer`);
    return source;
  }

  /** The discovery of a configured issuer; `undefined` for a `{tenantid}` template. */
  discoveryOf(issuer: string): IssuerDiscovery | undefined {
    return this.discoveries.get(issuer);
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
    return total;
  }
}
