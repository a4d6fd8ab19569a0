/**
 * The README sections "Revocation", "Running several instances (Redis)" and "Opaque tokens
 * (introspection)", compiled by the typecheck and run here. The code between the markers
 * is the README's, with `nestjs-bearer` imported from the sources, the test issuer and a
 * real redis-server in place of the README's URLs, port 0 and Nest's logger off.
 */
import {
  Body,
  Controller,
  Get,
  HttpCode,
  Module,
  Post,
  type INestApplication,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AuthModule,
  BearerRevocations,
  Principal,
  Roles,
  type AuthModuleOptions,
  type BearerPrincipal,
} from '../lib/index.js';
import { bearer, send } from './support/http.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { RedisServer } from './support/redis-server.js';
import { mintToken } from './support/tokens.js';

// --- README "Revocation": sign-out.controller.ts -------------------------------------
@Controller('account')
export class SignOutController {
  constructor(private readonly revocations: BearerRevocations) {}

  /** Signs the caller out everywhere: every token issued to them so far stops working. */
  @Post('sign-out-everywhere')
  @HttpCode(204)
  async signOut(@Principal() caller: BearerPrincipal): Promise<void> {
    await this.revocations.revokeSubject(caller.sub!);
  }

  /** An administrator revokes one token by its jti (and its exp, so the entry ends with it). */
  @Roles('Admin')
  @Post('revoked-tokens')
  @HttpCode(204)
  async revokeOne(@Body() body: { jti: string; exp: number }): Promise<void> {
    await this.revocations.revokeToken(body.jti, body.exp);
  }
}
// --- end of the README example --------------------------------------------------------

let key: TestKey;
let jwks: JwksServer;
let redis: RedisServer;
let introspection: Server;

beforeAll(async () => {
  key = await createTestKey();
  jwks = await JwksServer.start({ keys: [key] });
  redis = await RedisServer.start();
  // A stand-in authorization server: one opaque token is active.
  introspection = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const token = new URLSearchParams(body).get('token');
      const ok =
        req.headers.authorization ===
        `Basic ${Buffer.from('documents-api:s3cret').toString('base64')}`;
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          token === 'opaque-token-1'
            ? {
                active: true,
                sub: 'erin',
                aud: 'api://documents',
                scope: 'documents.read',
                exp: Math.floor(Date.now() / 1000) + 300,
              }
            : { active: false },
        ),
      );
    });
  });
  await new Promise<void>((resolve) =>
    introspection.listen(0, '127.0.0.1', resolve),
  );
});

afterAll(async () => {
  await jwks?.close();
  await redis?.dispose();
  await new Promise((resolve) => introspection?.close(resolve));
});

/** Not the README's: a route that only needs a valid token. */
@Controller('me')
class MeController {
  @Get()
  me(@Principal() caller: BearerPrincipal): { sub: string | null } {
    return { sub: caller.sub ?? null };
  }
}

async function bootstrap(
  options: AuthModuleOptions,
): Promise<INestApplication> {
  @Module({
    imports: [AuthModule.forRoot(options)],
    controllers: [SignOutController, MeController],
  })
  class AppModule {}
  const app = await NestFactory.create(AppModule, { logger: false });
  await app.listen(0, '127.0.0.1');
  return app;
}

function urlOf(app: INestApplication): string {
  const { port } = (app.getHttpServer() as Server).address() as AddressInfo;
  return `http://127.0.0.1:${port}`;
}

const mint = (claims: Record<string, unknown> = {}) =>
  mintToken(key, {
    iss: jwks.issuer,
    aud: 'api://documents',
    sub: 'alice',
    jti: randomUUID(),
    ...claims,
  });

it('README "Revocation": sign out everywhere, then the token is refused', async () => {
  // --- README "Revocation": app.module.ts (options) ----------------------------------
  const options: AuthModuleOptions = {
    issuer: jwks.issuer, // 'https://login.example.com/'
    audience: 'api://documents',
    revocation: { store: 'memory' },
  };
  // --- end of the README example ------------------------------------------------------
  const app = await bootstrap(options);
  try {
    const token = await mint();
    const signOut = () =>
      send(`${urlOf(app)}/account/sign-out-everywhere`, {
        method: 'POST',
        headers: bearer(token),
      });
    expect((await signOut()).status).toBe(204);
    const again = await signOut();
    expect(again.status).toBe(401);
    expect(again.headers['www-authenticate']).toContain(
      'error_description="The access token is revoked."',
    );
  } finally {
    await app.close();
  }
});

it('README "Running several instances (Redis)": a revocation on one instance is refused by another', async () => {
  // --- README "Running several instances (Redis)": options -----------------------------
  const options: AuthModuleOptions = {
    issuer: jwks.issuer,
    audience: 'api://documents',
    revocation: {
      store: redis.url, // 'redis://redis.internal:6379'
      onStoreUnavailable: 'fail-closed', // the default; 'fail-open' logs a warning instead
    },
  };
  // --- end of the README example ------------------------------------------------------
  const [first, second] = [await bootstrap(options), await bootstrap(options)];
  try {
    const victim = await mint({ sub: 'bob' });
    expect(
      (
        await send(`${urlOf(second)}/account/revoked-tokens`, {
          method: 'POST',
          headers: bearer(victim),
        })
      ).status,
    ).toBe(403);
    const jti = JSON.parse(
      Buffer.from(victim.split('.')[1], 'base64url').toString(),
    ) as { jti: string; exp: number };
    const admin = await mint({ sub: 'root', roles: ['Admin'] });
    const revoked = await send(`${urlOf(first)}/account/revoked-tokens`, {
      method: 'POST',
      headers: { ...bearer(admin), 'content-type': 'application/json' },
      body: JSON.stringify({ jti: jti.jti, exp: jti.exp }),
    });
    expect(revoked.status).toBe(204);
    const deadline = Date.now() + 1000;
    let status = 0;
    while (Date.now() < deadline) {
      status = (
        await send(`${urlOf(second)}/account/revoked-tokens`, {
          method: 'POST',
          headers: bearer(victim),
        })
      ).status;
      if (status === 401) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(status).toBe(401);
  } finally {
    await first.close();
    await second.close();
  }
});

it('README "Opaque tokens (introspection)": an active opaque token is accepted, another refused', async () => {
  const uri = `http://127.0.0.1:${(introspection.address() as AddressInfo).port}/introspect`;
  // --- README "Opaque tokens (introspection)": options ---------------------------------
  const options: AuthModuleOptions = {
    issuer: jwks.issuer,
    audience: 'api://documents',
    introspection: {
      uri, // 'https://login.example.com/oauth2/introspect'
      clientId: 'documents-api',
      clientSecret: 's3cret', // process.env.INTROSPECTION_SECRET
    },
  };
  // --- end of the README example ------------------------------------------------------
  const app = await bootstrap(options);
  try {
    const call = (token: string) =>
      send(`${urlOf(app)}/me`, { headers: bearer(token) });
    const active = await call('opaque-token-1');
    expect(active.status).toBe(200);
    expect(JSON.parse(active.text)).toEqual({ sub: 'erin' });
    expect((await call('opaque-token-2')).status).toBe(401);
    // JWTs are still verified against the JWKS.
    expect((await call(await mint({ sub: 'frank' }))).status).toBe(200);
  } finally {
    await app.close();
  }
});
