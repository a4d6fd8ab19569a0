/**
 * The security schemes of the document, from the module options and the issuer's
 * discovery document, and the `security` requirement of each route.
 */
import type {
  OAuthFlowsObject,
  SecurityRequirementObject,
  SecuritySchemeObject,
} from '@nestjs/swagger';
import type { ResolvedAuthOptions } from '../auth-options.js';
import type { IssuerMetadata } from '../keys/issuer-discovery.js';
import type { RouteAccess } from '../route-requirements.js';

/** How the security schemes are named and built. */
export interface BearerSchemeOptions {
  /**
   * The name of the `http` bearer scheme in `components.securitySchemes`.
   * @default 'bearer'
   */
  bearerSchemeName?: string;
  /**
   * The name of the `oauth2` scheme in `components.securitySchemes`.
   * @default 'oauth2'
   */
  oauth2SchemeName?: string;
  /**
   * The name of the `http` DPoP scheme (RFC 9449), present when the `dpop` option is on.
   * @default 'dpop'
   */
  dpopSchemeName?: string;
  /**
   * The flows of the `oauth2` scheme. `'discovery'` reads them from the first issuer's
   * discovery document: `authorizationCode` when it names an `authorization_endpoint`
   * (or the `authorizationUri` option is set) and a `token_endpoint`,
   * `clientCredentials` when it names only a `token_endpoint`, and no `oauth2` scheme
   * when it names neither or is not known yet. `false` leaves the scheme out; an object
   * gives the flows as they are.
   * @default 'discovery'
   */
  oauth2Flows?: 'discovery' | false | OAuthFlowsObject;
  /**
   * Descriptions of scopes, shown by Swagger UI next to each scope of the `oauth2` flows.
   * @default {} (every scope named by a `@Scopes()` decorator, with no description)
   */
  scopeDescriptions?: Readonly<Record<string, string>>;
}

/** One way a client presents the access token, as a scheme of the document. */
export interface TokenScheme {
  readonly name: string;
  readonly scheme: SecuritySchemeObject;
  /**
   * Whether a requirement of this scheme lists the route's scopes. OpenAPI 3.0 allows
   * scopes only for `oauth2` and `openIdConnect`; 3.1 allows "role names" for the others.
   */
  readonly listsScopes: 'always' | 'oas31';
}

function bearerScheme(options: ResolvedAuthOptions, name: string): TokenScheme {
  const issuers = options.issuers.map((issuer) => `\`${issuer}\``).join(', ');
  const audiences = options.audiences
    .map((audience) => `\`${audience}\``)
    .join(', ');
  return {
    name,
    listsScopes: 'oas31',
    scheme: {
      type: 'http',
      scheme: 'bearer',
      bearerFormat: 'JWT',
      description: `An access token (a JWT signed by ${issuers} for ${audiences}) in \`Authorization: Bearer <token>\` (RFC 6750 section 2.1).`,
    },
  };
}

function discoveredFlows(
  options: ResolvedAuthOptions,
  metadata: IssuerMetadata | undefined,
  scopes: Record<string, string>,
): OAuthFlowsObject | undefined {
  const authorizationUrl =
    metadata?.authorization_endpoint ?? options.authorizationUri;
  const tokenUrl = metadata?.token_endpoint;
  if (tokenUrl === undefined) return undefined;
  // The implicit flow (an authorization endpoint alone) is left out on purpose: OAuth 2.0
  // Security Best Current Practice (RFC 9700 section 2.1.2) says not to use it.
  return authorizationUrl === undefined
    ? { clientCredentials: { tokenUrl, scopes } }
    : { authorizationCode: { authorizationUrl, tokenUrl, scopes } };
}

function dpopScheme(options: ResolvedAuthOptions, name: string): TokenScheme {
  return {
    name,
    listsScopes: 'oas31',
    scheme: {
      type: 'http',
      scheme: 'DPoP',
      bearerFormat: 'JWT',
      description: `A DPoP-bound access token in \`Authorization: DPoP <token>\`, with a \`DPoP\` proof header signed with ${options.dpop.algorithms.join(', ')} (RFC 9449)${options.dpop.nonce === undefined ? '' : ' carrying the server nonce of the `DPoP-Nonce` header'}.`,
    },
  };
}

/**
 * The schemes a client may present the token with, in the order of the `security`
 * alternatives: the `http` bearer scheme, then `oauth2` when its flows are known, then the
 * `http` DPoP scheme when `dpop` is on. With `dpop.mode: 'required'`, the DPoP scheme
 * alone: a bearer token is refused there.
 */
export function buildTokenSchemes(
  options: ResolvedAuthOptions,
  metadata: IssuerMetadata | undefined,
  scopes: readonly string[],
  settings: BearerSchemeOptions,
): TokenScheme[] {
  const dpop = dpopScheme(options, settings.dpopSchemeName ?? 'dpop');
  if (options.dpop.mode === 'required') return [dpop];
  const schemes = [
    bearerScheme(options, settings.bearerSchemeName ?? 'bearer'),
  ];
  const flowsOption = settings.oauth2Flows ?? 'discovery';
  const described = Object.fromEntries(
    scopes.map((scope) => [scope, settings.scopeDescriptions?.[scope] ?? '']),
  );
  const flows =
    flowsOption === 'discovery'
      ? discoveredFlows(options, metadata, described)
      : flowsOption === false
        ? undefined
        : flowsOption;
  if (flows !== undefined) {
    schemes.push({
      name: settings.oauth2SchemeName ?? 'oauth2',
      listsScopes: 'always',
      scheme: {
        type: 'oauth2',
        description: `The authorization server of \`${options.issuers[0]}\`.`,
        flows,
      },
    });
  }
  if (options.dpop.mode === 'allowed') schemes.push(dpop);
  return schemes;
}

/**
 * The `security` of a route the module guards: any one of the schemes, with the route's
 * scopes where the OpenAPI version allows them. `@OptionalAuth()` adds the empty
 * requirement `{}` first, which OpenAPI reads as "no credentials also do".
 */
export function buildSecurityRequirement(
  access: Exclude<RouteAccess, 'public'>,
  scopes: readonly string[],
  schemes: readonly TokenScheme[],
  oas31: boolean,
): SecurityRequirementObject[] {
  const alternatives = schemes.map((scheme) => ({
    [scheme.name]:
      access === 'required' && (scheme.listsScopes === 'always' || oas31)
        ? [...scopes]
        : [],
  }));
  return access === 'optional' ? [{}, ...alternatives] : alternatives;
}
