import { Controller, Get } from '@nestjs/common';
import { Principal, Roles, type BearerPrincipal } from '../lib/index.js';

/** What `GET /admin` answers. */
export interface AdminResponse {
  message: string;
  sub: string | null;
  roles: readonly string[];
}

/** A route for the `Admin` app role; without it the caller gets 403 `insufficient_access`. */
@Controller('admin')
export class AdminController {
  /** `GET /admin` (app role `Admin`). */
  @Roles('Admin')
  @Get()
  admin(@Principal() principal: BearerPrincipal): AdminResponse {
    return {
      message: 'Welcome, administrator.',
      sub: principal.sub ?? null,
      roles: principal.roles,
    };
  }
}
