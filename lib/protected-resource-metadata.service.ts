import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, HttpAdapterHost, Reflector } from '@nestjs/core';
import { RESOLVED_AUTH_OPTIONS, SCOPES_KEY } from './auth.constants.js';
import type { ResolvedAuthOptions } from './auth-options.js';
import { TENANT_PLACEHOLDER } from './token-policy.js';

/** The well-known path segment of RFC 9728 section 3. */
export const PROTECTED_RESOURCE_WELL_KNOWN =
  '/.well-known/oauth-protected-resource';

/** The RFC 9728 section 2 metadata document this module serves. */
export interface ProtectedResourceMetadata {
  resource: string;
  authorization_servers?: string[];
  scopes_supported?: string[];
  bearer_methods_supported: string[];
  resource_name?: string;
  resource_documentation?: string;
  /** RFC 9728 section 2, from RFC 9449: the accepted DPoP proof algorithms. */
  dpop_signing_alg_values_supported?: string[];
  /** RFC 9728 section 2: whether only DPoP-bound tokens are accepted. */
  dpop_bound_access_tokens_required?: boolean;
  /** RFC 9728 section 2, from RFC 8705: certificate-bound tokens are supported. */
  tls_client_certificate_bound_access_tokens?: boolean;
}

/**
 * Where the metadata of a resource lives (RFC 9728 section 3.1): the well-known segment goes
 * between the host and the resource's path, so `https://api.example.com/v1` is described at
 * `https://api.example.com/.well-known/oauth-protected-resource/v1`.
 */
export function locateProtectedResourceMetadata(resource: string): {
  url: string;
  path: string;
} {
  const url = new URL(resource);
  const suffix = url.pathname === '/' ? '' : url.pathname.replace(/\/+$/, '');
  const path = `${PROTECTED_RESOURCE_WELL_KNOWN}${suffix}`;
  return { url: `${url.origin}${path}`, path };
}

/**
 * Serves `GET /.well-known/oauth-protected-resource[/path]` (RFC 9728) when the
 * `protectedResourceMetadata` option is set. The route is registered on the HTTP adapter
 * itself, at the origin's root as RFC 9728 requires (a global prefix does not apply), and
 * needs no token. `scopes_supported` defaults to every scope named by `@Scopes()`.
 */
@Injectable()
export class ProtectedResourceMetadataService implements OnModuleInit {
  private document: ProtectedResourceMetadata | undefined;
  /** The metadata URL for challenges (`resource_metadata`), when enabled. */
  readonly metadataUrl: string | undefined;

  constructor(
    @Inject(RESOLVED_AUTH_OPTIONS)
    private readonly options: ResolvedAuthOptions,
    private readonly adapterHost: HttpAdapterHost,
    private readonly discovery: DiscoveryService,
    private readonly reflector: Reflector,
  ) {
    const config = options.protectedResourceMetadata;
    this.metadataUrl =
      config === undefined
        ? undefined
        : locateProtectedResourceMetadata(config.resource).url;
  }

  onModuleInit(): void {
    const config = this.options.protectedResourceMetadata;
    const adapter = this.adapterHost?.httpAdapter;
    if (config === undefined || adapter === undefined) return;
    const { path } = locateProtectedResourceMetadata(config.resource);
    adapter.get(path, (_request: unknown, response: unknown) => {
      adapter.setHeader(response, 'Cache-Control', 'public, max-age=3600');
      adapter.reply(response, this.getDocument(), 200);
    });
  }

  /** The metadata document; built once, after every controller is known. */
  getDocument(): ProtectedResourceMetadata {
    if (this.document !== undefined) return this.document;
    const config = this.options.protectedResourceMetadata;
    if (config === undefined)
      throw new Error('protected resource metadata is not enabled');
    const servers =
      config.authorizationServers ??
      this.options.issuers.filter(
        (issuer) => !issuer.includes(TENANT_PLACEHOLDER),
      );
    const document: ProtectedResourceMetadata = {
      resource: config.resource,
      bearer_methods_supported: [...this.options.tokenLocations],
    };
    if (servers.length > 0) document.authorization_servers = [...servers];
    document.scopes_supported = [
      ...(config.scopesSupported ?? this.collectRouteScopes()),
    ];
    if (config.resourceName !== undefined)
      document.resource_name = config.resourceName;
    if (config.resourceDocumentation !== undefined) {
      document.resource_documentation = config.resourceDocumentation;
    }
    const { dpop, clientCertificateHeader } = this.options;
    if (dpop.mode !== 'off') {
      document.dpop_signing_alg_values_supported = [...dpop.algorithms];
      document.dpop_bound_access_tokens_required = dpop.mode === 'required';
    }
    // Certificate-bound tokens are always checked; a proxy header says the API can see them.
    if (clientCertificateHeader !== undefined) {
      document.tls_client_certificate_bound_access_tokens = true;
    }
    this.document = document;
    return document;
  }

  /** Every scope that some controller or handler requires with `@Scopes()`, sorted. */
  private collectRouteScopes(): string[] {
    const scopes = new Set<string>();
    const add = (target: object): void => {
      const required = this.reflector.get<string[] | undefined>(
        SCOPES_KEY,
        target as never,
      );
      for (const scope of required ?? []) scopes.add(scope);
    };
    for (const wrapper of this.discovery.getControllers()) {
      const type = wrapper.metatype as
        (new (...args: never[]) => unknown) | undefined;
      if (typeof type !== 'function') continue;
      add(type);
      // Handlers may be inherited from a base controller: walk the prototype chain.
      for (
        let prototype = type.prototype as Record<string, unknown> | null;
        prototype !== null && prototype !== Object.prototype;
        prototype = Object.getPrototypeOf(prototype) as Record<
          string,
          unknown
        > | null
      ) {
        for (const name of Object.getOwnPropertyNames(prototype)) {
          const member = name === 'constructor' ? undefined : prototype[name];
          if (typeof member === 'function') add(member);
        }
      }
    }
    return [...scopes].sort();
  }
}
