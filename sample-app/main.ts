import {
  ConsoleLogger,
  type INestApplication,
  type LogLevel,
  type NestApplicationOptions,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { FastifyReply, FastifyServerOptions } from 'fastify';
import { BearerWsAdapter } from '../lib/contexts/ws-adapter.js';
import { statusBody } from './app-exception.filter.js';
import { AppModule } from './app.module.js';
import { setupDocs } from './docs.js';
import {
  loadConfig,
  LOG_LEVELS,
  toConfigError,
  type AppConfig,
} from './config.js';

/**
 * Nest's console logger, except that errors stay silent until the app listens: a failed
 * start is reported once, as one line, by `main()`, where Nest would add its own report
 * with a stack trace.
 */
class SampleLogger extends ConsoleLogger {
  started = false;

  override error(message: unknown, ...rest: unknown[]): void {
    if (this.started) super.error(message, ...rest);
  }
}

/** Builds the Nest app on the configured HTTP platform. */
async function createApp(
  config: AppConfig,
  logger: SampleLogger,
): Promise<INestApplication> {
  const module = await AppModule.register(config);
  const options: NestApplicationOptions = {
    // Without this Nest calls process.abort() on a failed start: a core dump, not a message.
    abortOnError: false,
    logger,
  };
  if (config.httpAdapter === 'fastify') {
    // Loaded only when asked for, so an Express app never loads Fastify.
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    const fastifyOptions: FastifyServerOptions = {
      // Fastify's router answers a malformed URL (400) or an over-long parameter (414)
      // before Nest sees the request, with a body that repeats the path; answer with
      // the app's own body instead, as Express does.
      frameworkErrors: (error, _request, reply) => {
        const body = statusBody(error.statusCode ?? 400);
        const plain: FastifyReply = reply;
        void plain.code(body.statusCode).send(body);
      },
    };
    const adapter = new FastifyAdapter(fastifyOptions);
    return NestFactory.create(module, adapter, options);
  }
  const app = await NestFactory.create<NestExpressApplication>(module, options);
  app.disable('x-powered-by');
  return app;
}

/** The URL to print for a host: wildcard addresses are reachable on loopback. */
function baseUrl(config: AppConfig): string {
  const host = ['0.0.0.0', '::'].includes(config.host)
    ? '127.0.0.1'
    : config.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`;
}

/** What a new user sees once the app listens. */
function formatBanner(config: AppConfig): string {
  const url = baseUrl(config);
  const lines = [
    `nestjs-bearer sample app listening on ${url} (${config.httpAdapter})`,
  ];
  if (config.mode === 'external') {
    lines.push(
      `Trusting tokens from ${config.issuer} for ${config.audiences.join(', ')}`,
    );
    return `${lines.join('\n')}\n`;
  }
  const body = JSON.stringify({
    sub: 'alice',
    scope: 'documents.read documents.write',
    roles: ['Admin'],
  });
  lines.push(
    `Development issuer at ${config.issuer} (set AUTH_ISSUER to trust a real one)`,
    '',
    'Get a token, then call the API with it:',
    '',
    `  TOKEN=$(curl -s -X POST ${url}/dev/token -H 'Content-Type: application/json' -d '${body}' | node -p 'JSON.parse(require("fs").readFileSync(0, "utf8")).access_token')`,
    `  curl -s ${url}/documents -H "Authorization: Bearer $TOKEN"`,
    '',
    'Press Ctrl+C to stop.',
  );
  return `${lines.join('\n')}\n`;
}

/** One line for a failed start; `undefined` when the failure is not a known cause. */
function describeStartupError(
  error: unknown,
  config: AppConfig | undefined,
): string | undefined {
  const configError = toConfigError(error);
  if (configError !== undefined) {
    return `Invalid configuration: ${configError.message}`;
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (config === undefined || typeof code !== 'string') return undefined;
  switch (code) {
    case 'EADDRINUSE':
      return `Cannot start: PORT ${config.port} is already in use on ${config.host}.`;
    case 'EACCES':
      return `Cannot start: PORT ${config.port} needs privileges this process does not have.`;
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `Cannot start: HOST ${config.host} is not an address of this machine.`;
    default:
      return undefined;
  }
}

function exitWith(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  let config: AppConfig | undefined;
  try {
    config = loadConfig(process.env);
    const logLevels: LogLevel[] = LOG_LEVELS.slice(
      0,
      LOG_LEVELS.indexOf(config.logLevel) + 1,
    );
    const logger = new SampleLogger({
      logLevels,
      prefix: 'sample-app',
      colors: process.stdout.isTTY === true,
    });
    const app = await createApp(config, logger);
    // WebSocket upgrades are authenticated before a socket opens (ws://HOST:PORT/ws).
    app.useWebSocketAdapter(new BearerWsAdapter(app));
    // SIGINT and SIGTERM close the app (and its open connections) before exiting.
    app.enableShutdownHooks(['SIGINT', 'SIGTERM']);
    // Swagger UI at /docs and the OpenAPI document at /docs-json, both public.
    setupDocs(app, config);
    await app.listen(config.port, config.host);
    logger.started = true;
    process.stdout.write(formatBanner(config));
  } catch (error) {
    const line = describeStartupError(error, config);
    if (line !== undefined) exitWith(line);
    // An unknown failure is a bug: its stack is what helps.
    exitWith(
      `Cannot start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    );
  }
}

await main();
