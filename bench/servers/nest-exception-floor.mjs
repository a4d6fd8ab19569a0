// Not a peer: a guard that throws UnauthorizedException with an RFC 6750-shaped body and does
// nothing else: the 401 of a hand-written Nest guard, with Nest's own exception filter (a new
// exception and its stack trace per request, the body through Express's res.json). The floor
// of Nest's exception path itself is nest-refusal-floor.mjs.
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
