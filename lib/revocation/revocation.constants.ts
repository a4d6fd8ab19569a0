/** DI token of the configured {@link RevocationStore}, or `undefined` when revocation is off. */
export const REVOCATION_STORE = Symbol('nestjs-bearer:revocation-store');
