#!/usr/bin/env node
/**
 * Fault and load run (`npm run test:load`): drives the compiled sample app on 127.0.0.1 with a
 * mix of valid, expired, forged, garbage and unknown-kid tokens at 50 connections, stops the
 * JWKS server mid-run, brings it back with a rotated key set, and reports responses by status,
 * wrong answers (must be 0), 5xx while keys were known (must be 0), JWKS fetches, event-loop
 * delay and heap growth of the app. Bounded in time; loopback only.
 *
 * Usage: npm run test:load [-- --seconds 45]
 */
import autocannon from 'autocannon';
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const secondsArg = process.argv.indexOf('--seconds');
const SECONDS = Math.min(
  60,
  Math.max(20, Number(process.argv[secondsArg + 1]) || 45),
);
const CONNECTIONS = 50;
const COOLDOWN_MS = 5000;
const AUDIENCE = 'api://load';
const phases = {
  downAt: SECONDS * 0.3,
  upAt: SECONDS * 0.55,
};

function log(message) {
  process.stdout.write(`${message}\n`);
}

async function makeKey(kid) {
  const { publicKey, privateKey } = await generateKeyPair('RS256', {
    extractable: true,
  });
  return {
    kid,
    privateKey,
    jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' },
  };
}

/** A JWKS + discovery server that can be stopped and restarted on the same port. */
function jwksServer() {
  const state = {
    keys: [],
    fetches: 0,
    port: 0,
    server: undefined,
    sockets: new Set(),
  };
  const handler = (req, res) => {
    const issuer = `http://127.0.0.1:${state.port}`;
    if (req.url === '/.well-known/openid-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks.json` }));
    } else if (req.url === '/jwks.json') {
      state.fetches++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: state.keys.map((k) => k.jwk) }));
    } else {
      res.writeHead(404).end();
    }
  };
  state.start = () =>
    new Promise((resolve) => {
      state.server = createServer(handler);
      state.server.on('connection', (s) => {
        state.sockets.add(s);
        s.on('close', () => state.sockets.delete(s));
      });
      state.server.listen(state.port, '127.0.0.1', () => {
        state.port = state.server.address().port;
        resolve();
      });
    });
  state.stop = () =>
    new Promise((resolve) => {
      state.server.close(() => resolve());
      for (const s of state.sockets) s.destroy();
    });
  return state;
}

function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitForHealth(url, deadlineMs) {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('sample app did not answer /health in time');
}

async function main() {
  spawnSync(process.execPath, [join(root, 'scripts/build-if-needed.mjs')], {
    stdio: 'inherit',
  });
  const jwks = jwksServer();
  const oldKey = await makeKey('key-1');
  const newKey = await makeKey('key-2');
  const rogueKey = await makeKey('key-1'); // same kid, different key: a forgery
  jwks.keys = [oldKey];
  await jwks.start();
  const issuer = `http://127.0.0.1:${jwks.port}`;

  const now = Math.floor(Date.now() / 1000);
  const sign = (key, claims, header = {}) =>
    // `exp` in `claims` (an expired token) wins over the default of one hour.
    new SignJWT({
      iss: issuer,
      aud: AUDIENCE,
      sub: 'load',
      scope: 'documents.read',
      iat: now,
      exp: now + 3600,
      ...claims,
    })
      .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT', ...header })
      .sign(key.privateKey);
  const pool = async (n, make) =>
    Promise.all(Array.from({ length: n }, (_, i) => make(i)));
  const tokens = {
    valid: await pool(200, (i) => sign(oldKey, { jti: `v${i}` })),
    expired: await pool(20, (i) =>
      sign(oldKey, { jti: `e${i}`, exp: now - 600 }),
    ),
    forged: await pool(20, (i) => sign(rogueKey, { jti: `f${i}` })),
    garbage: Array.from(
      { length: 20 },
      (_, i) => `garbage.${'x'.repeat(i + 10)}.sig`,
    ),
    unknownKid: await pool(200, (i) =>
      sign(oldKey, { jti: `u${i}` }, { kid: `random-${i}` }),
    ),
    newKey: await pool(50, (i) => sign(newKey, { jti: `n${i}` })),
  };
  // Request mix (per 20 requests): 10 valid, 2 expired, 2 forged, 2 garbage, 2 unknown kid, 2 new key.
  const mix = [
    'valid',
    'valid',
    'valid',
    'valid',
    'valid',
    'valid',
    'valid',
    'valid',
    'valid',
    'valid',
    'expired',
    'expired',
    'forged',
    'forged',
    'garbage',
    'garbage',
    'unknownKid',
    'unknownKid',
    'newKey',
    'newKey',
  ];

  const port = await freePort();
  const probeOut = join(tmpdir(), `nestjs-bearer-probe-${process.pid}.json`);
  const app = spawn(
    process.execPath,
    [
      '--expose-gc',
      '--import',
      join(root, 'bench/support/load-probe.mjs'),
      join(root, 'dist/sample-app/main.js'),
    ],
    {
      env: {
        ...process.env,
        PORT: String(port),
        AUTH_ISSUER: issuer,
        AUTH_AUDIENCE: AUDIENCE,
        AUTH_JWKS_COOLDOWN_MS: String(COOLDOWN_MS),
        PROBE_OUT: probeOut,
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const stopApp = () => app.exitCode === null && app.kill('SIGTERM');
  process.on('exit', stopApp);
  const url = `http://127.0.0.1:${port}`;
  await waitForHealth(url, 15000);

  const started = Date.now();
  const elapsed = () => (Date.now() - started) / 1000;
  let rotatedAt = Infinity;
  const byStatus = {};
  const byKind = {};
  let wrong = 0;
  let serverErrorsWithKnownKeys = 0;
  const wrongSamples = [];
  let counter = 0;

  function judge(kind, status, at) {
    byStatus[status] = (byStatus[status] ?? 0) + 1;
    byKind[kind] ??= {};
    byKind[kind][status] = (byKind[kind][status] ?? 0) + 1;
    // From the outage until the first successful fetch after it, an unknown kid cannot be
    // looked up: 500 is right then (the key may exist), 401 before the first failed fetch.
    const faultWindow =
      at >= phases.downAt && at <= rotatedAt + COOLDOWN_MS / 1000 + 1;
    const unknownOk = (s) => s === 401 || (faultWindow && s === 500);
    let ok;
    if (kind === 'valid') ok = status === 200;
    else if (kind === 'newKey') {
      // A new key is accepted within the cooldown after it is published.
      const graceEnd = rotatedAt + COOLDOWN_MS / 1000 + 1;
      ok = at > graceEnd ? status === 200 : status === 200 || unknownOk(status);
    } else if (kind === 'unknownKid') ok = unknownOk(status);
    else ok = status === 401;
    if (status >= 500 && kind === 'valid') serverErrorsWithKnownKeys++;
    if (!ok) {
      wrong++;
      if (wrongSamples.length < 5)
        wrongSamples.push(`${kind} -> ${status} at ${at.toFixed(1)} s`);
    }
  }

  const fault = (async () => {
    await new Promise((r) => setTimeout(r, phases.downAt * 1000));
    log(`t=${elapsed().toFixed(1)} s: JWKS server stopped`);
    await jwks.stop();
    await new Promise((r) =>
      setTimeout(r, (phases.upAt - phases.downAt) * 1000),
    );
    jwks.keys = [oldKey, newKey];
    await jwks.start();
    rotatedAt = elapsed();
    log(
      `t=${elapsed().toFixed(1)} s: JWKS server back with a rotated key set (key-2 added)`,
    );
  })();

  log(`load: ${CONNECTIONS} connections for ${SECONDS} s against ${url}`);
  const result = await autocannon({
    url,
    connections: CONNECTIONS,
    duration: SECONDS,
    requests: [
      {
        method: 'GET',
        path: '/documents',
        setupRequest(req, context) {
          const kind = mix[counter++ % mix.length];
          const list = tokens[kind];
          context.kind = kind;
          return {
            ...req,
            headers: {
              ...req.headers,
              authorization: `Bearer ${list[counter % list.length]}`,
            },
          };
        },
        onResponse(status, _body, context) {
          judge(context.kind, status, elapsed());
        },
      },
    ],
  });
  await fault;
  // The probe collects garbage and samples once more, so heap growth is what stayed alive.
  app.kill('SIGUSR2');
  await new Promise((r) => setTimeout(r, 1500));
  const probe = JSON.parse(readFileSync(probeOut, 'utf8'));
  stopApp();
  await jwks.stop();
  rmSync(probeOut, { force: true });

  const lines = [
    `| figure | value |`,
    `| --- | --- |`,
    `| duration, connections | ${SECONDS} s, ${CONNECTIONS} |`,
    `| requests | ${result.requests.total} (${Math.round(result.requests.average)} req/s average) |`,
    `| responses by status | ${Object.entries(byStatus)
      .map(([s, n]) => `${s}: ${n}`)
      .join(', ')} |`,
    `| wrong answers | ${wrong} |`,
    `| 5xx while keys were known | ${serverErrorsWithKnownKeys} |`,
    `| JWKS fetches | ${jwks.fetches} |`,
    `| event-loop delay p50 / p99 / max | ${probe.eventLoop.p50} / ${probe.eventLoop.p99} / ${probe.eventLoop.max} ms |`,
    `| heap used after start → after the run and a GC (growth) | ${probe.heap.first} → ${probe.heap.last} MB (${(probe.heap.last - probe.heap.first).toFixed(1)} MB) |`,
    `| peak RSS | ${probe.maxRssMb} MB |`,
  ];
  log('');
  log(lines.join('\n'));
  log('');
  log(`by token kind: ${JSON.stringify(byKind)}`);
  if (wrongSamples.length > 0)
    log(`wrong answers, first ones: ${wrongSamples.join('; ')}`);
  const newKeyAccepted = (byKind.newKey?.[200] ?? 0) > 0;
  const pass =
    wrong === 0 &&
    serverErrorsWithKnownKeys === 0 &&
    newKeyAccepted &&
    result.errors === 0;
  log(pass ? 'load run: PASS' : 'load run: FAIL');
  process.exitCode = pass ? 0 : 1;
}

main().catch((error) => {
  process.stderr.write(
    `load run failed: ${error instanceof Error ? error.message : String(error)}\n`,
  );
  process.exitCode = 1;
});
