import { Controller, Get } from '@nestjs/common';
import { Principal, type BearerPrincipal } from '../lib/index.js';

/** What `GET /me` answers. */
export interface MeResponse {
  /** The token's `sub`; `null` when it carries none. */
  sub: string | null;
  scopes: readonly string[];
  roles: readonly string[];
}

/** Who the caller is: any valid token may ask. */
@Controller('me')
export class MeController {
  /** `GET /me` → the caller's `sub`, scopes and app roles. */
  @Get()
  me(@Principal() principal: BearerPrincipal): MeResponse {
    return {
      sub: principal.sub ?? null,
      scopes: principal.scopes,
      roles: principal.roles,
    };
  }
}
