import { SetMetadata } from '@nestjs/common';
import { ROLES_KEY } from '../auth.constants.js';

/**
 * Requires every listed app role (from the `roles` claim by default). Class and handler
 * requirements combine. A token without them gets 403 `insufficient_access`.
 */
export const Roles = (...roles: string[]): MethodDecorator & ClassDecorator => {
  for (const role of roles) {
    if (typeof role !== 'string' || role === '') {
      throw new TypeError('@Roles(): every role must be a non-empty string.');
    }
  }
  return SetMetadata(ROLES_KEY, roles);
};
