#!/usr/bin/env node
/**
 * `npm run check:nest11`: installs the packed library into a throwaway NestJS 11 app (CommonJS,
 * as Nest 11 apps are) and drives it over loopback HTTP: no token, a valid token, a missing
 * scope. It needs the npm registry, so it is not part of `npm test`. With NODE20=/path/to/node
 * the app runs on that Node (for example Node 20.19+, where an ES module can be require()d).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(join(tmpdir(), 'nestjs-bearer-nest11-'));
const run = (command, args, cwd) =>
  execFileSync(command, args, {
    cwd,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });

const APP = String.raw`
require('reflect-metadata');
const http = require('node:http');
const { Controller, Get, Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { AuthModule, Scopes, Public } = require('nestjs-bearer');

(async () => {
  const { generateKeyPair, exportJWK, SignJWT } = await import('jose');
  const { publicKey, privateKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const jwks = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise((r) => jwks.listen(0, '127.0.0.1', r));
  const issuer = 'http://127.0.0.1:' + jwks.address().port;

  class DocsController { list() { return ['a']; } health() { return { status: 'ok' }; } }
  const proto = DocsController.prototype;
  Get('documents')(proto, 'list', Object.getOwnPropertyDescriptor(proto, 'list'));
  Scopes('documents.read')(proto, 'list', Object.getOwnPropertyDescriptor(proto, 'list'));
  Get('health')(proto, 'health', Object.getOwnPropertyDescriptor(proto, 'health'));
  Public()(proto, 'health', Object.getOwnPropertyDescriptor(proto, 'health'));
  Controller()(DocsController);
  class AppModule {}
  Module({
    imports: [AuthModule.forRoot({ issuer, audience: 'api', jwksUri: issuer + '/jwks.json', authorizationUri: 'https://login.example/authorize' })],
    controllers: [DocsController],
  })(AppModule);

  const app = await NestFactory.create(AppModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  const base = 'http://127.0.0.1:' + app.getHttpServer().address().port;
  const token = (scp) => new SignJWT({ iss: issuer, aud: 'api', sub: 'a', scp })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'JWT' }).setIssuedAt().setExpirationTime('5m').sign(privateKey);
  const call = async (path, bearer) => fetch(base + path, { headers: bearer ? { authorization: 'Bearer ' + bearer } : {} });

  const checks = [];
  const health = await call('/health');
  checks.push(['public route 200', health.status === 200]);
  const none = await call('/documents');
  checks.push(['no token 401 without error', none.status === 401 && none.headers.get('www-authenticate') === 'Bearer authorization_uri="https://login.example/authorize"']);
  const ok = await call('/documents', await token('documents.read'));
  checks.push(['valid token 200', ok.status === 200]);
  const scope = await call('/documents', await token('other'));
  checks.push(['missing scope 403 insufficient_scope', scope.status === 403 && (scope.headers.get('www-authenticate') || '').includes('scope="documents.read"')]);
  const nest = require('@nestjs/common/package.json').version;
  for (const [name, passed] of checks) console.log((passed ? 'ok   ' : 'FAIL ') + name);
  console.log('Node ' + process.version + ', @nestjs/common ' + nest);
  console.log(checks.every(([, passed]) => passed) ? 'nest11: PASS' : 'nest11: FAIL');
  await app.close();
  jwks.close();
})().catch((error) => { console.error(error); process.exitCode = 1; });
`;

/** Packs, installs into the throwaway app, runs it. */
function main() {
  try {
    run(process.execPath, [join(root, 'scripts/build-if-needed.mjs')], root);
    run('npm', ['pack', '--silent', '--pack-destination', work], root);
    const tarball = readdirSync(work).find((name) => name.endsWith('.tgz'));
    writeFileSync(
      join(work, 'package.json'),
      JSON.stringify({
        name: 'nest11-app',
        private: true,
        dependencies: {
          '@nestjs/common': '^11.0.0',
          '@nestjs/core': '^11.0.0',
          '@nestjs/platform-express': '^11.0.0',
          '@nestjs/passport': '^11.0.0',
          passport: '^0.7.0',
          'reflect-metadata': '^0.2.0',
          rxjs: '^7.8.0',
          jose: '^6.0.0',
          'nestjs-bearer': `file:./${tarball}`,
        },
      }),
    );
    run('npm', ['install', '--silent', '--no-audit', '--no-fund'], work);
    writeFileSync(join(work, 'app.cjs'), APP);
    const node = process.env.NODE20 ?? process.execPath;
    const out = run(node, ['app.cjs'], work);
    process.stdout.write(out);
    if (!out.includes('nest11: PASS')) process.exitCode = 1;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main();
