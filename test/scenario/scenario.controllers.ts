import { Controller, Get, HttpCode, Post, Req } from '@nestjs/common';
import {
  Claims,
  InsufficientAccessError,
  Principal,
  Public,
  Roles,
  Scopes,
  type BearerPrincipal,
} from '../../lib/index.js';

/** Routes that exercise every guard outcome; shared by the e2e specs. */
@Controller()
export class ScenarioController {
  @Public()
  @Get('public')
  open(): { status: string } {
    return { status: 'ok' };
  }

  @Get('me')
  me(@Principal() principal: BearerPrincipal): Omit<BearerPrincipal, 'claims'> {
    return {
      sub: principal.sub,
      scopes: principal.scopes,
      roles: principal.roles,
    };
  }

  /** What the guard left on the request, next to what `@Principal()` delivers. */
  @Get('user')
  user(
    @Req() request: { user?: BearerPrincipal },
    @Principal() principal: BearerPrincipal,
  ): { sub: string | undefined; samePrincipal: boolean } {
    return {
      sub: request.user?.sub,
      samePrincipal: request.user === principal,
    };
  }

  @Get('claim')
  claim(@Claims('tid') tid: unknown): { tid: unknown } {
    return { tid };
  }

  @Scopes('documents.read')
  @Get('read')
  read(): string[] {
    return ['a'];
  }

  @Scopes('documents.write')
  @Post('write')
  @HttpCode(201)
  write(): { created: boolean } {
    return { created: true };
  }

  @Roles('Admin')
  @Get('admin')
  admin(): { admin: boolean } {
    return { admin: true };
  }

  @Get('owned')
  owned(@Principal() principal: BearerPrincipal): { owner: string } {
    if (principal.sub !== 'alice') throw new InsufficientAccessError();
    return { owner: 'alice' };
  }

  @Get('boom')
  boom(): never {
    throw new Error('internal detail that must not leak');
  }
}

/** Scopes on the class and the handler combine. */
@Scopes('documents.read')
@Controller('combined')
export class CombinedScopesController {
  @Scopes('documents.write')
  @Get()
  both(): { ok: boolean } {
    return { ok: true };
  }
}
