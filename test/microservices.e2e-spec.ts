/**
 * A hybrid app (HTTP + a real TCP microservice on 127.0.0.1) with the default global
 * guard, driven by a real TCP `ClientProxy`. TCP messages carry no headers, so a
 * protected handler is never reachable over TCP: only `@Public()` handlers answer, or
 * every handler when the app lists `rpc` in `acceptContexts`.
 */
import type { INestApplication } from '@nestjs/common';
import type { ClientProxy } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { AuthModule, type AuthModuleOptions } from '../lib/index.js';
import { CapturingLogger } from './support/capturing-logger.js';
import { send } from './support/http.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import {
  connectTcpClient,
  eventCalls,
  handlerCalls,
  resetHandlerCalls,
  startHybridApp,
} from './support/rpc-apps.js';
import { mintToken } from './support/tokens.js';

const AUDIENCE = 'api://documents';

/** What a refused message replies with: the module's error body. */
async function refusalOf(
  client: ClientProxy,
  pattern: string,
  data: unknown = {},
): Promise<Record<string, unknown>> {
  try {
    await firstValueFrom(client.send(pattern, data));
  } catch (error) {
    return error as Record<string, unknown>;
  }
  throw new Error(`"${pattern}" was answered`);
}

const AUTHENTICATION_REQUIRED = {
  statusCode: 401,
  error: null,
  error_description: null,
  message: 'Authentication is required.',
};

let key: TestKey;
let jwks: JwksServer;

beforeAll(async () => {
  key = await createTestKey();
  jwks = await JwksServer.start({ keys: [key] });
});

afterAll(async () => {
  await jwks?.close();
});

beforeEach(() => resetHandlerCalls());

const options = (
  extra: Partial<AuthModuleOptions> = {},
): AuthModuleOptions => ({
  issuer: jwks.issuer,
  audience: AUDIENCE,
  ...extra,
});

describe.each([
  ['connectMicroservice() without inheritAppConfig', false],
  ['connectMicroservice(options, { inheritAppConfig: true })', true],
])('TCP hybrid app, %s', (_name, inheritAppConfig) => {
  let app: INestApplication;
  let url: string;
  let client: ClientProxy;

  beforeAll(async () => {
    const started = await startHybridApp(AuthModule.forRoot(options()), {
      transport: 'tcp',
      inheritAppConfig,
    });
    ({ app, url } = started);
    client = await connectTcpClient(started.rpcPort);
  });

  afterAll(async () => {
    await client?.close();
    await app?.close();
  });

  it('refuses a @Scopes() handler: the reply is the 401 body, the handler never runs', async () => {
    await expect(refusalOf(client, 'documents.list')).resolves.toEqual(
      AUTHENTICATION_REQUIRED,
    );
    expect(handlerCalls.list).toBe(0);
  });

  it('refuses a plain protected handler', async () => {
    await expect(refusalOf(client, 'me')).resolves.toEqual(
      AUTHENTICATION_REQUIRED,
    );
    expect(handlerCalls.me).toBe(0);
  });

  it('takes no token from the payload: data is not a credential location', async () => {
    const jwt = await mintToken(key, {
      iss: jwks.issuer,
      aud: AUDIENCE,
      sub: 'alice',
      scp: 'documents.read',
    });
    const payloads = [
      { authorization: `Bearer ${jwt}` },
      { headers: { authorization: `Bearer ${jwt}` } },
      { access_token: jwt },
    ];
    for (const payload of payloads) {
      await expect(
        refusalOf(client, 'documents.list', payload),
      ).resolves.toMatchObject({ statusCode: 401, error: null });
    }
    expect(handlerCalls.list).toBe(0);
  });

  it('answers a @Public() handler', async () => {
    await expect(firstValueFrom(client.send('health', {}))).resolves.toEqual({
      status: 'ok',
    });
    expect(handlerCalls.health).toBe(1);
  });

  it('never runs an @EventPattern() handler for an event without credentials', async () => {
    await firstValueFrom(client.emit('documents.created', { id: 2 }), {
      defaultValue: undefined,
    });
    // TCP keeps order on one connection: once this reply is in, the event was handled.
    await firstValueFrom(client.send('health', {}));
    expect(eventCalls.created).toBe(0);
  });

  it('still guards the HTTP side of the hybrid app', async () => {
    expect((await send(`${url}/me`)).status).toBe(401);
    expect((await send(`${url}/health`)).status).toBe(200);
  });
});

describe.each([
  ['without inheritAppConfig', false],
  ['with inheritAppConfig', true],
])(
  'TCP hybrid app with acceptContexts: ["rpc"], %s',
  (_name, inheritAppConfig) => {
    let app: INestApplication;
    let url: string;
    let client: ClientProxy;
    const logger = new CapturingLogger();

    beforeAll(async () => {
      const started = await startHybridApp(
        AuthModule.forRoot(options({ acceptContexts: ['rpc'] })),
        { transport: 'tcp', inheritAppConfig, logger },
      );
      ({ app, url } = started);
      client = await connectTcpClient(started.rpcPort);
    });

    afterAll(async () => {
      await client?.close();
      await app?.close();
    });

    it('logs at start that rpc handlers go unauthenticated', () => {
      expect(logger.lines).toContain(
        'warn [nestjs-bearer] acceptContexts: "rpc" handlers are let through without authentication.',
      );
    });

    it('lets every message handler through, with no principal', async () => {
      await expect(
        firstValueFrom(client.send('documents.list', { title: 'Plan' })),
      ).resolves.toEqual([{ id: 1, title: 'Plan', owner: '' }]);
      await expect(firstValueFrom(client.send('me', {}))).resolves.toEqual({
        sub: '',
        scopes: [],
      });
      expect(handlerCalls).toEqual({ list: 1, me: 1, health: 0 });
    });

    it('lets events through too', async () => {
      await firstValueFrom(client.emit('documents.created', { id: 2 }), {
        defaultValue: undefined,
      });
      await firstValueFrom(client.send('health', {}));
      expect(eventCalls.created).toBe(1);
    });

    it('still guards HTTP routes', async () => {
      expect((await send(`${url}/me`)).status).toBe(401);
    });
  },
);
