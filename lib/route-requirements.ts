import type { Reflector } from '@nestjs/core';
import {
  APP_ROLES_KEY,
  IS_PUBLIC_KEY,
  OPTIONAL_AUTH_KEY,
  RESOURCE_KEY,
  ROLES_KEY,
  SCOPES_KEY,
  STEP_UP_KEY,
} from './auth.constants.js';
import type { AuthenticationRequirement } from './bearer.errors.js';

/**
 * Who may call a handler: anyone (`@Public()`), anyone but a token is verified when sent
 * (`@OptionalAuth()`), or only a valid token (the default).
 */
export type RouteAccess = 'public' | 'optional' | 'required';

/** What a handler's decorators require, resolved once. */
export interface RouteRequirements {
  readonly access: RouteAccess;
  readonly stepUp: AuthenticationRequirement | undefined;
  /** Every scope required (`@Scopes()` of handler and class, combined). */
  readonly scopes: readonly string[];
  /** Every app role required (`@Roles()` of handler and class, combined). */
  readonly roles: readonly string[];
  /**
   * Every app role required of an application token (`@AppRoles()` of handler and class,
   * combined); when not empty, a delegated token is refused.
   */
  readonly appRoles: readonly string[];
  /** The route's own resource (`@Resource()`, the handler's over its class's). */
  readonly resource: string | undefined;
}

/** The module's marks on one target (a handler or a class). */
export interface TargetMarks {
  readonly isPublic: boolean;
  readonly isOptional: boolean;
  readonly hasRequirement: boolean;
}

/** Reads the module's marks on a handler or class. */
export function readMarks(reflector: Reflector, target: object): TargetMarks {
  const get = (key: string): unknown =>
    reflector.get<unknown>(key, target as never);
  const scopes = get(SCOPES_KEY) as string[] | undefined;
  const roles = get(ROLES_KEY) as string[] | undefined;
  const appRoles = get(APP_ROLES_KEY) as string[] | undefined;
  return {
    isPublic: get(IS_PUBLIC_KEY) === true,
    isOptional: get(OPTIONAL_AUTH_KEY) === true,
    hasRequirement:
      (scopes?.length ?? 0) > 0 ||
      (roles?.length ?? 0) > 0 ||
      (appRoles?.length ?? 0) > 0 ||
      get(STEP_UP_KEY) !== undefined ||
      get(RESOURCE_KEY) !== undefined,
  };
}

/**
 * The requirements of a handler of a class.
 *
 * A requirement (`@Scopes()`, `@Roles()`, `@AppRoles()`, `@StepUp()`) always wins over
 * `@Public()` and `@OptionalAuth()`: where both apply, a valid token is required. Between
 * `@Public()` and `@OptionalAuth()`, the handler's mark wins over its class's. The
 * start-up checks report every such combination (see `BearerStartupChecks`).
 */
export function resolveRouteRequirements(
  reflector: Reflector,
  handler: object,
  type: object,
): RouteRequirements {
  const targets = [handler, type] as never[];
  const stepUp = reflector.getAllAndOverride<
    AuthenticationRequirement | undefined
  >(STEP_UP_KEY, targets);
  const scopes = [
    ...new Set(reflector.getAllAndMerge<string[]>(SCOPES_KEY, targets)),
  ];
  const roles = [
    ...new Set(reflector.getAllAndMerge<string[]>(ROLES_KEY, targets)),
  ];
  const appRoles = [
    ...new Set(reflector.getAllAndMerge<string[]>(APP_ROLES_KEY, targets)),
  ];
  const resource = reflector.getAllAndOverride<string | undefined>(
    RESOURCE_KEY,
    targets,
  );
  let access: RouteAccess = 'required';
  if (
    resource === undefined &&
    stepUp === undefined &&
    scopes.length === 0 &&
    roles.length === 0 &&
    appRoles.length === 0
  ) {
    const own = readMarks(reflector, handler);
    const inherited = readMarks(reflector, type);
    const mark = own.isPublic || own.isOptional ? own : inherited;
    if (mark.isPublic) access = 'public';
    else if (mark.isOptional) access = 'optional';
  }
  return { access, stepUp, scopes, roles, appRoles, resource };
}
