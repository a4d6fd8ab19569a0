/**
 * DPoP (RFC 9449) through the compiled sample app (contract, second part, "DPoP"), on
 * Express and Fastify: real key pairs, real signed proofs, `AUTH_DPOP` `allowed` and
 * `required`, `AUTH_DPOP_NONCE`, the development issuer's `dpop_jkt`, the replay cache
 * shared by two instances over Redis, and the WebSocket and GraphQL transports.
 */
import { randomUUID } from 'node:crypto';
import { bearer, send, type HttpResult } from './support/http.js';
import { DpopKey } from './support/dpop.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { RedisServer } from './support/redis-server.js';
import { SampleAppProcess } from './support/sample-app-process.js';
import { mintToken } from './support/tokens.js';
import { open, refused } from './support/ws-client.js';

const AUDIENCE = 'api://dpop';
const AUTHORIZE = 'https://login.example.com/authorize';
const SHARED = `authorization_uri="${AUTHORIZE}"`;
const ALGS = 'algs="ES256 EdDSA PS256 RS256"';
const PROOF_ERROR = 'DPoP error="invalid_dpop_proof"';
const DPOP_BOUND =
  'The access token is bound to a DPoP key and must be sent with the DPoP scheme.';

let key: TestKey;
let jwks: JwksServer;
let client: DpopKey;

beforeAll(async () => {
  key = await createTestKey();
  jwks = await JwksServer.start({ keys: [key] });
  client = await DpopKey.create('ES256');
});
afterAll(async () => {
  await SampleAppProcess.stopAll();
  await jwks?.close();
});

function env(extra: Record<string, string>): Record<string, string> {
  return {
    AUTH_ISSUER: jwks.issuer,
    AUTH_AUDIENCE: AUDIENCE,
    AUTH_JWKS_URI: jwks.jwksUri,
    AUTH_AUTHORIZATION_URI: AUTHORIZE,
    ...extra,
  };
}

/** A token bound to `jkt` (`cnf.jkt`), or a plain bearer token with `jkt` null. */
function token(
  jkt: string | null = client.jkt,
  claims: Record<string, unknown> = {},
): Promise<string> {
  return mintToken(key, {
    iss: jwks.issuer,
    aud: AUDIENCE,
    sub: 'alice',
    jti: randomUUID(),
    ...(jkt !== null && { cnf: { jkt } }),
    ...claims,
  });
}

function json(res: HttpResult): Record<string, unknown> {
  return JSON.parse(res.text) as Record<string, unknown>;
}

function expectProofRefused(res: HttpResult, description: string): void {
  expect(res.status).toBe(401);
  expect(res.headers['www-authenticate']).toContain(
    `${PROOF_ERROR}, error_description="${description}"`,
  );
  expect(json(res)).toMatchObject({
    error: 'invalid_dpop_proof',
    error_description: description,
  });
}

describe.each(['express', 'fastify'])('AUTH_DPOP=allowed on %s', (adapter) => {
  let app: SampleAppProcess;
  const me = (): string => `${app.url}/me`;

  beforeAll(async () => {
    app = await SampleAppProcess.start(
      env({ HTTP_ADAPTER: adapter, AUTH_DPOP: 'allowed' }),
    );
  });
  afterAll(() => app?.stop());

  it('accepts a DPoP-bound token with a valid proof, as a bearer token would be', async () => {
    const jwt = await token();
    const res = await send(me(), {
      headers: await client.headers(jwt, { htm: 'GET', htu: me() }),
    });
    expect(res.status).toBe(200);
    expect(json(res)).toMatchObject({ sub: 'alice' });
  });

  it('accepts the same token again with a fresh proof (the cached path checks the proof too)', async () => {
    const jwt = await token();
    for (let i = 0; i < 3; i++) {
      const res = await send(me(), {
        headers: await client.headers(jwt, { htm: 'GET', htu: me() }),
      });
      expect(res.status).toBe(200);
    }
    const bad = await send(me(), {
      headers: await client.headers(jwt, { htm: 'POST', htu: me() }),
    });
    expectProofRefused(bad, 'The DPoP proof was made for another HTTP method.');
  });

  it('accepts a plain bearer token, and lists both schemes when no credentials are sent', async () => {
    const ok = await send(me(), { headers: bearer(await token(null)) });
    expect(ok.status).toBe(200);
    const none = await send(me());
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe(
      `Bearer ${SHARED}, DPoP ${SHARED}, ${ALGS}`,
    );
  });

  it('refuses a DPoP-bound token sent as Bearer: 401 invalid_token on the Bearer challenge', async () => {
    const res = await send(me(), { headers: bearer(await token()) });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe(
      `Bearer ${SHARED}, error="invalid_token", error_description="The access token is bound to a DPoP key and must be sent with the DPoP scheme.", DPoP ${SHARED}, ${ALGS}`,
    );
    expect(json(res)).toMatchObject({ error: 'invalid_token' });
  });

  it('refuses an unbound token sent with the DPoP scheme: invalid_token on the DPoP challenge', async () => {
    const jwt = await token(null);
    const res = await send(me(), {
      headers: await client.headers(jwt, { htm: 'GET', htu: me() }),
    });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe(
      `Bearer ${SHARED}, DPoP error="invalid_token", error_description="The access token is not bound to a DPoP key and cannot be sent with the DPoP scheme.", ${SHARED}, ${ALGS}`,
    );
  });

  it('refuses a missing proof', async () => {
    const res = await send(me(), {
      headers: { authorization: `DPoP ${await token()}` },
    });
    expectProofRefused(res, 'The request carries no DPoP proof.');
  });

  it('refuses two DPoP headers', async () => {
    const jwt = await token();
    const proof = await client.proof({ htm: 'GET', htu: me(), token: jwt });
    const res = await send(me(), {
      headers: { authorization: `DPoP ${jwt}`, dpop: [proof, proof] },
    });
    expectProofRefused(res, 'The request carries more than one DPoP proof.');
  });

  it('refuses a malformed proof', async () => {
    const res = await send(me(), {
      headers: { authorization: `DPoP ${await token()}`, dpop: 'not-a-jwt' },
    });
    expectProofRefused(res, 'The DPoP proof is malformed.');
  });

  it('refuses a replayed proof (the same jti)', async () => {
    const jwt = await token();
    const headers = await client.headers(jwt, { htm: 'GET', htu: me() });
    expect((await send(me(), { headers })).status).toBe(200);
    expectProofRefused(
      await send(me(), { headers }),
      'The DPoP proof has already been used.',
    );
  });

  it('refuses a stale proof', async () => {
    const jwt = await token();
    const res = await send(me(), {
      headers: await client.headers(jwt, {
        htm: 'GET',
        htu: me(),
        iat: Math.floor(Date.now() / 1000) - 600,
      }),
    });
    expectProofRefused(
      res,
      'The DPoP proof was not issued within the acceptable time window.',
    );
  });

  it('refuses a proof for another URI, and ignores the query of both', async () => {
    const jwt = await token();
    const other = await send(me(), {
      headers: await client.headers(jwt, {
        htm: 'GET',
        htu: `${app.url}/documents`,
      }),
    });
    expectProofRefused(other, 'The DPoP proof was made for another URI.');
    const query = await send(`${me()}?a=1`, {
      headers: await client.headers(jwt, { htm: 'GET', htu: `${me()}?b=2` }),
    });
    expect(query.status).toBe(200);
  });

  it('accepts a proof for localhost on a loopback address, never one for a forged Host', async () => {
    const jwt = await token();
    const local = await send(me(), {
      headers: await client.headers(jwt, {
        htm: 'GET',
        htu: `http://localhost:${app.port}/me`,
      }),
    });
    expect(local.status).toBe(200);
    const forged = await send(me(), {
      headers: {
        ...(await client.headers(jwt, {
          htm: 'GET',
          htu: 'https://attacker.example/me',
        })),
        host: 'attacker.example',
      },
    });
    expectProofRefused(forged, 'The DPoP proof was made for another URI.');
  });

  it('refuses a proof for another token (ath)', async () => {
    const res = await send(me(), {
      headers: {
        authorization: `DPoP ${await token()}`,
        dpop: await client.proof({
          htm: 'GET',
          htu: me(),
          token: await token(),
        }),
      },
    });
    expectProofRefused(
      res,
      'The DPoP proof was made for another access token.',
    );
  });

  it('refuses a proof signed by another key than the token is bound to', async () => {
    const other = await DpopKey.create('ES256');
    const res = await send(me(), {
      headers: await other.headers(await token(), { htm: 'GET', htu: me() }),
    });
    expectProofRefused(
      res,
      'The DPoP proof key does not match the key the access token is bound to.',
    );
  });

  it('answers insufficient_scope on the DPoP challenge for a DPoP request', async () => {
    const jwt = await token();
    const res = await send(`${app.url}/documents`, {
      headers: await client.headers(jwt, {
        htm: 'GET',
        htu: `${app.url}/documents`,
      }),
    });
    expect(res.status).toBe(403);
    expect(res.headers['www-authenticate']).toMatch(
      /^Bearer authorization_uri="[^"]+", DPoP error="insufficient_scope", error_description="[^"]+", scope="documents.read", authorization_uri="[^"]+", algs="/,
    );
  });
});

describe.each(['express', 'fastify'])('AUTH_DPOP=required on %s', (adapter) => {
  let app: SampleAppProcess;

  beforeAll(async () => {
    app = await SampleAppProcess.start(
      env({ HTTP_ADAPTER: adapter, AUTH_DPOP: 'required' }),
    );
  });
  afterAll(() => app?.stop());

  it('treats an unbound Bearer token as no credentials: 401 with the DPoP challenge alone', async () => {
    for (const jwt of [await token(null), 'not-a-jwt', 'a.b.c']) {
      const res = await send(`${app.url}/me`, { headers: bearer(jwt) });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe(`DPoP ${SHARED}, ${ALGS}`);
      expect(json(res)).toMatchObject({ error: null });
    }
  });

  it('refuses a DPoP-bound token sent as Bearer with invalid_token on the DPoP challenge', async () => {
    const res = await send(`${app.url}/me`, { headers: bearer(await token()) });
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe(
      `DPoP error="invalid_token", error_description="${DPOP_BOUND}", ${SHARED}, ${ALGS}`,
    );
    expect(json(res)).toMatchObject({
      error: 'invalid_token',
      error_description: DPOP_BOUND,
    });
  });

  it('accepts a DPoP request', async () => {
    const res = await send(`${app.url}/me`, {
      headers: await client.headers(await token(), {
        htm: 'GET',
        htu: `${app.url}/me`,
      }),
    });
    expect(res.status).toBe(200);
  });
});

describe.each(['express', 'fastify'])(
  'AUTH_DPOP_NONCE=true on %s',
  (adapter) => {
    let app: SampleAppProcess;
    const me = (): string => `${app.url}/me`;

    beforeAll(async () => {
      app = await SampleAppProcess.start(
        env({
          HTTP_ADAPTER: adapter,
          AUTH_DPOP: 'required',
          AUTH_DPOP_NONCE: 'true',
        }),
      );
    });
    afterAll(() => app?.stop());

    it('answers use_dpop_nonce with a DPoP-Nonce header; the retry with it succeeds', async () => {
      const jwt = await token();
      const first = await send(me(), {
        headers: await client.headers(jwt, { htm: 'GET', htu: me() }),
      });
      expect(first.status).toBe(401);
      expect(first.headers['www-authenticate']).toBe(
        `DPoP error="use_dpop_nonce", error_description="The resource server requires a nonce in the DPoP proof.", ${SHARED}, ${ALGS}`,
      );
      const nonce = first.headers['dpop-nonce'];
      expect(nonce).toMatch(/^[A-Za-z0-9_-]{22}$/);
      const retry = await send(me(), {
        headers: await client.headers(jwt, {
          htm: 'GET',
          htu: me(),
          nonce: nonce as string,
        }),
      });
      expect(retry.status).toBe(200);
    });

    it('refuses a made-up nonce with a fresh one', async () => {
      const res = await send(me(), {
        headers: await client.headers(await token(), {
          htm: 'GET',
          htu: me(),
          nonce: 'AAAAAAAAAAAAAAAAAAAAAA',
        }),
      });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toContain(
        'error="use_dpop_nonce"',
      );
      expect(res.headers['dpop-nonce']).not.toBe('AAAAAAAAAAAAAAAAAAAAAA');
    });
  },
);

describe('two instances sharing Redis and a nonce secret', () => {
  let redis: RedisServer;
  let a: SampleAppProcess;
  let b: SampleAppProcess;

  beforeAll(async () => {
    redis = await RedisServer.start();
    const shared = env({
      AUTH_DPOP: 'allowed',
      AUTH_DPOP_NONCE: 'true',
      AUTH_DPOP_NONCE_SECRET: 'a shared secret of more than 32 characters',
      AUTH_REVOCATION_STORE: redis.url,
    });
    [a, b] = await Promise.all([
      SampleAppProcess.start(shared),
      SampleAppProcess.start({ ...shared, HTTP_ADAPTER: 'fastify' }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  });

  it("accepts one instance's nonce at the other, and refuses a proof replayed there", async () => {
    const jwt = await token();
    const first = await send(`${a.url}/me`, {
      headers: await client.headers(jwt, { htm: 'GET', htu: `${a.url}/me` }),
    });
    const nonce = first.headers['dpop-nonce'] as string;
    expect(first.status).toBe(401);
    // One proof for a URI both instances answer under: the same origin behind a balancer
    // is modelled by sending B the proof made for A's own address... which B refuses as
    // another URI. So each instance gets a proof for its own URL, with one jti.
    const jti = randomUUID();
    const atB = await send(`${b.url}/me`, {
      headers: await client.headers(jwt, {
        htm: 'GET',
        htu: `${b.url}/me`,
        nonce,
        jti,
      }),
    });
    expect(atB.status).toBe(200);
    const replayAtA = await send(`${a.url}/me`, {
      headers: await client.headers(jwt, {
        htm: 'GET',
        htu: `${a.url}/me`,
        nonce,
        jti,
      }),
    });
    expectProofRefused(replayAtA, 'The DPoP proof has already been used.');
  });
});

describe('the development issuer and the other transports', () => {
  let app: SampleAppProcess;

  beforeAll(async () => {
    app = await SampleAppProcess.start({ AUTH_DPOP: 'allowed' });
  });
  afterAll(() => app?.stop());

  async function devToken(body: Record<string, unknown>): Promise<HttpResult> {
    return send(`${app.url}/dev/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  }

  it('mints a DPoP-bound token for "dpop_jkt" (token_type DPoP), usable with a proof', async () => {
    const res = await devToken({
      scope: 'documents.read',
      dpop_jkt: client.jkt,
    });
    expect(res.status).toBe(201);
    const body = json(res) as { access_token: string; token_type: string };
    expect(body.token_type).toBe('DPoP');
    const url = `${app.url}/documents`;
    const ok = await send(url, {
      headers: await client.headers(body.access_token, {
        htm: 'GET',
        htu: url,
      }),
    });
    expect(ok.status).toBe(200);
    const asBearer = await send(url, { headers: bearer(body.access_token) });
    expect(asBearer.status).toBe(401);
  });

  it('refuses a "dpop_jkt" that is not a thumbprint: 400', async () => {
    const res = await devToken({ dpop_jkt: 'not a thumbprint' });
    expect(res.status).toBe(400);
    expect(res.text).toContain('dpop_jkt');
  });

  it('checks the proof of a WebSocket upgrade (htu is the upgrade URL)', async () => {
    const res = await devToken({
      scope: 'documents.read',
      dpop_jkt: client.jkt,
    });
    const jwt = (json(res) as { access_token: string }).access_token;
    const wsUrl = `ws://127.0.0.1:${app.port}/ws`;
    const refusal = await refused(wsUrl, { authorization: `DPoP ${jwt}` });
    expect(refusal.status).toBe(401);
    expect(refusal.headers['www-authenticate']).toContain(PROOF_ERROR);
    const socket = await open(
      wsUrl,
      await client.headers(jwt, {
        htm: 'GET',
        htu: `http://127.0.0.1:${app.port}/ws`,
      }),
    );
    await socket.close();
  });

  it('checks the proof of a GraphQL request', async () => {
    const res = await devToken({ dpop_jkt: client.jkt });
    const jwt = (json(res) as { access_token: string }).access_token;
    const url = `${app.url}/graphql`;
    const body = JSON.stringify({ query: '{ me { sub } }' });
    const ok = await send(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(await client.headers(jwt, { htm: 'POST', htu: url })),
      },
      body,
    });
    expect(ok.status).toBe(200);
    expect(ok.text).toContain('"sub":"dev-user"');
    const replay = await send(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `DPoP ${jwt}`,
        dpop: 'x.y.z',
      },
      body,
    });
    expect(replay.status).toBe(401);
    expect(replay.headers['www-authenticate']).toContain(PROOF_ERROR);
  });
});
