/**
 * Scopes, roles and the principal from verified claims. Pure; reads only own properties,
 * so a claim named `__proto__` or `constructor` can never grant anything.
 */

/** Segments a claim path may never walk through, whatever the token says. */
const FORBIDDEN_SEGMENTS: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
]);

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

/**
 * Why a claim path is wrong, or `undefined` when it is usable: a claim name, or names
 * joined by dots (`realm_access.roles`), none of them empty, `__proto__`, `constructor`
 * or `prototype`.
 */
export function checkClaimPath(path: unknown): string | undefined {
  if (typeof path !== 'string' || path === '') {
    return 'must be a non-empty string (a claim name or a dotted path such as "realm_access.roles").';
  }
  const segments = path.split('.');
  if (segments.includes('')) {
    return `has an empty segment in "${path}": no leading, trailing or doubled dots.`;
  }
  const forbidden = segments.find((segment) => FORBIDDEN_SEGMENTS.has(segment));
  if (forbidden !== undefined) {
    return `must not contain the segment "${forbidden}".`;
  }
  return undefined;
}

function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A token's confirmation claim (`cnf`, RFC 7800): its JSON object; `null` when the claim is
 * there but is not an object; `undefined` when there is none.
 */
export function readConfirmation(
  claims: JwtClaims,
): JwtClaims | null | undefined {
  const cnf = readOwnClaim(claims, 'cnf');
  if (cnf === undefined) return undefined;
  return isRecord(cnf) ? cnf : null;
}

/**
 * Reads a claim by name or by dotted path (`realm_access.roles`), through own properties
 * of JSON objects only; arrays are never indexed.
 *
 * A claim name may itself contain dots (Auth0's `https://example.com/roles`): at each
 * level, the longest run of the remaining segments that names an own property is the
 * one taken. So an own claim named exactly `path` always wins, and
 * `https://example.com/app.roles` reads `roles` inside the claim
 * `https://example.com/app`. A path with an empty, `__proto__`, `constructor` or
 * `prototype` segment reads nothing.
 */
export function readClaimPath(claims: JwtClaims, path: string): unknown {
  if (!path.includes('.')) {
    return FORBIDDEN_SEGMENTS.has(path)
      ? undefined
      : readOwnClaim(claims, path);
  }
  const segments = path.split('.');
  if (checkClaimPath(path) !== undefined) return undefined;
  let value: unknown = claims;
  let start = 0;
  while (start < segments.length) {
    if (!isRecord(value)) return undefined;
    const node = value;
    let end = segments.length;
    let name = '';
    for (; end > start; end--) {
      name = segments.slice(start, end).join('.');
      if (Object.hasOwn(node, name)) break;
    }
    if (end === start) return undefined;
    value = node[name];
    start = end;
  }
  return value;
}

/** Appends the non-empty strings of an array claim; anything else adds none. */
function addStrings(value: unknown, into: string[]): void {
  if (!Array.isArray(value)) return;
  for (const part of value as unknown[]) {
    if (typeof part === 'string' && part !== '') into.push(part);
  }
}

/** Appends a space-separated list (RFC 6749 section 3.3 scope syntax) or an array of strings. */
function addList(value: unknown, into: string[]): void {
  if (typeof value !== 'string') {
    addStrings(value, into);
    return;
  }
  for (const part of value.split(' ')) {
    if (part !== '') into.push(part);
  }
}

// Up to this many names, duplicates are dropped by comparison; a longer list uses a Set.
const SMALL_LIST = 16;

/** `list` without repeated names, first occurrences in order; `list` itself when it has none. */
function withoutDuplicates(list: string[]): string[] {
  if (list.length < 2) return list;
  if (list.length > SMALL_LIST) return [...new Set(list)];
  let kept = 0;
  for (let i = 0; i < list.length; i++) {
    const name = list[i];
    let seen = false;
    for (let j = 0; j < kept && !seen; j++) seen = list[j] === name;
    if (!seen) list[kept++] = name;
  }
  list.length = kept;
  return list;
}

/**
 * The scopes a token grants: the union of the named claims (names or dotted paths, see
 * {@link readClaimPath}), each a space-separated string (`scope`, Azure AD's `scp`) or
 * an array of strings (Auth0's `permissions`).
 */
export function readScopes(
  claims: JwtClaims,
  claimNames: readonly string[],
): string[] {
  const scopes: string[] = [];
  for (const name of claimNames) addList(readClaimPath(claims, name), scopes);
  return withoutDuplicates(scopes);
}

/**
 * The app roles a token grants, from a claim name or dotted path (`roles`,
 * `realm_access.roles`; see {@link readClaimPath}): an array of strings, or one string
 * that is one role. A role is a whole name, so `"Site Admin"` is the role "Site Admin"
 * and never grants "Admin"; only scopes are space-separated.
 */
export function readRoles(claims: JwtClaims, claimPath: string): string[] {
  const value = readClaimPath(claims, claimPath);
  if (typeof value === 'string') return value === '' ? [] : [value];
  const roles: string[] = [];
  addStrings(value, roles);
  return withoutDuplicates(roles);
}

/** Claims that name the client in an access token, checked against `sub`. */
const CLIENT_ID_CLAIMS = ['client_id', 'azp', 'cid'] as const;

/**
 * Whether a token is an application token (client credentials: the client acts for
 * itself) rather than a delegated one (a user signed in). The first rule that applies
 * decides:
 *
 * 1. Azure AD's `idtyp` claim, when present: `app` is an application token, anything
 *    else (`user`) is delegated.
 * 2. An Azure AD token (one that carries `azpacr`, v2, or `appidacr`, v1): an
 *    application token carries no `scp`, a delegated one always does.
 * 3. `gty` is `client-credentials` (Auth0).
 * 4. `sub` equals the client's id in `client_id` (RFC 9068 section 2.2), `azp` or `cid`
 *    (Okta).
 *
 * Anything else, a token without `sub` included, is delegated: a role in a token that
 * cannot be shown to be an application's is never taken for an application permission.
 */
export function isApplicationToken(claims: JwtClaims): boolean {
  const idtyp = readOwnClaim(claims, 'idtyp');
  if (typeof idtyp === 'string') return idtyp === 'app';
  if (Object.hasOwn(claims, 'azpacr') || Object.hasOwn(claims, 'appidacr')) {
    return !Object.hasOwn(claims, 'scp');
  }
  if (readOwnClaim(claims, 'gty') === 'client-credentials') return true;
  const sub = readOwnClaim(claims, 'sub');
  if (typeof sub !== 'string' || sub === '') return false;
  return CLIENT_ID_CLAIMS.some((name) => readOwnClaim(claims, name) === sub);
}

const NO_NAMES: readonly string[] = Object.freeze([]);

function frozen(list: string[]): readonly string[] {
  return list.length === 0 ? NO_NAMES : Object.freeze(list);
}

/** Builds the principal handed to handlers. */
export function createPrincipal(
  claims: JwtClaims,
  names: { scopeClaims: readonly string[]; roleClaim: string },
): BearerPrincipal {
  const sub = readOwnClaim(claims, 'sub');
  return Object.freeze({
    sub: typeof sub === 'string' ? sub : undefined,
    scopes: frozen(readScopes(claims, names.scopeClaims)),
    roles: frozen(readRoles(claims, names.roleClaim)),
    claims,
  });
}
