import { SetMetadata } from '@nestjs/common';
import { APP_ROLES_KEY } from '../auth.constants.js';

/**
 * Requires an application token (client credentials: no user signed in) that carries
 * every listed app role, read from the `roleClaim` option (`roles` by default). Class and
 * handler requirements combine. A delegated token gets 403 `insufficient_access` even when
 * it carries the roles, and so does an application token without them.
 *
 * What counts as an application token is the rule of `isApplicationToken()`: Azure AD's
 * `idtyp: app`, or an Azure AD token without `scp`; Auth0's
 * `gty: client-credentials`; elsewhere a `sub` equal to `client_id`, `azp` or `cid`.
 * Delegated permissions of a user are `@Scopes()`; `@Roles()` accepts either kind.
 *
 * @throws TypeError at declaration time without roles (it would require nothing), or for a
 * role that is not a non-empty string.
 */
export const AppRoles = (
  ...roles: string[]
): MethodDecorator & ClassDecorator => {
  if (roles.length === 0) {
    throw new TypeError(
      '@AppRoles(): name at least one role; without one it would require nothing.',
    );
  }
  for (const role of roles) {
    if (typeof role !== 'string' || role === '') {
      throw new TypeError(
        '@AppRoles(): every role must be a non-empty string.',
      );
    }
  }
  return SetMetadata(APP_ROLES_KEY, roles);
};
