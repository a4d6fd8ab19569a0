/** The passport strategy name; unique to this module so it never clashes with an app's own. */
export const BEARER_STRATEGY = 'nestjs-bearer';

/** DI token of the validated options ({@link ResolvedAuthOptions}). */
export const RESOLVED_AUTH_OPTIONS = Symbol('nestjs-bearer:resolved-options');

/** Metadata keys of the decorators. */
export const IS_PUBLIC_KEY = 'nestjs-bearer:public';
export const SCOPES_KEY = 'nestjs-bearer:scopes';
export const ROLES_KEY = 'nestjs-bearer:roles';
export const APP_ROLES_KEY = 'nestjs-bearer:app-roles';
export const RESOURCE_KEY = 'nestjs-bearer:resource';

/** Where the guard leaves per-request state for the strategy (never enumerable). */
export const BEARER_STATE = Symbol('nestjs-bearer:state');
export const STEP_UP_KEY = 'nestjs-bearer:step-up';
export const OPTIONAL_AUTH_KEY = 'nestjs-bearer:optional-auth';
