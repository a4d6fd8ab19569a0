// Variants D and E: this library, from the compiled dist/, with its default options.
// TOKEN_CACHE=off sets `tokenCache: false` (every request verifies the signature);
// otherwise the default cache. BENCH_DPOP=on (the dpop scenario only) allows DPoP, so the
// scenario's DPoP-bound token with a proof works; the origin is fixed, so the driver signs
// proofs before it knows the port. Every other scenario runs DPoP off, the default.
// NESTJS_BEARER_ENTRY points at another build's index.js, to compare a change against dist/.
// BENCH_TIME_VERIFY=1 (the dpop scenario) times every crypto.verify call in this thread's
// CPU time, per key type, and reports the totals in the STATS line: what one signature
// check costs inside a loaded server, where its tables and code are no longer in the
// caches, as a tight loop cannot tell. The timing adds about 1 µs a call.
import crypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { pathToFileURL } from 'node:url';
import { DPOP_ORIGIN } from '../support/dpop.mjs';
import { createAppModule, readAuthEnv, serve } from './common.mjs';

/** crypto.verify calls and their CPU µs, by key type (`ec`, `rsa`, …). */
const verifyTimes = {};
if (process.env.BENCH_TIME_VERIFY === '1') {
  const verify = crypto.verify;
  const cpuUs = () => {
    const { user, system } = process.threadCpuUsage?.() ?? process.cpuUsage();
    return user + system;
  };
  crypto.verify = function timedVerify(algorithm, data, key, signature) {
    const type =
      (key?.key ?? key)?.asymmetricKeyType ??
      (typeof key === 'string' ? 'pem' : 'other');
    const start = cpuUs();
    try {
      return verify.call(this, algorithm, data, key, signature);
    } finally {
      const entry = (verifyTimes[type] ??= { calls: 0, cpuUs: 0 });
      entry.calls++;
      entry.cpuUs += cpuUs() - start;
    }
  };
  // The library imports `verify` by name: the named export follows the module object only
  // after this (and the library is imported below, after it).
  syncBuiltinESMExports();
}

const entry = process.env.NESTJS_BEARER_ENTRY
  ? pathToFileURL(process.env.NESTJS_BEARER_ENTRY).href
  : new URL('../../dist/lib/index.js', import.meta.url).href;
let lib;
try {
  lib = await import(entry);
} catch (error) {
  throw new Error(`${entry} cannot be loaded; run "npm run build" first`, {
    cause: error,
  });
}

const { issuer, audience, jwksUri } = readAuthEnv();
const cacheOff = process.env.TOKEN_CACHE === 'off';

await serve(
  createAppModule({
    imports: [
      lib.AuthModule.forRoot({
        issuer,
        audience,
        jwksUri,
        ...(cacheOff && { tokenCache: false }),
        // An hour of iat window: proofs are signed once, before the first scenario.
        ...(process.env.BENCH_DPOP === 'on' && {
          dpop: { mode: 'allowed', origins: [DPOP_ORIGIN], iatWindow: 3600 },
        }),
      }),
    ],
  }),
  undefined,
  { stats: () => ({ verify: verifyTimes }) },
);
