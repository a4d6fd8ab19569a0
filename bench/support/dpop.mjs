// The DPoP client side of the benchmark, run in the driver process: one ES256 key, its
// RFC 7638 thumbprint, and proofs (RFC 9449 section 4.2) signed ahead of the load, since
// the server keeps every proof's jti and refuses a second use.
import {
  createHash,
  generateKeyPairSync,
  randomUUID,
  sign,
  verify,
} from 'node:crypto';

/** The origin the nestjs-bearer server accepts in `htu` (`dpop.origins`), whatever its port. */
export const DPOP_ORIGIN = 'http://bench.local';

/** A client's ES256 key: the key pair, the public JWK a proof carries, and its thumbprint. */
export function createDpopKey() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', {
    namedCurve: 'P-256',
  });
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
  // RFC 7638 section 3.2: the required members, in lexicographic order, no whitespace.
  const jkt = createHash('sha256')
    .update(JSON.stringify({ crv, kty, x, y }))
    .digest('base64url');
  return { privateKey, publicKey, jwk: { kty, crv, x, y }, jkt };
}

/**
 * `count` request header sets for one token, each with its own proof: `Authorization: DPoP
 * <token>` and `DPoP: <proof>` with `htm`, `htu`, `iat` now, a unique `jti` and `ath`.
 * Signed with node:crypto directly (about 30 µs a proof), not with jose.
 */
export function signDpopRequests(key, { token, method, url, count }) {
  const header = Buffer.from(
    JSON.stringify({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.jwk }),
  ).toString('base64url');
  const ath = createHash('sha256').update(token).digest('base64url');
  const iat = Math.floor(Date.now() / 1000);
  const authorization = `DPoP ${token}`;
  const requests = new Array(count);
  for (let i = 0; i < count; i++) {
    const payload = Buffer.from(
      JSON.stringify({ jti: randomUUID(), htm: method, htu: url, iat, ath }),
    ).toString('base64url');
    const input = `${header}.${payload}`;
    const signature = sign('sha256', Buffer.from(input), {
      key: key.privateKey,
      dsaEncoding: 'ieee-p1363',
    });
    requests[i] = {
      authorization,
      dpop: `${input}.${signature.toString('base64url')}`,
    };
  }
  return requests;
}

/**
 * The cost of one ES256 signature check, as a DPoP proof needs it (crypto.verify on a
 * KeyObject, R || S), in µs of CPU time (user + system, as the load benchmark counts the
 * servers'; wall time would add whatever preempted the process): the median and the
 * fastest of `batches` batches. The input is proof-sized (about 400 bytes).
 */
export function timeEs256Verify({ batches = 7, perBatch = 400 } = {}) {
  const key = createDpopKey();
  const data = Buffer.alloc(400, 0x61);
  const signature = sign('sha256', data, {
    key: key.privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  const publicKey = { key: key.publicKey, dsaEncoding: 'ieee-p1363' };
  let ok = true;
  // Warm-up.
  for (let i = 0; i < 100; i++)
    ok &&= verify('sha256', data, publicKey, signature);
  const perCall = [];
  for (let b = 0; b < batches; b++) {
    const start = process.cpuUsage();
    for (let i = 0; i < perBatch; i++)
      ok &&= verify('sha256', data, publicKey, signature);
    const used = process.cpuUsage(start);
    perCall.push((used.user + used.system) / perBatch);
  }
  if (!ok) throw new Error('the ES256 signature check failed');
  perCall.sort((a, b) => a - b);
  return { medianUs: perCall[perCall.length >> 1], fastestUs: perCall[0] };
}
