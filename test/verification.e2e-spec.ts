/**
 * The verification rules of issue 10, end to end on Express and Fastify: the clock
 * tolerance on both sides of its boundary, a cached token that expires, @Roles() and
 * @StepUp() at their edges, a discovery document that names another issuer, a CR/LF in an
 * app's error description, a 401 that never waits long for a hanging discovery, and the
 * problem format. Real apps, a real loopback JWKS, real tokens.
 */
import { Controller, Get } from '@nestjs/common';
import {
  createServer,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  InsufficientAccessError,
  parseChallenges,
  Principal,
  Roles,
  Scopes,
  StepUp,
  type AuthModuleOptions,
  type BearerPrincipal,
} from '../lib/index.js';
import {
  ADAPTERS,
  startScenarioApp,
  type ScenarioAdapter,
  type ScenarioApp,
} from './scenario/scenario-app.js';
import { CapturingLogger } from './support/capturing-logger.js';
import {
  bearer,
  outcome,
  send,
  type HttpResult,
  type Outcome,
} from './support/http.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { mintToken } from './support/tokens.js';

const AUDIENCE = 'api://verification';
const AUTHORIZATION_URI = 'https://login.example.com/authorize';
const PREFIX = `Bearer authorization_uri="${AUTHORIZATION_URI}"`;
const INJECTED = 'Refused.\r\nSet-Cookie: stolen=1\r\n\r\n<b>owned</b>';

const EXPIRED = 'The access token is expired.';
const NOT_YET_VALID = 'The access token is not yet valid.';
const ISSUED_IN_FUTURE = 'The access token was issued in the future.';
const NO_ACCESS =
  'The subject of the access token does not have the permission this resource requires.';
const WEAK_AUTHENTICATION =
  'The authentication event of the access token does not meet the requirements of this resource.';
const NO_SCOPE =
  'The access token does not grant the scope this resource requires.';
const INTERNAL = 'An internal error occurred. The request may be retried.';

/** The routes of this spec: one per rule. */
@Controller('v')
class VerificationController {
  @Get('me')
  me(@Principal() principal: BearerPrincipal): { sub: string | undefined } {
    return { sub: principal.sub };
  }

  @Roles('A', 'B')
  @Get('roles')
  roles(): { roles: boolean } {
    return { roles: true };
  }

  @StepUp({ maxAge: 300 })
  @Get('fresh')
  fresh(): { fresh: boolean } {
    return { fresh: true };
  }

  @Scopes('documents.read')
  @Get('read')
  read(): { read: boolean } {
    return { read: true };
  }

  @Get('injected')
  injected(): never {
    throw new InsufficientAccessError(INJECTED);
  }
}

const refusal = (
  status: number,
  error: string,
  description: string,
  extra = '',
): Outcome => ({
  status,
  challenge: `${PREFIX}, error="${error}", error_description="${description}"${extra}`,
  body: {
    statusCode: status,
    error,
    error_description: description,
    message: description,
    ...(extra.includes('max_age="300"') && { max_age: '300' }),
  },
});
const invalidToken = (description: string) =>
  refusal(401, 'invalid_token', description);
const OK = (sub = 'alice'): Outcome => ({
  status: 200,
  challenge: undefined,
  body: { sub },
});

/** A loopback "issuer" that answers as a test says, and can hang. */
interface StubIssuer {
  url: string;
  /** Requests received, by path. */
  hits: Map<string, number>;
  close(): Promise<void>;
}

async function startStubIssuer(
  answer: (path: string, res: ServerResponse, url: string) => void,
): Promise<StubIssuer> {
  const sockets = new Set<Socket>();
  const hits = new Map<string, number>();
  let url = '';
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    answer(path, res, url);
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

function sendJson(res: ServerResponse, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(200, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

const sleep = (ms: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, ms));
const nowSeconds = () => Math.floor(Date.now() / 1000);

describe.each(ADAPTERS)('verification on %s', (adapter: ScenarioAdapter) => {
  let jwks: JwksServer;
  let key: TestKey;
  const apps: ScenarioApp[] = [];

  const claims = (extra: Record<string, unknown> = {}) => ({
    iss: jwks.issuer,
    aud: AUDIENCE,
    sub: 'alice',
    ...extra,
  });
  const start = async (
    options: Partial<AuthModuleOptions>,
    logger?: CapturingLogger,
  ): Promise<ScenarioApp> => {
    const app = await startScenarioApp(
      {
        issuer: jwks.issuer,
        audience: AUDIENCE,
        jwksUri: jwks.jwksUri,
        authorizationUri: AUTHORIZATION_URI,
        ...options,
      },
      { adapter, controllers: [VerificationController], logger },
    );
    apps.push(app);
    return app;
  };
  const call = async (
    app: ScenarioApp,
    path: string,
    token?: string,
  ): Promise<Outcome> =>
    outcome(
      await send(app.url + path, {
        headers: token === undefined ? {} : bearer(token),
      }),
    );

  beforeAll(async () => {
    key = await createTestKey({ kid: 'key-1' });
    jwks = await JwksServer.start({ keys: [key] });
  });

  afterAll(async () => {
    for (const app of apps) await app.app.close();
    await jwks?.close();
  });

  describe('the clock tolerance, on both sides of its boundary (clockTolerance 30)', () => {
    let app: ScenarioApp;
    beforeAll(async () => {
      app = await start({ clockTolerance: 30 });
    });

    it('accepts a token that expired 25 s ago', async () => {
      const token = await mintToken(key, claims({ exp: nowSeconds() - 25 }));
      expect(await call(app, '/v/me', token)).toEqual(OK());
    });

    it('refuses a token that expired 35 s ago: "The access token is expired."', async () => {
      const token = await mintToken(key, claims({ exp: nowSeconds() - 35 }));
      expect(await call(app, '/v/me', token)).toEqual(invalidToken(EXPIRED));
    });

    it('accepts a token whose nbf is 25 s ahead', async () => {
      const token = await mintToken(key, claims({ nbf: nowSeconds() + 25 }));
      expect(await call(app, '/v/me', token)).toEqual(OK());
    });

    it('refuses a token whose nbf is 35 s ahead: "The access token is not yet valid."', async () => {
      const token = await mintToken(key, claims({ nbf: nowSeconds() + 35 }));
      expect(await call(app, '/v/me', token)).toEqual(
        invalidToken(NOT_YET_VALID),
      );
    });

    it('accepts an iat 25 s ahead and refuses one 35 s ahead', async () => {
      const soon = await mintToken(key, claims(), {
        issuedAt: nowSeconds() + 25,
      });
      expect(await call(app, '/v/me', soon)).toEqual(OK());
      const later = await mintToken(key, claims(), {
        issuedAt: nowSeconds() + 35,
      });
      expect(await call(app, '/v/me', later)).toEqual(
        invalidToken(ISSUED_IN_FUTURE),
      );
    });

    it('refuses, once cached, none of what it accepted fresh, and vice versa', async () => {
      // The same token twice: the cached answer is the fresh one.
      const token = await mintToken(key, claims({ exp: nowSeconds() - 25 }));
      expect(await call(app, '/v/me', token)).toEqual(OK());
      expect(await call(app, '/v/me', token)).toEqual(OK());
      const refused = await mintToken(key, claims({ exp: nowSeconds() - 35 }));
      expect(await call(app, '/v/me', refused)).toEqual(invalidToken(EXPIRED));
      expect(await call(app, '/v/me', refused)).toEqual(invalidToken(EXPIRED));
    });
  });

  describe('clockTolerance 0, tokenCache maxAge 300', () => {
    let app: ScenarioApp;
    beforeAll(async () => {
      app = await start({ clockTolerance: 0, tokenCache: { maxAge: 300 } });
    });

    it('refuses a token that expired 2 s ago (no tolerance)', async () => {
      const token = await mintToken(key, claims({ exp: nowSeconds() - 2 }));
      expect(await call(app, '/v/me', token)).toEqual(invalidToken(EXPIRED));
    });

    it('refuses a cached token once its exp passes, not maxAge later', async () => {
      const exp = nowSeconds() + 2;
      const token = await mintToken(key, claims({ exp }));
      const expMs = exp * 1000;
      // Accepted, and cached: the second answer comes from the cache.
      expect(await call(app, '/v/me', token)).toEqual(OK());
      expect(await call(app, '/v/me', token)).toEqual(OK());
      const accepted: number[] = [];
      let refusedAt: number | undefined;
      let refused: Outcome | undefined;
      const deadline = expMs + 3000;
      while (Date.now() < deadline) {
        const sentAt = Date.now();
        const result = await call(app, '/v/me', token);
        if (result.status === 200) {
          accepted.push(sentAt);
        } else {
          refusedAt = Date.now();
          refused = result;
          break;
        }
        await sleep(50);
      }
      expect(refused).toEqual(invalidToken(EXPIRED));
      // Refused within a short while after exp (polling every 50 ms), never 300 s later.
      expect(refusedAt).toBeDefined();
      expect((refusedAt as number) - expMs).toBeLessThan(1000);
      // And no request sent at or after exp was accepted.
      for (const sentAt of accepted) expect(sentAt).toBeLessThan(expMs);
      expect(await call(app, '/v/me', token)).toEqual(invalidToken(EXPIRED));
    });

    describe("@Roles('A', 'B')", () => {
      it.each<[string, unknown]>([
        ['only A', ['A']],
        ['only B', ['B']],
        ['none', []],
        ['"A B" as one string (one role, not two)', 'A B'],
        ['A and b (roles are case-sensitive)', ['A', 'b']],
      ])(
        'refuses a token with %s: 403 insufficient_access',
        async (_what, roles) => {
          const token = await mintToken(key, claims({ roles }));
          expect(await call(app, '/v/roles', token)).toEqual(
            refusal(403, 'insufficient_access', NO_ACCESS),
          );
        },
      );

      it('accepts a token with both (and more)', async () => {
        const token = await mintToken(key, claims({ roles: ['B', 'C', 'A'] }));
        expect(await call(app, '/v/roles', token)).toEqual({
          status: 200,
          challenge: undefined,
          body: { roles: true },
        });
      });
    });

    describe('@StepUp({ maxAge: 300 })', () => {
      // auth_time is written with its fraction, so the age is 299 s or 301 s plus the
      // time of the round trip, not plus up to a second of rounding.
      const authTimeAgo = (seconds: number) => Date.now() / 1000 - seconds;

      it('refuses an auth_time 301 s old: 401 insufficient_user_authentication with max_age', async () => {
        const token = await mintToken(
          key,
          claims({ auth_time: authTimeAgo(301) }),
        );
        expect(await call(app, '/v/fresh', token)).toEqual(
          refusal(
            401,
            'insufficient_user_authentication',
            WEAK_AUTHENTICATION,
            ', max_age="300"',
          ),
        );
      });

      it('accepts an auth_time 299 s old', async () => {
        const token = await mintToken(
          key,
          claims({ auth_time: authTimeAgo(299) }),
        );
        expect(await call(app, '/v/fresh', token)).toEqual({
          status: 200,
          challenge: undefined,
          body: { fresh: true },
        });
      });

      it('refuses a token without auth_time', async () => {
        const token = await mintToken(key, claims());
        expect((await call(app, '/v/fresh', token)).status).toBe(401);
      });
    });

    it('sends neither the CR/LF nor the text of an app description: header and JSON body clean', async () => {
      const token = await mintToken(key, claims());
      const res: HttpResult = await send(`${app.url}/v/injected`, {
        headers: bearer(token),
      });
      expect(res.status).toBe(403);
      const challenge = res.headers['www-authenticate'];
      expect(challenge).toBe(`${PREFIX}, error="insufficient_access"`);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(res.text).not.toMatch(/[\r\n]/);
      expect(res.text).not.toMatch(/Set-Cookie|stolen|owned|Refused/);
      const body = JSON.parse(res.text) as Record<string, unknown>;
      expect(body).toMatchObject({
        statusCode: 403,
        error: 'insufficient_access',
        error_description: null,
      });
      for (const value of Object.values(body)) {
        expect(String(value)).not.toMatch(/[\r\n]|Set-Cookie|stolen/);
      }
      // The raw header lines: exactly one WWW-Authenticate, no header made of the injection.
      const rawHeaders = await rawHeaderNames(`${app.url}/v/injected`, token);
      expect(
        rawHeaders.filter((name) => name === 'www-authenticate'),
      ).toHaveLength(1);
      expect(rawHeaders).not.toContain('set-cookie');
    });
  });

  describe('a discovery document that names another issuer', () => {
    const IMPOSTOR = 'https://impostor.example.com';
    let stub: StubIssuer;
    let logger: CapturingLogger;
    let app: ScenarioApp;

    beforeAll(async () => {
      stub = await startStubIssuer((path, res, url) => {
        if (path === '/.well-known/openid-configuration') {
          sendJson(res, {
            issuer: IMPOSTOR,
            jwks_uri: `${url}/jwks.json`,
            authorization_endpoint: `${url}/authorize`,
          });
        } else if (path === '/jwks.json') {
          // The right key: were the impostor's document followed, the token would pass.
          sendJson(res, { keys: [key.publicJwk] });
        } else {
          res.writeHead(404).end();
        }
      });
      logger = new CapturingLogger();
      const started = await startScenarioApp(
        { issuer: stub.url, audience: AUDIENCE, jwks: { timeout: 1000 } },
        { adapter, controllers: [VerificationController], logger },
      );
      apps.push(started);
      app = started;
    });

    afterAll(async () => {
      await stub?.close();
    });

    it('answers 500 (a key source fault), never 401, and never uses its jwks_uri', async () => {
      const token = await mintToken(key, {
        iss: stub.url,
        aud: AUDIENCE,
        sub: 'alice',
      });
      for (let i = 0; i < 3; i++) {
        expect(await call(app, '/v/me', token)).toEqual({
          status: 500,
          challenge: undefined,
          body: {
            statusCode: 500,
            error: null,
            error_description: null,
            message: INTERNAL,
          },
        });
      }
      expect(
        stub.hits.get('/.well-known/openid-configuration'),
      ).toBeGreaterThan(0);
      expect(stub.hits.get('/jwks.json')).toBeUndefined();
    });

    it('logs a line that names both issuers', () => {
      const line = logger.lines.find(
        (entry) => entry.includes(IMPOSTOR) && entry.includes(stub.url),
      );
      expect(line).toBeDefined();
      expect(line).toMatch(/^warn \[nestjs-bearer\]/);
    });

    it('answers a request without a token 401, without the impostor authorization_uri', async () => {
      const result = await call(app, '/v/me');
      expect(result.status).toBe(401);
      expect(result.challenge).toBe('Bearer');
    });
  });

  describe('a 401 while discovery hangs (no jwksUri, no authorizationUri)', () => {
    let stub: StubIssuer;
    let app: ScenarioApp;
    // The bound of issue 10 is ~100 ms; the rest is slack for a loaded machine.
    const BOUND_MS = 1000;

    beforeAll(async () => {
      // Never answers: the discovery fetch waits for its 5 s timeout.
      stub = await startStubIssuer(() => undefined);
      app = await start({
        issuer: stub.url,
        jwksUri: undefined,
        authorizationUri: undefined,
        jwks: { timeout: 5000 },
      });
    });

    afterAll(async () => {
      await stub?.close();
    });

    const timed = async (): Promise<{ ms: number; result: Outcome }> => {
      const started = performance.now();
      const result = await call(app, '/v/me');
      return { ms: performance.now() - started, result };
    };

    it('is answered quickly, without authorization_uri', async () => {
      const { ms, result } = await timed();
      expect(result).toEqual({
        status: 401,
        challenge: 'Bearer',
        body: {
          statusCode: 401,
          error: null,
          error_description: null,
          message: 'Authentication is required.',
        },
      });
      expect(ms).toBeLessThan(BOUND_MS);
      // The discovery is really in flight (or the test would prove nothing).
      expect(
        stub.hits.get('/.well-known/openid-configuration'),
      ).toBeGreaterThan(0);
    });

    it('answers 20 concurrent requests quickly, each of them', async () => {
      const started = performance.now();
      const results = await Promise.all(
        Array.from({ length: 20 }, () => timed()),
      );
      for (const { ms, result } of results) {
        expect(result.status).toBe(401);
        expect(result.challenge).toBe('Bearer');
        expect(ms).toBeLessThan(BOUND_MS);
      }
      expect(performance.now() - started).toBeLessThan(BOUND_MS + 500);
    });
  });

  describe("errorFormat: 'problem'", () => {
    let app: ScenarioApp;
    beforeAll(async () => {
      app = await start({ errorFormat: 'problem', realm: 'api' });
    });

    /** The response as a problem document, checked against its own challenge. */
    const expectProblem = async (
      path: string,
      token: string | undefined,
      status: number,
      title: string,
    ) => {
      const res = await send(app.url + path, {
        headers: token === undefined ? {} : bearer(token),
      });
      expect(res.status).toBe(status);
      expect(res.headers['content-type']).toMatch(
        /^application\/problem\+json(;|$)/,
      );
      const challenge = res.headers['www-authenticate'];
      expect(typeof challenge).toBe('string');
      const [parsed] = parseChallenges(challenge as string);
      expect(parsed.scheme).toBe('Bearer');
      expect(parsed.params.realm).toBe('api');
      const body = JSON.parse(res.text) as Record<string, unknown>;
      expect(body).toEqual({
        type: 'about:blank',
        title,
        status,
        detail:
          parsed.params.error_description ?? 'Authentication is required.',
        error: parsed.params.error ?? null,
        error_description: parsed.params.error_description ?? null,
        ...(parsed.params.scope !== undefined && {
          scope: parsed.params.scope,
        }),
      });
      return { body, params: parsed.params };
    };

    it('403 insufficient_scope: type, title, status, detail, error, error_description, scope', async () => {
      const token = await mintToken(key, claims({ scp: 'profile' }));
      const { body } = await expectProblem('/v/read', token, 403, 'Forbidden');
      expect(body).toMatchObject({
        error: 'insufficient_scope',
        error_description: NO_SCOPE,
        detail: NO_SCOPE,
        scope: 'documents.read',
      });
    });

    it('401 invalid_token', async () => {
      const token = await mintToken(key, claims({ exp: nowSeconds() - 3600 }));
      const { body } = await expectProblem('/v/me', token, 401, 'Unauthorized');
      expect(body).toMatchObject({
        error: 'invalid_token',
        error_description: EXPIRED,
      });
    });

    it('401 without credentials: no error code', async () => {
      const { body, params } = await expectProblem(
        '/v/me',
        undefined,
        401,
        'Unauthorized',
      );
      expect(params.error).toBeUndefined();
      expect(body.error).toBeNull();
    });

    it('200 is untouched', async () => {
      const token = await mintToken(key, claims({ scp: 'documents.read' }));
      const res = await send(`${app.url}/v/read`, { headers: bearer(token) });
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
    });
  });
});

/** The header names of a response, lower-cased, one entry per raw header line. */
async function rawHeaderNames(url: string, token: string): Promise<string[]> {
  const { request } = await import('node:http');
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { headers: bearer(token), agent: false },
      (res) => {
        res.resume();
        const names: string[] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          names.push(res.rawHeaders[i].toLowerCase());
        }
        res.on('end', () => resolve(names));
      },
    );
    req.on('error', reject);
    req.end();
  });
}
