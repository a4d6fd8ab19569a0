/**
 * Scopes, roles and the principal from verified claims. Pure; reads only own properties,
 * so a claim named `__proto__` or `constructor` can never grant anything.
 */

/** The verified claims of an access token (a JSON object). */
export type JwtClaims = Readonly<Record<string, unknown>>;

/** What a handler gets for the authenticated caller. */
export interface BearerPrincipal {
  /** The `sub` claim, or `undefined` when the token carries none. */
  readonly sub: string | undefined;
  /** Granted scopes (delegated permissions), from the configured scope claims. */
  readonly scopes: readonly string[];
  /** Granted app roles, from the configured role claim. */
  readonly roles: readonly string[];
  /** All verified claims. */
  readonly claims: JwtClaims;
}

/** Reads an own property; inherited ones (`__proto__`, `toString`) do not count. */
export function readOwnClaim(claims: JwtClaims, name: string): unknown {
  return Object.hasOwn(claims, name) ? claims[name] : undefined;
}

/** The non-empty strings of an array claim; anything else gives none. */
function readStrings(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  return value.filter(
    (part): part is string => typeof part === 'string' && part !== '',
  );
}

/** A space-separated list (RFC 6749 section 3.3 scope syntax) or an array of strings. */
function splitList(value: unknown): string[] {
  if (typeof value === 'string') {
    return value.split(' ').filter((part) => part !== '');
  }
  return readStrings(value);
}

/**
 * The scopes a token grants: the union of the named claims, each a space-separated
 * string (`scope`, Azure AD's `scp`) or an array of strings.
 */
export function readScopes(
  claims: JwtClaims,
  claimNames: readonly string[],
): string[] {
  const scopes = new Set<string>();
  for (const name of claimNames) {
    for (const scope of splitList(readOwnClaim(claims, name)))
      scopes.add(scope);
  }
  return [...scopes];
}

/**
 * The app roles a token grants: an array of strings, or one string that is one role.
 * A role is a whole name, so `"Site Admin"` is the role "Site Admin" and never grants
 * "Admin"; only scopes are space-separated.
 */
export function readRoles(claims: JwtClaims, claimName: string): string[] {
  const value = readOwnClaim(claims, claimName);
  if (typeof value === 'string') return value === '' ? [] : [value];
  return [...new Set(readStrings(value))];
}

/** Builds the principal handed to handlers. */
export function createPrincipal(
  claims: JwtClaims,
  names: { scopeClaims: readonly string[]; roleClaim: string },
): BearerPrincipal {
  const sub = readOwnClaim(claims, 'sub');
  return Object.freeze({
    sub: typeof sub === 'string' ? sub : undefined,
    scopes: Object.freeze(readScopes(claims, names.scopeClaims)),
    roles: Object.freeze(readRoles(claims, names.roleClaim)),
    claims,
  });
}
