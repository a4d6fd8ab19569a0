/**
 * An in-process app with WebSocket gateways on Express or Fastify, served by
 * `BearerWsAdapter` or by the plain `WsAdapter` of `@nestjs/platform-ws`.
 */
import type { INestApplication, Provider, Type } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { WsAdapter } from '@nestjs/platform-ws';
import { Test } from '@nestjs/testing';
import { BearerWsAdapter } from '../../lib/contexts/ws-adapter.js';
import { AuthModule, type AuthModuleOptions } from '../../lib/index.js';
import type { ScenarioAdapter } from '../scenario/scenario-app.js';

/** How to build a WebSocket app. */
export interface WsAppOptions {
  adapter: ScenarioAdapter;
  auth: AuthModuleOptions;
  gateways: Provider[];
  controllers?: Type[];
  /** Which WebSocket adapter serves the gateways. @default 'bearer' */
  ws?: 'bearer' | 'plain';
}

/** A running WebSocket app. */
export interface WsApp {
  app: INestApplication;
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** `ws://127.0.0.1:PORT` */
  wsUrl: string;
}

/** Starts the app on 127.0.0.1 and an ephemeral port. */
export async function startWsApp(options: WsAppOptions): Promise<WsApp> {
  const moduleRef = await Test.createTestingModule({
    imports: [AuthModule.forRoot(options.auth)],
    providers: options.gateways,
    controllers: options.controllers ?? [],
  }).compile();
  const app = moduleRef.createNestApplication(
    options.adapter === 'fastify' ? new FastifyAdapter() : new ExpressAdapter(),
    { logger: false },
  );
  app.useWebSocketAdapter(
    options.ws === 'plain' ? new WsAdapter(app) : new BearerWsAdapter(app),
  );
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  return { app, url, wsUrl: url.replace(/^http/, 'ws') };
}
