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
import { fetchJson, KeySourceFetchError } from './fetch-json.js';
import { JwksKeySource, retryDelay } from './jwks-key-source.js';
import { TENANT_PLACEHOLDER } from '../token-policy.js';

/** The fields of an OpenID Provider / RFC 8414 metadata document the module reads. */
export interface IssuerMetadata {
  readonly issuer: string;
  readonly jwks_uri: string;
  readonly authorization_endpoint?: string;
}

interface DiscoveryState {
  metadata?: IssuerMetadata;
  inflight?: Promise<IssuerMetadata>;
  retryAfter: number;
  failures: number;
}

function isHttpUrl(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  try {
    const url = new URL(value);
    return url.protocol === 'https:' || url.protocol === 'http:';
  } catch {
    return false;
  }
}

/**
 * Keys per issuer. With `jwksUri` every issuer shares one key source; without it each
 * issuer's `jwks_uri` is read once from its discovery document. The discovery document
 * also supplies `authorization_endpoint` for challenges when `authorizationUri` is unset.
 */
@Injectable()
export class IssuerKeysService implements OnApplicationBootstrap {
  private readonly logger = new Logger('nestjs-bearer');
  private readonly sources = new Map<string, JwksKeySource>();
  private readonly discovery = new Map<string, DiscoveryState>();

  constructor(
    @Inject(RESOLVED_AUTH_OPTIONS)
    private readonly options: ResolvedAuthOptions,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
  ) {
    const log = {
      warn: (message: string) => this.logger.warn(message),
      debug: (message: string) => this.logger.debug(message),
    };
    const shared =
      options.jwksUri === undefined
        ? undefined
        : new JwksKeySource(
            () => Promise.resolve(options.jwksUri as string),
            options.jwks,
            log,
          );
    for (const issuer of options.issuers) {
      this.sources.set(
        issuer,
        shared ??
          new JwksKeySource(
            async () => (await this.discover(issuer)).jwks_uri,
            options.jwks,
            log,
          ),
      );
    }
  }

  /** Fetches keys (and discovery) in the background so the first request is fast. */
  onApplicationBootstrap(): void {
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

  private warmUp(): void {
    for (const source of new Set(this.sources.values())) source.warmUp();
    if (this.needsDiscoveryForChallenge()) {
      void this.discover(this.options.issuers[0]).catch(() => undefined);
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

  /**
   * The `authorization_uri` for challenges: the option, else the first issuer's
   * discovered `authorization_endpoint` once known.
   */
  authorizationUri(): string | undefined {
    if (this.options.authorizationUri !== undefined)
      return this.options.authorizationUri;
    return this.discovery.get(this.options.issuers[0])?.metadata
      ?.authorization_endpoint;
  }

  /** Whether challenges can be written now, with nothing left to discover. */
  isChallengeSettled(): boolean {
    return (
      !this.needsDiscoveryForChallenge() ||
      this.discovery.get(this.options.issuers[0])?.metadata !== undefined
    );
  }

  /** Waits (bounded by the fetch timeout) for a discovery in flight that a challenge needs. */
  async settleChallenge(): Promise<void> {
    if (this.isChallengeSettled()) return;
    await this.discover(this.options.issuers[0]).catch(() => undefined);
  }

  private needsDiscoveryForChallenge(): boolean {
    // A `{tenantid}` template names no real issuer, so it has no discovery document.
    return (
      this.options.authorizationUri === undefined &&
      !this.options.issuers[0].includes(TENANT_PLACEHOLDER)
    );
  }

  /** Reads `<issuer>/.well-known/openid-configuration` once; after a failure, waits before retrying. */
  private discover(issuer: string): Promise<IssuerMetadata> {
    let state = this.discovery.get(issuer);
    if (state === undefined) {
      state = { retryAfter: 0, failures: 0 };
      this.discovery.set(issuer, state);
    }
    if (state.metadata !== undefined) return Promise.resolve(state.metadata);
    if (state.inflight !== undefined) return state.inflight;
    if (Date.now() < state.retryAfter) {
      return Promise.reject(
        new KeySourceFetchError('discovery failed recently'),
      );
    }
    const current = state;
    current.inflight = this.fetchMetadata(issuer)
      .then((metadata) => {
        current.metadata = metadata;
        return metadata;
      })
      .catch((error: unknown) => {
        current.failures++;
        current.retryAfter =
          Date.now() + retryDelay(current.failures, this.options.jwks.cooldown);
        const reason = error instanceof Error ? error.message : 'unknown error';
        // The first failure in a row is worth a warning; the retries that follow are not.
        const message = `OpenID discovery failed (${reason})`;
        if (current.failures === 1) this.logger.warn(message);
        else this.logger.debug(message);
        throw error;
      })
      .finally(() => {
        current.inflight = undefined;
      });
    return current.inflight;
  }

  private async fetchMetadata(issuer: string): Promise<IssuerMetadata> {
    const url = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const doc = await fetchJson(url, {
      timeout: this.options.jwks.timeout,
      maxBytes: this.options.jwks.maxResponseBytes,
    });
    // OpenID Connect Discovery section 4.3: the document must name the same issuer.
    if (doc.issuer !== issuer) {
      throw new KeySourceFetchError('discovery document names another issuer');
    }
    if (!isHttpUrl(doc.jwks_uri)) {
      throw new KeySourceFetchError(
        'discovery document has no usable jwks_uri',
      );
    }
    return {
      issuer,
      jwks_uri: doc.jwks_uri,
      authorization_endpoint: isHttpUrl(doc.authorization_endpoint)
        ? doc.authorization_endpoint
        : undefined,
    };
  }
}
