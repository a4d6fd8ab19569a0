// Not a peer: a guard that admits every request and does nothing else. It measures what any
// Nest guard costs (the guards pipeline itself), the floor for an authenticated route.
import { UseGuards } from '@nestjs/common';
import { createAppModule, serve } from './common.mjs';

class AdmitGuard {
  canActivate() {
    return true;
  }
}

await serve(createAppModule({ controllerDecorators: [UseGuards(AdmitGuard)] }));
