/**
 * DI token (internal) of the configured store and whether the module made it, or `undefined`
 * when revocation is off. Apps and other features reach the store as `BearerRevocations.store`.
 */
export const REVOCATION_STORE = Symbol('nestjs-bearer:revocation-store');
