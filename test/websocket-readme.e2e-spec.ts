/**
 * The README section "WebSockets", compiled by the typecheck and run here. The code below
 * is the README's, with `nestjs-bearer` and `nestjs-bearer/ws` imported from the sources,
 * the test issuer in place of the README's, port 0 and Nest's logger off.
 */
import { Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  SubscribeMessage,
  WebSocketGateway,
  type WsResponse,
} from '@nestjs/websockets';
import WebSocket from 'ws';
import { BearerWsAdapter } from '../lib/contexts/ws-adapter.js';
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
import { mintToken } from './support/tokens.js';

// --- README "WebSockets": documents.gateway.ts ---------------------------------------
@WebSocketGateway({ path: '/ws' })
export class DocumentsGateway {
  @Scopes('documents.read')
  @SubscribeMessage('documents')
  list(@Principal() caller: BearerPrincipal): WsResponse<string[]> {
    return { event: 'documents', data: [`${caller.sub}'s first document`] };
  }
}
// --- end of the README example --------------------------------------------------------

let key: TestKey;
let jwks: JwksServer;

beforeAll(async () => {
  key = await createTestKey();
  jwks = await JwksServer.start({ keys: [key] });
});

afterAll(() => jwks.close());

/** The README's app.module.ts and main.ts. */
async function bootstrap(): Promise<INestApplication> {
  // --- README "WebSockets": app.module.ts --------------------------------------------
  @Module({
    imports: [
      AuthModule.forRoot({ issuer: jwks.issuer, audience: 'api://documents' }),
    ],
    providers: [DocumentsGateway],
  })
  class AppModule {}
  // --- README "WebSockets": main.ts ----------------------------------------------------
  const app = await NestFactory.create(AppModule, { logger: false });
  app.useWebSocketAdapter(new BearerWsAdapter(app));
  await app.listen(0, '127.0.0.1');
  // --- end of the README example ------------------------------------------------------
  return app;
}

/** The README's client, with its console output collected. */
function runClient(url: string, token: string | undefined): Promise<string[]> {
  const lines: string[] = [];
  const log = (...parts: unknown[]): void => {
    lines.push(parts.map(String).join(' '));
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the client got ${lines.join(' | ')}`)),
      5000,
    );
    const done = (): void => {
      clearTimeout(timer);
      resolve(lines);
    };
    const headers =
      token === undefined ? {} : { Authorization: `Bearer ${token}` };
    // --- README "WebSockets": the client ----------------------------------------------
    const socket = new WebSocket(`${url}/ws`, { headers });
    socket.on('unexpected-response', (request, response) => {
      log(response.statusCode, response.headers['www-authenticate']);
      request.destroy();
    });
    socket.on('open', () =>
      socket.send(JSON.stringify({ event: 'documents' })),
    );
    socket.on('message', (data: Buffer) => log(data.toString('utf8')));
    socket.on('close', (code) => log('closed', code));
    // --- end of the README example ----------------------------------------------------
    socket.on('unexpected-response', () => done());
    socket.on('error', () => done());
    socket.on('message', () => socket.close());
    socket.on('close', () => done());
  });
}

describe('README "WebSockets"', () => {
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    app = await bootstrap();
    url = (await app.getUrl()).replace(/^http/, 'ws');
  });

  afterAll(() => app.close());

  const token = (claims: Record<string, unknown>, expiresIn = 300) =>
    mintToken(
      key,
      { iss: jwks.issuer, aud: 'api://documents', sub: 'alice', ...claims },
      { expiresIn },
    );

  it('refuses the upgrade without a token', async () => {
    const lines = await runClient(url, undefined);
    expect(lines).toEqual([
      `401 Bearer authorization_uri="${jwks.issuer}/authorize"`,
    ]);
  });

  it('answers with documents.read', async () => {
    const lines = await runClient(url, await token({ scp: 'documents.read' }));
    expect(lines).toEqual([
      '{"event":"documents","data":["alice\'s first document"]}',
      'closed 1005',
    ]);
  });

  it('answers an error event without the scope', async () => {
    const lines = await runClient(url, await token({}));
    expect(JSON.parse(lines[0] ?? '')).toMatchObject({
      event: 'error',
      data: { error: 'insufficient_scope', scope: 'documents.read' },
    });
  });
});
