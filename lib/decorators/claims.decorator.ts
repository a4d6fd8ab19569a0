import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { readOwnClaim, type BearerPrincipal } from '../claims.js';
import { principalOf } from '../contexts/index.js';

/**
 * Injects the authenticated caller ({@link BearerPrincipal}: `sub`, `scopes`, `roles`,
 * `claims`), on every transport; `undefined` on a `@Public()` handler or an
 * `@OptionalAuth()` call without credentials.
 */
export const Principal = createParamDecorator(
  (_data: unknown, ctx: ExecutionContext): BearerPrincipal | undefined =>
    principalOf(ctx),
);

/**
 * Injects the verified claims, or one claim when a name is given: `@Claims('tid')`.
 * Only the token's own claims are read.
 */
export const Claims = createParamDecorator(
  (name: string | undefined, ctx: ExecutionContext): unknown => {
    const principal = principalOf(ctx);
    if (principal === undefined) return undefined;
    return name === undefined
      ? principal.claims
      : readOwnClaim(principal.claims, name);
  },
);
