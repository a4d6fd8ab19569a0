/**
 * A hybrid app (HTTP + a real MQTT 5 microservice) with the default global guard, driven by
 * a real MQTT client through an in-process broker on 127.0.0.1: the token travels in the
 * message's `authorization` user property, and refusals come back as the error body.
 */
import type { INestApplication } from '@nestjs/common';
import type { ClientProxy } from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import { AuthModule } from '../lib/index.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import {
  connectMqttClient,
  handlerCalls,
  resetHandlerCalls,
  startHybridApp,
  withAuthorization,
} from './support/rpc-apps.js';
import { MqttTestBroker } from './support/rpc-mqtt-broker.js';
import { mintToken, tamper } from './support/tokens.js';

const AUDIENCE = 'api://documents';

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

function token(
  claims: Record<string, unknown>,
  expiresIn?: number,
): Promise<string> {
  return mintToken(
    key,
    { iss: jwks.issuer, aud: AUDIENCE, sub: 'alice', ...claims },
    { expiresIn },
  );
}

describe.each([
  ['connectMicroservice() without inheritAppConfig', false],
  ['connectMicroservice(options, { inheritAppConfig: true })', true],
])('MQTT 5 hybrid app, %s', (_name, inheritAppConfig) => {
  let broker: MqttTestBroker;
  let app: INestApplication;
  let client: ClientProxy;

  /** What a refused message replies with: the module's error body. */
  async function refusalOf(
    pattern: string,
    data: unknown,
  ): Promise<Record<string, unknown>> {
    try {
      await firstValueFrom(client.send(pattern, data));
    } catch (error) {
      return error as Record<string, unknown>;
    }
    throw new Error(`"${pattern}" was answered`);
  }

  beforeAll(async () => {
    broker = await MqttTestBroker.start();
    ({ app } = await startHybridApp(
      AuthModule.forRoot({
        issuer: jwks.issuer,
        audience: AUDIENCE,
        clockTolerance: 0,
      }),
      { transport: 'mqtt', inheritAppConfig, brokerUrl: broker.url },
    ));
    client = await connectMqttClient(broker.url);
  });

  afterAll(async () => {
    await client?.close();
    await app?.close();
    await broker?.close();
  });

  it('refuses a message without user properties: the 401 body, the handler never runs', async () => {
    await expect(refusalOf('documents.list', {})).resolves.toEqual({
      statusCode: 401,
      error: null,
      error_description: null,
      message: 'Authentication is required.',
    });
    await expect(refusalOf('me', {})).resolves.toMatchObject({
      statusCode: 401,
    });
    expect(handlerCalls).toEqual({ list: 0, me: 0, health: 0 });
  });

  it('answers a @Public() handler without credentials', async () => {
    await expect(firstValueFrom(client.send('health', {}))).resolves.toEqual({
      status: 'ok',
    });
    expect(handlerCalls.health).toBe(1);
  });

  it('runs the handler for a valid token with the scope, and @Principal() is the caller', async () => {
    const jwt = await token({ scp: 'documents.read' });
    await expect(
      firstValueFrom(
        client.send(
          'documents.list',
          withAuthorization({ title: 'Plan' }, `Bearer ${jwt}`),
        ),
      ),
    ).resolves.toEqual([{ id: 1, title: 'Plan', owner: 'alice' }]);
    await expect(
      firstValueFrom(client.send('me', withAuthorization({}, `Bearer ${jwt}`))),
    ).resolves.toEqual({ sub: 'alice', scopes: ['documents.read'] });
    expect(handlerCalls).toEqual({ list: 1, me: 1, health: 0 });
  });

  it('refuses a token without the scope: 403 insufficient_scope', async () => {
    const jwt = await token({ scp: 'documents.write' });
    await expect(
      refusalOf('documents.list', withAuthorization({}, `Bearer ${jwt}`)),
    ).resolves.toMatchObject({
      statusCode: 403,
      error: 'insufficient_scope',
      scope: 'documents.read',
    });
    expect(handlerCalls.list).toBe(0);
  });

  it('refuses a token whose signature does not verify: 401 invalid_token', async () => {
    const jwt = tamper(await token({ scp: 'documents.read' }));
    await expect(
      refusalOf('me', withAuthorization({}, `Bearer ${jwt}`)),
    ).resolves.toMatchObject({ statusCode: 401, error: 'invalid_token' });
    expect(handlerCalls.me).toBe(0);
  });

  it('refuses an expired token: 401 invalid_token, "expired"', async () => {
    const jwt = await token({ scp: 'documents.read' }, -60);
    await expect(
      refusalOf('documents.list', withAuthorization({}, `Bearer ${jwt}`)),
    ).resolves.toMatchObject({
      statusCode: 401,
      error: 'invalid_token',
      error_description: 'The access token is expired.',
    });
    expect(handlerCalls.list).toBe(0);
  });

  it('refuses two authorization user properties: 400 invalid_request', async () => {
    const jwt = await token({ scp: 'documents.read' });
    await expect(
      refusalOf('me', withAuthorization({}, `Bearer ${jwt}`, `Bearer ${jwt}`)),
    ).resolves.toMatchObject({ statusCode: 400, error: 'invalid_request' });
    expect(handlerCalls.me).toBe(0);
    // Both values really travelled: the broker saw them as one repeated property.
    const sent = broker.published.filter(({ topic }) => topic === 'me');
    expect(sent.at(-1)?.userProperties).toEqual({
      authorization: [`Bearer ${jwt}`, `Bearer ${jwt}`],
    });
  });
});
