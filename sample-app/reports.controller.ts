import { Controller, Get, type Type } from '@nestjs/common';
import {
  Principal,
  Resource,
  Scopes,
  type BearerPrincipal,
} from '../lib/index.js';

/** What `GET /reports` answers. */
export interface ReportsResponse {
  /** The resource the route is bound to (`AUTH_REPORTS_AUDIENCE`). */
  resource: string;
  sub: string | null;
  reports: { id: string; title: string }[];
}

/**
 * `GET /reports`, a second resource with its own audience (`@Resource()`): only a token
 * whose `aud` names `audience` is accepted there, and only with scope `reports.read`;
 * tokens for the API's `AUTH_AUDIENCE` are refused (401 `invalid_token`).
 */
export function createReportsController(audience: string): Type {
  @Resource(audience)
  @Controller('reports')
  class ReportsController {
    @Scopes('reports.read')
    @Get()
    list(@Principal() caller: BearerPrincipal): ReportsResponse {
      return {
        resource: audience,
        sub: caller.sub ?? null,
        reports: [{ id: 'q1', title: 'First quarter' }],
      };
    }
  }
  return ReportsController;
}
