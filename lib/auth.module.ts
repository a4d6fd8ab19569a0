import { Module, type CanActivate, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, DiscoveryModule } from '@nestjs/core';
import { ProtectedResourceMetadataService } from './protected-resource-metadata.service.js';
import { RESOLVED_AUTH_OPTIONS } from './auth.constants.js';
import {
  ASYNC_OPTIONS_TYPE,
  AUTH_MODULE_OPTIONS,
  ConfigurableModuleClass,
  OPTIONS_TYPE,
} from './auth.module-definition.js';
import {
  resolveAuthOptions,
  type ResolvedAuthOptions,
} from './auth-options.js';
import { BearerExceptionFilter } from './bearer-exception.filter.js';
import { BearerGuard } from './bearer.guard.js';
import { IssuerKeysService } from './keys/issuer-keys.service.js';
import { JwtBearerStrategy } from './jwt-bearer.strategy.js';

/** Stands in for the global guard when `globalGuard: false`. */
const OPEN_GATE: CanActivate = { canActivate: () => true };

/**
 * Makes the app an OAuth 2.0 resource server.
 *
 * `AuthModule.forRoot(options)` or `AuthModule.forRootAsync({ imports, inject, useFactory })`.
 * Options are validated at start. The module is global: `BearerGuard` can be used in any
 * module, and by default it guards every route, with `BearerExceptionFilter` rendering
 * every failure.
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    {
      provide: RESOLVED_AUTH_OPTIONS,
      useFactory: (raw: unknown): ResolvedAuthOptions =>
        resolveAuthOptions(raw),
      inject: [AUTH_MODULE_OPTIONS],
    },
    IssuerKeysService,
    ProtectedResourceMetadataService,
    JwtBearerStrategy,
    BearerGuard,
    {
      provide: APP_GUARD,
      useFactory: (
        options: ResolvedAuthOptions,
        guard: BearerGuard,
      ): CanActivate => (options.globalGuard ? guard : OPEN_GATE),
      inject: [RESOLVED_AUTH_OPTIONS, BearerGuard],
    },
    { provide: APP_FILTER, useClass: BearerExceptionFilter },
  ],
  exports: [RESOLVED_AUTH_OPTIONS, IssuerKeysService, BearerGuard],
})
export class AuthModule extends ConfigurableModuleClass {
  /** Configures the module with static options. */
  static override forRoot(options: typeof OPTIONS_TYPE): DynamicModule {
    return { ...super.forRoot(options), global: true };
  }

  /** Configures the module from a factory, a class or an existing provider. */
  static override forRootAsync(
    options: typeof ASYNC_OPTIONS_TYPE,
  ): DynamicModule {
    return { ...super.forRootAsync(options), global: true };
  }
}
