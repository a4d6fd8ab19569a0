// Memory of the in-memory revocation store (issue 11): revokes N short-lived jti values per
// round and shows the heap after GC while they are live and again once they have expired and
// been swept. Flat means the "expired" column stays at the baseline round after round.
// A benchmark, not a test: it asserts nothing.
//
//   npm run build && node bench/revocation-memory.mjs                (1,000,000 jti, 3 rounds)
//   node bench/revocation-memory.mjs --count 100000 --rounds 2 --lifetime 2   (a short smoke)
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));

// The heap can only be read after a full GC with --expose-gc: run again with it.
if (typeof globalThis.gc !== 'function') {
  const { status } = spawnSync(
    process.execPath,
    ['--expose-gc', fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    { stdio: 'inherit' },
  );
  process.exit(status ?? 1);
}

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '1000000' },
    rounds: { type: 'string', default: '3' },
    lifetime: { type: 'string', default: '5' },
    'no-build': { type: 'boolean', default: false },
  },
});
const COUNT = Number(values.count);
const ROUNDS = Number(values.rounds);
const LIFETIME = Number(values.lifetime);

if (!values['no-build']) {
  const { status } = spawnSync(
    process.execPath,
    [join(ROOT, 'scripts/build-if-needed.mjs')],
    { cwd: ROOT, stdio: 'inherit' },
  );
  if (status !== 0) throw new Error('the build failed (use --no-build)');
}

const { MemoryRevocationStore } = await import(
  join(ROOT, 'dist/lib/revocation/memory-revocation.store.js')
);

function heapAfterGc() {
  for (let i = 0; i < 3; i++) globalThis.gc();
  return process.memoryUsage().heapUsed;
}
const mib = (bytes) => (bytes / 1024 / 1024).toFixed(1);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const store = new MemoryRevocationStore({
  maxEntries: COUNT,
  sweepInterval: 1000,
});
const baseline = heapAfterGc();
console.log(
  `Node ${process.version}; ${COUNT.toLocaleString('en-US')} jti per round, lifetime ${LIFETIME} s, ${ROUNDS} rounds`,
);
console.log(`baseline heap after GC: ${mib(baseline)} MiB\n`);
console.log(
  '| round | add (ns/op) | heap live (MiB) | entries live | heap expired (MiB) | entries expired |',
);
console.log('| ---: | ---: | ---: | ---: | ---: | ---: |');

for (let round = 1; round <= ROUNDS; round++) {
  const expiresAt = Date.now() / 1000 + LIFETIME;
  const start = process.hrtime.bigint();
  const BATCH = 10_000;
  for (let i = 0; i < COUNT; i += BATCH) {
    const pending = [];
    for (let j = i; j < Math.min(COUNT, i + BATCH); j++) {
      // A UUID, as most issuers' jti are, parsed from JSON as a token's claims are:
      // randomUUID()'s own strings keep a larger shared buffer alive.
      const jti = JSON.parse(`"${randomUUID()}"`);
      pending.push(store.add({ kind: 'jti', value: jti, expiresAt }));
    }
    await Promise.all(pending);
  }
  const addNs = Number(process.hrtime.bigint() - start) / COUNT;
  const live = heapAfterGc();
  const liveEntries = store.size;
  // Past the expiry plus one sweep interval, the timer has dropped every entry.
  await sleep(Math.max(0, expiresAt * 1000 - Date.now()) + 1500);
  const expired = heapAfterGc();
  console.log(
    `| ${round} | ${addNs.toFixed(0)} | ${mib(live)} | ${liveEntries.toLocaleString('en-US')} | ${mib(expired)} | ${store.size.toLocaleString('en-US')} |`,
  );
}
const final = heapAfterGc();
console.log(
  `\nafter ${ROUNDS} rounds: ${mib(final)} MiB (baseline ${mib(baseline)} MiB, +${mib(final - baseline)} MiB)`,
);
await store.close();
