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
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const started = Date.now();
/** Everything, install included, must finish within this; the check fails past it. */
const DEADLINE_MS = 170_000;
const INSTALL_TIMEOUT_MS = 120_000;
const START_TIMEOUT_MS = 20_000;

/** The throwaway apps: their dependencies and how their entry file loads modules. */
const APPS = {
  'nest12-esm': {
    file: 'app.mjs',
    type: 'module',
    nest: '^12.0.0',
    passport: '^12.0.0',
    imports: `import 'reflect-metadata';
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AuthModule, Public, Scopes } from 'nestjs-bearer';
import { readFileSync } from 'node:fs';
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

// The same app in both module systems: decorators applied by hand, since neither file is
// compiled. It reads the module options from AUTH_OPTIONS and prints its port.
const APP_BODY = String.raw`
// Read from the file: Nest 12's exports map does not list package.json.
const nestVersion = JSON.parse(readFileSync('node_modules/@nestjs/core/package.json', 'utf8')).version;
function decorate(target, name, ...decorators) {
  const descriptor = Object.getOwnPropertyDescriptor(target, name);
  for (const decorator of decorators) decorator(target, name, descriptor);
}
class DocumentsController {
  health() { return { status: 'ok' }; }
  list() { return [{ id: '1', title: 'Welcome' }]; }
}
decorate(DocumentsController.prototype, 'health', Get('health'), Public());
decorate(DocumentsController.prototype, 'list', Get('documents'), Scopes('documents.read'));
Controller()(DocumentsController);
class AppModule {}
Module({
  imports: [AuthModule.forRoot(JSON.parse(process.env.AUTH_OPTIONS))],
  controllers: [DocumentsController],
})(AppModule);

async function main() {
  const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] });
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
    },
  };
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  writeFileSync(join(dir, app.file), `${app.imports}${APP_BODY}`);
}

/** Starts the app with `node` and resolves once it prints its port. */
function startApp(node, dir, file, authOptions) {
  return new Promise((resolve, reject) => {
    const child = spawn(node, [file], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
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
      for (const node of nodes) {
        const app = await startApp(
          node,
          join(work, name),
          APPS[name].file,
          issuer.authModuleOptions(),
        );
        children.add(app.child);
        const label = `${name} on Node ${app.node.slice(1)}, @nestjs/core ${app.nest}`;
        for (const [check, test] of checksFor(
          `http://127.0.0.1:${app.port}`,
          kit,
          issuer,
        )) {
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
