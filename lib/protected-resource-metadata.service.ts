import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, HttpAdapterHost, Reflector } from '@nestjs/core';
import {
  RESOLVED_AUTH_OPTIONS,
  RESOURCE_KEY,
  SCOPES_KEY,
} from './auth.constants.js';
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
/** Whether a resource identifier is an http(s) URL, which has a metadata location. */
function isHttpResource(resource: string): boolean {
  return /^https?:\/\//i.test(resource) && URL.canParse(resource);
}

@Injectable()
export class ProtectedResourceMetadataService implements OnModuleInit {
  private readonly documents = new Map<string, ProtectedResourceMetadata>();
  private routeScopes: Map<string | undefined, Set<string>> | undefined;
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

  /**
   * The metadata URL for the challenges of a `@Resource()` route: its own document's when
   * the resource is an http(s) URL, else the module's.
   */
  metadataUrlOf(resource: string): string | undefined {
    if (this.metadataUrl === undefined) return undefined;
    return isHttpResource(resource)
      ? locateProtectedResourceMetadata(resource).url
      : this.metadataUrl;
  }

  onModuleInit(): void {
    const config = this.options.protectedResourceMetadata;
    const adapter = this.adapterHost?.httpAdapter;
    if (config === undefined || adapter === undefined) return;
    const serve = (path: string, resource: string | undefined): void => {
      adapter.get(path, (_request: unknown, response: unknown) => {
        adapter.setHeader(response, 'Cache-Control', 'public, max-age=3600');
        adapter.reply(response, this.getDocument(resource), 200);
      });
    };
    const main = locateProtectedResourceMetadata(config.resource).path;
    serve(main, undefined);
    const paths = new Set([main]);
    for (const resource of this.collectRouteScopes().keys()) {
      if (resource === undefined || !isHttpResource(resource)) continue;
      const { path } = locateProtectedResourceMetadata(resource);
      if (paths.has(path)) continue;
      paths.add(path);
      serve(path, resource);
    }
  }

  /**
   * The metadata document of the module's resource, or of a `@Resource()` one; built once,
   * after every controller is known. `scopes_supported` lists the scopes of that
   * resource's routes.
   */
  getDocument(resource?: string): ProtectedResourceMetadata {
    const key = resource ?? '';
    const known = this.documents.get(key);
    if (known !== undefined) return known;
    const config = this.options.protectedResourceMetadata;
    if (config === undefined)
      throw new Error('protected resource metadata is not enabled');
    const servers =
      config.authorizationServers ??
      this.options.issuers.filter(
        (issuer) => !issuer.includes(TENANT_PLACEHOLDER),
      );
    const document: ProtectedResourceMetadata = {
      resource: resource ?? config.resource,
      bearer_methods_supported: [...this.options.tokenLocations],
    };
    if (servers.length > 0) document.authorization_servers = [...servers];
    const own = [...(this.collectRouteScopes().get(resource) ?? [])].sort();
    document.scopes_supported =
      resource === undefined ? [...(config.scopesSupported ?? own)] : own;
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
    this.documents.set(key, document);
    return document;
  }

  /**
   * The scopes each resource's routes require with `@Scopes()` (class and handler
   * combined), keyed by the route's `@Resource()` (`undefined`: the module's resource).
   */
  private collectRouteScopes(): Map<string | undefined, Set<string>> {
    if (this.routeScopes !== undefined) return this.routeScopes;
    const byResource = new Map<string | undefined, Set<string>>();
    const read = <T>(key: string, target: object): T | undefined =>
      this.reflector.get<T | undefined>(key, target as never);
    for (const wrapper of this.discovery.getControllers()) {
      const type = wrapper.metatype as
        (new (...args: never[]) => unknown) | undefined;
      if (typeof type !== 'function') continue;
      const classScopes = read<string[]>(SCOPES_KEY, type) ?? [];
      const classResource = read<string>(RESOURCE_KEY, type);
      const add = (resource: string | undefined, scopes: string[]): void => {
        let set = byResource.get(resource);
        if (set === undefined) {
          set = new Set();
          byResource.set(resource, set);
        }
        for (const scope of scopes) set.add(scope);
      };
      add(classResource, classScopes);
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
          if (typeof member !== 'function') continue;
          add(
            read<string>(RESOURCE_KEY, member) ?? classResource,
            read<string[]>(SCOPES_KEY, member) ?? [],
          );
        }
      }
    }
    this.routeScopes = byResource;
    return byResource;
  }
}
