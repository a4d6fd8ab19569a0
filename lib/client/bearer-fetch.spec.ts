import fc from 'fast-check';
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createHash } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import {
  calculateJwkThumbprint,
  EmbeddedJWK,
  jwtVerify,
  type JWTPayload,
} from 'jose';
import { formatChallenge, type ChallengeParams } from '../www-authenticate.js';
import {
  createBearerFetch,
  UntrustedChallengeError,
  type BearerFetchOptions,
  type GetTokenRequest,
  type RetryEvent,
} from './bearer-fetch.js';
import { computeJwkThumbprint, generateDpopKeyPair } from './dpop-signer.js';

const TENANT = '7fe81447-da57-4385-becb-6de57f21477e';
const AUTHORIZE = `https://login.microsoftonline.com/${TENANT}/oauth2/v2.0/authorize`;

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  headers: IncomingMessage['headers'];
  body: string;
}

interface Reply {
  status: number;
  /** The WWW-Authenticate value; several values are sent as several fields. */
  challenge?: ChallengeParams | string | string[];
  /** More response headers. */
  headers?: Record<string, string>;
  body?: string;
}

/** A loopback API that answers like the module: a Bearer challenge per error. */
class ApiServer {
  readonly seen: Seen[] = [];
  handler: (req: Seen, index: number) => Reply = () => ({ status: 200 });

  private constructor(
    private readonly server: Server,
    readonly base: string,
  ) {}

  static async start(): Promise<ApiServer> {
    const server = createServer();
    await new Promise<void>((resolve) =>
      server.listen(0, '127.0.0.1', resolve),
    );
    const { port } = server.address() as AddressInfo;
    const api = new ApiServer(server, `http://127.0.0.1:${port}`);
    server.on('request', (req, res) => api.handle(req, res));
    return api;
  }

  /** The module's challenge parameters for this API. */
  challenge(params: ChallengeParams): ChallengeParams {
    return {
      realm: 'api',
      authorization_uri: AUTHORIZE,
      resource_id: `${this.base}/`,
      ...params,
    };
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const seen: Seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        authorization: req.headers.authorization,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      this.seen.push(seen);
      const reply = this.handler(seen, this.seen.length - 1);
      if (reply.challenge !== undefined) {
        res.setHeader(
          'WWW-Authenticate',
          typeof reply.challenge === 'string' || Array.isArray(reply.challenge)
            ? reply.challenge
            : formatChallenge(reply.challenge),
        );
      }
      for (const [name, value] of Object.entries(reply.headers ?? {})) {
        res.setHeader(name, value);
      }
      res.statusCode = reply.status;
      res.setHeader('content-type', 'application/json');
      res.end(reply.body ?? JSON.stringify({ statusCode: reply.status }));
    });
  }
}

/** A token provider that records its requests and answers from a function. */
function tokenProvider(answer: (req: GetTokenRequest) => string = () => 't1') {
  const calls: GetTokenRequest[] = [];
  const getToken = (req: GetTokenRequest): Promise<string> => {
    calls.push(req);
    return Promise.resolve(answer(req));
  };
  return { calls, getToken };
}

function recordingSleep() {
  const delays: number[] = [];
  const sleep = (ms: number): Promise<void> => {
    delays.push(ms);
    return Promise.resolve();
  };
  return { delays, sleep };
}

let api: ApiServer;

beforeEach(async () => {
  api = await ApiServer.start();
});

afterEach(() => api.close());

function bearerFetch(
  getToken: BearerFetchOptions['getToken'],
  extra: Partial<BearerFetchOptions> = {},
) {
  const { delays, sleep } = recordingSleep();
  const events: RetryEvent[] = [];
  const fetch = createBearerFetch({
    getToken,
    verify: { expectedTenant: TENANT },
    sleep,
    random: () => 0.5,
    onRetry: (event) => events.push(event),
    ...extra,
  });
  return { fetch, delays, events };
}

describe('createBearerFetch against a local API', () => {
  it('sends the token and returns a success as it is', async () => {
    const tokens = tokenProvider();
    const { fetch } = bearerFetch(tokens.getToken);
    const res = await fetch(`${api.base}/orders?x=1`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ statusCode: 200 });
    expect(api.seen).toMatchObject([
      { method: 'GET', url: '/orders?x=1', authorization: 'Bearer t1' },
    ]);
    expect(tokens.calls).toEqual([{ forceRefresh: false }]);
  });

  it('invalid_token: gets a new token once, then succeeds', async () => {
    api.handler = (req) =>
      req.authorization === 'Bearer fresh'
        ? { status: 200 }
        : {
            status: 401,
            challenge: api.challenge({
              error: 'invalid_token',
              error_description: 'The access token is expired.',
            }),
          };
    const tokens = tokenProvider((req) =>
      req.forceRefresh ? 'fresh' : 'stale',
    );
    const { fetch, delays, events } = bearerFetch(tokens.getToken);

    const res = await fetch(`${api.base}/orders`);

    expect(res.status).toBe(200);
    expect(api.seen.map((s) => s.authorization)).toEqual([
      'Bearer stale',
      'Bearer fresh',
    ]);
    expect(tokens.calls).toEqual([
      { forceRefresh: false },
      {
        forceRefresh: true,
        challenge: expect.objectContaining({
          error: 'invalid_token',
          authorizationUri: AUTHORIZE,
          resourceId: `${api.base}/`,
        }),
      },
    ]);
    expect(delays).toEqual([]);
    expect(events).toMatchObject([
      { attempt: 1, status: 401, delayMs: 0, decision: { report: false } },
    ]);
  });

  it('invalid_token again after a new token: reports, retries after jittered delays, then gives up', async () => {
    api.handler = () => ({
      status: 401,
      challenge: api.challenge({ error: 'invalid_token' }),
    });
    const tokens = tokenProvider();
    const { fetch, delays, events } = bearerFetch(tokens.getToken, {
      maxRetries: 3,
      baseDelayMs: 100,
    });

    const res = await fetch(`${api.base}/orders`);

    expect(res.status).toBe(401);
    expect(api.seen).toHaveLength(4);
    expect(tokens.calls.map((c) => c.forceRefresh)).toEqual([
      false,
      true,
      false,
      false,
    ]);
    // Equal jitter with random() = 0.5: three quarters of 100, then of 200.
    expect(delays).toEqual([75, 150]);
    expect(events.map((e) => [e.delayMs, e.decision.report])).toEqual([
      [0, false],
      [75, true],
      [150, true],
    ]);
  });

  it('insufficient_scope: asks getToken for the scopes of the challenge', async () => {
    const scope = `${api.base}/Orders.Read ${api.base}/Orders.Write`;
    api.handler = (req) =>
      req.authorization === 'Bearer scoped'
        ? { status: 200 }
        : {
            status: 403,
            challenge: api.challenge({ error: 'insufficient_scope', scope }),
          };
    const tokens = tokenProvider((req) =>
      req.scopes === undefined ? 't1' : 'scoped',
    );
    const { fetch } = bearerFetch(tokens.getToken);

    const res = await fetch(`${api.base}/orders`);

    expect(res.status).toBe(200);
    expect(tokens.calls).toHaveLength(2);
    expect(tokens.calls[1]).toMatchObject({
      scopes: scope.split(' '),
      forceRefresh: true,
    });
  });

  it('insufficient_scope twice: one re-authorization, then the 403 is returned', async () => {
    api.handler = () => ({
      status: 403,
      challenge: api.challenge({ error: 'insufficient_scope', scope: 'read' }),
    });
    const tokens = tokenProvider();
    const { fetch } = bearerFetch(tokens.getToken, {
      verify: { expectedTenant: TENANT, resource: 'api://orders' },
    });
    const res = await fetch(`${api.base}/orders`);
    expect(res.status).toBe(403);
    expect(api.seen).toHaveLength(2);
    expect(tokens.calls.map((c) => c.scopes)).toEqual([
      undefined,
      ['api://orders/read'],
    ]);
  });

  it.each<[string, ChallengeParams | string, string]>([
    [
      'a look-alike authorization_uri host',
      {
        error: 'invalid_token',
        authorization_uri: `https://login.microsoftonline.com.evil.example/${TENANT}/oauth2/authorize`,
      },
      'authorization_uri_untrusted_host',
    ],
    [
      'a multi-tenant authorization_uri',
      {
        error: 'invalid_token',
        authorization_uri:
          'https://login.microsoftonline.com/common/oauth2/authorize',
      },
      'authorization_uri_not_tenant_specific',
    ],
    [
      "another API's resource_id",
      { error: 'invalid_token', resource_id: 'https://graph.microsoft.com/' },
      'resource_id_mismatch',
    ],
    [
      "another API's scope",
      {
        error: 'insufficient_scope',
        scope: 'https://graph.microsoft.com/Mail.Read',
      },
      'scope_untrusted_resource',
    ],
    [
      'Microsoft Graph named by its application id',
      {
        error: 'insufficient_scope',
        scope: '00000003-0000-0000-c000-000000000000/.default',
      },
      'scope_untrusted_resource',
    ],
    [
      'a bare scope, with no resource to qualify it',
      { error: 'insufficient_scope', scope: 'Mail.Read' },
      'scope_resource_unknown',
    ],
  ])(
    'refuses %s: UntrustedChallengeError, no token asked for it',
    async (_, params, reason) => {
      api.handler = () => ({
        status: typeof params !== 'string' && params.scope ? 403 : 401,
        challenge: api.challenge(params as ChallengeParams),
      });
      const tokens = tokenProvider();
      const { fetch } = bearerFetch(tokens.getToken);

      const error = await fetch(`${api.base}/orders`).catch((e: unknown) => e);

      expect(error).toBeInstanceOf(UntrustedChallengeError);
      expect(error).toMatchObject({
        name: 'UntrustedChallengeError',
        reason,
        url: `${api.base}/orders`,
      });
      expect(tokens.calls).toEqual([{ forceRefresh: false }]);
      expect(api.seen).toHaveLength(1);
    },
  );

  it("refuses the seed's missing-token challenge (login.window.net)", async () => {
    api.handler = () => ({
      status: 401,
      challenge:
        'Bearer authorization_uri="https://login.window.net/contoso.com/oauth2/authorize",  error="invalid_token",  error_description="The access token is missing.",',
    });
    const tokens = tokenProvider();
    const { fetch } = bearerFetch(tokens.getToken, { verify: {} });
    await expect(fetch(`${api.base}/resource`)).rejects.toMatchObject({
      reason: 'authorization_uri_untrusted_host',
      status: 401,
    });
    expect(tokens.calls).toHaveLength(1);
  });

  it('500: retries later, bounded, with jittered and bounded delays', async () => {
    api.handler = () => ({ status: 500 });
    const tokens = tokenProvider();
    const randoms = [0, 0.5, 0.99];
    const { fetch, delays } = bearerFetch(tokens.getToken, {
      maxRetries: 3,
      baseDelayMs: 100,
      maxDelayMs: 300,
      random: () => randoms.shift() ?? 0,
    });

    const res = await fetch(`${api.base}/orders`);

    expect(res.status).toBe(500);
    expect(api.seen).toHaveLength(4);
    // Caps 100, 200, then 300 (not 400): each wait is in [cap / 2, cap).
    expect(delays).toEqual([50, 150, 298]);
    expect(tokens.calls.every((c) => !c.forceRefresh)).toBe(true);
  });

  it('500 then success: returns the success', async () => {
    api.handler = (_, i) => ({ status: i === 0 ? 500 : 200 });
    const tokens = tokenProvider();
    const { fetch, delays } = bearerFetch(tokens.getToken);
    expect((await fetch(`${api.base}/orders`)).status).toBe(200);
    expect(delays).toEqual([375]);
  });

  it('keeps every back-off within [cap / 2, cap) whatever random() returns', async () => {
    api.handler = () => ({ status: 500 });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.double({ min: -1, max: 2, noNaN: true }), {
          minLength: 4,
          maxLength: 4,
        }),
        fc.integer({ min: 1, max: 1000 }),
        async (draws, base) => {
          const queue = [...draws];
          const { fetch, delays } = bearerFetch(tokenProvider().getToken, {
            maxRetries: 4,
            baseDelayMs: base,
            maxDelayMs: base * 4,
            random: () => queue.shift() ?? 0,
          });
          const res = await fetch(`${api.base}/orders`);
          await res.body?.cancel();
          expect(delays).toHaveLength(4);
          delays.forEach((ms, n) => {
            const cap = Math.min(base * 4, base * 2 ** n);
            expect(ms).toBeGreaterThanOrEqual(Math.floor(cap / 2));
            expect(ms).toBeLessThan(cap);
          });
        },
      ),
      { numRuns: 15 },
    );
  });

  it('403 insufficient_access and 400: returned at once', async () => {
    const tokens = tokenProvider();
    const { fetch } = bearerFetch(tokens.getToken);
    api.handler = () => ({
      status: 403,
      challenge: api.challenge({ error: 'insufficient_access' }),
    });
    expect((await fetch(`${api.base}/a`)).status).toBe(403);
    api.handler = () => ({
      status: 400,
      challenge: api.challenge({ error: 'invalid_request' }),
    });
    expect((await fetch(`${api.base}/b`)).status).toBe(400);
    expect(api.seen).toHaveLength(2);
  });

  it('401 without an error code, or without a Bearer challenge: one retry with a fresh token', async () => {
    const tokens = tokenProvider();
    const { fetch } = bearerFetch(tokens.getToken);
    api.handler = () => ({ status: 401, challenge: api.challenge({}) });
    expect((await fetch(`${api.base}/a`)).status).toBe(401);
    api.handler = () => ({ status: 401, challenge: 'Basic realm="x"' });
    expect((await fetch(`${api.base}/b`)).status).toBe(401);
    expect(api.seen).toHaveLength(4);
    expect(tokens.calls.map((c) => c.forceRefresh)).toEqual([
      false,
      true,
      false,
      true,
    ]);
  });

  it('replays a string body, and sends a stream body only once', async () => {
    api.handler = (_, i) =>
      i === 0
        ? {
            status: 401,
            challenge: api.challenge({ error: 'invalid_token' }),
          }
        : { status: 200 };
    const { fetch } = bearerFetch(tokenProvider().getToken);
    const res = await fetch(`${api.base}/orders`, {
      method: 'POST',
      body: '{"id":1}',
      headers: { 'content-type': 'application/json' },
    });
    expect(res.status).toBe(200);
    expect(api.seen.map((s) => [s.method, s.body])).toEqual([
      ['POST', '{"id":1}'],
      ['POST', '{"id":1}'],
    ]);

    api.seen.length = 0;
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('chunk'));
        controller.close();
      },
    });
    const once = await fetch(`${api.base}/orders`, {
      method: 'POST',
      body: stream,
      duplex: 'half',
    });
    expect(once.status).toBe(401);
    expect(api.seen.map((s) => s.body)).toEqual(['chunk']);
  });

  it('replays URLSearchParams and Buffer bodies', async () => {
    api.handler = (_, i) => (i % 2 === 0 ? { status: 500 } : { status: 200 });
    const { fetch } = bearerFetch(tokenProvider().getToken);
    await fetch(`${api.base}/form`, {
      method: 'POST',
      body: new URLSearchParams({ a: '1' }),
    });
    await fetch(`${api.base}/bytes`, {
      method: 'PUT',
      body: Buffer.from('bytes'),
    });
    expect(api.seen.map((s) => s.body)).toEqual([
      'a=1',
      'a=1',
      'bytes',
      'bytes',
    ]);
  });

  it('replaces Authorization and keeps the other headers of a Request', async () => {
    const { fetch } = bearerFetch(tokenProvider().getToken);
    const request = new Request(`${api.base}/orders`, {
      headers: { authorization: 'Basic eDp5', 'x-trace': 'abc' },
    });
    expect((await fetch(request)).status).toBe(200);
    expect(api.seen[0].authorization).toBe('Bearer t1');
    expect(api.seen[0].headers['x-trace']).toBe('abc');
  });

  it('refuses a token that is not a b64token, before sending anything', async () => {
    const { fetch } = bearerFetch(tokenProvider(() => 'a\r\nx: y').getToken);
    await expect(fetch(`${api.base}/orders`)).rejects.toThrow(
      'getToken did not return an RFC 6750 b64token.',
    );
    expect(api.seen).toHaveLength(0);
  });

  it('maxRetries: 0 never retries; bad options throw at creation', async () => {
    api.handler = () => ({ status: 500 });
    const { fetch } = bearerFetch(tokenProvider().getToken, { maxRetries: 0 });
    expect((await fetch(`${api.base}/orders`)).status).toBe(500);
    expect(api.seen).toHaveLength(1);
    for (const bad of [
      { maxRetries: -1 },
      { maxRetries: 1.5 },
      { baseDelayMs: 0 },
      { baseDelayMs: 100, maxDelayMs: 50 },
      { verify: { resource: 'orders' } },
      { verify: { resource: 'api://orders?x' } },
      { verify: { trustedAuthorityHosts: ['https://login.example.com'] } },
    ]) {
      expect(() =>
        createBearerFetch({
          getToken: tokenProvider().getToken,
          verify: {},
          ...bad,
        }),
      ).toThrow(TypeError);
    }
  });

  it('stops waiting when the request is aborted during a back-off', async () => {
    api.handler = () => ({ status: 500 });
    const controller = new AbortController();
    const fetch = createBearerFetch({
      getToken: tokenProvider().getToken,
      verify: {},
      baseDelayMs: 60_000,
      onRetry: () => controller.abort(),
    });
    await expect(
      fetch(`${api.base}/orders`, { signal: controller.signal }),
    ).rejects.toMatchObject({ name: 'AbortError' });
    expect(api.seen).toHaveLength(1);
  });
});

// --- DPoP (RFC 9449) ---------------------------------------------------------------------

const ALGS = 'ES256 EdDSA PS256 RS256';

/** The module's DPoP challenge: the error first, then algs (RFC 9449 section 7.1). */
function dpopChallenge(error?: string): string {
  return error === undefined
    ? `DPoP algs="${ALGS}"`
    : `DPoP error="${error}", algs="${ALGS}"`;
}

interface CheckedProof {
  payload: JWTPayload;
  jkt: string;
  alg: string;
}

/**
 * Verifies the proof of a request as a resource server would (RFC 9449 section 4.3), with
 * jose: one DPoP header, typ, the signature by the embedded key, htm, htu, ath, iat.
 */
async function checkProof(seen: Seen, base: string): Promise<CheckedProof> {
  const header = seen.headers.dpop;
  expect(typeof header).toBe('string');
  const match = /^DPoP ([A-Za-z0-9\-._~+/]+=*)$/.exec(seen.authorization ?? '');
  expect(match).not.toBeNull();
  const token = match?.[1] ?? '';
  const { payload, protectedHeader } = await jwtVerify(
    header as string,
    EmbeddedJWK,
    { typ: 'dpop+jwt', maxTokenAge: 60 },
  );
  expect(payload.htm).toBe(seen.method);
  expect(payload.htu).toBe(`${base}${seen.url.replace(/[?#].*$/, '')}`);
  expect(payload.ath).toBe(
    createHash('sha256').update(token, 'ascii').digest('base64url'),
  );
  expect(typeof payload.jti).toBe('string');
  const jwk = protectedHeader.jwk ?? {};
  expect(jwk).not.toHaveProperty('d');
  return {
    payload,
    jkt: await calculateJwkThumbprint(jwk),
    alg: protectedHeader.alg,
  };
}

describe('createBearerFetch with dpop', () => {
  function dpopFetch(
    getToken: BearerFetchOptions['getToken'],
    extra: Partial<BearerFetchOptions> = {},
  ) {
    return bearerFetch(getToken, { dpop: true, ...extra });
  }

  it('sends Authorization: DPoP and a proof per request, signed by one key whose jkt getToken gets', async () => {
    const tokens = tokenProvider();
    const { fetch } = dpopFetch(tokens.getToken);
    expect((await fetch(`${api.base}/orders?x=1#f`)).status).toBe(200);
    expect(
      (await fetch(`${api.base}/orders/7`, { method: 'post', body: 'x' }))
        .status,
    ).toBe(200);

    expect(api.seen.map((s) => [s.method, s.url, s.authorization])).toEqual([
      ['GET', '/orders?x=1', 'DPoP t1'],
      ['POST', '/orders/7', 'DPoP t1'],
    ]);
    const proofs = await Promise.all(
      api.seen.map((seen) => checkProof(seen, api.base)),
    );
    expect(proofs.map((p) => p.payload.htu)).toEqual([
      `${api.base}/orders`,
      `${api.base}/orders/7`,
    ]);
    expect(proofs.map((p) => p.alg)).toEqual(['ES256', 'ES256']);
    expect(proofs[0].payload.jti).not.toBe(proofs[1].payload.jti);
    expect(proofs[0].payload.nonce).toBeUndefined();
    expect(proofs[1].jkt).toBe(proofs[0].jkt);
    expect(tokens.calls).toEqual([
      {
        forceRefresh: false,
        dpop: {
          algorithm: 'ES256',
          jkt: proofs[0].jkt,
          createProof: expect.any(Function),
        },
      },
      expect.objectContaining({
        dpop: expect.objectContaining({ jkt: proofs[0].jkt }),
      }),
    ]);
  });

  it('makes its key with WebCrypto, its private key not extractable', async () => {
    const subtle = globalThis.crypto.subtle;
    const original = subtle.generateKey.bind(subtle);
    const made: { extractable: boolean; usages: string[] }[] = [];
    Object.defineProperty(subtle, 'generateKey', {
      configurable: true,
      value: async (...args: Parameters<typeof original>) => {
        const pair = await original(...args);
        if ('privateKey' in pair) {
          made.push({
            extractable: pair.privateKey.extractable,
            usages: [...pair.privateKey.usages],
          });
        }
        return pair;
      },
    });
    try {
      const { fetch } = dpopFetch(tokenProvider().getToken);
      await fetch(`${api.base}/a`);
      await fetch(`${api.base}/b`);
    } finally {
      delete (subtle as unknown as Record<string, unknown>).generateKey;
    }
    expect(made).toEqual([{ extractable: false, usages: ['sign'] }]);
  });

  it('signs with the algorithm or the key pair it is given', async () => {
    const { fetch } = dpopFetch(tokenProvider().getToken, {
      dpop: { algorithm: 'EdDSA' },
    });
    await fetch(`${api.base}/a`);
    const keyPair = await generateDpopKeyPair('PS256');
    const own = dpopFetch(tokenProvider().getToken, { dpop: { keyPair } });
    await own.fetch(`${api.base}/b`);
    const [eddsa, ps256] = await Promise.all(
      api.seen.map((seen) => checkProof(seen, api.base)),
    );
    expect(eddsa.alg).toBe('EdDSA');
    expect(ps256.alg).toBe('PS256');
    expect(ps256.jkt).toBe(await computeJwkThumbprint(keyPair.publicKey));
  });

  it('use_dpop_nonce: retries once at once with the nonce, the same token, no new token asked', async () => {
    api.handler = (req) => {
      const nonce = decodePayload(req.headers.dpop).nonce;
      return nonce === 'n1'
        ? { status: 200 }
        : {
            status: 401,
            challenge: `Bearer realm="api", ${dpopChallenge('use_dpop_nonce')}`,
            headers: { 'DPoP-Nonce': 'n1' },
          };
    };
    const tokens = tokenProvider();
    const { fetch, events, delays } = dpopFetch(tokens.getToken, {
      maxRetries: 0,
    });

    const res = await fetch(`${api.base}/orders`);

    expect(res.status).toBe(200);
    expect(api.seen).toHaveLength(2);
    const [first, second] = await Promise.all(
      api.seen.map((seen) => checkProof(seen, api.base)),
    );
    expect(first.payload.nonce).toBeUndefined();
    expect(second.payload.nonce).toBe('n1');
    expect(second.payload.jti).not.toBe(first.payload.jti);
    expect(api.seen.map((s) => s.authorization)).toEqual([
      'DPoP t1',
      'DPoP t1',
    ]);
    expect(tokens.calls).toHaveLength(1);
    expect(delays).toEqual([]);
    expect(events).toMatchObject([
      {
        attempt: 1,
        status: 401,
        delayMs: 0,
        challenge: { scheme: 'DPoP', error: 'use_dpop_nonce' },
        decision: { key: 'use_dpop_nonce', action: 'retry_with_dpop_nonce' },
      },
    ]);
  });

  it('use_dpop_nonce again after the nonce retry: the 401 is returned, exactly one nonce retry', async () => {
    api.handler = (_req, i) => ({
      status: 401,
      challenge: dpopChallenge('use_dpop_nonce'),
      headers: { 'DPoP-Nonce': `n${i}` },
    });
    const tokens = tokenProvider();
    const { fetch, events } = dpopFetch(tokens.getToken, { maxRetries: 5 });

    const res = await fetch(`${api.base}/orders`);

    expect(res.status).toBe(401);
    expect(api.seen).toHaveLength(2);
    expect(api.seen.map((s) => decodePayload(s.headers.dpop).nonce)).toEqual([
      undefined,
      'n0',
    ]);
    expect(tokens.calls).toHaveLength(1);
    expect(events).toHaveLength(1);
    // The nonce of the last response is kept for the next call.
    await fetch(`${api.base}/orders`);
    expect(decodePayload(api.seen[2].headers.dpop).nonce).toBe('n1');
  });

  it('a nonce retry, then invalid_token: one new token as usual', async () => {
    api.handler = (req, i) => {
      if (i === 0) {
        return {
          status: 401,
          challenge: dpopChallenge('use_dpop_nonce'),
          headers: { 'DPoP-Nonce': 'n1' },
        };
      }
      return req.authorization === 'DPoP fresh'
        ? { status: 200 }
        : { status: 401, challenge: dpopChallenge('invalid_token') };
    };
    const tokens = tokenProvider((req) =>
      req.forceRefresh ? 'fresh' : 'stale',
    );
    const { fetch, events } = dpopFetch(tokens.getToken);
    expect((await fetch(`${api.base}/orders`)).status).toBe(200);
    expect(api.seen.map((s) => s.authorization)).toEqual([
      'DPoP stale',
      'DPoP stale',
      'DPoP fresh',
    ]);
    expect(api.seen.map((s) => decodePayload(s.headers.dpop).nonce)).toEqual([
      undefined,
      'n1',
      'n1',
    ]);
    expect(events.map((e) => [e.attempt, e.decision.key])).toEqual([
      [1, 'use_dpop_nonce'],
      [2, 'invalid_token'],
    ]);
  });

  it.each<[string, Reply]>([
    [
      'without a DPoP-Nonce header',
      { status: 401, challenge: dpopChallenge('use_dpop_nonce') },
    ],
    [
      'with a DPoP-Nonce that is not 1*NQCHAR',
      {
        status: 401,
        challenge: dpopChallenge('use_dpop_nonce'),
        headers: { 'DPoP-Nonce': 'a "b"' },
      },
    ],
    [
      'on the Bearer challenge',
      {
        status: 401,
        challenge: `Bearer error="use_dpop_nonce", ${dpopChallenge()}`,
        headers: { 'DPoP-Nonce': 'n1' },
      },
    ],
    [
      'on a 400',
      {
        status: 400,
        challenge: dpopChallenge('use_dpop_nonce'),
        headers: { 'DPoP-Nonce': 'n1' },
      },
    ],
  ])('use_dpop_nonce %s: returned, no retry', async (_what, reply) => {
    api.handler = () => reply;
    const tokens = tokenProvider();
    const { fetch } = dpopFetch(tokens.getToken);
    expect((await fetch(`${api.base}/orders`)).status).toBe(reply.status);
    expect(api.seen).toHaveLength(1);
    expect(tokens.calls).toHaveLength(1);
  });

  it('a body that cannot be sent again: no nonce retry, but the next call carries the nonce', async () => {
    api.handler = (req) =>
      decodePayload(req.headers.dpop).nonce === 'n1'
        ? { status: 200 }
        : {
            status: 401,
            challenge: dpopChallenge('use_dpop_nonce'),
            headers: { 'DPoP-Nonce': 'n1' },
          };
    const { fetch } = dpopFetch(tokenProvider().getToken);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('chunk'));
        controller.close();
      },
    });
    const once = await fetch(`${api.base}/orders`, {
      method: 'POST',
      body: stream,
      duplex: 'half',
    });
    expect(once.status).toBe(401);
    expect(api.seen).toHaveLength(1);
    expect((await fetch(`${api.base}/orders`)).status).toBe(200);
    expect(api.seen).toHaveLength(2);
  });

  it('remembers the DPoP-Nonce of any response, per origin', async () => {
    api.handler = (_req, i) => ({
      status: 200,
      headers: { 'DPoP-Nonce': `rotated-${i}` },
    });
    const other = await ApiServer.start();
    try {
      const { fetch } = dpopFetch(tokenProvider().getToken);
      await fetch(`${api.base}/a`);
      await fetch(`${api.base}/b`);
      await fetch(`${other.base}/c`);
      await fetch(`${api.base}/d`);
      expect(api.seen.map((s) => decodePayload(s.headers.dpop).nonce)).toEqual([
        undefined,
        'rotated-0',
        'rotated-1',
      ]);
      // Another origin never gets this one's nonce.
      expect(decodePayload(other.seen[0].headers.dpop).nonce).toBeUndefined();
      await checkProof(other.seen[0], other.base);
    } finally {
      await other.close();
    }
  });

  it('reads the error from the DPoP challenge, also in its own WWW-Authenticate field', async () => {
    api.handler = (req) =>
      req.authorization === 'DPoP fresh'
        ? { status: 200 }
        : {
            status: 401,
            challenge: [
              formatChallenge(api.challenge({})),
              dpopChallenge('invalid_token'),
            ],
          };
    const tokens = tokenProvider((req) =>
      req.forceRefresh ? 'fresh' : 'stale',
    );
    const { fetch } = dpopFetch(tokens.getToken);
    expect((await fetch(`${api.base}/orders`)).status).toBe(200);
    expect(tokens.calls[1]).toMatchObject({
      forceRefresh: true,
      challenge: { scheme: 'DPoP', error: 'invalid_token' },
    });
  });

  it('insufficient_scope on either challenge: scopes qualified with the resource', async () => {
    api.handler = (req) =>
      req.authorization === 'DPoP scoped'
        ? { status: 200 }
        : {
            status: 403,
            challenge: `${formatChallenge(api.challenge({}))}, DPoP error="insufficient_scope", scope="Orders.Write", algs="${ALGS}"`,
          };
    const tokens = tokenProvider((req) => (req.scopes ? 'scoped' : 't1'));
    const { fetch } = dpopFetch(tokens.getToken, {
      verify: { expectedTenant: TENANT, resource: 'api://orders' },
    });
    expect((await fetch(`${api.base}/orders`)).status).toBe(200);
    expect(tokens.calls[1]).toMatchObject({
      scopes: ['api://orders/Orders.Write'],
      dpop: { algorithm: 'ES256' },
    });
  });

  it('refuses a response whose Bearer challenge is untrusted, whatever its DPoP challenge says', async () => {
    api.handler = () => ({
      status: 401,
      challenge: `Bearer authorization_uri="https://login.evil.example/${TENANT}/oauth2/authorize", ${dpopChallenge('use_dpop_nonce')}`,
      headers: { 'DPoP-Nonce': 'n1' },
    });
    const tokens = tokenProvider();
    const { fetch } = dpopFetch(tokens.getToken);
    await expect(fetch(`${api.base}/orders`)).rejects.toMatchObject({
      name: 'UntrustedChallengeError',
      reason: 'authorization_uri_untrusted_host',
    });
    expect(api.seen).toHaveLength(1);
  });

  it('does not retry when the DPoP challenge accepts none of its algorithm', async () => {
    api.handler = () => ({
      status: 401,
      challenge: 'DPoP error="invalid_dpop_proof", algs="RS256 PS256"',
    });
    const { fetch } = dpopFetch(tokenProvider().getToken);
    expect((await fetch(`${api.base}/orders`)).status).toBe(401);
    expect(api.seen).toHaveLength(1);
    // With its algorithm listed, a bad proof gets one new token and proof.
    api.handler = () => ({
      status: 401,
      challenge: 'DPoP error="invalid_dpop_proof", algs="RS256 ES256"',
    });
    expect((await fetch(`${api.base}/orders`)).status).toBe(401);
    expect(api.seen).toHaveLength(3);
  });

  it('sends a lower-case method upper-case, as htm says, and replaces a DPoP header of the caller', async () => {
    const { fetch } = dpopFetch(tokenProvider().getToken);
    await fetch(`${api.base}/orders/1`, {
      method: 'patch',
      body: '{}',
      headers: { DPoP: 'stale-proof', authorization: 'Bearer old' },
    });
    await fetch(new Request(`${api.base}/orders/2`, { method: 'delete' }));
    expect(api.seen.map((s) => [s.method, s.authorization])).toEqual([
      ['PATCH', 'DPoP t1'],
      ['DELETE', 'DPoP t1'],
    ]);
    for (const seen of api.seen) await checkProof(seen, api.base);
  });

  it('bad dpop options throw at creation', () => {
    for (const dpop of [
      { algorithm: 'HS256' },
      { curve: 'P-256' },
      'ES256',
      { keyPair: { privateKey: 'x', publicKey: 'y' } },
    ]) {
      expect(() =>
        createBearerFetch({
          getToken: tokenProvider().getToken,
          verify: {},
          dpop: dpop as BearerFetchOptions['dpop'],
        }),
      ).toThrow(/^dpop/);
    }
  });

  it('without dpop, sends Bearer and no proof, and ignores DPoP-Nonce', async () => {
    api.handler = () => ({
      status: 401,
      challenge: dpopChallenge('use_dpop_nonce'),
      headers: { 'DPoP-Nonce': 'n1' },
    });
    const tokens = tokenProvider();
    const { fetch } = bearerFetch(tokens.getToken);
    expect((await fetch(`${api.base}/orders`)).status).toBe(401);
    // No Bearer challenge: "authentication required", one fresh token, never a nonce retry.
    expect(api.seen.map((s) => [s.authorization, s.headers.dpop])).toEqual([
      ['Bearer t1', undefined],
      ['Bearer t1', undefined],
    ]);
    expect(tokens.calls.map((c) => c.dpop)).toEqual([undefined, undefined]);
  });
});

function decodePayload(proof: string | string[] | undefined): JWTPayload {
  expect(typeof proof).toBe('string');
  return JSON.parse(
    Buffer.from(String(proof).split('.')[1], 'base64url').toString('utf8'),
  ) as JWTPayload;
}
