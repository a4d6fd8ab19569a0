import fc from 'fast-check';
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { formatChallenge, type ChallengeParams } from '../www-authenticate.js';
import {
  createBearerFetch,
  UntrustedChallengeError,
  type BearerFetchOptions,
  type GetTokenRequest,
  type RetryEvent,
} from './bearer-fetch.js';

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
  challenge?: ChallengeParams | string;
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
          typeof reply.challenge === 'string'
            ? reply.challenge
            : formatChallenge(reply.challenge),
        );
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
