/**
 * Profiles: validated presets of the module options for a kind of resource server. A
 * profile fills in defaults and refuses, at start, an option that contradicts it; every
 * setting it turns on is listed in the README with the clause it comes from.
 */
import { AuthConfigurationError } from './auth-options.js';

/**
 * - `mcp`: an MCP server (MCP authorization, 2025-06-18): RFC 9728 metadata, the token's
 *   audience bound to the server's resource (RFC 8707), header-only tokens, DPoP allowed.
 * - `oauth2.1`: OAuth 2.1 (draft-ietf-oauth-v2-1 section 5): header-only tokens.
 * - `fapi2`: FAPI 2.0 Security Profile (section 5.3.3, 5.4): sender-constrained tokens only
 *   (DPoP required unless mTLS-bound tokens are used), PS256, ES256 or EdDSA.
 */
export type AuthProfile = 'mcp' | 'oauth2.1' | 'fapi2';

export const AUTH_PROFILES: readonly AuthProfile[] = [
  'mcp',
  'oauth2.1',
  'fapi2',
];

/** The algorithms FAPI 2.0 Security Profile section 5.4 allows. */
export const FAPI2_ALGORITHMS = ['PS256', 'ES256', 'EdDSA'] as const;

function refuse(option: string, problem: string): never {
  throw new AuthConfigurationError(option, problem);
}

function headerOnly(o: Record<string, unknown>, profile: AuthProfile): void {
  const locations = o.tokenLocations;
  if (
    locations !== undefined &&
    !(
      Array.isArray(locations) &&
      locations.length > 0 &&
      locations.every((location) => location === 'header')
    )
  ) {
    refuse(
      'tokenLocations',
      `must be ["header"] with profile "${profile}": tokens in a query or a form body are not allowed.`,
    );
  }
}

function dpopMode(value: unknown): unknown {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    return (value as { mode?: unknown }).mode ?? 'allowed';
  }
  return undefined;
}

/** The audiences of the raw `audience` option, as given (validated later). */
function audienceList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}

/**
 * The options with the profile's defaults filled in. Options that contradict the profile
 * are refused; `profile` itself is kept for the resolved options.
 *
 * @throws AuthConfigurationError naming the option.
 */
export function applyProfile(
  o: Record<string, unknown>,
): Record<string, unknown> {
  const profile = o.profile;
  if (profile === undefined) return o;
  if (!AUTH_PROFILES.includes(profile as AuthProfile)) {
    refuse(
      'profile',
      `must be one of ${AUTH_PROFILES.map((p) => `"${p}"`).join(', ')}.`,
    );
  }
  const out: Record<string, unknown> = { ...o };
  headerOnly(o, profile as AuthProfile);
  out.tokenLocations ??= ['header'];
  switch (profile as AuthProfile) {
    case 'mcp': {
      const metadata = o.protectedResourceMetadata as
        { resource?: unknown } | undefined;
      if (typeof metadata?.resource !== 'string') {
        refuse(
          'protectedResourceMetadata',
          'is required with profile "mcp": an MCP server publishes RFC 9728 metadata naming its resource.',
        );
      }
      const resource = metadata.resource;
      if (o.audience === undefined) {
        out.audience = resource;
      } else if (!audienceList(o.audience).includes(resource)) {
        refuse(
          'audience',
          `must include the resource "${resource}" with profile "mcp": tokens are bound to the server's resource (RFC 8707).`,
        );
      }
      out.dpop ??= 'allowed';
      break;
    }
    case 'fapi2': {
      const algorithms = o.algorithms ?? [...FAPI2_ALGORITHMS];
      if (
        !Array.isArray(algorithms) ||
        !algorithms.every((alg) =>
          (FAPI2_ALGORITHMS as readonly unknown[]).includes(alg),
        )
      ) {
        refuse(
          'algorithms',
          `must contain only ${FAPI2_ALGORITHMS.join(', ')} with profile "fapi2".`,
        );
      }
      out.algorithms = algorithms;
      out.dpop ??= 'required';
      const mode = dpopMode(out.dpop);
      if (mode === 'allowed') {
        refuse(
          'dpop.mode',
          'must be "required" (or "off" with mTLS-bound tokens) with profile "fapi2": a Bearer token is never enough.',
        );
      }
      break;
    }
    case 'oauth2.1':
      break;
  }
  return out;
}
