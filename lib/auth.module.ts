import { Module, type CanActivate, type DynamicModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, DiscoveryModule } from '@nestjs/core';
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
import { BearerAuthenticator } from './bearer-authenticator.service.js';
import { BearerChallengesService } from './bearer-challenges.service.js';
import { BearerCoverageService } from './bearer-coverage.service.js';
import { BearerExceptionFilter } from './bearer-exception.filter.js';
import { BearerGuard } from './bearer.guard.js';
import { JwtBearerStrategy } from './jwt-bearer.strategy.js';
import { IssuerRegistry } from './issuer-registry.service.js';
import { IssuerKeysService } from './keys/issuer-keys.service.js';
import { ProtectedResourceMetadataService } from './protected-resource-metadata.service.js';
import { BearerRevocations } from './revocation/bearer-revocations.service.js';
import { SenderConstraints } from './sender-constraints/sender-constraints.service.js';
import { createRevocationStore } from './revocation/create-revocation-store.js';
import { REVOCATION_STORE } from './revocation/revocation.constants.js';
import { TokenIntrospectionService } from './revocation/token-introspection.service.js';

/** Stands in for the global guard when `globalGuard: false`. */
const OPEN_GATE: CanActivate = { canActivate: () => true };

/**
 * Makes the app an OAuth 2.0 resource server.
 *
 * `AuthModule.forRoot(options)` or `AuthModule.forRootAsync({ imports, inject, useFactory })`.
 * Static options are validated when `forRoot()` is called, asynchronous ones when they
 * resolve. The module is global: `BearerGuard` can be used in any module, and by default
 * it guards every handler of every transport, with `BearerExceptionFilter` rendering
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
    IssuerRegistry,
    ProtectedResourceMetadataService,
    BearerChallengesService,
    BearerAuthenticator,
    {
      provide: REVOCATION_STORE,
      useFactory: createRevocationStore,
      inject: [RESOLVED_AUTH_OPTIONS],
    },
    BearerRevocations,
    SenderConstraints,
    TokenIntrospectionService,
    JwtBearerStrategy,
    BearerGuard,
    BearerExceptionFilter,
    BearerCoverageService,
    {
      provide: APP_GUARD,
      useFactory: (
        options: ResolvedAuthOptions,
        guard: BearerGuard,
      ): CanActivate => (options.globalGuard ? guard : OPEN_GATE),
      inject: [RESOLVED_AUTH_OPTIONS, BearerGuard],
    },
    { provide: APP_FILTER, useExisting: BearerExceptionFilter },
  ],
  exports: [
    RESOLVED_AUTH_OPTIONS,
    IssuerKeysService,
    IssuerRegistry,
    BearerAuthenticator,
    BearerRevocations,
    SenderConstraints,
    TokenIntrospectionService,
    BearerChallengesService,
    BearerGuard,
    BearerExceptionFilter,
  ],
})
export class AuthModule extends ConfigurableModuleClass {
  /**
   * Configures the module with static options.
   * @throws AuthConfigurationError at once, naming the first wrong option.
   */
  static override forRoot(options: typeof OPTIONS_TYPE): DynamicModule {
    resolveAuthOptions(options);
    return { ...super.forRoot(options), global: true };
  }

  /** Configures the module from a factory, a class or an existing provider. */
  static override forRootAsync(
    options: typeof ASYNC_OPTIONS_TYPE,
  ): DynamicModule {
    return { ...super.forRootAsync(options), global: true };
  }
}
