/**
 * The README's "Microservices" example, compiled by the typecheck and run here against a
 * loopback issuer and an in-process MQTT 5 broker. The code between the markers is the
 * README's, with the issuer, the broker URL and the ports as parameters.
 */
import { Controller, Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  ClientProxyFactory,
  MessagePattern,
  MqttRecordBuilder,
  Payload,
  Transport,
  type ClientProxy,
  type MicroserviceOptions,
} from '@nestjs/microservices';
import { firstValueFrom } from 'rxjs';
import {
  AuthModule,
  Principal,
  Scopes,
  type BearerPrincipal,
} from '../lib/index.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { MqttTestBroker } from './support/rpc-mqtt-broker.js';
import { mintToken } from './support/tokens.js';

// README "Microservices": the handler.
@Controller()
class DocumentsHandlers {
  @Scopes('documents.read')
  @MessagePattern('documents.list')
  list(
    @Payload() query: { title: string },
    @Principal() caller: BearerPrincipal,
  ) {
    return [{ id: 1, title: query.title, owner: caller.sub }];
  }
}

function createAppModule(issuer: string) {
  @Module({
    imports: [AuthModule.forRoot({ issuer, audience: 'api://documents' })],
    controllers: [DocumentsHandlers],
  })
  class AppModule {}
  return AppModule;
}

// README "Microservices": the hybrid app.
async function bootstrap(
  issuer: string,
  brokerUrl: string,
): Promise<INestApplication> {
  const app = await NestFactory.create(createAppModule(issuer), {
    logger: false,
  });
  app.connectMicroservice<MicroserviceOptions>(
    {
      transport: Transport.MQTT,
      options: { url: brokerUrl, protocolVersion: 5 },
    },
    { inheritAppConfig: true },
  );
  await app.startAllMicroservices();
  await app.listen(0, '127.0.0.1');
  return app;
}

// README "Microservices": the caller sends its token in the `authorization` user property.
function listDocuments(client: ClientProxy, accessToken: string) {
  const record = new MqttRecordBuilder({ title: 'Plan' })
    .setProperties({
      userProperties: { authorization: `Bearer ${accessToken}` },
    })
    .build();
  return firstValueFrom(client.send('documents.list', record));
}

describe('README "Microservices"', () => {
  let key: TestKey;
  let jwks: JwksServer;
  let broker: MqttTestBroker;
  let app: INestApplication;
  let client: ClientProxy;

  beforeAll(async () => {
    key = await createTestKey();
    jwks = await JwksServer.start({ keys: [key] });
    broker = await MqttTestBroker.start();
    app = await bootstrap(jwks.issuer, broker.url);
    client = ClientProxyFactory.create({
      transport: Transport.MQTT,
      options: { url: broker.url, protocolVersion: 5 },
    });
    await client.connect();
  });

  afterAll(async () => {
    await client?.close();
    await app?.close();
    await broker?.close();
    await jwks?.close();
  });

  const tokenWith = (scp: string) =>
    mintToken(key, {
      iss: jwks.issuer,
      aud: 'api://documents',
      sub: 'alice',
      scp,
    });

  it('answers a caller whose token has the scope', async () => {
    await expect(
      listDocuments(client, await tokenWith('documents.read')),
    ).resolves.toEqual([{ id: 1, title: 'Plan', owner: 'alice' }]);
  });

  it('refuses a caller without the scope, and one without a token', async () => {
    await expect(
      listDocuments(client, await tokenWith('documents.write')),
    ).rejects.toMatchObject({ statusCode: 403, error: 'insufficient_scope' });
    await expect(
      firstValueFrom(client.send('documents.list', { title: 'Plan' })),
    ).rejects.toMatchObject({ statusCode: 401, error: null });
  });
});
