// The load benchmark of issues 5 and 10: every variant is its own Nest server process
// (pinned to one core), loaded by autocannon from this process (pinned to another core), in
// alternating rounds A B C D E, A B C D E, … per scenario, each variant in several server
// processes one after another. Prints medians, ratios to the
// unprotected route and to the crypto.verify floor measured in the same rounds, p99
// latency and peak RSS per variant and scenario, and writes bench/results/latest.md and
// latest.json (or --out <name>.md and .json).
//
//   npm run bench                     full run (3 processes x 1 round of 5 s, 6 scenarios, ~17 minutes)
//   npm run bench -- --quick          smoke run (1 process, 1 round of 2 s, ~2.5 minutes)
//   npm run bench -- --help           every option
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism, loadavg, release } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import {
  AUDIENCE,
  mintDpopBound,
  mintFreshPool,
  mintInvalidPool,
  mintValid,
  mintValidPool,
  startIssuer,
  tamperPool,
} from './support/issuer.mjs';
import {
  createDpopKey,
  DPOP_ORIGIN,
  signDpopRequests,
} from './support/dpop.mjs';
import { writeChart } from './chart.mjs';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(BENCH_DIR);
const RESULTS_DIR = join(BENCH_DIR, 'results');

/** The variants, in round order. `id` names the JWKS path, so fetches are counted per variant. */
const VARIANTS = [
  { id: 'unprotected', label: 'unprotected', file: 'unprotected.mjs' },
  {
    id: 'passport-jwks-rsa',
    label: 'classic recipe (@nestjs/passport + passport-jwt + jwks-rsa)',
    file: 'passport-jwks-rsa.mjs',
  },
  {
    id: 'express-oauth2-jwt-bearer',
    label: 'express-oauth2-jwt-bearer (middleware)',
    file: 'express-oauth2-jwt-bearer.mjs',
  },
  {
    id: 'nestjs-bearer-no-cache',
    label: 'nestjs-bearer, tokenCache: false',
    file: 'nestjs-bearer.mjs',
    env: { TOKEN_CACHE: 'off' },
  },
  {
    id: 'nestjs-bearer',
    label: 'nestjs-bearer (cache on, default)',
    file: 'nestjs-bearer.mjs',
  },
  {
    // Not a peer: the floor of a guard that verifies, in every scenario (its own 401 in the
    // invalid and tampered ones). Decode, iss/aud/exp, crypto.verify on a cached KeyObject.
    id: 'crypto-verify-floor',
    label:
      'floor: a Nest guard that decodes, checks iss/aud/exp and calls crypto.verify on a cached KeyObject',
    file: 'crypto-verify-floor.mjs',
  },
  {
    // Not a peer: the floor of any Nest guard, which admits every request and does nothing.
    id: 'nest-guard-floor',
    label: 'floor: a Nest guard that only returns true',
    file: 'nest-guard-floor.mjs',
    scenarios: ['reused', 'distinct', 'fresh'],
  },
  {
    // Not a peer: the floor any Nest guard meets when it throws, with no token work at all.
    id: 'nest-exception-floor',
    label: 'floor: a Nest guard that only throws UnauthorizedException',
    file: 'nest-exception-floor.mjs',
    scenarios: ['invalid', 'tampered'],
  },
  {
    // Not a peer: the floor of Nest's exception path itself, a guard that throws one prebuilt
    // error and a filter that writes a fixed 401 in one go; no token work at all.
    id: 'nest-refusal-floor',
    label:
      'floor: a Nest guard that throws one prebuilt error, a filter that writes a fixed 401',
    file: 'nest-refusal-floor.mjs',
    scenarios: ['invalid', 'tampered'],
  },
];
const BASELINE = 'unprotected';
/** The variant the fresh and tampered goals of issue 10 are measured against. */
const VERIFY_FLOOR = 'crypto-verify-floor';
/** nestjs-bearer's default tokenCache.maxEntries: a fresh pool larger than it never hits. */
const DEFAULT_CACHE_ENTRIES = 10_000;

const SCENARIOS = [
  { id: 'reused', label: 'one reused token', expected: 200 },
  { id: 'distinct', label: '1,000 distinct tokens', expected: 200 },
  { id: 'invalid', label: 'invalid tokens', expected: 401 },
  // Pre-minted and cycled with one cursor per server that persists across warm-up and
  // rounds: a token comes back only after every other one of the pool, so with more tokens
  // than the LRU cache holds (10,000 by default), nestjs-bearer with its cache on misses
  // on every request too.
  {
    id: 'fresh',
    label: 'fresh tokens (never seen before)',
    expected: 200,
  },
  {
    id: 'tampered',
    label: 'tampered signatures (1,000 distinct)',
    expected: 401,
  },
  // Every request carries a proof never sent before, from the same per-server cursor:
  // nestjs-bearer keeps each proof's jti and refuses a second use as a replay. The
  // crypto.verify floor and the peers do not understand DPoP, so they sit this one out.
  {
    id: 'dpop',
    label: 'one DPoP-bound token, a fresh proof per request',
    expected: 200,
    unique: true,
    variants: [BASELINE, 'nestjs-bearer-no-cache', 'nestjs-bearer'],
    // DPoP allowed (every other scenario runs nestjs-bearer's defaults, DPoP off), and
    // nestjs-bearer times its crypto.verify calls (CPU), for the cost of one check in situ.
    env: { BENCH_DPOP: 'on', BENCH_TIME_VERIFY: '1' },
  },
];
/** The request path every server serves, and that DPoP proofs name in `htu`. */
const PATH = '/data';
/** Scenarios outside issues 5 and 10, left out of their goals. */
const NOT_IN_GOALS = new Set(['dpop']);

const USAGE = `Usage: node bench/run.mjs [options]
  --quick              1 round of 2 s, 1 s warm-up (a smoke run of about 2.5 minutes)
  --processes N        server processes per variant and scenario, started one set after
                       another (default 3; 1 with --quick): the median is over processes
  --rounds N           measured rounds per process (default 1)
  --duration S         seconds per variant per round (default 5)
  --warmup S           warm-up seconds per variant per scenario (default 3)
  --rewarm S           unmeasured seconds of load on a server just before each of its rounds
                       after the first (default 1; 0 with --quick), so a server that sat idle
                       while the others were measured starts its round warm
  --connections N      autocannon connections (default 50)
  --fresh-tokens N     tokens pre-minted for the fresh scenario (default 20000; more than
                       ${DEFAULT_CACHE_ENTRIES}, nestjs-bearer's cache size, so its cache never hits)
  --dpop-proofs N      proofs pre-signed for the dpop scenario (default: the seconds each
                       server is loaded times the ES256 checks one core does per second)
  --scenarios a,b      subset of ${SCENARIOS.map((s) => s.id).join(', ')}
  --variants a,b       subset of ${VARIANTS.map((v) => v.id).join(', ')} (unprotected is always run)
  --no-build           use dist/ as it is instead of running scripts/build-if-needed.mjs
  --no-write           do not write bench/results/
  --out NAME           write bench/results/NAME.md, .json and .svg (default latest)
  --cpu-prof           write a V8 CPU profile per server to bench/results/profiles/<scenario>/
                       (open in Chrome DevTools; profiling slows the servers, so compare runs alike)
  --report             render results/<out>.md and .svg again from results/<out>.json (no run)
  --help`;

// ---------------------------------------------------------------------------------------
// Child processes: every one is tracked and killed on the way out, whatever the way out.

const children = new Set();

function killAll(signal = 'SIGKILL') {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null)
      child.kill(signal);
  }
}

process.on('exit', () => killAll());
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping every server`);
    killAll();
    process.exit(130);
  });
}

// ---------------------------------------------------------------------------------------
// Options, build, CPU pinning, machine facts.

function readOptions() {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      processes: { type: 'string' },
      rounds: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      rewarm: { type: 'string' },
      connections: { type: 'string' },
      'fresh-tokens': { type: 'string' },
      'dpop-proofs': { type: 'string' },
      out: { type: 'string', default: 'latest' },
      scenarios: { type: 'string' },
      variants: { type: 'string' },
      'no-build': { type: 'boolean', default: false },
      'no-write': { type: 'boolean', default: false },
      'cpu-prof': { type: 'boolean', default: false },
      report: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const number = (name, fallback, min, integer = false) => {
    const text = values[name];
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n)))
      throw new Error(
        `--${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}`,
      );
    return n;
  };
  const subset = (name, all) => {
    if (values[name] === undefined) return all;
    const wanted = values[name].split(',').map((s) => s.trim());
    for (const id of wanted) {
      if (!all.some((item) => item.id === id))
        throw new Error(`--${name}: unknown "${id}"`);
    }
    return all.filter(
      (item) => item.id === BASELINE || wanted.includes(item.id),
    );
  };
  if (!/^[A-Za-z0-9._-]+$/.test(values.out))
    throw new Error('--out must be a file name without a directory');
  return {
    quick: values.quick,
    processes: number('processes', values.quick ? 1 : 3, 1, true),
    rounds: number('rounds', 1, 1, true),
    duration: number('duration', values.quick ? 2 : 5, 1),
    warmup: number('warmup', values.quick ? 1 : 3, 0),
    rewarm: number('rewarm', values.quick ? 0 : 1, 0),
    connections: number('connections', 50, 1),
    freshTokens: number('fresh-tokens', 20_000, 1),
    dpopProofs: number('dpop-proofs', undefined, 2),
    out: values.out,
    scenarios: subset('scenarios', SCENARIOS),
    variants: subset('variants', VARIANTS),
    build: !values['no-build'],
    write: !values['no-write'],
    cpuProf: values['cpu-prof'],
    report: values.report,
  };
}

function buildIfNeeded() {
  const { status, error } = spawnSync(
    process.execPath,
    [join(ROOT, 'scripts/build-if-needed.mjs')],
    {
      cwd: ROOT,
      stdio: 'inherit',
    },
  );
  if (error) throw error;
  if (status !== 0)
    throw new Error(
      'the build failed (use --no-build to run against dist/ as it is)',
    );
  if (!existsSync(join(ROOT, 'dist/lib/index.js')))
    throw new Error('dist/lib/index.js is missing after the build');
}

function hasTaskset() {
  return spawnSync('taskset', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** The CPUs this process may run on, from `taskset -cp` (Linux), or undefined. */
function allowedCpus() {
  const out = spawnSync('taskset', ['-cp', String(process.pid)], {
    encoding: 'utf8',
  });
  const list = out.stdout?.split(':')[1]?.trim();
  if (out.status !== 0 || !list) return undefined;
  return list.split(',').flatMap((part) => {
    const [from, to = from] = part.split('-').map(Number);
    return Array.from({ length: to - from + 1 }, (_, i) => from + i);
  });
}

/** Load generator on the first allowed CPU, servers on the second; unpinned when impossible. */
function planPinning() {
  const cpus = hasTaskset() ? allowedCpus() : undefined;
  if (cpus === undefined || cpus.length < 2) {
    return {
      driverCpu: undefined,
      serverCpu: undefined,
      note: 'not pinned (needs taskset and two CPUs)',
    };
  }
  const [driverCpu, serverCpu] = cpus;
  // -a: every thread of this process, the libuv pool and V8's helpers included.
  const pinned = spawnSync(
    'taskset',
    ['-a', '-cp', String(driverCpu), String(process.pid)],
    { stdio: 'ignore' },
  );
  if (pinned.status !== 0)
    return {
      driverCpu: undefined,
      serverCpu,
      note: `servers on CPU ${serverCpu}, load generator not pinned`,
    };
  return {
    driverCpu,
    serverCpu,
    note: `load generator on CPU ${driverCpu}, each server on CPU ${serverCpu}`,
  };
}

function readPackageVersion(name) {
  try {
    return JSON.parse(
      readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8'),
    ).version;
  } catch {
    return 'unknown';
  }
}

function machineFacts() {
  let cpuModel = 'unknown';
  try {
    cpuModel =
      /^model name\s*:\s*(.+)$/m.exec(
        readFileSync('/proc/cpuinfo', 'utf8'),
      )?.[1] ?? cpuModel;
  } catch {
    // Not Linux: the model stays unknown.
  }
  return {
    cpu: cpuModel,
    cores: availableParallelism(),
    node: process.version,
    kernel: `${process.platform} ${release()}`,
    nest: readPackageVersion('@nestjs/core'),
    express: readPackageVersion('express'),
    autocannon: readPackageVersion('autocannon'),
    loadAverageAtStart: loadavg().map((n) => Number(n.toFixed(2))),
  };
}

// ---------------------------------------------------------------------------------------
// Servers.

async function startServer(variant, issuer, serverCpu, profileDir, env = {}) {
  const script = join(BENCH_DIR, 'servers', variant.file);
  // BENCH_NODE_FLAGS passes V8/Node flags to every server, e.g. --no-allocation-site-pretenuring.
  const extraFlags = (process.env.BENCH_NODE_FLAGS ?? '')
    .split(' ')
    .filter(Boolean);
  const nodeArgs =
    profileDir === undefined
      ? [...extraFlags, script]
      : [
          ...extraFlags,
          '--cpu-prof',
          `--cpu-prof-dir=${profileDir}`,
          `--cpu-prof-name=${variant.id}.cpuprofile`,
          script,
        ];
  const [command, args] =
    serverCpu === undefined
      ? [process.execPath, nodeArgs]
      : ['taskset', ['-c', String(serverCpu), process.execPath, ...nodeArgs]];
  // taskset execs node, so the child's pid is the server's pid (for /proc/<pid>/status).
  const child = spawn(command, args, {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: {
      ...process.env,
      NODE_ENV: 'production',
      PORT: '0',
      ISSUER: issuer.url,
      AUDIENCE,
      JWKS_URI: issuer.jwksUriFor(variant.id),
      ...variant.env,
      ...env,
    },
  });
  children.add(child);
  const server = {
    variant,
    child,
    port: undefined,
    stats: undefined,
    stderr: '',
  };
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    server.stderr = (server.stderr + chunk).slice(-4000);
  });
  let stdout = '';
  child.stdout.setEncoding('utf8');
  await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () =>
        reject(
          new Error(`${variant.id}: no READY within 30 s\n${server.stderr}`),
        ),
      30_000,
    );
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      let newline;
      while ((newline = stdout.indexOf('\n')) >= 0) {
        const line = stdout.slice(0, newline);
        stdout = stdout.slice(newline + 1);
        if (line.startsWith('READY ')) {
          server.port = JSON.parse(line.slice(6)).port;
          clearTimeout(timer);
          resolve();
        } else if (line.startsWith('STATS ')) {
          server.stats = JSON.parse(line.slice(6));
        }
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(
          `${variant.id} exited (${signal ?? code}) before READY\n${server.stderr}`,
        ),
      );
    });
  });
  return server;
}

/** Peak resident set size in bytes: VmHWM from /proc, else what the server reported on SIGTERM. */
function readPeakRss(pid) {
  try {
    const kb = /^VmHWM:\s+(\d+) kB$/m.exec(
      readFileSync(`/proc/${pid}/status`, 'utf8'),
    )?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

async function stopServer(server) {
  const { child } = server;
  const peakRss = readPeakRss(child.pid);
  if (child.exitCode === null && child.signalCode === null) {
    // 'close', not 'exit': the STATS line is read by then.
    const exited = new Promise((resolve) => child.once('close', resolve));
    child.kill('SIGTERM');
    // A server writing its CPU profile needs a few seconds more.
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
  children.delete(child);
  return peakRss ?? server.stats?.maxRSS;
}

// ---------------------------------------------------------------------------------------
// Load.

/** A token set's entry: a token sent as `Bearer`, or the request's credential headers. */
function credentialHeaders(entry) {
  return typeof entry === 'string'
    ? { authorization: `Bearer ${entry}` }
    : entry;
}

async function load(port, tokens, seconds, connections, cursor) {
  const options = {
    url: `http://127.0.0.1:${port}${PATH}`,
    connections,
    duration: seconds,
    pipelining: 1,
    timeout: 10,
  };
  if (tokens.length === 1) {
    options.headers = credentialHeaders(tokens[0]);
  } else {
    // One counter for all connections, kept by the server across warm-up and rounds:
    // consecutive requests carry consecutive tokens, and a token comes back only after
    // every other token of the pool.
    options.requests = [
      {
        setupRequest(request) {
          request.headers = {
            ...request.headers,
            ...credentialHeaders(tokens[cursor.next++ % tokens.length]),
          };
          return request;
        },
      },
    ];
  }
  return autocannon(options);
}

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ, 100 on every common Linux build

/** CPU time (user + system) of a process in milliseconds, from /proc; undefined elsewhere. */
function readCpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (
      ((Number(fields[11]) + Number(fields[12])) * 1000) /
      CLOCK_TICKS_PER_SECOND
    );
  } catch {
    return undefined;
  }
}

/**
 * One load of one server, with the CPU both sides used. Server CPU per response does not
 * depend on whether the server or the load generator was the bottleneck.
 */
async function measure(server, tokens, seconds, connections, expected) {
  const serverCpuBefore = readCpuMs(server.child.pid);
  const driverCpuBefore = process.cpuUsage();
  server.cursor ??= { next: 0 };
  const result = await load(
    server.port,
    tokens,
    seconds,
    connections,
    server.cursor,
  );
  const serverCpuAfter = readCpuMs(server.child.pid);
  const driverCpu = process.cpuUsage(driverCpuBefore);
  const responses = Object.values(result.statusCodeStats ?? {}).reduce(
    (sum, s) => sum + s.count,
    0,
  );
  const matching = result.statusCodeStats?.[expected]?.count ?? 0;
  const serverCpuMs =
    serverCpuBefore === undefined || serverCpuAfter === undefined
      ? undefined
      : serverCpuAfter - serverCpuBefore;
  return {
    rps: result.requests.total / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    responses,
    // autocannon's `errors` already includes its timeouts.
    unexpected: responses - matching + result.errors,
    statusCodes: Object.fromEntries(
      Object.entries(result.statusCodeStats ?? {}).map(([code, s]) => [
        code,
        s.count,
      ]),
    ),
    serverCpuShare:
      serverCpuMs === undefined
        ? undefined
        : serverCpuMs / (result.duration * 1000),
    serverCpuUsPerResponse:
      serverCpuMs === undefined || responses === 0
        ? undefined
        : (serverCpuMs * 1000) / responses,
    driverCpuShare:
      (driverCpu.user + driverCpu.system) / 1000 / (result.duration * 1000),
  };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The largest of the defined values, or undefined when there is none. */
function maxOf(values) {
  const defined = values.filter((v) => v !== undefined);
  return defined.length === 0 ? undefined : Math.max(...defined);
}

/** The GC totals of several processes of one variant, added up. */
function sumGc(list) {
  const defined = list.filter((gc) => gc !== undefined);
  if (defined.length === 0) return undefined;
  const sum = (kind) => ({
    count: defined.reduce((n, gc) => n + gc[kind].count, 0),
    ms: defined.reduce((n, gc) => n + gc[kind].ms, 0),
  });
  return {
    requests: defined.reduce((n, gc) => n + gc.requests, 0),
    minor: sum('minor'),
    major: sum('major'),
  };
}

/** The crypto.verify totals of several processes, per key type, added up. */
function sumVerifyTimes(list) {
  const defined = list.filter((times) => times !== undefined);
  if (defined.length === 0) return undefined;
  const total = {};
  for (const times of defined) {
    for (const [type, { calls, cpuUs }] of Object.entries(times)) {
      const entry = (total[type] ??= { calls: 0, cpuUs: 0 });
      entry.calls += calls;
      entry.cpuUs += cpuUs;
    }
  }
  return total;
}

function medianOrUndefined(values) {
  return values.includes(undefined) ? undefined : median(values);
}

const percent = (share) =>
  share === undefined ? 'n/a' : `${(share * 100).toFixed(0)}%`;
const fixed = (n) => (n === undefined ? 'n/a' : n.toFixed(0));

async function runScenario(scenario, tokens, issuer, options, pinning) {
  const expectedFor = (variant) =>
    variant.id === BASELINE ? 200 : scenario.expected;
  const unit = scenario.unique ? 'request' : 'token';
  console.log(
    `\n## ${scenario.label} (${tokens.length} ${unit}${tokens.length === 1 ? '' : 's'})`,
  );
  const discoveryBefore = issuer.discoveryRequests();
  const variants = options.variants.filter(
    (v) =>
      (v.scenarios === undefined || v.scenarios.includes(scenario.id)) &&
      (scenario.variants === undefined || scenario.variants.includes(v.id)),
  );
  // Fresh processes per scenario: peak RSS and caches belong to this scenario alone. And
  // several process sets one after another (--processes), each variant measured in every
  // one: a V8 process settles into one of a few steady states (young-generation size,
  // pretenuring) and keeps it for its life, so the median over processes, not the rounds
  // of one process, is what the variant costs.
  const startedAt = performance.now();
  const profileDir = options.cpuProf
    ? join(RESULTS_DIR, 'profiles', scenario.id)
    : undefined;
  if (profileDir !== undefined) mkdirSync(profileDir, { recursive: true });
  const rounds = [];
  const warmupUnexpected = new Map();
  /** Per variant, what each of its processes reported: peak RSS, STATS, requests sent. */
  const runs = new Map(variants.map((v) => [v.id, []]));
  /** Unmeasured load, whose unexpected statuses still count against the run. */
  const warm = async (server, seconds) => {
    if (seconds <= 0) return;
    const { unexpected } = await measure(
      server,
      tokens,
      seconds,
      options.connections,
      expectedFor(server.variant),
    );
    const id = server.variant.id;
    warmupUnexpected.set(id, (warmupUnexpected.get(id) ?? 0) + unexpected);
  };
  for (let set = 0; set < options.processes; set++) {
    const fetchesBefore = new Map(
      variants.map((v) => [v.id, issuer.jwksRequests(v.id)]),
    );
    const started = await Promise.all(
      variants.map((v) =>
        startServer(v, issuer, pinning.serverCpu, profileDir, scenario.env),
      ),
    );
    // Each set starts the rotation one variant later: no variant always follows the same one.
    const servers = started.map((_, i) => started[(i + set) % started.length]);
    try {
      for (let round = 1; round <= options.rounds; round++) {
        const results = {};
        for (const server of servers) {
          await sleep(250);
          // The first round warms each server just before it; a later one re-warms it, since
          // it sat idle while the others were measured and V8 may have shrunk its young
          // generation meanwhile: every round starts from steady load.
          await warm(server, round === 1 ? options.warmup : options.rewarm);
          const result = await measure(
            server,
            tokens,
            options.duration,
            options.connections,
            expectedFor(server.variant),
          );
          results[server.variant.id] = result;
          const label =
            options.processes > 1
              ? `process ${set + 1} round ${round}`
              : `round ${round}`;
          console.log(
            `  ${label}  ${server.variant.id.padEnd(26)} ${result.rps.toFixed(0).padStart(7)} req/s` +
              `  p99 ${String(result.p99).padStart(4)} ms  server CPU ${percent(result.serverCpuShare)}` +
              ` (${fixed(result.serverCpuUsPerResponse)} µs/resp)  load generator CPU ${percent(result.driverCpuShare)}` +
              `  ${JSON.stringify(result.statusCodes)}`,
          );
        }
        rounds.push(results);
      }
    } finally {
      for (const server of started) {
        const peakRss = await stopServer(server);
        const id = server.variant.id;
        runs.get(id).push({
          peakRss,
          jwksFetches: issuer.jwksRequests(id) - fetchesBefore.get(id),
          stats: server.stats,
          requestsSent: server.cursor?.next,
        });
      }
    }
  }
  for (const variant of variants) {
    const gc = sumGc(runs.get(variant.id).map((run) => run.stats?.gc));
    if (gc === undefined || gc.requests === 0) continue;
    const per = (kind) =>
      `${kind.count} (${((kind.ms * 1000) / gc.requests).toFixed(1)} µs/req)`;
    console.log(
      `  gc       ${variant.id.padEnd(26)} young ${per(gc.minor)}  old ${per(gc.major)}  over ${gc.requests} requests`,
    );
  }
  if (scenario.unique) {
    // A request set used twice in one process is a replay: the run counts its 401s as unexpected.
    for (const variant of variants) {
      const sent = maxOf(runs.get(variant.id).map((run) => run.requestsSent));
      if (variant.id !== BASELINE && sent > tokens.length)
        console.error(
          `${scenario.id}/${variant.id}: ${sent} requests for ${tokens.length} pre-signed ones; rerun with --dpop-proofs ${Math.ceil(sent * 1.5)}`,
        );
    }
  }
  const rows = variants.map((variant) => {
    const id = variant.id;
    const processes = runs.get(id);
    return {
      variant: id,
      label: variant.label,
      expectedStatus: expectedFor(variant),
      medianRps: median(rounds.map((r) => r[id].rps)),
      roundRps: rounds.map((r) => r[id].rps),
      roundRatios: rounds.map((r) => r[id].rps / r[BASELINE].rps),
      p99: median(rounds.map((r) => r[id].p99)),
      serverCpuShare: medianOrUndefined(
        rounds.map((r) => r[id].serverCpuShare),
      ),
      serverCpuUsPerResponse: medianOrUndefined(
        rounds.map((r) => r[id].serverCpuUsPerResponse),
      ),
      driverCpuShare: median(rounds.map((r) => r[id].driverCpuShare)),
      // The highest of its processes: the goal is a bound on every one.
      peakRss: maxOf(processes.map((run) => run.peakRss)),
      peakRssByProcess: processes.map((run) => run.peakRss),
      // The most any one process fetched, start-up included.
      jwksFetches: maxOf(processes.map((run) => run.jwksFetches)),
      unexpected: rounds.reduce((sum, r) => sum + r[id].unexpected, 0),
      warmupUnexpected: warmupUnexpected.get(id) ?? 0,
      responses: rounds.reduce((sum, r) => sum + r[id].responses, 0),
      // Requests built from the token set by one process, warm-up included (the dpop
      // scenario's proofs used), the most of its processes.
      requestsSent:
        tokens.length > 1
          ? maxOf(processes.map((run) => run.requestsSent))
          : undefined,
      // crypto.verify calls and CPU µs by key type, from start to stop (BENCH_TIME_VERIFY).
      verifyTimes: sumVerifyTimes(processes.map((run) => run.stats?.verify)),
      // Garbage collections from start to stop, warm-up included, and the requests served.
      gc: sumGc(processes.map((run) => run.stats?.gc)),
    };
  });
  const base = rows.find((row) => row.variant === BASELINE);
  const floor = rows.find((row) => row.variant === VERIFY_FLOOR);
  for (const row of rows) {
    // Against the crypto.verify floor of the same rounds (the fresh and tampered goals).
    row.floorRatio =
      floor === undefined ? undefined : row.medianRps / floor.medianRps;
    row.floorCpuRatio =
      floor?.serverCpuUsPerResponse === undefined ||
      row.serverCpuUsPerResponse === undefined
        ? undefined
        : floor.serverCpuUsPerResponse / row.serverCpuUsPerResponse;
    row.ratio = row.medianRps / base.medianRps;
    // What the ratio would be if both servers were saturated: CPU per response, inverted.
    row.cpuRatio =
      row.serverCpuUsPerResponse === undefined ||
      base.serverCpuUsPerResponse === undefined
        ? undefined
        : base.serverCpuUsPerResponse / row.serverCpuUsPerResponse;
    row.saturated =
      row.serverCpuShare === undefined ? undefined : row.serverCpuShare >= 0.9;
    row.rssDelta =
      row.peakRss !== undefined && base.peakRss !== undefined
        ? row.peakRss - base.peakRss
        : undefined;
  }
  return {
    scenario: scenario.id,
    label: scenario.label,
    tokens: tokens.length,
    seconds: (performance.now() - startedAt) / 1000,
    discoveryRequests: issuer.discoveryRequests() - discoveryBefore,
    rows,
  };
}

// ---------------------------------------------------------------------------------------
// Report.

/** GC wall time per request and young collections per 1,000 requests, warm-up included. */
const gcCell = (gc) =>
  gc === undefined || gc.requests === 0
    ? 'n/a'
    : `${(((gc.minor.ms + gc.major.ms) * 1000) / gc.requests).toFixed(1)} (${((gc.minor.count * 1000) / gc.requests).toFixed(1)})`;

const mb = (bytes) =>
  bytes === undefined ? 'n/a' : (bytes / 2 ** 20).toFixed(1);
const signedMb = (bytes) =>
  bytes === undefined ? 'n/a' : `${bytes >= 0 ? '+' : ''}${mb(bytes)}`;

function goalRows(results) {
  const cell = (scenario, variant) =>
    results
      .find((r) => r.scenario === scenario)
      ?.rows.find((row) => row.variant === variant);
  const peers = ['passport-jwks-rsa', 'express-oauth2-jwt-bearer'];
  const goals = [];
  // A wall-clock ratio is trusted only when both servers had their core to themselves.
  const verdict = (scenario, rows, met) =>
    rows.some((row) => row?.saturated === false) ||
    cell(scenario, BASELINE)?.saturated === false
      ? `unreliable (server CPU < 90%); ${met ? 'yes' : 'no'} as measured`
      : met
        ? 'yes'
        : 'no';
  const cpu = (row) =>
    row.cpuRatio === undefined ? '' : `, ${row.cpuRatio.toFixed(2)}x by CPU`;
  for (const variant of ['nestjs-bearer', 'nestjs-bearer-no-cache']) {
    const distinct = cell('distinct', variant);
    if (distinct) {
      const best = Math.max(
        ...peers.map((p) => cell('distinct', p)?.ratio ?? 0),
      );
      goals.push([
        variant,
        '1,000 distinct tokens >= 0.65x and ahead of every peer',
        verdict(
          'distinct',
          [distinct, ...peers.map((p) => cell('distinct', p))],
          distinct.ratio >= 0.65 && distinct.ratio > best,
        ),
        `${distinct.ratio.toFixed(2)}x${cpu(distinct)} (best peer ${best.toFixed(2)}x)`,
      ]);
    }
    const reused = cell('reused', variant);
    if (reused)
      goals.push([
        variant,
        'reused token >= 0.93x',
        verdict('reused', [reused], reused.ratio >= 0.93),
        `${reused.ratio.toFixed(2)}x${cpu(reused)}`,
      ]);
    const invalid = cell('invalid', variant);
    if (invalid) {
      // Start-up, plus at most one fetch per 30 s cooldown for the unknown kids.
      const allowed =
        2 +
        Math.ceil(results.find((r) => r.scenario === 'invalid').seconds / 30);
      goals.push([
        variant,
        'invalid tokens >= 0.85x, no JWKS fetch per request',
        verdict(
          'invalid',
          [invalid],
          invalid.ratio >= 0.85 && invalid.jwksFetches <= allowed,
        ),
        `${invalid.ratio.toFixed(2)}x${cpu(invalid)}, ${invalid.jwksFetches} JWKS fetches for ${invalid.responses} responses`,
      ]);
    }
    const deltas = results
      .map((r) => r.rows.find((row) => row.variant === variant)?.rssDelta)
      .filter((d) => d !== undefined);
    if (deltas.length > 0) {
      const worst = Math.max(...deltas);
      goals.push([
        variant,
        'peak RSS <= unprotected + 20 MB',
        worst <= 20 * 2 ** 20 ? 'yes' : 'no',
        `${signedMb(worst)} MB (worst scenario)`,
      ]);
    }
  }
  return goals;
}

/** The benchmark goals of issue 10: against the crypto.verify floor, the peers and Nest. */
function goalRowsIssue10(results) {
  const cell = (scenario, variant) =>
    results
      .find((r) => r.scenario === scenario)
      ?.rows.find((row) => row.variant === variant);
  const peers = ['passport-jwks-rsa', 'express-oauth2-jwt-bearer'];
  const verdict = (scenario, rows, met) =>
    rows.some((row) => row?.saturated === false) ||
    cell(scenario, BASELINE)?.saturated === false
      ? `unreliable (server CPU < 90%); ${met ? 'yes' : 'no'} as measured`
      : met
        ? 'yes'
        : 'no';
  const x = (n) => (n === undefined ? 'n/a' : `${n.toFixed(2)}x`);
  const goals = [];
  for (const variant of ['nestjs-bearer', 'nestjs-bearer-no-cache']) {
    const fresh = cell('fresh', variant);
    if (fresh?.floorRatio !== undefined) {
      const best = Math.max(...peers.map((p) => cell('fresh', p)?.ratio ?? 0));
      goals.push([
        variant,
        'fresh tokens >= 0.95x the crypto.verify floor, ahead of every peer',
        verdict(
          'fresh',
          [
            fresh,
            cell('fresh', VERIFY_FLOOR),
            ...peers.map((p) => cell('fresh', p)),
          ],
          fresh.floorRatio >= 0.95 && fresh.ratio > best,
        ),
        `${x(fresh.floorRatio)} floor (${x(fresh.floorCpuRatio)} by CPU), ${x(fresh.ratio)} unprotected (best peer ${x(best)})`,
      ]);
    }
    const tampered = cell('tampered', variant);
    if (tampered?.floorRatio !== undefined) {
      const auth0 = cell('tampered', 'express-oauth2-jwt-bearer');
      goals.push([
        variant,
        "tampered signatures >= 0.9x the floor's own 401, ahead of Auth0's middleware",
        verdict(
          'tampered',
          [tampered, cell('tampered', VERIFY_FLOOR), auth0],
          tampered.floorRatio >= 0.9 &&
            (auth0 === undefined || tampered.ratio > auth0.ratio),
        ),
        `${x(tampered.floorRatio)} floor (${x(tampered.floorCpuRatio)} by CPU), Auth0 ${x(auth0?.ratio)} vs ${x(tampered.ratio)} unprotected`,
      ]);
    }
    const invalid = cell('invalid', variant);
    if (invalid) {
      const thrower = cell('invalid', 'nest-exception-floor');
      const refusalFloor = cell('invalid', 'nest-refusal-floor');
      goals.push([
        variant,
        "refused before the signature >= 0.65x unprotected, ahead of Nest's throwing guard",
        verdict(
          'invalid',
          [invalid, thrower],
          invalid.ratio >= 0.65 &&
            (thrower === undefined || invalid.ratio > thrower.ratio),
        ),
        `${x(invalid.ratio)} (${x(invalid.cpuRatio)} by CPU), throwing guard ${x(thrower?.ratio)}, Nest's refusal floor ${x(refusalFloor?.ratio)}`,
      ]);
    }
    const reused = cell('reused', variant);
    if (reused) {
      goals.push([
        variant,
        'one reused token >= 0.90x',
        verdict('reused', [reused], reused.ratio >= 0.9),
        `${x(reused.ratio)} (${x(reused.cpuRatio)} by CPU)`,
      ]);
    }
    const distinct = cell('distinct', variant);
    if (distinct) {
      goals.push([
        variant,
        '1,000 distinct tokens >= 0.80x',
        verdict('distinct', [distinct], distinct.ratio >= 0.8),
        `${x(distinct.ratio)} (${x(distinct.cpuRatio)} by CPU)`,
      ]);
    }
    const deltas = results
      .map((r) => [
        r.scenario,
        r.rows.find((row) => row.variant === variant)?.rssDelta,
      ])
      .filter(([, d]) => d !== undefined);
    if (deltas.length > 0) {
      const [worstScenario, worst] = deltas.reduce((a, b) =>
        b[1] > a[1] ? b : a,
      );
      goals.push([
        variant,
        'peak RSS <= unprotected + 20 MB in every scenario (default V8 flags)',
        worst <= 20 * 2 ** 20 ? 'yes' : 'no',
        `${signedMb(worst)} MB (worst: ${worstScenario})`,
      ]);
    }
  }
  return goals;
}

/** How the run measured, in one sentence (the results of runs before --processes have none). */
function methodOf(options) {
  const common = `${options.connections} connections, rounds alternate the variants`;
  if (options.processes === undefined) {
    return `${options.rounds} round(s) x ${options.duration} s per variant, ${common}, ${options.warmup} s warm-up, each round after ${options.rewarm} s of unmeasured load on its server`;
  }
  const later =
    options.rounds > 1
      ? `, each later round after ${options.rewarm} s of unmeasured load on its server`
      : '';
  return (
    `${options.processes} server process(es) per variant, started in sets one after another (the median is over them; each set in a rotated order), ` +
    `${options.rounds} round(s) x ${options.duration} s per process, ${common}, ${options.warmup} s of unmeasured load just before a process's first round${later}`
  );
}

/** Peak RSS of every variant in every scenario, and its difference from unprotected. */
function renderPeakRss(results) {
  const variants = [
    ...new Set(results.flatMap((r) => r.rows.map((row) => row.variant))),
  ];
  const lines = [
    '',
    '### Peak RSS (VmHWM) by variant and scenario, MB (difference from unprotected)',
    '',
    `| variant | ${results.map((r) => r.scenario).join(' | ')} |`,
    `| --- | ${results.map(() => '---:').join(' | ')} |`,
  ];
  for (const variant of variants) {
    const cells = results.map((r) => {
      const row = r.rows.find((candidate) => candidate.variant === variant);
      if (row === undefined) return '';
      return variant === BASELINE
        ? mb(row.peakRss)
        : `${mb(row.peakRss)} (${signedMb(row.rssDelta)})`;
    });
    lines.push(`| ${variant} | ${cells.join(' | ')} |`);
  }
  return lines;
}

function renderMarkdown(results, facts, options, startedAt, seconds) {
  const lines = [];
  lines.push('# nestjs-bearer load benchmark', '');
  lines.push(
    `Run ${startedAt} (${seconds.toFixed(0)} s)${options.quick ? ', **quick smoke run: numbers are indicative only**' : ''}.`,
    '',
  );
  lines.push('| machine | |', '| --- | --- |');
  lines.push(`| CPU | ${facts.cpu} (${facts.cores} cores) |`);
  lines.push(`| pinning | ${facts.pinning} |`);
  lines.push(`| Node | ${facts.node} (${facts.kernel}) |`);
  lines.push(
    `| NestJS / Express / autocannon | ${facts.nest} / ${facts.express} / ${facts.autocannon} |`,
  );
  lines.push(
    `| load average (start, end) | ${facts.loadAverageAtStart.join(' ')} ; ${facts.loadAverageAtEnd.join(' ')} |`,
  );
  lines.push(`| method | ${methodOf(options)} |`);
  lines.push('');
  lines.push(
    '| scenario | variant | req/s (median) | x unprotected | x unprotected by CPU | x verify floor (by CPU) | p99 ms | server CPU µs/resp | server CPU | GC µs/req (young GCs per 1,000 req) | peak RSS MB | RSS vs unprotected MB | JWKS fetches | unexpected status |',
  );
  lines.push(
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const result of results) {
    for (const row of result.rows) {
      lines.push(
        `| ${result.label} | ${row.label} | ${row.medianRps.toFixed(0)} | ${row.ratio.toFixed(2)} | ${row.cpuRatio === undefined ? 'n/a' : row.cpuRatio.toFixed(2)} | ${row.floorRatio === undefined ? 'n/a' : `${row.floorRatio.toFixed(2)} (${row.floorCpuRatio === undefined ? 'n/a' : row.floorCpuRatio.toFixed(2)})`} | ${row.p99} | ${fixed(row.serverCpuUsPerResponse)} | ${percent(row.serverCpuShare)} | ${gcCell(row.gc)} | ${mb(row.peakRss)} | ${row.variant === BASELINE ? '' : signedMb(row.rssDelta)} | ${row.variant === BASELINE ? '' : row.jwksFetches} | ${row.unexpected} of ${row.responses} |`,
      );
    }
  }
  lines.push('');
  lines.push(
    "Ratios divide medians measured in the same rounds. JWKS fetches count requests to the variant's own JWKS path " +
      "from its start to its end (start-up included). Server CPU is the server process's user + system time " +
      'per response and as a share of one core: below about 90% the server was not the bottleneck (another process ' +
      'took its core, or the load generator could not keep up), and its req/s understates it; ' +
      '"by CPU" divides the unprotected server\'s CPU per response by the variant\'s, the ratio both would reach saturated. ' +
      'GC is the wall time of every garbage collection in the server from start to stop, per request served (warm-up included), ' +
      'with the young-generation collections per 1,000 requests: a count several times the unprotected one is V8 sizing its young generation small or pretenuring, as it does in some runs and not others, even for a guard that only returns true. ' +
      '"Unexpected status" counts responses other than 200 ' +
      '(valid tokens, and every request to the unprotected route) or 401 (invalid tokens), plus errors and timeouts. ' +
      `OpenID discovery requests (nestjs-bearer reads the challenge's authorization_uri from it): ${results.map((r) => `${r.scenario} ${r.discoveryRequests}`).join(', ')}.`,
  );
  lines.push(...renderPeakRss(results));
  const bearerResults = results.filter((r) => !NOT_IN_GOALS.has(r.scenario));
  const goals = goalRows(bearerResults);
  if (goals.length > 0) {
    lines.push(
      '',
      '| goal (issue 5) | variant | measured | met |',
      '| --- | --- | --- | --- |',
    );
    for (const [variant, goal, met, measured] of goals)
      lines.push(`| ${goal} | ${variant} | ${measured} | ${met} |`);
  }
  const goals10 = goalRowsIssue10(bearerResults);
  if (goals10.length > 0) {
    lines.push(
      '',
      '| goal (issue 10) | variant | measured | met |',
      '| --- | --- | --- | --- |',
    );
    for (const [variant, goal, met, measured] of goals10)
      lines.push(`| ${goal} | ${variant} | ${measured} | ${met} |`);
  }
  lines.push(...renderDpop(results, facts.es256Verify));
  return lines.join('\n') + '\n';
}

/**
 * What a DPoP request costs over a Bearer one: nestjs-bearer's server CPU per response in
 * the dpop scenario minus in the reused one (one token each, so the token cache sees the
 * same; reused runs the defaults, DPoP off, so the difference includes what allowing DPoP
 * adds to every request), in µs and in ES256 signature checks. One check is timed twice: inside the server
 * under the dpop load (its crypto.verify calls on EC keys, BENCH_TIME_VERIFY), and in a
 * tight loop on the servers' CPU at the run's start and end, which keeps OpenSSL's tables
 * and code in the caches and so costs less. The goal: at most one signature check more
 * than a bearer request (the proof's), the rest of the proof's handling cheaper than a
 * second one, so under two checks as timed in the server.
 */
function renderDpop(results, es256) {
  const cell = (scenario, variant) =>
    results
      .find((r) => r.scenario === scenario)
      ?.rows.find((row) => row.variant === variant);
  if (es256 === undefined || cell('dpop', 'nestjs-bearer') === undefined)
    return [];
  const loopUs = (es256.start.medianUs + es256.end.medianUs) / 2;
  const inServer = (row) => {
    const ec = row.verifyTimes?.ec;
    return ec === undefined || ec.calls === 0 ? undefined : ec.cpuUs / ec.calls;
  };
  const cachedUs = inServer(cell('dpop', 'nestjs-bearer'));
  const x = (n) => (n === undefined ? 'n/a' : n.toFixed(2));
  const lines = [
    '',
    '### DPoP: what a DPoP request costs over a Bearer one',
    '',
    `One ES256 signature check (crypto.verify on a KeyObject) costs ${fixed(cachedUs)} µs of CPU inside nestjs-bearer (cache on) under the dpop load, ` +
      `${loopUs.toFixed(0)} µs in a tight loop on the servers' CPU (${es256.start.medianUs.toFixed(0)} at the start, ${es256.end.medianUs.toFixed(0)} at the end).`,
    '',
    '| variant | server CPU µs/resp, bearer (reused) | DPoP | DPoP extra µs | in ES256 checks (in the server) | in ES256 checks (tight loop) | DPoP req/s (x unprotected) | server CPU, bearer ; DPoP | peak RSS MB, DPoP (vs unprotected) | proofs used / signed | at most one signature check more (< 2 checks in the server) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  const signed = results.find((r) => r.scenario === 'dpop').tokens;
  for (const variant of ['nestjs-bearer', 'nestjs-bearer-no-cache']) {
    const dpop = cell('dpop', variant);
    const bearer = cell('reused', variant);
    if (dpop === undefined) continue;
    const extra =
      bearer?.serverCpuUsPerResponse === undefined ||
      dpop.serverCpuUsPerResponse === undefined
        ? undefined
        : dpop.serverCpuUsPerResponse - bearer.serverCpuUsPerResponse;
    const checkUs = inServer(dpop) ?? cachedUs;
    const checks =
      extra === undefined || checkUs === undefined
        ? undefined
        : extra / checkUs;
    const met = checks === undefined ? 'n/a' : checks < 2 ? 'yes' : 'no';
    // CPU per response grows when another process shares the core, so a verdict from a
    // server that did not have its core is flagged, as the goals above do.
    const verdict =
      bearer?.saturated === false || dpop.saturated === false
        ? `unreliable (server CPU < 90%); ${met} as measured`
        : met;
    lines.push(
      `| ${variant} | ${fixed(bearer?.serverCpuUsPerResponse)} | ${fixed(dpop.serverCpuUsPerResponse)} | ${extra === undefined ? 'n/a' : `${extra >= 0 ? '+' : ''}${extra.toFixed(0)}`} | ${x(checks)} | ${x(extra === undefined ? undefined : extra / loopUs)} | ${dpop.medianRps.toFixed(0)} (${dpop.ratio.toFixed(2)}x) | ${percent(bearer?.serverCpuShare)} ; ${percent(dpop.serverCpuShare)} | ${mb(dpop.peakRss)} (${signedMb(dpop.rssDelta)}) | ${dpop.requestsSent ?? 'n/a'} / ${signed} | ${verdict} |`,
    );
  }
  lines.push(
    '',
    "The extra is the proof's whole check (decoding it, the key's thumbprint, the signature, `htm`/`htu`/`iat`/`ath` " +
      'with a SHA-256 of the token, the replay cache) plus the longer request; each row divides it by the check as timed in ' +
      "that server. The replay cache keeps every proof's `jti` for the `iatWindow` (an hour here), which the peak RSS shows.",
  );
  return lines;
}

function writeAtomically(path, text) {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

/**
 * The cost of one ES256 signature check, timed by a process on the servers' CPU (where the
 * proofs are checked), or on any CPU when the servers are not pinned.
 */
function timeEs256(serverCpu) {
  const script = join(BENCH_DIR, 'support/es256-timing.mjs');
  const [command, args] =
    serverCpu === undefined
      ? [process.execPath, [script]]
      : ['taskset', ['-c', String(serverCpu), process.execPath, script]];
  const { status, stdout, stderr, error } = spawnSync(command, args, {
    encoding: 'utf8',
  });
  if (error) throw error;
  if (status !== 0) throw new Error(`ES256 timing failed: ${stderr}`);
  return JSON.parse(stdout);
}

/**
 * Enough proofs that none is sent twice: a server checking them answers at most one
 * request per ES256 check (the fastest batch timed on its CPU), and it does more than that
 * per request (Nest, the token, the rest of the proof), which is the margin.
 */
function defaultDpopProofs(options, facts) {
  // Per process: each one keeps its own record of the proofs it has seen.
  const seconds =
    options.warmup +
    options.duration +
    (options.rounds - 1) * (options.rewarm + options.duration);
  return Math.ceil((seconds * 1e6) / facts.es256Verify.start.fastestUs);
}

// ---------------------------------------------------------------------------------------

/** Renders results/<out>.md and .svg again from results/<out>.json, measuring nothing. */
function rerender(out) {
  const file = join(RESULTS_DIR, `${out}.json`);
  const saved = JSON.parse(readFileSync(file, 'utf8'));
  const markdown = renderMarkdown(
    saved.results,
    saved.machine,
    saved.options,
    saved.startedAt,
    saved.seconds,
  );
  writeAtomically(join(RESULTS_DIR, `${out}.md`), markdown);
  writeChart(file);
  console.log(`rendered again from ${file}: ${out}.md, ${out}.svg`);
}

async function main() {
  const options = readOptions();
  if (options.report) return rerender(options.out);
  if (options.build) buildIfNeeded();
  // Facts first: once this process is pinned, availableParallelism() sees one CPU.
  const facts = machineFacts();
  const pinning = planPinning();
  facts.pinning = pinning.note;
  console.log(
    `CPU: ${facts.cpu} (${facts.cores} cores); Node ${facts.node}; ${facts.pinning}`,
  );
  console.log(`load average: ${facts.loadAverageAtStart.join(' ')}`);
  const startedAt = new Date().toISOString();
  const t0 = performance.now();

  const issuer = await startIssuer();
  try {
    const runsDpop = options.scenarios.some((s) => s.id === 'dpop');
    if (runsDpop) facts.es256Verify = { start: timeEs256(pinning.serverCpu) };
    // Only the selected scenarios' tokens: the fresh pool alone takes seconds to sign.
    const mint = {
      reused: async () => [await mintValid(issuer)],
      distinct: () => mintValidPool(issuer, 1000),
      invalid: () => mintInvalidPool(issuer, 300),
      fresh: () => mintFreshPool(issuer, options.freshTokens),
      tampered: async () => tamperPool(await mintValidPool(issuer, 1000)),
      dpop: async () => {
        const key = createDpopKey();
        return signDpopRequests(key, {
          token: await mintDpopBound(issuer, key.jkt),
          method: 'GET',
          url: `${DPOP_ORIGIN}${PATH}`,
          count: options.dpopProofs ?? defaultDpopProofs(options, facts),
        });
      },
    };
    const tokenSets = {};
    for (const scenario of options.scenarios) {
      const mintStart = performance.now();
      tokenSets[scenario.id] = await mint[scenario.id]();
      const mintSeconds = (performance.now() - mintStart) / 1000;
      if (mintSeconds > 1) {
        console.log(
          `minted ${tokenSets[scenario.id].length} ${scenario.unique ? 'requests' : 'tokens'} for ${scenario.id} in ${mintSeconds.toFixed(1)} s`,
        );
      }
    }
    if (
      tokenSets.fresh !== undefined &&
      tokenSets.fresh.length <= DEFAULT_CACHE_ENTRIES
    ) {
      console.warn(
        `--fresh-tokens ${tokenSets.fresh.length} <= ${DEFAULT_CACHE_ENTRIES}: nestjs-bearer with its cache on can hit once the pool has been cycled`,
      );
    }
    const results = [];
    for (const scenario of options.scenarios) {
      results.push(
        await runScenario(
          scenario,
          tokenSets[scenario.id],
          issuer,
          options,
          pinning,
        ),
      );
    }
    facts.loadAverageAtEnd = loadavg().map((n) => Number(n.toFixed(2)));
    if (runsDpop) facts.es256Verify.end = timeEs256(pinning.serverCpu);
    const seconds = (performance.now() - t0) / 1000;
    const markdown = renderMarkdown(
      results,
      facts,
      options,
      startedAt,
      seconds,
    );
    console.log(`\n${markdown}`);
    if (options.write) {
      mkdirSync(RESULTS_DIR, { recursive: true });
      const out = (ext) => join(RESULTS_DIR, `${options.out}.${ext}`);
      writeAtomically(out('md'), markdown);
      writeAtomically(
        out('json'),
        JSON.stringify(
          {
            startedAt,
            seconds,
            machine: facts,
            options: {
              ...options,
              scenarios: options.scenarios.map((s) => s.id),
              variants: options.variants.map((v) => v.id),
            },
            results,
          },
          null,
          2,
        ) + '\n',
      );
      console.log(
        `written: bench/results/${options.out}.md, bench/results/${options.out}.json`,
      );
      // The ratios as an SVG bar chart, which the README shows (bench/chart.mjs).
      writeChart(out('json'));
      console.log(`written: bench/results/${options.out}.svg`);
    }
    const failures = results.flatMap((r) =>
      r.rows
        .filter((row) => row.unexpected + row.warmupUnexpected > 0)
        .map((row) => `${r.scenario}/${row.variant}`),
    );
    if (failures.length > 0) {
      console.error(`unexpected statuses in: ${failures.join(', ')}`);
      process.exitCode = 1;
    }
  } finally {
    await issuer.close();
  }
}

try {
  await main();
} catch (error) {
  console.error(error instanceof Error ? error.stack : error);
  killAll();
  process.exitCode = 1;
}
