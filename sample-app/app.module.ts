import {
  Module,
  type DynamicModule,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { AuthModule, type AuthModuleOptions } from '../lib/index.js';
import { AdminController } from './admin.controller.js';
import { AppExceptionFilter } from './app-exception.filter.js';
import { APP_CONFIG, toAuthOptions, type AppConfig } from './config.js';
import { DocumentsController } from './documents.controller.js';
import { DocumentsStore } from './documents.store.js';
import { FeedController } from './feed.controller.js';
import { GraphqlApiModule } from './graphql/graphql-api.module.js';
import { HealthController } from './health.controller.js';
import { MeController } from './me.controller.js';
import { createReportsController } from './reports.controller.js';
import { DocumentsGateway } from './ws/documents.gateway.js';

/** Provides the {@link AppConfig} under {@link APP_CONFIG} to every module. */
@Module({})
export class AppConfigModule {
  /** The module holding `config`. */
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppConfigModule,
      global: true,
      providers: [{ provide: APP_CONFIG, useValue: config }],
      exports: [APP_CONFIG],
    };
  }
}

/** The sample app: health, me, documents and admin routes behind `AuthModule`. */
@Module({})
export class AppModule implements OnApplicationShutdown {
  /** Says goodbye once SIGINT or SIGTERM has closed the app. */
  onApplicationShutdown(signal?: string): void {
    if (signal !== undefined) process.stdout.write(`Stopped (${signal}).\n`);
  }

  /**
   * The app for `config`. The development issuer's file is loaded, and its module
   * imported, only when `AUTH_ISSUER` is unset.
   */
  static async register(config: AppConfig): Promise<DynamicModule> {
    const devIssuer =
      config.mode === 'development'
        ? (await import('./dev-issuer.js')).DevIssuerModule.forRoot(config)
        : undefined;
    return {
      module: AppModule,
      imports: [
        AppConfigModule.forRoot(config),
        AuthModule.forRootAsync({
          inject: [APP_CONFIG],
          useFactory: (current: AppConfig): AuthModuleOptions =>
            toAuthOptions(current),
        }),
        ...(devIssuer === undefined ? [] : [devIssuer]),
        await GraphqlApiModule.forRoot(config),
      ],
      controllers: [
        HealthController,
        MeController,
        DocumentsController,
        AdminController,
        FeedController,
        // GET /reports: mounted only with AUTH_REPORTS_AUDIENCE.
        ...(config.reportsAudience === undefined
          ? []
          : [createReportsController(config.reportsAudience)]),
      ],
      providers: [
        DocumentsStore,
        // ws://HOST:PORT/ws, served by BearerWsAdapter (main.ts).
        DocumentsGateway,
        // Registered before AuthModule's filter, so Nest asks that one first (see the filter).
        { provide: APP_FILTER, useClass: AppExceptionFilter },
      ],
    };
  }
}
