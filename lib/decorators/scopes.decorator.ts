import { SetMetadata } from '@nestjs/common';
import { SCOPES_KEY } from '../auth.constants.js';
import { isValidScopeName } from '../auth-options.js';

/**
 * Requires every listed scope (delegated permission). Class and handler requirements
 * combine. A token without them gets 403 `insufficient_scope` with the required scopes
 * in the challenge's `scope` (RFC 6750 section 3.1).
 *
 * @throws TypeError at declaration time for a scope that RFC 6750 cannot carry.
 */
export const Scopes = (
  ...scopes: string[]
): MethodDecorator & ClassDecorator => {
  for (const scope of scopes) {
    if (!isValidScopeName(scope)) {
      throw new TypeError(
        `@Scopes(): "${scope}" is not a valid scope (RFC 6750 section 3 scope-token).`,
      );
    }
  }
  return SetMetadata(SCOPES_KEY, scopes);
};
