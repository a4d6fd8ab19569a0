/**
 * OpenID Connect Discovery / RFC 8414 metadata of one issuer: fetched once, shared by
 * concurrent callers, and retried with back-off after a failure.
 */
import {
  fetchJson,
  KeySourceFetchError,
  type FetchLimits,
} from './fetch-json.js';
import { retryDelay, type KeySourceLogger } from './jwks-key-source.js';
import { discoveryFetchTrace } from '../diagnostics.js';

/** The fields of an OpenID Provider / RFC 8414 metadata document the module reads. */
export interface IssuerMetadata {
  readonly issuer: string;
  readonly jwks_uri: string;
  readonly authorization_endpoint?: string;
  /** Read for the OpenAPI document's `oauth2` security scheme (`nestjs-bearer/openapi`). */
  readonly token_endpoint?: string;
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

/** The discovery document of one issuer, with a single back-off state machine. */
export class IssuerDiscovery {
  private metadata: IssuerMetadata | undefined;
  private inflight: Promise<IssuerMetadata> | undefined;
  private retryAfter = 0;
  private failures = 0;

  constructor(
    readonly issuer: string,
    private readonly limits: FetchLimits & { cooldown: number },
    private readonly logger: KeySourceLogger,
    private readonly now: () => number = Date.now,
  ) {}

  /** The metadata once it has been read; never waits. */
  get known(): IssuerMetadata | undefined {
    return this.metadata;
  }

  /**
   * Reads `<issuer>/.well-known/openid-configuration` once; concurrent callers share one
   * fetch, and after a failure nothing is fetched until the back-off has passed.
   *
   * @throws KeySourceFetchError when the document cannot be read or names another issuer.
   */
  resolve(): Promise<IssuerMetadata> {
    if (this.metadata !== undefined) return Promise.resolve(this.metadata);
    if (this.inflight !== undefined) return this.inflight;
    if (this.now() < this.retryAfter) {
      return Promise.reject(
        new KeySourceFetchError('discovery failed recently'),
      );
    }
    const fetched = discoveryFetchTrace.hasSubscribers
      ? discoveryFetchTrace.tracePromise(() => this.fetchMetadata(), {
          issuer: this.issuer,
        })
      : this.fetchMetadata();
    this.inflight = fetched
      .then((metadata) => {
        this.metadata = metadata;
        this.failures = 0;
        return metadata;
      })
      .catch((error: unknown) => {
        this.failures++;
        this.retryAfter =
          this.now() + retryDelay(this.failures, this.limits.cooldown);
        const reason = error instanceof Error ? error.message : 'unknown error';
        // The first failure in a row is worth a warning; the retries that follow are not.
        const message = `OpenID discovery of ${this.issuer} failed (${reason})`;
        if (this.failures === 1) this.logger.warn(message);
        else this.logger.debug(message);
        throw error;
      })
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  }

  private async fetchMetadata(): Promise<IssuerMetadata> {
    const url = `${this.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const doc = await fetchJson(url, this.limits);
    // OpenID Connect Discovery section 4.3: the document must name the same issuer.
    if (doc.issuer !== this.issuer) {
      const named = typeof doc.issuer === 'string' ? doc.issuer : '(none)';
      throw new KeySourceFetchError(
        `the discovery document names issuer ${JSON.stringify(named.slice(0, 200))}, not the configured ${JSON.stringify(this.issuer)}`,
      );
    }
    if (!isHttpUrl(doc.jwks_uri)) {
      throw new KeySourceFetchError(
        'discovery document has no usable jwks_uri',
      );
    }
    return {
      issuer: this.issuer,
      jwks_uri: doc.jwks_uri,
      authorization_endpoint: isHttpUrl(doc.authorization_endpoint)
        ? doc.authorization_endpoint
        : undefined,
      ...(isHttpUrl(doc.token_endpoint)
        ? { token_endpoint: doc.token_endpoint }
        : {}),
    };
  }
}
