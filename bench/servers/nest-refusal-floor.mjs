// Not a peer: the cheapest refusal a Nest guard can make. The guard throws one error built at
// start (no error object, no stack trace per request), and a global filter for that error
// writes a fixed 401 with its challenge in one write, as nestjs-bearer's filter does on
// Express. It is the floor of Nest's exception path itself: what is left of a 401 when a
// guard does no token work.
import { Catch, UseGuards } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { createAppModule, serve } from './common.mjs';

class Refusal extends Error {}
const REFUSAL = new Refusal('refused');
const BODY = JSON.stringify({
  statusCode: 401,
  error: 'invalid_token',
  error_description: 'The access token is invalid.',
});
const HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'content-length': Buffer.byteLength(BODY),
  'www-authenticate':
    'Bearer error="invalid_token", error_description="The access token is invalid."',
};

class RefusingGuard {
  canActivate() {
    throw REFUSAL;
  }
}

class RefusalFilter {
  catch(_error, host) {
    host.getArgByIndex(1).writeHead(401, HEADERS).end(BODY);
  }
}
Catch(Refusal)(RefusalFilter);

await serve(
  createAppModule({
    controllerDecorators: [UseGuards(RefusingGuard)],
    providers: [{ provide: APP_FILTER, useClass: RefusalFilter }],
  }),
);
