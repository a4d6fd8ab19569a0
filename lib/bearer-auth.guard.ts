import { mixin, type Type } from '@nestjs/common';
import { AuthGuard, type IAuthGuard } from '@nestjs/passport';
import { BEARER_STRATEGY } from './auth.constants.js';
import {
  AuthenticationRequiredError,
  AuthServerError,
} from './bearer.errors.js';

/**
 * `AuthGuard('nestjs-bearer')`, optionally composed with the app's own passport strategies,
 * that answers "no credentials" with the module's 401 and its challenge. `@nestjs/passport`'s
 * own `AuthGuard` throws a bare `UnauthorizedException` there, with no `WWW-Authenticate`
 * (RFC 9110 section 15.5.2 requires one).
 *
 * It authenticates only: `@Scopes()`, `@Roles()` and `@StepUp()` are enforced by
 * `BearerGuard`, and the start-up checks refuse a requirement that no `BearerGuard` covers.
 *
 * @example
 * @UseGuards(BearerAuthGuard('api-key')) // a bearer token or an API key
 */
export function BearerAuthGuard(...strategies: string[]): Type<IAuthGuard> {
  class BearerPassportGuard extends AuthGuard([
    BEARER_STRATEGY,
    ...strategies,
  ]) {
    override handleRequest<TUser>(error: unknown, user: TUser | false): TUser {
      if (error instanceof Error) throw error;
      if (error) throw new AuthServerError('a passport strategy failed');
      if (!user) throw new AuthenticationRequiredError();
      return user;
    }
  }
  return mixin(BearerPassportGuard);
}
