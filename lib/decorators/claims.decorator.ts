import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { readOwnClaim, type BearerPrincipal } from '../claims.js';

function principalOf(ctx: ExecutionContext): BearerPrincipal | undefined {
  const request = ctx.switchToHttp().getRequest<{ user?: BearerPrincipal }>();
  return request.user;
}

/**
 * Injects the authenticated caller ({@link BearerPrincipal}: `sub`, `scopes`, `roles`,
 * `claims`), or `undefined` on a `@Public()` route.
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
