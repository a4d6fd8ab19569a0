// Not a peer: a guard that throws UnauthorizedException with an RFC 6750-shaped body and does
// nothing else. It measures what Nest's own exception path costs, the floor for any 401.
import { UnauthorizedException, UseGuards } from '@nestjs/common';
import { createAppModule, serve } from './common.mjs';

class DenyGuard {
  canActivate() {
    throw new UnauthorizedException({
      statusCode: 401,
      error: 'invalid_token',
      error_description: 'The access token is invalid.',
    });
  }
}

await serve(createAppModule({ controllerDecorators: [UseGuards(DenyGuard)] }));
