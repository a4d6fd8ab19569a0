import { SetMetadata } from '@nestjs/common';
import { OPTIONAL_AUTH_KEY } from '../auth.constants.js';

/**
 * Makes authentication optional: a request without credentials reaches the handler with
 * no principal (`@Principal()` is `undefined`); a request with a token gets it verified,
 * and an invalid token is the same 401 as anywhere.
 */
export const OptionalAuth = (): MethodDecorator & ClassDecorator =>
  SetMetadata(OPTIONAL_AUTH_KEY, true);
