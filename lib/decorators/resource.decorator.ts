import { SetMetadata } from '@nestjs/common';
import { RESOURCE_KEY } from '../auth.constants.js';
import { isQuotable } from '../www-authenticate.js';

/**
 * Binds a controller or handler to its own resource (RFC 8707 resource indicator): a
 * token is accepted only when its `aud` names this resource, whatever the module's
 * `audience` option says; the handler's `@Resource()` wins over its class's. Challenges
 * of its refusals carry `resource_id` set to it and, with `protectedResourceMetadata` on
 * and an http(s) resource, the `resource_metadata` of its own RFC 9728 document, which
 * the module serves at the resource's path-aware well-known URL.
 */
export const Resource = (
  resource: string,
): MethodDecorator & ClassDecorator => {
  if (
    typeof resource !== 'string' ||
    resource === '' ||
    !isQuotable(resource)
  ) {
    throw new TypeError(
      '@Resource(): the resource must be a non-empty string without control characters.',
    );
  }
  return SetMetadata(RESOURCE_KEY, resource);
};
