// Shared shape of every benchmark server: one Nest 12 app on Express, one route
// (GET /data, a small JSON), listening on 127.0.0.1. Only the authentication differs.
//
// Environment: PORT (0 picks a free port), ISSUER, AUDIENCE, JWKS_URI.
// On start the server prints one line `READY {"port":…,"pid":…}` on stdout.
// It exits on SIGTERM/SIGINT (printing `STATS {"maxRSS":…}` first, with whatever `serve`'s
// `stats` option adds), when its stdin
// closes (the driver died), and after BENCH_MAX_LIFETIME_MS in any case.
import 'reflect-metadata';
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { constants, PerformanceObserver } from 'node:perf_hooks';

const MAX_LIFETIME_MS = Number(
  process.env.BENCH_MAX_LIFETIME_MS ?? 15 * 60_000,
);

/** The settings every protected variant needs, from the environment. */
export function readAuthEnv() {
  const { ISSUER, AUDIENCE, JWKS_URI } = process.env;
  if (!ISSUER || !AUDIENCE || !JWKS_URI) {
    throw new Error('ISSUER, AUDIENCE and JWKS_URI must be set');
  }
  return { issuer: ISSUER, audience: AUDIENCE, jwksUri: JWKS_URI };
}

/** A fresh controller class with GET /data; `classDecorators` are applied to it. */
export function createDataController(classDecorators = []) {
  class DataController {
    getData() {
      return { ok: true, items: [1, 2, 3] };
    }
  }
  const proto = DataController.prototype;
  Get('data')(
    proto,
    'getData',
    Object.getOwnPropertyDescriptor(proto, 'getData'),
  );
  for (const decorate of classDecorators) decorate(DataController);
  Controller('')(DataController);
  return DataController;
}

/** A fresh root module class. */
export function createAppModule({
  imports = [],
  providers = [],
  controllerDecorators = [],
} = {}) {
  class AppModule {}
  Module({
    imports,
    providers,
    controllers: [createDataController(controllerDecorators)],
  })(AppModule);
  return AppModule;
}

/**
 * Garbage collections from start to stop, by kind (young generation: scavenges; old:
 * mark-compacts, incremental marking steps), with their wall time: where a variant's
 * allocations end up, since pretenured objects make old-generation collections frequent.
 */
const gc = {
  requests: 0,
  minor: { count: 0, ms: 0 },
  major: { count: 0, ms: 0 },
};
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const kind =
      entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR
        ? gc.minor
        : gc.major;
    kind.count++;
    kind.ms += entry.duration;
  }
}).observe({ entryTypes: ['gc'] });

function printStatsAndExit(code, stats) {
  const { maxRSS } = process.resourceUsage();
  process.stdout.write(
    `STATS ${JSON.stringify({ ...stats(), gc, maxRSS: maxRSS * 1024 })}\n`,
    () => process.exit(code),
  );
}

/**
 * Boots the app, lets `configure(app)` add Express middleware, listens, reports READY.
 * `stats()` adds its fields to the STATS line.
 */
export async function serve(
  AppModule,
  configure = () => undefined,
  { stats = () => ({}) } = {},
) {
  // The watchdogs come first, so a server that fails to boot still cannot outlive the driver.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
  setTimeout(() => process.exit(0), MAX_LIFETIME_MS).unref();
  process.on('SIGTERM', () => printStatsAndExit(0, stats));
  process.on('SIGINT', () => printStatsAndExit(0, stats));

  const app = await NestFactory.create(AppModule, {
    logger: ['error', 'warn'],
  });
  configure(app);
  await app.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
  app.getHttpServer().on('request', () => gc.requests++);
  const { port } = app.getHttpServer().address();
  process.stdout.write(`READY ${JSON.stringify({ port, pid: process.pid })}\n`);
  return app;
}
