// Micro benchmarks of the hot path, on the compiled library (dist/), so that a regression
// in the load benchmark can be traced to a step. Relative figures only: nothing is asserted.
//
//   npm run bench:micro              (builds first when dist/ is stale)
//   npm run bench:micro -- --no-build
import { spawnSync } from 'node:child_process';
import {
  createPublicKey,
  generateKeyPairSync,
  randomUUID,
  sign as cryptoSign,
  verify as cryptoVerify,
} from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import { SignJWT } from 'jose';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const BATCH_MS = 200;
const BATCHES = 7;

if (!process.argv.includes('--no-build')) {
  const { status } = spawnSync(
    process.execPath,
    [join(ROOT, 'scripts/build-if-needed.mjs')],
    {
      cwd: ROOT,
      stdio: 'inherit',
    },
  );
  if (status !== 0)
    throw new Error(
      'the build failed (use --no-build to run against dist/ as it is)',
    );
}

/** Imports a compiled module of the library; internal ones may move, so a miss only skips benchmarks. */
async function importDist(path) {
  try {
    return await import(join(ROOT, 'dist/lib', path));
  } catch (error) {
    console.warn(
      `skipped: dist/lib/${path} cannot be loaded (${error.message})`,
    );
    return {};
  }
}

const lib = await importDist('index.js');
const { inspectToken } = await importDist('token-policy.js');
const { TokenCache } = await importDist('token-cache.js');
const { fingerprintToken } = await importDist('bearer.guard.js');
const { BearerRevocations } = await importDist(
  'revocation/bearer-revocations.service.js',
);
const { MemoryRevocationStore } = await importDist(
  'revocation/memory-revocation.store.js',
);
const { verifyDpopProof, accessTokenHash } = await importDist(
  'sender-constraints/dpop-proof.js',
);
const { jwkThumbprint, publicKeyMembers } = await importDist(
  'sender-constraints/jwk-thumbprint.js',
);

// Keeps results alive so the optimiser cannot drop the work.
let sink = 0;
function consume(value) {
  if (value === undefined || value === null || value === false) sink ^= 1;
  else sink ^= typeof value === 'object' ? 2 : 4;
}

/** Runs `fn` in batches of about BATCH_MS and reports the median batch, in ns per call. */
function measure(fn) {
  // Calibrate a batch size, which also warms the function up.
  let n = 1;
  for (;;) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) consume(fn());
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    if (ms >= BATCH_MS / 4) {
      n = Math.max(1, Math.round((n * BATCH_MS) / ms));
      break;
    }
    n *= 4;
  }
  const perOp = [];
  for (let b = 0; b < BATCHES; b++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < n; i++) consume(fn());
    perOp.push(Number(process.hrtime.bigint() - start) / n);
  }
  perOp.sort((a, b) => a - b);
  return perOp[perOp.length >> 1];
}

// --- fixtures ---------------------------------------------------------------------------

const ISSUER = 'https://issuer.bench.example';
const AUDIENCE = 'https://api.bench.example';
const { privateKey, publicKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
});
const pem = publicKey.export({ type: 'spki', format: 'pem' });
const keyObject = createPublicKey(pem);
const now = Math.floor(Date.now() / 1000);
const token = await new SignJWT({
  scope: 'read:data write:data',
  client_id: 'bench-client',
  sub: 'user-1',
  jti: '0f5b6c1e-bench',
})
  .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: 'bench-rs256-1' })
  .setIssuer(ISSUER)
  .setAudience(AUDIENCE)
  .setIssuedAt(now)
  .setExpirationTime(now + 3600)
  .sign(privateKey);
const [head, body, signature] = token.split('.');
const signingInput = Buffer.from(`${head}.${body}`);
const signatureBytes = Buffer.from(signature, 'base64url');
const verifyOptions = {
  algorithms: ['RS256'],
  issuer: ISSUER,
  audience: AUDIENCE,
  clockTolerance: 30,
};

const request = {
  method: 'GET',
  url: '/data',
  headers: {
    host: '127.0.0.1:3000',
    accept: 'application/json',
    'user-agent': 'bench',
    authorization: `Bearer ${token}`,
  },
  headersDistinct: { authorization: [`Bearer ${token}`] },
};
const policy = {
  algorithms: ['RS256'],
  issuers: [ISSUER],
  audiences: [AUDIENCE],
  clockTolerance: 30,
  maxTokenLength: 8192,
  requireAtJwt: false,
};

// A DPoP proof (RFC 9449 section 4.2) for GET http://bench.local/data and the token above,
// signed by an ES256 client key with node:crypto.
const dpopKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const { kty, crv, x, y } = dpopKey.publicKey.export({ format: 'jwk' });
const dpopJwk = { kty, crv, x, y };
const encode = (value) =>
  Buffer.from(JSON.stringify(value)).toString('base64url');
const proofInput = `${encode({ typ: 'dpop+jwt', alg: 'ES256', jwk: dpopJwk })}.${encode(
  {
    jti: randomUUID(),
    htm: 'GET',
    htu: 'http://bench.local/data',
    iat: now,
    ath: Buffer.from(
      await crypto.subtle.digest('SHA-256', Buffer.from(token)),
    ).toString('base64url'),
  },
)}`;
const proofSignature = cryptoSign('sha256', Buffer.from(proofInput), {
  key: dpopKey.privateKey,
  dsaEncoding: 'ieee-p1363',
});
const proof = `${proofInput}.${proofSignature.toString('base64url')}`;
const proofExpectation = {
  method: 'GET',
  path: '/data',
  origins: ['http://bench.local'],
  accessToken: token,
  algorithms: ['ES256'],
  now,
  maxAge: 3600,
  clockTolerance: 30,
};

// --- cases ------------------------------------------------------------------------------

const cases = [];
const add = (group, name, fn) => fn && cases.push({ group, name, fn });

if (lib.extractToken) {
  const options = { locations: ['header'], maxTokenLength: 8192 };
  add('extract', 'extractToken (Authorization: Bearer, header only)', () =>
    lib.extractToken(request, options),
  );
}
if (lib.formatChallenge) {
  add('challenge', 'formatChallenge (realm, error, error_description)', () =>
    lib.formatChallenge({
      realm: 'api',
      error: 'invalid_token',
      error_description: 'The access token is expired.',
    }),
  );
}
if (inspectToken)
  add('policy', 'inspectToken (decode + key-free checks)', () =>
    inspectToken(token, policy),
  );
if (TokenCache) {
  const cache = new TokenCache(10_000);
  for (let i = 0; i < 1000; i++)
    cache.set(`token-${i}`, { i }, Date.now() + 3_600_000);
  cache.set(token, { principal: {} }, Date.now() + 3_600_000);
  add('cache', 'TokenCache.get hit (1,001 entries, ~800-char key)', () =>
    cache.get(token),
  );
  // The common case at scale: one client's token hit again and again while the cache is full
  // of other tokens (10,000 is the default maxEntries).
  const full = new TokenCache(10_000);
  for (let i = 0; i < 9_999; i++)
    full.set(`token-${i}`, { i }, Date.now() + 3_600_000);
  full.set(token, { principal: {} }, Date.now() + 3_600_000);
  add('cache', 'TokenCache.get hit, same token, 10,000 entries (full)', () =>
    full.get(token),
  );
  const keys = Array.from(
    { length: 10_000 },
    (_, i) => `${token.slice(0, -8)}${String(i).padStart(8, '0')}`,
  );
  const rotating = new TokenCache(10_000);
  for (const key of keys)
    rotating.set(key, { principal: {} }, Date.now() + 3_600_000);
  let next = 0;
  add('cache', 'TokenCache.get hit, 10,000 tokens in turn', () =>
    rotating.get(keys[next++ % keys.length]),
  );
}
// The revocation check is the verification hook that runs on every request, cache hits
// included: its cost is what revocation adds to a cached token (goal: under 2 us).
if (BearerRevocations && MemoryRevocationStore) {
  const store = new MemoryRevocationStore({ maxEntries: 200_000 });
  const soon = Date.now() / 1000 + 3600;
  for (let i = 0; i < 100_000; i++) {
    await store.add({ kind: 'jti', value: `revoked-${i}`, expiresAt: soon });
  }
  for (let i = 0; i < 1000; i++) {
    await store.add({
      kind: 'sub',
      value: `user-${i + 2}`,
      issuedBefore: now,
      expiresAt: soon,
    });
  }
  let hook;
  const authenticator = {
    addVerificationHook: (fn) => (hook = fn),
    addStandingCheck: () => undefined,
    standingChanged: () => undefined,
    clearCache: () => undefined,
  };
  const revocations = new BearerRevocations(
    { clockTolerance: 30, revocation: { maxTokenLifetime: 86_400 } },
    authenticator,
    { store, owned: true },
  );
  await revocations.onModuleInit();
  const claims = JSON.parse(Buffer.from(body, 'base64url').toString());
  const principal = { sub: claims.sub, scopes: [], roles: [], claims };
  const details = { token, cached: true, request: undefined };
  add(
    'revocation',
    'revocation hook, cache hit (100,000 jti + 1,000 sub revoked)',
    () => hook(principal, details),
  );
  add('revocation', 'MemoryRevocationStore.check (jti, sub, client)', () =>
    store.check({
      jti: claims.jti,
      sub: claims.sub,
      clientId: claims.client_id,
      iat: claims.iat,
    }),
  );
}
if (fingerprintToken)
  add('failure path', 'fingerprintToken (sha256, per failed request)', () =>
    fingerprintToken(token),
  );
if (lib.InvalidTokenError) {
  add(
    'failure path',
    'new InvalidTokenError (stack captured)',
    () => new lib.InvalidTokenError('expired'),
  );
  add(
    'failure path',
    'new InvalidTokenError, Error.stackTraceLimit = 0',
    () => {
      const limit = Error.stackTraceLimit;
      Error.stackTraceLimit = 0;
      try {
        return new lib.InvalidTokenError('expired');
      } finally {
        Error.stackTraceLimit = limit;
      }
    },
  );
}
// What a DPoP request adds to a bearer one (issue goal: about one signature check). The
// proof is the same every call: verifyDpopProof has no replay check (the caller's).
if (verifyDpopProof) {
  verifyDpopProof(proof, proofExpectation);
  add('dpop', 'verifyDpopProof (one ES256 proof, key imported once)', () =>
    verifyDpopProof(proof, proofExpectation),
  );
}
const es256Key = { key: dpopKey.publicKey, dsaEncoding: 'ieee-p1363' };
const proofBytes = Buffer.from(proofInput);
add('dpop', 'crypto.verify ES256, KeyObject (the signature alone)', () =>
  cryptoVerify('sha256', proofBytes, es256Key, proofSignature),
);
if (jwkThumbprint && publicKeyMembers) {
  const members = publicKeyMembers(dpopJwk);
  add('dpop', 'jwkThumbprint (RFC 7638, P-256 key)', () =>
    jwkThumbprint(members),
  );
}
if (accessTokenHash)
  add('dpop', 'accessTokenHash (ath: sha256 of the token)', () =>
    accessTokenHash(token),
  );
add('verify', 'crypto.verify RS256, KeyObject', () =>
  cryptoVerify('RSA-SHA256', signingInput, keyObject, signatureBytes),
);
add('verify', 'crypto.verify RS256, PEM string (parsed per call)', () =>
  cryptoVerify('RSA-SHA256', signingInput, pem, signatureBytes),
);
add('verify', 'jsonwebtoken.verify RS256, KeyObject', () =>
  jwt.verify(token, keyObject, verifyOptions),
);
add('verify', 'jsonwebtoken.verify RS256, PEM string (classic recipe)', () =>
  jwt.verify(token, pem, verifyOptions),
);

// --- run --------------------------------------------------------------------------------

console.log(
  `Node ${process.version}; token ${token.length} chars; median of ${BATCHES} batches of ~${BATCH_MS} ms\n`,
);
const rows = [];
for (const { group, name, fn } of cases) {
  const ns = measure(fn);
  rows.push({ group, name, ns });
  console.log(`  ${name.padEnd(58)} ${ns.toFixed(0).padStart(8)} ns/op`);
}
const pemRow = rows.find((r) =>
  r.name.startsWith('jsonwebtoken.verify RS256, PEM'),
);
const keyRow = rows.find((r) =>
  r.name.startsWith('jsonwebtoken.verify RS256, KeyObject'),
);
console.log('\n| group | operation | ns/op | ops/s |');
console.log('| --- | --- | ---: | ---: |');
for (const { group, name, ns } of rows) {
  console.log(
    `| ${group} | ${name} | ${ns.toFixed(0)} | ${Math.round(1e9 / ns).toLocaleString('en-US')} |`,
  );
}
const proofRow = rows.find((r) => r.name.startsWith('verifyDpopProof'));
const es256Row = rows.find((r) => r.name.startsWith('crypto.verify ES256'));
if (proofRow && es256Row) {
  console.log(
    `\nverifyDpopProof costs ${(proofRow.ns / es256Row.ns).toFixed(2)}x its ES256 signature check.`,
  );
}
if (pemRow && keyRow) {
  console.log(
    `\nA PEM string costs ${(pemRow.ns / keyRow.ns).toFixed(2)}x a KeyObject per jsonwebtoken verify.`,
  );
}
if (sink === -1) console.log(sink);
