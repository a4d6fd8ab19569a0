import { Controller, Get } from '@nestjs/common';
import { Public } from '../lib/index.js';

/** Liveness: answers without a token, and without asking the issuer anything. */
@Controller('health')
export class HealthController {
  /** `GET /health` → `200 {"status":"ok"}`. */
  @Public()
  @Get()
  check(): { status: 'ok' } {
    return { status: 'ok' };
  }
}
