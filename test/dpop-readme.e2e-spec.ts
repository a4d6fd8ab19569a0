/**
 * The README sections "DPoP (RFC 9449)" and "mTLS-bound tokens (RFC 8705)", compiled by the
 * typecheck and run here. The code between the markers is the README's, with `nestjs-bearer`
 * imported from the sources, the test issuer, a real redis-server and the loopback origin in
 * place of the README's URLs, and a peer address the test really is.
 */
import { Controller, Get, Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AuthModule,
  Principal,
  type AuthModuleOptions,
  type BearerPrincipal,
} from '../lib/index.js';
import { makeCertificate } from './support/certificates.js';
import { DpopKey } from './support/dpop.js';
import { bearer, send } from './support/http.js';
import { findFreePort } from './support/sample-app-process.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { RedisServer } from './support/redis-server.js';
import { mintToken } from './support/tokens.js';

@Controller()
class DocumentsController {
  @Get('documents')
  list(@Principal() caller: BearerPrincipal) {
    return [{ id: 1, owner: caller.sub }];
  }
}

let key: TestKey;
let jwks: JwksServer;
let redis: RedisServer;

beforeAll(async () => {
  key = await createTestKey();
  jwks = await JwksServer.start({ keys: [key] });
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis?.stop();
  await jwks?.close();
});

async function startApp(
  options: AuthModuleOptions,
  port: number,
): Promise<INestApplication> {
  @Module({
    imports: [AuthModule.forRoot(options)],
    controllers: [DocumentsController],
  })
  class AppModule {}
  const app = await NestFactory.create(AppModule, { logger: false });
  await app.listen(port, '127.0.0.1');
  return app;
}

function token(cnf: Record<string, unknown>): Promise<string> {
  return mintToken(key, {
    iss: jwks.issuer,
    aud: 'api://documents',
    sub: 'alice',
    jti: randomUUID(),
    cnf,
  });
}

describe('README "DPoP (RFC 9449)"', () => {
  it('runs the example: nonce retry, then a replay refused by the other instance', async () => {
    const process = { env: { DPOP_NONCE_SECRET: 'x'.repeat(40) } };
    const [portA, portB] = [await findFreePort(), await findFreePort()];
    const origin = (port: number): string => `http://127.0.0.1:${port}`;
    const config = (port: number): AuthModuleOptions =>
      // --- README "DPoP (RFC 9449)" ---------------------------------------------------
      ({
        issuer: jwks.issuer, // README: 'https://login.example.com/'
        audience: 'api://documents',
        jwksUri: jwks.jwksUri,
        dpop: {
          mode: 'allowed', // 'required': DPoP only
          nonce: { secret: process.env.DPOP_NONCE_SECRET }, // one secret for every instance
          // README: ['https://api.example.com']; both instances answer for one origin here.
          origins: [origin(portA), origin(port)],
        },
        revocation: { store: redis.url }, // the replay cache, shared by every instance
      });
    // --- end of the README code ----------------------------------------------------------
    const a = await startApp(config(portA), portA);
    const b = await startApp(config(portB), portB);
    try {
      const client = await DpopKey.create('ES256');
      const jwt = await token({ jkt: client.jkt });
      const htu = `${origin(portA)}/documents`;
      const first = await send(`${origin(portA)}/documents`, {
        headers: await client.headers(jwt, { htm: 'GET', htu }),
      });
      expect(first.status).toBe(401);
      expect(first.headers['www-authenticate']).toMatch(
        /^Bearer [^,]*, DPoP error="use_dpop_nonce"|^Bearer, DPoP error="use_dpop_nonce"/,
      );
      const nonce = first.headers['dpop-nonce'] as string;
      const headers = await client.headers(jwt, { htm: 'GET', htu, nonce });
      const ok = await send(`${origin(portA)}/documents`, { headers });
      expect(ok.status).toBe(200);
      expect(JSON.parse(ok.text)).toEqual([{ id: 1, owner: 'alice' }]);
      // The same proof at the other instance, behind the same origin: a replay.
      const replay = await send(`${origin(portB)}/documents`, { headers });
      expect(replay.status).toBe(401);
      expect(replay.headers['www-authenticate']).toContain(
        'The DPoP proof has already been used.',
      );
      expect((await send(htu, { headers: bearer(jwt) })).status).toBe(401);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('README "mTLS-bound tokens (RFC 8705)"', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'nestjs-bearer-readme-mtls-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs the example: the proxy-forwarded certificate binds the token', async () => {
    const { der, thumbprint } = makeCertificate(dir, 'client');
    const options: AuthModuleOptions =
      // --- README "mTLS-bound tokens (RFC 8705)" ------------------------------------
      {
        issuer: jwks.issuer, // README: 'https://login.example.com/'
        audience: 'api://documents',
        jwksUri: jwks.jwksUri,
        trustedProxies: ['127.0.0.1'], // README: ['10.0.0.2'], the proxy's address
        clientCertificateHeader: 'client-cert', // RFC 9440 ":base64 DER:", or a (URL-encoded) PEM
      };
    // --- end of the README code ----------------------------------------------------------
    const port = await findFreePort();
    const app = await startApp(options, port);
    try {
      const jwt = await token({
        'x5t#S256': thumbprint,
      });
      const url = `http://127.0.0.1:${port}/documents`;
      const ok = await send(url, {
        headers: {
          ...bearer(jwt),
          'client-cert': `:${der.toString('base64')}:`,
        },
      });
      expect(ok.status).toBe(200);
      const none = await send(url, { headers: bearer(jwt) });
      expect(none.status).toBe(401);
      expect(none.headers['www-authenticate']).toContain(
        'The access token is bound to a client certificate the request does not present.',
      );
    } finally {
      await app.close();
    }
  });
});
