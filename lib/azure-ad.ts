/**
 * Module options for APIs protected by Azure AD (Microsoft Entra ID).
 */
import type { AuthModuleOptions } from './auth-options.js';
import { TENANT_PLACEHOLDER } from './token-policy.js';

/** The public cloud's authority. */
export const AZURE_PUBLIC_AUTHORITY = 'https://login.microsoftonline.com';

/** v1 token issuer hosts per authority host (v1 tokens name the STS, not the login host). */
const V1_ISSUER_HOSTS: Readonly<Record<string, string>> = {
  'login.microsoftonline.com': 'https://sts.windows.net',
  'login.microsoftonline.us': 'https://sts.windows.net',
  'login.chinacloudapi.cn': 'https://sts.chinacloudapi.cn',
  'login.partner.microsoftonline.cn': 'https://sts.chinacloudapi.cn',
};

const MULTI_TENANT = new Set(['common', 'organizations']);

/** Options of {@link azureAd}. */
export interface AzureAdOptions extends Omit<
  AuthModuleOptions,
  'issuer' | 'audience' | 'jwksUri'
> {
  /**
   * The directory (tenant) id (a GUID) of a single-tenant API, or `organizations` /
   * `common` for a multi-tenant API, whose issuer is then checked against each
   * token's own `tid`.
   */
  tenantId: string;
  /** The API's App ID URI and/or client id, as tokens carry them in `aud`. */
  audience: string | readonly string[];
  /**
   * The authority for other clouds, for example `https://login.microsoftonline.us`
   * (US Government) or `https://login.chinacloudapi.cn` (China).
   * @default 'https://login.microsoftonline.com'
   */
  authority?: string;
  /**
   * Which token versions to accept: v1 (`https://sts.windows.net/{tid}/`), v2
   * (`{authority}/{tid}/v2.0`) or both. An app registration's
   * `accessTokenAcceptedVersion` decides what Azure AD issues.
   * @default 'both'
   */
  tokenVersion?: 1 | 2 | 'both';
  /**
   * The v1 issuer's origin when the authority is not one of the known clouds.
   * @default derived from the authority (`https://sts.windows.net` for the public cloud)
   */
  v1IssuerOrigin?: string;
  /**
   * The tenants a multi-tenant API admits (`tid` values). Unset: every tenant.
   */
  allowedTenants?: readonly string[];
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/**
 * Builds `AuthModule` options for an API protected by Azure AD: the v1 and/or v2
 * issuers, the tenant's JWKS, a tenant-specific `authorization_uri` and `resource_id`
 * (the first audience, usually the App ID URI) for challenges. Scopes come from `scp`
 * and app roles from `roles`, Azure AD's claim names (the module's defaults).
 *
 * @example
 * AuthModule.forRoot(azureAd({ tenantId: '7fe81447-da57-4385-becb-6de57f21477e',
 *   audience: 'api://contoso-documents' }))
 */
export function azureAd(options: AzureAdOptions): AuthModuleOptions {
  const {
    tenantId,
    authority: authorityOption,
    tokenVersion = 'both',
    v1IssuerOrigin,
    allowedTenants,
    ...rest
  } = options;
  const authority = trimSlash(authorityOption ?? AZURE_PUBLIC_AUTHORITY);
  if (
    typeof tenantId !== 'string' ||
    tenantId === '' ||
    /[/?#\s]/.test(tenantId)
  ) {
    throw new TypeError(
      'azureAd(): "tenantId" must be a tenant id, "organizations" or "common".',
    );
  }
  const multiTenant = MULTI_TENANT.has(tenantId);
  const tenant = multiTenant ? TENANT_PLACEHOLDER : tenantId;
  let host: string;
  try {
    host = new URL(authority).host;
  } catch {
    throw new TypeError('azureAd(): "authority" must be an absolute URL.');
  }
  const v1Origin = trimSlash(
    v1IssuerOrigin ?? V1_ISSUER_HOSTS[host] ?? authority,
  );
  const issuers: string[] = [];
  if (tokenVersion === 1 || tokenVersion === 'both')
    issuers.push(`${v1Origin}/${tenant}/`);
  if (tokenVersion === 2 || tokenVersion === 'both')
    issuers.push(`${authority}/${tenant}/v2.0`);
  const audiences =
    typeof options.audience === 'string'
      ? [options.audience]
      : options.audience;
  const keysTenant = multiTenant ? 'common' : tenantId;
  return {
    ...rest,
    issuer: issuers,
    // A single-tenant API given allowedTenants is refused by the option checks.
    ...(allowedTenants !== undefined ? { allowedTenants } : {}),
    jwksUri: `${authority}/${keysTenant}/discovery/v2.0/keys`,
    // The seed: a tenant-specific resource returns a tenant-specific authorization URI.
    authorizationUri:
      rest.authorizationUri ?? `${authority}/${tenantId}/oauth2/v2.0/authorize`,
    resourceId: rest.resourceId ?? audiences[0],
  };
}
