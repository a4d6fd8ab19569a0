import { Controller, Get, Module, UseGuards } from '@nestjs/common';
import {
  BearerGuard,
  Principal,
  Scopes,
  type BearerPrincipal,
} from '../../lib/index.js';

/** Guarded per controller, as an app with `globalGuard: false` does. */
@UseGuards(BearerGuard)
@Controller('feature')
export class GuardedFeatureController {
  @Get()
  me(@Principal() principal: BearerPrincipal): { sub: string | undefined } {
    return { sub: principal.sub };
  }

  @Scopes('documents.read')
  @Get('read')
  read(): { read: boolean } {
    return { read: true };
  }
}

/** Not guarded: with `globalGuard: false` it needs no token. */
@Controller('open')
export class OpenFeatureController {
  @Get()
  open(): { open: boolean } {
    return { open: true };
  }
}

/** A feature module that guards one of its controllers with `@UseGuards(BearerGuard)`. */
@Module({ controllers: [GuardedFeatureController, OpenFeatureController] })
export class FeatureModule {}
