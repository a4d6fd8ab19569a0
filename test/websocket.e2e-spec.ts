/**
 * WebSocket gateways behind `BearerWsAdapter`, end to end on Express and Fastify: a real
 * loopback JWKS, real tokens, real `ws` clients. The upgrade is refused as a REST route
 * would be, each message is authorized, and the socket closes when its token expires.
 */
import { Controller, Get, UseGuards } from '@nestjs/common';
import {
  SubscribeMessage,
  WebSocketGateway,
  type OnGatewayConnection,
  type WsResponse,
} from '@nestjs/websockets';
import {
  BearerGuard,
  OptionalAuth,
  Principal,
  Public,
  Roles,
  Scopes,
  type AuthModuleOptions,
  type BearerPrincipal,
} from '../lib/index.js';
import { ADAPTERS } from './scenario/scenario-app.js';
import { bearer, outcome, send, type Outcome } from './support/http.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { mintToken } from './support/tokens.js';
import { startWsApp, type WsApp } from './support/ws-app.js';
import {
  connect,
  open,
  refused,
  type OpenSocket,
  type RefusedUpgrade,
} from './support/ws-client.js';

const AUDIENCE = 'api://ws';
const REALM = 'ws';
const AUTHORIZATION_URI = 'https://login.example.com/authorize';
const PREFIX = `Bearer realm="${REALM}", authorization_uri="${AUTHORIZATION_URI}", resource_id="${AUDIENCE}"`;

/** How often each handler ran, across every app of this file. */
const calls = { connection: 0, documents: 0, admin: 0, whoami: 0 };

function resetCalls(): void {
  calls.connection = 0;
  calls.documents = 0;
  calls.admin = 0;
  calls.whoami = 0;
}

@WebSocketGateway({ path: '/ws' })
class DocumentsGateway implements OnGatewayConnection {
  handleConnection(): void {
    calls.connection++;
  }

  @Scopes('documents.read')
  @SubscribeMessage('documents')
  documents(
    @Principal() caller: BearerPrincipal,
  ): WsResponse<{ owner: string | undefined }[]> {
    calls.documents++;
    return { event: 'documents', data: [{ owner: caller.sub }] };
  }

  @Roles('Admin')
  @SubscribeMessage('admin')
  admin(): WsResponse<{ admin: boolean }> {
    calls.admin++;
    return { event: 'admin', data: { admin: true } };
  }

  @SubscribeMessage('whoami')
  whoami(@Principal() caller: BearerPrincipal): WsResponse<unknown> {
    calls.whoami++;
    return { event: 'whoami', data: { sub: caller.sub } };
  }
}

/** Every handler public: upgrades are not checked. */
@WebSocketGateway({ path: '/open' })
class OpenGateway {
  @Public()
  @SubscribeMessage('ping')
  ping(): WsResponse<string> {
    return { event: 'pong', data: 'ok' };
  }
}

/** An @OptionalAuth() handler: no credentials opens, a bad token is refused. */
@WebSocketGateway({ path: '/optional' })
class OptionalGateway {
  @OptionalAuth()
  @SubscribeMessage('whoami')
  whoami(
    @Principal() caller: BearerPrincipal | undefined,
  ): WsResponse<unknown> {
    return { event: 'whoami', data: { sub: caller?.sub ?? null } };
  }

  @Public()
  @SubscribeMessage('ping')
  ping(): WsResponse<string> {
    return { event: 'pong', data: 'ok' };
  }
}

/** Guarded by its own decorator, for an app with `globalGuard: false`. */
@UseGuards(BearerGuard)
@WebSocketGateway({ path: '/guarded' })
class GuardedGateway {
  @Scopes('documents.read')
  @SubscribeMessage('documents')
  documents(): WsResponse<string[]> {
    calls.documents++;
    return { event: 'documents', data: [] };
  }
}

/** The REST route the upgrade refusals must match. */
@Controller()
class MirrorController {
  @Get('rest')
  rest(): { ok: boolean } {
    return { ok: true };
  }
}

const GATEWAYS = [DocumentsGateway, OpenGateway, OptionalGateway];

function refusal(upgrade: RefusedUpgrade): Outcome {
  return {
    status: upgrade.status,
    challenge: upgrade.headers['www-authenticate'],
    body: upgrade.body,
  };
}

function invalidToken(description: string): Outcome {
  return {
    status: 401,
    challenge: `${PREFIX}, error="invalid_token", error_description="${description}"`,
    body: {
      statusCode: 401,
      error: 'invalid_token',
      error_description: description,
      message: description,
    },
  };
}

const NO_CREDENTIALS: Outcome = {
  status: 401,
  challenge: PREFIX,
  body: {
    statusCode: 401,
    error: null,
    error_description: null,
    message: 'Authentication is required.',
  },
};

let jwks: JwksServer;
let key: TestKey;

beforeAll(async () => {
  key = await createTestKey();
  jwks = await JwksServer.start({ keys: [key] });
});

afterAll(async () => {
  await jwks.close();
});

function authOptions(): AuthModuleOptions {
  return {
    issuer: jwks.issuer,
    audience: AUDIENCE,
    jwksUri: jwks.jwksUri,
    realm: REALM,
    authorizationUri: AUTHORIZATION_URI,
    resourceId: AUDIENCE,
    clockTolerance: 0,
    tokenLocations: ['header', 'query'],
  };
}

function token(
  claims: Record<string, unknown> = {},
  expiresIn = 300,
): Promise<string> {
  return mintToken(
    key,
    { iss: jwks.issuer, aud: AUDIENCE, sub: 'alice', ...claims },
    { expiresIn },
  );
}

describe.each(ADAPTERS)('WebSocket gateways on %s', (adapter) => {
  let app: WsApp;
  const sockets: OpenSocket[] = [];

  beforeAll(async () => {
    app = await startWsApp({
      adapter,
      auth: authOptions(),
      gateways: GATEWAYS,
      controllers: [MirrorController],
    });
  });

  afterEach(async () => {
    await Promise.all(sockets.splice(0).map((socket) => socket.close()));
    resetCalls();
  });

  afterAll(async () => {
    await app.app.close();
  });

  async function openWith(
    headers: Record<string, string>,
    path = '/ws',
  ): Promise<OpenSocket> {
    const socket = await open(`${app.wsUrl}${path}`, headers);
    sockets.push(socket);
    return socket;
  }

  describe('the upgrade is refused as a REST route would be, and no handler runs', () => {
    const cases: Array<
      [string, () => Promise<Record<string, string>>, Outcome]
    > = [
      ['no credentials', () => Promise.resolve({}), NO_CREDENTIALS],
      [
        'a malformed token',
        () => Promise.resolve(bearer('not-a-jwt')),
        invalidToken('The access token is malformed.'),
      ],
      [
        'an empty bearer token',
        () => Promise.resolve({ authorization: 'Bearer ' }),
        invalidToken('The access token is missing.'),
      ],
      [
        'an expired token',
        async () => bearer(await token({}, -60)),
        invalidToken('The access token is expired.'),
      ],
      [
        'a token for another audience',
        async () => bearer(await token({ aud: 'api://other' })),
        invalidToken('The access token is not intended for this resource.'),
      ],
    ];

    it.each(cases)('%s', async (_name, headers, expected) => {
      const sent = await headers();
      const upgrade = await refused(`${app.wsUrl}/ws`, sent);
      const rest = outcome(await send(`${app.url}/rest`, { headers: sent }));
      expect(refusal(upgrade)).toEqual(rest);
      expect(refusal(upgrade).status).toBe(expected.status);
      expect(refusal(upgrade).challenge).toBe(expected.challenge);
      if (expected !== NO_CREDENTIALS) {
        expect(refusal(upgrade).body).toMatchObject({
          error: (expected.body as { error: string }).error,
          error_description: (expected.body as { error_description: string })
            .error_description,
        });
      } else {
        expect(refusal(upgrade)).toEqual(expected);
      }
      expect(upgrade.headers['content-type']).toBe(
        'application/json; charset=utf-8',
      );
      expect(calls).toEqual({
        connection: 0,
        documents: 0,
        admin: 0,
        whoami: 0,
      });
    });
  });

  it('refuses an upgrade with two Authorization headers as a REST route does (400)', async () => {
    const authorization = [
      `Bearer ${await token()}`,
      `Bearer ${await token({ sub: 'mallory' })}`,
    ];
    const upgrade = outcome(
      await send(`${app.wsUrl.replace(/^ws/, 'http')}/ws`, {
        headers: {
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-version': '13',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
          authorization,
        },
      }),
    );
    const rest = outcome(
      await send(`${app.url}/rest`, { headers: { authorization } }),
    );
    expect(upgrade.status).toBe(400);
    expect(upgrade).toEqual(rest);
    expect(calls.connection).toBe(0);
  });

  it('opens with a valid token and answers messages with the principal', async () => {
    const socket = await openWith(
      bearer(await token({ scope: 'documents.read' })),
    );
    expect(calls.connection).toBe(1);
    await expect(socket.request('documents')).resolves.toEqual({
      event: 'documents',
      data: [{ owner: 'alice' }],
    });
    await expect(socket.request('whoami')).resolves.toEqual({
      event: 'whoami',
      data: { sub: 'alice' },
    });
  });

  it('reads a query token where tokenLocations allows it, as HTTP does', async () => {
    const socket = await open(
      `${app.wsUrl}/ws?access_token=${await token({ sub: 'bob' })}`,
    );
    sockets.push(socket);
    await expect(socket.request('whoami')).resolves.toEqual({
      event: 'whoami',
      data: { sub: 'bob' },
    });
  });

  it('refuses a message without the scope with one error message, and stays open', async () => {
    const socket = await openWith(bearer(await token({ scope: 'other' })));
    await expect(socket.request('documents')).resolves.toEqual({
      event: 'error',
      data: {
        statusCode: 403,
        error: 'insufficient_scope',
        error_description:
          'The access token does not grant the scope this resource requires.',
        message:
          'The access token does not grant the scope this resource requires.',
        scope: 'documents.read',
      },
    });
    expect(calls.documents).toBe(0);
    // Nest's own ws exception handler sends nothing more for the same refusal.
    await expect(socket.drain(300)).resolves.toEqual([]);
    expect(socket.isOpen).toBe(true);
    await expect(socket.request('whoami')).resolves.toEqual({
      event: 'whoami',
      data: { sub: 'alice' },
    });
  });

  it('refuses a message without the role with insufficient_access, and stays open', async () => {
    const socket = await openWith(bearer(await token({ roles: ['Reader'] })));
    const reply = await socket.request('admin');
    expect(reply).toMatchObject({
      event: 'error',
      data: { statusCode: 403, error: 'insufficient_access' },
    });
    expect(calls.admin).toBe(0);
    await expect(socket.drain(200)).resolves.toEqual([]);
    expect(socket.isOpen).toBe(true);
  });

  it('answers a message that meets the role', async () => {
    const socket = await openWith(bearer(await token({ roles: ['Admin'] })));
    await expect(socket.request('admin')).resolves.toEqual({
      event: 'admin',
      data: { admin: true },
    });
  });

  it('closes the socket with 1008 when the token expires', async () => {
    const socket = await openWith(bearer(await token({}, 2)));
    const started = Date.now();
    await expect(socket.request('whoami')).resolves.toMatchObject({
      event: 'whoami',
    });
    const closed = await socket.waitForClose(5000);
    expect(closed).toEqual({
      code: 1008,
      reason: 'The access token is expired.',
    });
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('opens a path whose handlers are all @Public() without credentials, and ignores a bad token', async () => {
    const anonymous = await openWith({}, '/open');
    await expect(anonymous.request('ping')).resolves.toEqual({
      event: 'pong',
      data: 'ok',
    });
    const garbage = await openWith(bearer('not-a-jwt'), '/open');
    await expect(garbage.request('ping')).resolves.toEqual({
      event: 'pong',
      data: 'ok',
    });
  });

  it('opens an @OptionalAuth() path without credentials, with a principal when a token is sent', async () => {
    const anonymous = await openWith({}, '/optional');
    await expect(anonymous.request('whoami')).resolves.toEqual({
      event: 'whoami',
      data: { sub: null },
    });
    const alice = await openWith(bearer(await token()), '/optional');
    await expect(alice.request('whoami')).resolves.toEqual({
      event: 'whoami',
      data: { sub: 'alice' },
    });
  });

  it('refuses an invalid token on an @OptionalAuth() path', async () => {
    const upgrade = await refused(`${app.wsUrl}/optional`, bearer('not-a-jwt'));
    expect(refusal(upgrade)).toEqual(
      invalidToken('The access token is malformed.'),
    );
  });

  it('refuses an upgrade at a path no gateway declares', async () => {
    const result = await connect(`${app.wsUrl}/nowhere`).catch(
      (error: Error) => error,
    );
    // Nest's WsAdapter destroys the socket of an unknown path.
    expect(result).toMatchObject({ message: 'socket hang up' });
  });
});

describe.each(ADAPTERS)(
  'gateways served by the plain WsAdapter on %s',
  (adapter) => {
    let app: WsApp;
    const sockets: OpenSocket[] = [];

    beforeAll(async () => {
      app = await startWsApp({
        adapter,
        auth: authOptions(),
        gateways: GATEWAYS,
        ws: 'plain',
      });
    });

    afterEach(async () => {
      await Promise.all(sockets.splice(0).map((socket) => socket.close()));
      resetCalls();
    });

    afterAll(async () => {
      await app.app.close();
    });

    it('refuses every message of a protected handler, even with a valid token at the upgrade', async () => {
      for (const headers of [
        {},
        bearer(await token({ scope: 'documents.read', roles: ['Admin'] })),
      ]) {
        const socket = await open(`${app.wsUrl}/ws`, headers);
        sockets.push(socket);
        for (const event of ['documents', 'admin', 'whoami']) {
          await expect(socket.request(event)).resolves.toEqual({
            event: 'error',
            data: NO_CREDENTIALS.body,
          });
        }
        await expect(socket.drain(200)).resolves.toEqual([]);
      }
      expect(calls).toMatchObject({ documents: 0, admin: 0, whoami: 0 });
    });

    it('still answers a @Public() handler', async () => {
      const socket = await open(`${app.wsUrl}/open`);
      sockets.push(socket);
      await expect(socket.request('ping')).resolves.toEqual({
        event: 'pong',
        data: 'ok',
      });
    });
  },
);

describe.each(ADAPTERS)('BearerWsAdapter options on %s', (adapter) => {
  let app: WsApp | undefined;

  afterEach(async () => {
    await app?.app.close();
    app = undefined;
    resetCalls();
  });

  it('with globalGuard: false, a gateway guarded by @UseGuards(BearerGuard) gets the same single error message', async () => {
    app = await startWsApp({
      adapter,
      auth: { ...authOptions(), globalGuard: false },
      gateways: [GuardedGateway],
    });
    const socket = await open(
      `${app.wsUrl}/guarded`,
      bearer(await token({ scope: 'other' })),
    );
    try {
      await expect(socket.request('documents')).resolves.toMatchObject({
        event: 'error',
        data: { error: 'insufficient_scope', scope: 'documents.read' },
      });
      await expect(socket.drain(200)).resolves.toEqual([]);
      expect(calls.documents).toBe(0);
      expect(refusal(await refused(`${app.wsUrl}/guarded`))).toEqual(
        NO_CREDENTIALS,
      );
    } finally {
      await socket.close();
    }
  });

  it('with acceptContexts: ["ws"], lets upgrades and messages through unauthenticated', async () => {
    app = await startWsApp({
      adapter,
      auth: { ...authOptions(), acceptContexts: ['ws'] },
      gateways: [DocumentsGateway],
    });
    const socket = await open(`${app.wsUrl}/ws`);
    try {
      await expect(socket.request('admin')).resolves.toEqual({
        event: 'admin',
        data: { admin: true },
      });
    } finally {
      await socket.close();
    }
  });
});
