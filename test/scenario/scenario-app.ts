import {
  Module,
  type DynamicModule,
  type INestApplication,
  type LoggerService,
  type LogLevel,
  type ModuleMetadata,
  type Type,
} from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { AuthModule, type AuthModuleOptions } from '../../lib/index.js';
import {
  CombinedScopesController,
  ScenarioController,
} from './scenario.controllers.js';

/** The HTTP platforms the module supports; e2e specs run their scenarios on each. */
export type ScenarioAdapter = 'express' | 'fastify';

/** Both adapters, for `describe.each(ADAPTERS)`. */
export const ADAPTERS: readonly ScenarioAdapter[] = ['express', 'fastify'];

/** The options of `AuthModule.forRootAsync()`. */
export type AuthModuleAsyncOptions = Parameters<
  typeof AuthModule.forRootAsync
>[0];

/** How to build the scenario app around the auth module. */
export interface ScenarioAppOptions {
  /** @default 'express' */
  adapter?: ScenarioAdapter;
  /** Nest's `logger` option. @default false */
  logger?: LoggerService | LogLevel[] | false;
  /** More modules for the root module (feature modules, config modules). */
  imports?: ModuleMetadata['imports'];
  /** @default [ScenarioController, CombinedScopesController] */
  controllers?: Type[];
}

/** A running scenario app. */
export interface ScenarioApp {
  app: INestApplication;
  /** `http://127.0.0.1:PORT` */
  url: string;
}

/** The root module of the scenario app: the auth module plus the scenario controllers. */
export function createScenarioModule(
  auth: DynamicModule,
  options: ScenarioAppOptions = {},
): Type {
  @Module({
    imports: [auth, ...(options.imports ?? [])],
    controllers: options.controllers ?? [
      ScenarioController,
      CombinedScopesController,
    ],
  })
  class ScenarioModule {}
  return ScenarioModule;
}

async function startApp(
  auth: DynamicModule,
  options: ScenarioAppOptions,
): Promise<ScenarioApp> {
  const moduleRef = await Test.createTestingModule({
    imports: [createScenarioModule(auth, options)],
  }).compile();
  const adapter =
    options.adapter === 'fastify' ? new FastifyAdapter() : new ExpressAdapter();
  const app = moduleRef.createNestApplication(adapter, {
    logger: options.logger ?? false,
  });
  // Passport strategies register globally by name: close one app before starting the next.
  await app.listen(0, '127.0.0.1');
  return { app, url: await app.getUrl() };
}

/** Starts the scenario app in-process on 127.0.0.1 with `AuthModule.forRoot(options)`. */
export function startScenarioApp(
  options: AuthModuleOptions,
  app: ScenarioAppOptions = {},
): Promise<ScenarioApp> {
  return startApp(AuthModule.forRoot(options), app);
}

/** Starts the scenario app with `AuthModule.forRootAsync(options)`. */
export function startScenarioAppAsync(
  options: AuthModuleAsyncOptions,
  app: ScenarioAppOptions = {},
): Promise<ScenarioApp> {
  return startApp(AuthModule.forRootAsync(options), app);
}
