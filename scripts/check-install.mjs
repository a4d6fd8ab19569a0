#!/usr/bin/env node
/**
 * `npm run check:install`: the packed library as users get it.
 *
 * It runs `npm pack` (whose `prepack` builds the library), installs the tarball from the
 * npm registry's dependencies into two throwaway apps in the OS temp folder, a NestJS 12
 * ES-module app and a NestJS 11 CommonJS app (`require('nestjs-bearer')`), starts each, and
 * calls it over loopback HTTP: a public route, no token (401 and a Bearer challenge without
 * `error`), a valid token (200) and a missing scope (403 `insufficient_scope`). The issuer
 * is the package's own test kit (`nestjs-bearer/testing`, loaded from the installed
 * tarball), serving discovery and a JWKS on 127.0.0.1 with a key made by node:crypto.
 *
 * The NestJS 12 app also serves every other transport as the README shows it, with the
 * versions of /work/shared/TOOLCHAIN.md: GraphQL (Apollo on Express), a `ws` gateway behind
 * `BearerWsAdapter` (`nestjs-bearer/ws`) and a hybrid TCP microservice connected without
 * `inheritAppConfig`. The checks call them with the scratch app's own `ws` and
 * `@nestjs/microservices`: GraphQL without a token (401, Bearer challenge, `unauthenticated`,
 * null field) and with one (200); an upgrade without a token (401, Bearer challenge), a
 * message with a token (answered) and without the scope (`insufficient_scope` error
 * message); a protected TCP message (error reply with `statusCode: 401`, handler not run).
 *
 * Each app runs on this Node, and also on a Node 20.19+ when one is found (`NODE20=/path`,
 * else a `node` on the PATH). `.ci/run` runs it; it needs the npm registry.
 *
 * Usage: node scripts/check-install.mjs [nest12-esm] [nest11-cjs]   (default: both)
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const started = Date.now();
/** Everything, install included, must finish within this; the check fails past it. */
const DEADLINE_MS = 170_000;
const INSTALL_TIMEOUT_MS = 120_000;
const START_TIMEOUT_MS = 20_000;
/** Each request, upgrade, message or RPC call of a check. */
const CALL_TIMEOUT_MS = 5000;

/** The throwaway apps: their dependencies and how their entry file loads modules. */
const APPS = {
  'nest12-esm': {
    file: 'app.mjs',
    type: 'module',
    nest: '^12.0.0',
    passport: '^12.0.0',
    // The other transports, pinned to the versions TOOLCHAIN.md lists as booting together.
    extraDependencies: {
      '@apollo/server': '5.5.1',
      '@as-integrations/express5': '1.1.2',
      '@nestjs/apollo': '14.0.3',
      '@nestjs/graphql': '14.0.3',
      '@nestjs/microservices': '12.1.1',
      '@nestjs/platform-ws': '12.1.1',
      '@nestjs/websockets': '12.1.1',
      graphql: '16.15.0',
      ws: '8.23.0',
    },
    imports: `import 'reflect-metadata';
import { ApolloDriver } from '@nestjs/apollo';
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { GraphQLModule, Query, Resolver } from '@nestjs/graphql';
import { MessagePattern, Transport } from '@nestjs/microservices';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { AuthModule, Principal, Public, Scopes } from 'nestjs-bearer';
import { BearerWsAdapter } from 'nestjs-bearer/ws';
import { readFileSync } from 'node:fs';
`,
    transports: String.raw`
// GraphQL (Apollo on Express): one public field and one protected nullable field.
class DocumentsResolver {
  health() { return 'ok'; }
  documents() { return ['Welcome']; }
}
decorate(DocumentsResolver.prototype, 'health', Query(() => String), Public());
decorate(
  DocumentsResolver.prototype,
  'documents',
  Query(() => [String], { nullable: true }),
  Scopes('documents.read'),
);
Resolver()(DocumentsResolver);

// A ws gateway at /ws; the principal comes from the upgrade request's token.
class DocumentsGateway {
  list(caller) { return { event: 'documents', data: [caller.sub + "'s first document"] }; }
}
Principal()(DocumentsGateway.prototype, 'list', 0);
decorate(DocumentsGateway.prototype, 'list', SubscribeMessage('documents'), Scopes('documents.read'));
WebSocketGateway({ path: '/ws' })(DocumentsGateway);

// TCP messages carry no credentials: 'health' answers, 'documents' must refuse. The public
// HTTP route counts how often the protected handler ran.
let rpcDocumentsCalls = 0;
class DocumentsHandlers {
  health() { return 'ok'; }
  documents() { rpcDocumentsCalls++; return [{ id: '1', title: 'Welcome' }]; }
  calls() { return { documents: rpcDocumentsCalls }; }
}
decorate(DocumentsHandlers.prototype, 'health', MessagePattern('health'), Public());
decorate(DocumentsHandlers.prototype, 'documents', MessagePattern('documents'), Scopes('documents.read'));
decorate(DocumentsHandlers.prototype, 'calls', Get('rpc-calls'), Public());
Controller()(DocumentsHandlers);

const transports = {
  imports: [GraphQLModule.forRoot({ driver: ApolloDriver, autoSchemaFile: true })],
  controllers: [DocumentsHandlers],
  providers: [DocumentsResolver, DocumentsGateway],
  async start(app) {
    app.useWebSocketAdapter(new BearerWsAdapter(app));
    // Without inheritAppConfig: the module's own guard must still cover the handlers.
    app.connectMicroservice({
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port: Number(process.env.RPC_PORT) },
    });
    await app.startAllMicroservices();
  },
};
`,
  },
  'nest11-cjs': {
    file: 'app.cjs',
    type: 'commonjs',
    nest: '^11.0.0',
    passport: '^11.0.0',
    imports: `require('reflect-metadata');
const { Controller, Get, Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { AuthModule, Public, Scopes } = require('nestjs-bearer');
const { readFileSync } = require('node:fs');
`,
  },
};

// The same HTTP app in both module systems: decorators applied by hand, since neither file
// is compiled. It reads the module options from AUTH_OPTIONS and prints its port. An app
// with `transports` adds that code's modules, controllers and providers, and its start.
const APP_HELPERS = String.raw`
// Read from the file: Nest 12's exports map does not list package.json.
const nestVersion = JSON.parse(readFileSync('node_modules/@nestjs/core/package.json', 'utf8')).version;
function decorate(target, name, ...decorators) {
  const descriptor = Object.getOwnPropertyDescriptor(target, name);
  for (const decorator of decorators) decorator(target, name, descriptor);
}
`;
const HTTP_ONLY = String.raw`
const transports = { imports: [], controllers: [], providers: [], async start() {} };
`;
const APP_BODY = String.raw`
class DocumentsController {
  health() { return { status: 'ok' }; }
  list() { return [{ id: '1', title: 'Welcome' }]; }
}
decorate(DocumentsController.prototype, 'health', Get('health'), Public());
decorate(DocumentsController.prototype, 'list', Get('documents'), Scopes('documents.read'));
Controller()(DocumentsController);
class AppModule {}
Module({
  imports: [AuthModule.forRoot(JSON.parse(process.env.AUTH_OPTIONS)), ...transports.imports],
  controllers: [DocumentsController, ...transports.controllers],
  providers: transports.providers,
})(AppModule);

async function main() {
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
  await transports.start(app);
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address();
  process.stdout.write(JSON.stringify({ port, node: process.version, nest: nestVersion }) + '\n');
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
}
main().catch((error) => {
  console.error(error);
  process.exit(1);
});
`;

function elapsed(since = started) {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

function log(line) {
  process.stdout.write(`${line}\n`);
}

/** Runs a command to its end, at most `timeoutMs`; rejects with its output on failure. */
function run(command, args, { cwd, timeoutMs }) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else {
        const how = signal
          ? `was stopped (${signal}, limit ${timeoutMs} ms)`
          : `exited ${code}`;
        reject(
          new Error(`${command} ${args.join(' ')} ${how}:\n${output.trim()}`),
        );
      }
    });
  });
}

/** A Node 20.19+ other than this one: NODE20, else the first `node` on the PATH that fits. */
function findNode20() {
  const candidates = process.env.NODE20
    ? [process.env.NODE20]
    : spawnSync('which', ['-a', 'node'], { encoding: 'utf8' }).stdout.split(
        '\n',
      );
  return candidates.find((path) => {
    if (path === '' || path === process.execPath) return false;
    const version = spawnSync(path, ['--version'], {
      encoding: 'utf8',
    }).stdout?.trim();
    return /^v20\.(19|[2-9]\d)\./.test(version ?? '');
  });
}

/** Writes the app's package.json and entry file into `dir`. */
function writeApp(dir, name, tarball) {
  const app = APPS[name];
  mkdirSync(dir);
  const pkg = {
    name,
    private: true,
    type: app.type,
    dependencies: {
      '@nestjs/common': app.nest,
      '@nestjs/core': app.nest,
      '@nestjs/platform-express': app.nest,
      '@nestjs/passport': app.passport,
      passport: '^0.7.0',
      'reflect-metadata': '^0.2.0',
      rxjs: '^7.8.0',
      'nestjs-bearer': `file:${tarball}`,
      ...app.extraDependencies,
    },
  };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  writeFileSync(
    join(dir, app.file),
    `${app.imports}${APP_HELPERS}${app.transports ?? HTTP_ONLY}${APP_BODY}`,
  );
}

/** A TCP port free on 127.0.0.1 right now, for the app's microservice. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts the app with `node` and resolves once it prints its port. */
function startApp(node, dir, file, authOptions, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(node, [file], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        ...env,
        NODE_OPTIONS: '',
        AUTH_OPTIONS: JSON.stringify(authOptions),
      },
    });
    let stdout = '';
    let stderr = '';
    const fail = (why) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${why}\n${stderr.trim()}`));
    };
    const timer = setTimeout(
      () => fail(`no port within ${START_TIMEOUT_MS} ms`),
      START_TIMEOUT_MS,
    );
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      stdout += chunk;
      const line = stdout
        .split('\n')
        .find((candidate) => candidate.startsWith('{'));
      if (line === undefined) return;
      clearTimeout(timer);
      resolve({ child, ...JSON.parse(line), stderr: () => stderr });
    });
    child.once('exit', (code, signal) =>
      fail(`the app exited (${code ?? signal}) before listening`),
    );
  });
}

function stopApp(child) {
  if (child.exitCode !== null || child.signalCode !== null)
    return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** The checks against one running app; each resolves or throws with the reason. */
function checksFor(base, kit, issuer) {
  const call = (path, token) =>
    fetch(`${base}${path}`, {
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    });
  return [
    [
      'public route 200',
      async () => {
        const res = await call('/health');
        if (res.status !== 200) throw new Error(`status ${res.status}`);
      },
    ],
    [
      'no token 401 with a Bearer challenge without error',
      async () => {
        await kit.expectBearerChallenge(await call('/documents'), {
          status: 401,
          params: { authorization_uri: `${issuer.issuer}/authorize` },
        });
      },
    ],
    [
      'valid token 200',
      async () => {
        const res = await call(
          '/documents',
          issuer.mint({}, { scope: 'documents.read' }),
        );
        const text = await res.text();
        if (res.status !== 200 || !text.includes('Welcome')) {
          throw new Error(`status ${res.status}, body ${text.slice(0, 200)}`);
        }
      },
    ],
    [
      'missing scope 403 insufficient_scope',
      async () => {
        await kit.expectBearerChallenge(
          await call('/documents', issuer.mint({}, { scope: 'other' })),
          {
            status: 403,
            error: 'insufficient_scope',
            scope: 'documents.read',
          },
        );
      },
    ],
  ];
}

/** Rejects after `ms` with `what` unless `promise` settles first; `onTimeout` cleans up. */
function within(promise, what, onTimeout = () => {}) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new Error(`${what}: no answer within ${CALL_TIMEOUT_MS} ms`));
    }, CALL_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Opens a WebSocket with `ws`: resolves `{ socket }` once open, or `{ refused }` (status,
 * headers, body, as a supertest-like response) when the upgrade is answered over HTTP.
 * Every socket goes into `sockets`, for the caller to terminate.
 */
function openSocket(WebSocket, url, token, sockets) {
  const socket = new WebSocket(url, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    handshakeTimeout: CALL_TIMEOUT_MS,
  });
  sockets.add(socket);
  const opened = new Promise((resolve, reject) => {
    socket.once('open', () => resolve({ socket }));
    socket.once('error', reject);
    socket.once('unexpected-response', (request, response) => {
      let text = '';
      response.setEncoding('utf8').on('data', (chunk) => (text += chunk));
      response.once('error', reject);
      response.once('end', () => {
        request.destroy();
        resolve({
          refused: {
            status: response.statusCode,
            headers: response.headers,
            text,
          },
        });
      });
    });
  });
  return within(opened, `upgrade of ${url}`, () => socket.terminate());
}

/** Sends one `ws` message and resolves with the next message, parsed. */
function exchange(socket, message) {
  const reply = new Promise((resolve, reject) => {
    socket.once('message', (data) => {
      try {
        resolve(JSON.parse(data.toString('utf8')));
      } catch {
        reject(new Error(`not JSON: ${data.toString('utf8').slice(0, 200)}`));
      }
    });
    socket.once('close', (code) =>
      reject(new Error(`the socket closed (${code}) before answering`)),
    );
    socket.send(JSON.stringify(message));
  });
  return within(reply, `ws message ${message.event}`);
}

/** One ClientProxy `send`: resolves `{ value }` or `{ error }`, whichever the reply is. */
function rpcSend(client, pattern) {
  let subscription;
  const reply = new Promise((resolve) => {
    subscription = client.send(pattern, {}).subscribe({
      next: (value) => resolve({ value }),
      error: (error) => resolve({ error }),
    });
  });
  return within(reply, `rpc send ${pattern}`, () =>
    subscription?.unsubscribe(),
  );
}

/**
 * The checks of the other transports: GraphQL on the app's HTTP server, the ws gateway at
 * /ws, and the TCP microservice at `rpcPort`, through the scratch app's own client packages.
 */
function transportChecks(base, rpcPort, kit, issuer, clients) {
  const graphql = (query, token) =>
    fetch(`${base}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      },
      body: JSON.stringify({ query }),
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    });
  const wsUrl = `${base.replace(/^http/, 'ws')}/ws`;
  const withSockets = async (test) => {
    const sockets = new Set();
    try {
      await test(sockets);
    } finally {
      for (const socket of sockets) socket.terminate();
    }
  };
  const withClient = async (test) => {
    const { ClientProxyFactory, Transport } = clients.microservices;
    const client = ClientProxyFactory.create({
      transport: Transport.TCP,
      options: { host: '127.0.0.1', port: rpcPort },
    });
    try {
      await within(client.connect(), `tcp connect to ${rpcPort}`);
      await test(client);
    } finally {
      await client.close();
    }
  };
  const protectedCalls = async () => {
    const res = await fetch(`${base}/rpc-calls`, {
      signal: AbortSignal.timeout(CALL_TIMEOUT_MS),
    });
    if (res.status !== 200) throw new Error(`/rpc-calls status ${res.status}`);
    return (await res.json()).documents;
  };
  const documentsToken = () => issuer.mint({}, { scope: 'documents.read' });
  return [
    [
      'graphql public field without a token 200',
      async () => {
        const res = await graphql('{ health }');
        const body = await res.json();
        if (res.status !== 200 || body.data?.health !== 'ok') {
          throw new Error(`status ${res.status}, body ${JSON.stringify(body)}`);
        }
      },
    ],
    [
      'graphql no token 401, Bearer challenge, unauthenticated, field null',
      async () => {
        const res = await graphql('{ documents }');
        await kit.expectBearerChallenge(res, { status: 401, body: false });
        const body = await res.json();
        const code = body.errors?.[0]?.extensions?.code;
        if (code !== 'unauthenticated' || body.data?.documents != null) {
          throw new Error(
            `errors[0].extensions.code ${code}, body ${JSON.stringify(body).slice(0, 400)}`,
          );
        }
      },
    ],
    [
      'graphql valid token 200 with data',
      async () => {
        const res = await graphql('{ documents }', documentsToken());
        const body = await res.json();
        if (
          res.status !== 200 ||
          body.errors !== undefined ||
          body.data?.documents?.[0] !== 'Welcome'
        ) {
          throw new Error(
            `status ${res.status}, body ${JSON.stringify(body).slice(0, 400)}`,
          );
        }
      },
    ],
    [
      'ws upgrade without a token refused 401 with a Bearer challenge',
      () =>
        withSockets(async (sockets) => {
          const { refused } = await openSocket(
            clients.WebSocket,
            wsUrl,
            undefined,
            sockets,
          );
          if (refused === undefined)
            throw new Error('the upgrade was accepted without a token');
          await kit.expectBearerChallenge(refused, { status: 401 });
        }),
    ],
    [
      'ws valid token: the message is answered',
      () =>
        withSockets(async (sockets) => {
          const { socket, refused } = await openSocket(
            clients.WebSocket,
            wsUrl,
            documentsToken(),
            sockets,
          );
          if (socket === undefined)
            throw new Error(
              `upgrade refused: ${refused.status} ${refused.text}`,
            );
          const reply = await exchange(socket, { event: 'documents' });
          if (
            reply.event !== 'documents' ||
            reply.data?.[0] !== "test-user's first document"
          ) {
            throw new Error(`reply ${JSON.stringify(reply).slice(0, 400)}`);
          }
        }),
    ],
    [
      'ws missing scope: an insufficient_scope error message',
      () =>
        withSockets(async (sockets) => {
          const { socket, refused } = await openSocket(
            clients.WebSocket,
            wsUrl,
            issuer.mint({}, { scope: 'other' }),
            sockets,
          );
          if (socket === undefined)
            throw new Error(
              `upgrade refused: ${refused.status} ${refused.text}`,
            );
          const reply = await exchange(socket, { event: 'documents' });
          if (
            reply.event !== 'error' ||
            reply.data?.error !== 'insufficient_scope' ||
            reply.data?.statusCode !== 403
          ) {
            throw new Error(`reply ${JSON.stringify(reply).slice(0, 400)}`);
          }
        }),
    ],
    [
      'rpc tcp public message answered',
      () =>
        withClient(async (client) => {
          const reply = await rpcSend(client, 'health');
          if (reply.value !== 'ok')
            throw new Error(`reply ${JSON.stringify(reply).slice(0, 400)}`);
        }),
    ],
    [
      'rpc tcp protected message (no credentials) error 401, handler not run',
      () =>
        withClient(async (client) => {
          const reply = await rpcSend(client, 'documents');
          const calls = await protectedCalls();
          if (reply.error?.statusCode !== 401 || calls !== 0) {
            throw new Error(
              `reply ${JSON.stringify(reply).slice(0, 400)}; the handler ran ${calls} time(s)`,
            );
          }
        }),
    ],
  ];
}

/** The client packages the transport checks use, from the scratch app's node_modules. */
async function transportClients(dir) {
  const resolve = createRequire(join(dir, 'package.json')).resolve;
  const load = (name) => import(pathToFileURL(resolve(name)).href);
  const [ws, microservices] = await Promise.all([
    load('ws'),
    load('@nestjs/microservices'),
  ]);
  return { WebSocket: ws.default, microservices };
}

async function main() {
  const wanted = process.argv.slice(2);
  for (const name of wanted) {
    if (!(name in APPS))
      throw new Error(
        `unknown app ${name}; the apps are ${Object.keys(APPS).join(', ')}`,
      );
  }
  const names = wanted.length > 0 ? wanted : Object.keys(APPS);
  const work = mkdtempSync(join(tmpdir(), 'nestjs-bearer-install-'));
  const children = new Set();
  const deadline = setTimeout(() => {
    process.stderr.write(
      `check-install: stopped, over ${DEADLINE_MS / 1000} s\n`,
    );
    for (const child of children) child.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
    process.exit(1);
  }, DEADLINE_MS);
  let issuer;
  try {
    // `npm pack` runs `prepack`, so this also proves a fresh clone packs a built library.
    await run('npm', ['pack', '--silent', '--pack-destination', work], {
      cwd: root,
      timeoutMs: 60_000,
    });
    const tarball = join(
      work,
      readdirSync(work).find((name) => name.endsWith('.tgz')),
    );
    log(
      `check-install: packed ${tarball.split('/').pop()} (${(statSync(tarball).size / 1000).toFixed(1)} kB) in ${elapsed()}`,
    );

    const installStart = Date.now();
    await Promise.all(
      names.map((name) => {
        writeApp(join(work, name), name, tarball);
        return run(
          'npm',
          [
            'install',
            '--no-audit',
            '--no-fund',
            '--ignore-scripts',
            '--prefer-offline',
            '--loglevel=error',
          ],
          { cwd: join(work, name), timeoutMs: INSTALL_TIMEOUT_MS },
        );
      }),
    );
    log(
      `check-install: installed into ${names.join(' and ')} in ${elapsed(installStart)}`,
    );

    // The issuer comes from the installed tarball, so `nestjs-bearer/testing` is checked too.
    const kitPath = createRequire(join(work, names[0], 'package.json')).resolve(
      'nestjs-bearer/testing',
    );
    const kit = await import(pathToFileURL(kitPath).href);
    issuer = await kit.createTestIssuer({ audience: 'api://install-check' });

    const node20 = findNode20();
    const nodes = [process.execPath, ...(node20 === undefined ? [] : [node20])];
    let failures = 0;
    let passes = 0;
    for (const name of names) {
      const clients =
        APPS[name].transports === undefined
          ? undefined
          : await transportClients(join(work, name));
      for (const node of nodes) {
        const rpcPort = clients === undefined ? undefined : await freePort();
        const app = await startApp(
          node,
          join(work, name),
          APPS[name].file,
          issuer.authModuleOptions(),
          rpcPort === undefined ? {} : { RPC_PORT: String(rpcPort) },
        );
        children.add(app.child);
        const label = `${name} on Node ${app.node.slice(1)}, @nestjs/core ${app.nest}`;
        const base = `http://127.0.0.1:${app.port}`;
        const checks = checksFor(base, kit, issuer);
        if (clients !== undefined)
          checks.push(...transportChecks(base, rpcPort, kit, issuer, clients));
        for (const [check, test] of checks) {
          try {
            await test();
            passes++;
            log(`ok   ${label}: ${check}`);
          } catch (error) {
            failures++;
            log(
              `FAIL ${label}: ${check}\n${String(error?.message ?? error).replace(/^/gm, '     ')}`,
            );
          }
        }
        await stopApp(app.child);
        children.delete(app.child);
        if (failures > 0 && app.stderr().trim() !== '')
          log(app.stderr().trim());
      }
    }
    if (node20 === undefined)
      log(
        'check-install: no Node 20.19+ found (set NODE20=/path/to/node); ran on this Node only',
      );
    if (failures > 0) {
      log(
        `check-install: FAILED, ${failures} of ${passes + failures} checks (${elapsed()})`,
      );
      process.exitCode = 1;
    } else {
      log(
        `check-install: every check ok, ${passes} over ${names.length * nodes.length} app runs (${elapsed()})`,
      );
    }
  } finally {
    clearTimeout(deadline);
    for (const child of children) child.kill('SIGKILL');
    await issuer?.close();
    if (process.env.CHECK_INSTALL_KEEP === '1')
      log(`check-install: kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  process.stderr.write(`check-install: ${error?.stack ?? error}\n`);
  process.exitCode = 1;
});
