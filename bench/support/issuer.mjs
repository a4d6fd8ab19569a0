// The issuer side of the benchmark, run in the driver process: an RS256 key, a loopback
// server for the discovery document and the JWKS (counting every request per path),
// and the token sets of the scenarios.
import {
  KeyObject,
  randomBytes,
  randomUUID,
  sign as signBytes,
} from 'node:crypto';
import { createServer } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

export const AUDIENCE = 'https://api.bench.example';
const KID = 'bench-rs256-1';
const DISCOVERY_PATH = '/.well-known/openid-configuration';

/** Starts the loopback issuer. Each variant gets its own JWKS path, so fetches are counted per variant. */
export async function startIssuer() {
  const { publicKey, privateKey } = await generateKeyPair('RS256', {
    modulusLength: 2048,
    extractable: true,
  });
  const publicJwk = {
    ...(await exportJWK(publicKey)),
    kid: KID,
    alg: 'RS256',
    use: 'sig',
  };
  const counts = new Map();
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    let body;
    if (path === DISCOVERY_PATH) {
      body = {
        issuer: issuer.url,
        jwks_uri: `${issuer.url}/jwks.json`,
        authorization_endpoint: `${issuer.url}/authorize`,
        token_endpoint: `${issuer.url}/token`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
      };
    } else if (path.endsWith('.json')) {
      body = { keys: [publicJwk] };
    } else {
      res.writeHead(404).end();
      return;
    }
    const payload = JSON.stringify(body);
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(payload),
    });
    res.end(payload);
  });
  const sockets = new Set();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const issuer = {
    url: `http://127.0.0.1:${server.address().port}`,
    privateKey,
    /** The JWKS URL given to one variant. */
    jwksUriFor: (variant) => `${issuer.url}/jwks/${variant}.json`,
    /** JWKS requests of one variant so far. */
    jwksRequests: (variant) => counts.get(`/jwks/${variant}.json`) ?? 0,
    discoveryRequests: () => counts.get(DISCOVERY_PATH) ?? 0,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
  return issuer;
}

async function sign(
  issuer,
  { key = issuer.privateKey, kid = KID, expiresIn = 3600, sub, claims } = {},
) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({
    scope: 'read:data',
    client_id: 'bench-client',
    sub,
    jti: randomUUID(),
    ...claims,
  })
    .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid })
    .setIssuer(issuer.url)
    .setAudience(AUDIENCE)
    .setIssuedAt(now - (expiresIn < 0 ? 7200 : 0))
    .setExpirationTime(now + expiresIn)
    .sign(key);
}

/** One valid token, `exp` an hour ahead. */
export function mintValid(issuer, i = 0) {
  return sign(issuer, { sub: `user-${i}` });
}

/** One valid token bound to a DPoP key (`cnf.jkt`, RFC 9449 section 6.1), `exp` an hour ahead. */
export function mintDpopBound(issuer, jkt) {
  return sign(issuer, { sub: 'dpop-user', claims: { cnf: { jkt } } });
}

/** `count` distinct valid tokens (different `sub` and `jti`), `exp` an hour ahead. */
export async function mintValidPool(issuer, count) {
  const tokens = [];
  for (let i = 0; i < count; i++) tokens.push(await mintValid(issuer, i));
  return tokens;
}

function randomSegment(bytes) {
  return randomBytes(bytes).toString('base64url');
}

/**
 * Invalid tokens in equal thirds, interleaved: garbage (random base64url, one or three
 * segments), an unknown `kid` (a foreign key, a different kid each time), and expired
 * (signed by the real key, `exp` an hour ago). Every one is a syntactically valid b64token,
 * so every variant should answer 401 `invalid_token`.
 */
export async function mintInvalidPool(issuer, count) {
  const { privateKey: foreignKey } = await generateKeyPair('RS256', {
    modulusLength: 2048,
  });
  const tokens = [];
  for (let i = 0; tokens.length < count; i++) {
    switch (i % 3) {
      case 0:
        tokens.push(
          i % 2 === 0
            ? randomSegment(48)
            : `${randomSegment(30)}.${randomSegment(200)}.${randomSegment(256)}`,
        );
        break;
      case 1:
        tokens.push(
          await sign(issuer, {
            key: foreignKey,
            kid: `unknown-${i}`,
            sub: `user-${i}`,
          }),
        );
        break;
      default:
        tokens.push(await sign(issuer, { expiresIn: -3600, sub: `user-${i}` }));
    }
  }
  return tokens;
}

/**
 * `count` distinct valid tokens for the fresh-token scenario: the same claims as
 * {@link mintValid}, signed with node:crypto directly (about half the time of jose's
 * WebCrypto path), since a full run mints 20,000 of them.
 */
export function mintFreshPool(issuer, count) {
  const key = KeyObject.from(issuer.privateKey);
  const now = Math.floor(Date.now() / 1000);
  const header = Buffer.from(
    JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: KID }),
  ).toString('base64url');
  const tokens = [];
  for (let i = 0; i < count; i++) {
    const payload = Buffer.from(
      JSON.stringify({
        scope: 'read:data',
        client_id: 'bench-client',
        sub: `fresh-${i}`,
        jti: randomUUID(),
        iss: issuer.url,
        aud: AUDIENCE,
        iat: now,
        exp: now + 3600,
      }),
    ).toString('base64url');
    const input = `${header}.${payload}`;
    const signature = signBytes('sha256', Buffer.from(input), key);
    tokens.push(`${input}.${signature.toString('base64url')}`);
  }
  return tokens;
}

/**
 * The tokens with one bit of the first signature byte flipped: still three canonical
 * base64url segments, the right issuer, audience, kid and expiry, so only the signature
 * check refuses them.
 */
export function tamperPool(tokens) {
  return tokens.map((token) => {
    const dot = token.lastIndexOf('.');
    const signature = Buffer.from(token.slice(dot + 1), 'base64url');
    signature[0] ^= 0x01;
    return `${token.slice(0, dot + 1)}${signature.toString('base64url')}`;
  });
}
