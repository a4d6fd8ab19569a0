/**
 * Roles from your IdP: `roleClaim` as a dotted path (Keycloak's `realm_access.roles`),
 * Auth0's `permissions` and namespaced claims, and `@AppRoles()` for application tokens
 * next to `@Scopes()` for delegated ones (Azure AD, Auth0, RFC 9068). Tokens are signed
 * with real keys and verified against a loopback JWKS, on Express and Fastify.
 */
import {
  Controller,
  Get,
  Module,
  Post,
  UseGuards,
  type INestApplication,
} from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { DocumentBuilder, type ResponseObject } from '@nestjs/swagger';
import { Test } from '@nestjs/testing';
import {
  AppRoles,
  AuthCoverageError,
  AuthModule,
  BearerGuard,
  Principal,
  Public,
  Roles,
  Scopes,
  type AuthModuleOptions,
  type BearerPrincipal,
} from '../lib/index.js';
import { createBearerDocument } from '../lib/openapi/index.js';
import { ADAPTERS, type ScenarioAdapter } from './scenario/scenario-app.js';
import { bearer, send, type HttpResult } from './support/http.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { mintToken } from './support/tokens.js';

const AUDIENCE = 'api://reports';

@Controller()
class CallerController {
  @Get('me')
  me(@Principal() caller: BearerPrincipal) {
    return {
      sub: caller.sub ?? null,
      scopes: caller.scopes,
      roles: caller.roles,
    };
  }

  @Roles('admin')
  @Get('admin')
  admin() {
    return { admin: true };
  }
}

/** Application permissions: class and handler app roles combine. */
@AppRoles('Reports.Read.All')
@Controller('reports')
class ReportsController {
  @Get()
  list() {
    return [{ id: 1 }];
  }

  @AppRoles('Reports.Write.All')
  @Post()
  create() {
    return { id: 2 };
  }
}

/** Delegated permissions: the signed-in user's scope. */
@Controller('my-reports')
class MyReportsController {
  @Scopes('Reports.Read')
  @Get()
  mine() {
    return [{ id: 3 }];
  }

  @Roles('Reports.Read.All')
  @Get('any')
  any() {
    return [{ id: 4 }];
  }
}

let key: TestKey;
let jwks: JwksServer;

beforeAll(async () => {
  key = await createTestKey();
  jwks = await JwksServer.start({ keys: [key] });
});
afterAll(() => jwks?.close());

const token = (claims: Record<string, unknown>) =>
  mintToken(key, { iss: jwks.issuer, aud: AUDIENCE, ...claims });

function options(extra: Partial<AuthModuleOptions> = {}): AuthModuleOptions {
  return {
    issuer: jwks.issuer,
    audience: AUDIENCE,
    jwksUri: jwks.jwksUri,
    ...extra,
  };
}

async function startApp(
  adapter: ScenarioAdapter,
  extra: Partial<AuthModuleOptions>,
): Promise<{ app: INestApplication; url: string }> {
  @Module({
    imports: [AuthModule.forRoot(options(extra))],
    controllers: [CallerController, ReportsController, MyReportsController],
  })
  class RolesModule {}
  const moduleRef = await Test.createTestingModule({
    imports: [RolesModule],
  }).compile();
  const app = moduleRef.createNestApplication(
    adapter === 'fastify' ? new FastifyAdapter() : new ExpressAdapter(),
    { logger: false },
  );
  await app.listen(0, '127.0.0.1');
  return { app, url: (await app.getUrl()).replace('[::1]', '127.0.0.1') };
}

function expectInsufficientAccess(res: HttpResult): void {
  expect(res.status).toBe(403);
  expect(res.headers['www-authenticate']).toContain(
    'error="insufficient_access"',
  );
  expect(JSON.parse(res.text)).toMatchObject({ error: 'insufficient_access' });
}

describe.each(ADAPTERS)('roles from your IdP (%s)', (adapter) => {
  let app: INestApplication | undefined;
  let url: string;
  const get = async (path: string, claims: Record<string, unknown>) =>
    send(`${url}${path}`, { headers: bearer(await token(claims)) });
  const post = async (path: string, claims: Record<string, unknown>) =>
    send(`${url}${path}`, {
      method: 'POST',
      headers: bearer(await token(claims)),
    });

  async function boot(extra: Partial<AuthModuleOptions> = {}): Promise<void> {
    ({ app, url } = await startApp(adapter, extra));
  }
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  describe('Keycloak: roleClaim realm_access.roles', () => {
    const keycloakUser = (roles: unknown) => ({
      sub: 'f1c2a3b4-0000-4000-8000-000000000001',
      azp: 'reports-web',
      typ: 'Bearer',
      scope: 'openid profile',
      realm_access: { roles },
      resource_access: { account: { roles: ['view-profile'] } },
    });

    it('reads the realm roles, refuses top-level roles and prototype tricks', async () => {
      await boot({ roleClaim: 'realm_access.roles' });
      const me = await get('/me', keycloakUser(['admin', 'offline_access']));
      expect(me.status).toBe(200);
      expect(JSON.parse(me.text)).toMatchObject({
        roles: ['admin', 'offline_access'],
        scopes: ['openid', 'profile'],
      });
      expect(
        (await get('/admin', keycloakUser(['admin', 'offline_access']))).status,
      ).toBe(200);
      // A string is one role: "Site admin" never grants "admin".
      expectInsufficientAccess(await get('/admin', keycloakUser('Site admin')));
      // The configured path, not the top-level claim, is where roles are.
      expectInsufficientAccess(
        await get('/admin', { sub: 'x', roles: ['admin'] }),
      );
      // An own "__proto__" in the signed JSON is data, and grants nothing.
      const polluted = JSON.parse(
        '{"sub":"x","realm_access":{"__proto__":{"roles":["admin"]}}}',
      ) as Record<string, unknown>;
      expectInsufficientAccess(await get('/admin', polluted));
    });

    it('reads client roles of a client id with dots in it', async () => {
      await boot({ roleClaim: 'resource_access.reports.api.roles' });
      const claims = {
        sub: 'u',
        resource_access: { 'reports.api': { roles: ['admin'] } },
      };
      expect((await get('/admin', claims)).status).toBe(200);
    });
  });

  describe('Auth0', () => {
    it('roleClaim permissions: RBAC permissions as roles, @AppRoles for M2M tokens', async () => {
      await boot({ roleClaim: 'permissions' });
      const m2m = {
        sub: 'Xy7abc@clients',
        azp: 'Xy7abc',
        gty: 'client-credentials',
        scope: 'Reports.Read.All',
        permissions: ['Reports.Read.All'],
      };
      expect((await get('/reports', m2m)).status).toBe(200);
      const user = {
        sub: 'auth0|alice',
        azp: 'Xy7abc',
        scope: 'openid Reports.Read',
        permissions: ['Reports.Read.All'],
      };
      expect((await get('/my-reports/any', user)).status).toBe(200);
      expectInsufficientAccess(await get('/reports', user));
    });

    it('roleClaim https://example.com/roles: a namespaced claim name with dots', async () => {
      await boot({ roleClaim: 'https://example.com/roles' });
      const user = (roles: unknown) => ({
        sub: 'auth0|alice',
        'https://example.com/roles': roles,
      });
      expect((await get('/admin', user(['admin']))).status).toBe(200);
      const me = await get('/me', user(['admin', 'editor']));
      expect(JSON.parse(me.text)).toMatchObject({ roles: ['admin', 'editor'] });
      expectInsufficientAccess(await get('/admin', user(['editor'])));
      expectInsufficientAccess(
        await get('/admin', { sub: 'auth0|alice', roles: ['admin'] }),
      );
    });
  });

  describe('Azure AD: @AppRoles for app-only tokens, @Scopes for delegated ones', () => {
    const tenant = '7fe81447-da57-4385-becb-6de57f21477e';
    const appOnly = (roles: string[], extra: Record<string, unknown> = {}) => ({
      sub: 'a1b2c3d4-service-principal',
      oid: 'a1b2c3d4-service-principal',
      azp: '2d4d11a2-f814-46a7-890a-274a72a7309e',
      azpacr: '1',
      tid: tenant,
      ver: '2.0',
      roles,
      ...extra,
    });
    const delegated = (
      roles: string[],
      extra: Record<string, unknown> = {},
    ) => ({
      sub: 'pairwise-subject-of-alice',
      oid: 'object-id-of-alice',
      azp: '2d4d11a2-f814-46a7-890a-274a72a7309e',
      azpacr: '0',
      tid: tenant,
      ver: '2.0',
      scp: 'Reports.Read',
      roles,
      ...extra,
    });

    it('lets an app-only token with the app role in, and refuses it on the delegated route', async () => {
      await boot();
      const app = appOnly(['Reports.Read.All']);
      expect((await get('/reports', app)).status).toBe(200);
      const scoped = await get('/my-reports', app);
      expect(scoped.status).toBe(403);
      expect(JSON.parse(scoped.text)).toMatchObject({
        error: 'insufficient_scope',
      });
      // @Roles() accepts either kind of token.
      expect((await get('/my-reports/any', app)).status).toBe(200);
    });

    it('refuses a delegated token that carries the app role: 403 insufficient_access', async () => {
      await boot();
      const user = delegated(['Reports.Read.All', 'Reports.Write.All']);
      expectInsufficientAccess(await get('/reports', user));
      expectInsufficientAccess(await post('/reports', user));
      expect((await get('/my-reports', user)).status).toBe(200);
      expect((await get('/my-reports/any', user)).status).toBe(200);
    });

    it('combines class and handler app roles', async () => {
      await boot();
      expectInsufficientAccess(
        await post('/reports', appOnly(['Reports.Read.All'])),
      );
      expectInsufficientAccess(
        await post('/reports', appOnly(['Reports.Write.All'])),
      );
      const both = await post(
        '/reports',
        appOnly(['Reports.Read.All', 'Reports.Write.All']),
      );
      expect(both.status).toBe(201);
      expectInsufficientAccess(await get('/reports', appOnly([])));
    });

    it('follows idtyp when the token carries it, and reads v1 tokens (appidacr)', async () => {
      await boot();
      expectInsufficientAccess(
        await get('/reports', appOnly(['Reports.Read.All'], { idtyp: 'user' })),
      );
      expect(
        (
          await get(
            '/reports',
            delegated(['Reports.Read.All'], { idtyp: 'app', scp: undefined }),
          )
        ).status,
      ).toBe(200);
      const v1 = {
        sub: 'a1b2c3d4-service-principal',
        appid: '2d4d11a2-f814-46a7-890a-274a72a7309e',
        appidacr: '1',
        ver: '1.0',
        roles: ['Reports.Read.All'],
      };
      expect((await get('/reports', v1)).status).toBe(200);
      expectInsufficientAccess(
        await get('/reports', { ...v1, scp: 'Reports.Read' }),
      );
    });
  });

  describe('RFC 9068 and other IdPs: sub equal to the client id', () => {
    it('is an application token; a user token or one without sub is not', async () => {
      await boot();
      const roles = ['Reports.Read.All'];
      expect(
        (await get('/reports', { sub: 'svc', client_id: 'svc', roles })).status,
      ).toBe(200);
      expect(
        (await get('/reports', { sub: 'svc', cid: 'svc', roles })).status,
      ).toBe(200);
      expectInsufficientAccess(
        await get('/reports', { sub: 'alice', client_id: 'svc', roles }),
      );
      expectInsufficientAccess(
        await get('/reports', { client_id: 'svc', roles }),
      );
    });
  });
});

describe('start-up checks treat @AppRoles() as a requirement', () => {
  async function initError(
    controllers: (new () => unknown)[],
    extra: Partial<AuthModuleOptions> = {},
  ): Promise<unknown> {
    @Module({
      imports: [AuthModule.forRoot(options(extra))],
      controllers,
    })
    class CheckedModule {}
    const moduleRef = await Test.createTestingModule({
      imports: [CheckedModule],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    try {
      await app.init();
      return undefined;
    } catch (error) {
      return error;
    } finally {
      await app.close();
    }
  }

  it('refuses @Public() and @AppRoles() on one handler', async () => {
    @Controller()
    class Contradiction {
      @Public()
      @AppRoles('Reports.Read.All')
      @Get()
      both(): void {}
    }
    const error = await initError([Contradiction]);
    expect(error).toBeInstanceOf(AuthCoverageError);
    expect((error as Error).message).toContain('Contradiction.both()');
  });

  it('refuses an @AppRoles() route no guard covers when globalGuard is off', async () => {
    @AppRoles('Reports.Read.All')
    @Controller()
    class Unguarded {
      @Get()
      read(): void {}
    }
    const error = await initError([Unguarded], { globalGuard: false });
    expect(error).toBeInstanceOf(AuthCoverageError);
    expect((error as Error).message).toContain('Unguarded.read()');
  });

  it('starts when the @AppRoles() route is guarded', async () => {
    @UseGuards(BearerGuard)
    @AppRoles('Reports.Read.All')
    @Controller()
    class Guarded {
      @Get()
      read(): void {}
    }
    expect(await initError([Guarded], { globalGuard: false })).toBeUndefined();
  });

  it('a @Public() class does not open an @AppRoles() handler', async () => {
    @Public()
    @Controller('open')
    class OpenReports {
      @AppRoles('Reports.Read.All')
      @Get()
      read() {
        return { read: true };
      }
    }
    @Module({
      imports: [AuthModule.forRoot(options())],
      controllers: [OpenReports],
    })
    class OpenModule {}
    const moduleRef = await Test.createTestingModule({
      imports: [OpenModule],
    }).compile();
    const app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    try {
      const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
      expect((await send(`${url}/open`)).status).toBe(401);
      const app1 = await token({
        sub: 'svc',
        client_id: 'svc',
        roles: ['Reports.Read.All'],
      });
      expect(
        (await send(`${url}/open`, { headers: bearer(app1) })).status,
      ).toBe(200);
    } finally {
      await app.close();
    }
  });
});

describe('OpenAPI documents the @AppRoles() refusal', () => {
  it('403 insufficient_access, with the example the route really answers', async () => {
    const { app, url } = await startApp('express', {});
    try {
      const document = createBearerDocument(
        app,
        new DocumentBuilder().setTitle('reports').build(),
      );
      const op = document.paths['/reports']?.post;
      const forbidden = op?.responses['403'] as ResponseObject | undefined;
      expect(forbidden?.description).toContain(
        'not an application token (client credentials) carrying every app role of `Reports.Write.All`, `Reports.Read.All`',
      );
      const examples = forbidden?.content?.['application/json']?.examples as
        Record<string, { value: unknown }> | undefined;
      const res = await send(`${url}/reports`, {
        method: 'POST',
        headers: bearer(
          await token({
            sub: 'alice',
            scp: 'Reports.Read',
            roles: ['Reports.Read.All', 'Reports.Write.All'],
          }),
        ),
      });
      expect(res.status).toBe(403);
      expect(JSON.parse(res.text)).toEqual(
        examples?.insufficient_access?.value,
      );
      // A delegated-only route documents no 403 for app roles.
      const mine = document.paths['/my-reports']?.get?.responses['403'] as
        ResponseObject | undefined;
      expect(mine?.description).not.toContain('application token');
    } finally {
      await app.close();
    }
  });
});
