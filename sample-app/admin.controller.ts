import { Body, Controller, Get, HttpCode, Post } from '@nestjs/common';
import {
  BearerRevocations,
  Principal,
  Roles,
  type BearerPrincipal,
} from '../lib/index.js';
import { readRevocationRequest } from './revocation-request.js';

/** What `GET /admin` answers. */
export interface AdminResponse {
  message: string;
  sub: string | null;
  roles: readonly string[];
}

/** Routes for the `Admin` app role; without it the caller gets 403 `insufficient_access`. */
@Controller('admin')
export class AdminController {
  constructor(private readonly revocations: BearerRevocations) {}

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

  /**
   * `POST /admin/revocations` (app role `Admin`): `{"jti"}` revokes one token,
   * `{"sub","issuedBefore"}` every token of a subject issued before that time (epoch
   * seconds), `{"clientId","issuedBefore"}` every token of a client. `204` once every
   * instance that shares the store will refuse it; a malformed body is `400`; a store that
   * cannot take it is `500`.
   */
  @Roles('Admin')
  @Post('revocations')
  @HttpCode(204)
  async revoke(@Body() body: unknown): Promise<void> {
    const request = readRevocationRequest(body);
    switch (request.kind) {
      case 'jti':
        await this.revocations.revokeToken(request.jti, request.exp);
        return;
      case 'sub':
        await this.revocations.revokeSubject(request.sub, request.issuedBefore);
        return;
      case 'client':
        await this.revocations.revokeClient(
          request.clientId,
          request.issuedBefore,
        );
        return;
    }
  }
}
