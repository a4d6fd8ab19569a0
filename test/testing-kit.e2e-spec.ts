/**
 * The test kit (`nestjs-bearer/testing`) against real apps: `AuthModule.forRoot()` with the
 * options of a test issuer, on Express and Fastify; `overrideAuthModuleOptions()` on an
 * app booted with `@nestjs/testing`; the README section "Testing your app", run as written;
 * and the compiled entry point as the package exports it.
 */
import { Controller, Get, Module, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import {
  AuthModule,
  InvalidTokenError,
  Principal,
  Public,
  Roles,
  Scopes,
  type BearerPrincipal,
} from '../lib/index.js';
import {
  BearerChallengeAssertionError,
  createTestIssuer,
  expectBearerChallenge,
  overrideAuthModuleOptions,
  type MintOverrides,
  type TestIssuer,
} from '../lib/testing/index.js';
import {
  ADAPTERS,
  startScenarioApp,
  type ScenarioAdapter,
  type ScenarioApp,
} from './scenario/scenario-app.js';
import { readImportGraph } from './support/import-graph.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The fixed sentence of an `invalid_token` refusal. */
function described(
  reason: ConstructorParameters<typeof InvalidTokenError>[0],
): string {
  return new InvalidTokenError(reason).description as string;
}

@Controller('kit')
class KitController {
  @Public()
  @Get('health')
  health(): { status: string } {
    return { status: 'ok' };
  }

  @Scopes('documents.read')
  @Get('documents')
  documents(@Principal() principal: BearerPrincipal): {
    sub: string | undefined;
    scopes: readonly string[];
  } {
    return { sub: principal.sub, scopes: principal.scopes };
  }

  @Roles('Admin')
  @Get('admin')
  admin(): { admin: boolean } {
    return { admin: true };
  }
}

describe.each(ADAPTERS)(
  'a test issuer trusted by AuthModule, on %s',
  (adapter) => {
    let issuer: TestIssuer;
    let scenario: ScenarioApp;

    beforeAll(async () => {
      issuer = await createTestIssuer({ audience: 'api://kit' });
      scenario = await startScenarioApp(
        issuer.authModuleOptions({ realm: 'kit' }),
        { adapter, controllers: [KitController] },
      );
    });

    afterAll(async () => {
      await scenario?.app.close();
      await issuer?.close();
    });

    const server = (): unknown => scenario.app.getHttpServer();

    function get(
      path: string,
      claims?: Record<string, unknown>,
      overrides?: MintOverrides,
    ): request.Test {
      const req = request(server() as Parameters<typeof request>[0]).get(path);
      return claims === undefined && overrides === undefined
        ? req
        : req.set('Authorization', `Bearer ${issuer.mint(claims, overrides)}`);
    }

    it('answers 200 for a token with the scope, with the claims minted', async () => {
      const res = await get(
        '/kit/documents',
        { sub: 'alice' },
        {
          scope: ['documents.read', 'documents.write'],
        },
      );
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        sub: 'alice',
        scopes: ['documents.read', 'documents.write'],
      });
    });

    it('asks for a token without an error, with the realm and the discovered authorization_uri', async () => {
      await expectBearerChallenge(await get('/kit/documents'), {
        status: 401,
        params: {
          realm: 'kit',
          authorization_uri: `${issuer.issuer}/authorize`,
        },
      });
    });

    it('answers 403 insufficient_scope with the scope the route needs', async () => {
      await expectBearerChallenge(
        await get('/kit/documents', {}, { scope: 'profile' }),
        {
          status: 403,
          error: 'insufficient_scope',
          scope: 'documents.read',
        },
      );
    });

    it('answers 403 insufficient_access without the role, 200 with it', async () => {
      await expectBearerChallenge(
        await get('/kit/admin', {}, { roles: ['Reader'] }),
        { status: 403, error: 'insufficient_access' },
      );
      expect((await get('/kit/admin', {}, { roles: ['Admin'] })).status).toBe(
        200,
      );
    });

    it.each<[string, MintOverrides, Parameters<typeof described>[0]]>([
      ['expired', { expired: true }, 'expired'],
      ['not yet valid', { notYetValid: true }, 'not_yet_valid'],
      ['for another audience', { wrongAudience: true }, 'audience'],
      ['from another issuer', { wrongIssuer: true }, 'issuer'],
      ['signed by an unknown key', { otherKey: 'unknown-kid' }, 'unknown_key'],
      [
        'signed by another key under the known kid',
        { otherKey: 'same-kid' },
        'signature',
      ],
      [
        'with a crit header',
        { header: { crit: ['exp'], exp: 1 } },
        'unsupported_header',
      ],
    ])(
      'answers 401 invalid_token for a token %s',
      async (_name, overrides, reason) => {
        await expectBearerChallenge(
          await get(
            '/kit/documents',
            {},
            { scope: 'documents.read', ...overrides },
          ),
          {
            status: 401,
            error: 'invalid_token',
            errorDescription: described(reason),
          },
        );
      },
    );

    it('reads fetch Responses too', async () => {
      const res = await fetch(`${scenario.url}/kit/documents`, {
        headers: {
          authorization: `Bearer ${issuer.mint({}, { expired: true })}`,
        },
      });
      await expectBearerChallenge(res, {
        status: 401,
        error: 'invalid_token',
        errorDescription: described('expired'),
      });
      // The kit read a clone: the body is still there.
      expect(await res.json()).toEqual(
        expect.objectContaining({ error: 'invalid_token' }),
      );
    });

    it('fails with every mismatch named when the answer is not the one expected', async () => {
      const error: unknown = await expectBearerChallenge(
        await get('/kit/documents', {}, { scope: 'profile' }),
        { status: 401, error: 'invalid_token' },
      ).catch((reason: unknown) => reason);
      expect(error).toBeInstanceOf(BearerChallengeAssertionError);
      expect((error as BearerChallengeAssertionError).problems).toEqual([
        'status: expected 401, got 403',
        'error: expected "invalid_token", got "insufficient_scope"',
      ]);
    });

    it('trusts a rotated key at once, and the old key while it is published', async () => {
      const before = issuer.mint({}, { scope: 'documents.read' });
      const previous = issuer.kid;
      await issuer.rotateKey();
      const after = issuer.mint({}, { scope: 'documents.read' });
      const auth = (token: string) => ({ Authorization: `Bearer ${token}` });
      expect(
        (
          await request(server() as Parameters<typeof request>[0])
            .get('/kit/documents')
            .set(auth(after))
        ).status,
      ).toBe(200);
      expect(
        (
          await request(server() as Parameters<typeof request>[0])
            .get('/kit/documents')
            .set(auth(before))
        ).status,
      ).toBe(200);
      issuer.removeKey(previous);
      expect(issuer.jwks().keys).toHaveLength(1);
    });
  },
);

describe('an ES256 test issuer', () => {
  it('mints tokens AuthModule accepts with algorithms ES256', async () => {
    const issuer = await createTestIssuer({ algorithm: 'ES256' });
    const scenario = await startScenarioApp(issuer.authModuleOptions(), {
      controllers: [KitController],
    });
    try {
      const ok = await request(scenario.app.getHttpServer())
        .get('/kit/documents')
        .set(
          'Authorization',
          `Bearer ${issuer.mint({}, { scope: 'documents.read' })}`,
        );
      expect(ok.status).toBe(200);
    } finally {
      await scenario.app.close();
      await issuer.close();
    }
  });
});

/** An app's own root module, configured for production. */
@Module({
  imports: [
    AuthModule.forRoot({
      issuer: 'https://login.example.com/tenant/v2.0',
      audience: 'api://production',
    }),
  ],
  controllers: [KitController],
})
class ProductionAppModule {}

async function bootWithOverride(
  adapter: ScenarioAdapter,
  issuer: TestIssuer,
): Promise<INestApplication> {
  const moduleRef = await overrideAuthModuleOptions(
    Test.createTestingModule({ imports: [ProductionAppModule] }),
    issuer.authModuleOptions(),
  ).compile();
  const app = moduleRef.createNestApplication(
    adapter === 'fastify' ? new FastifyAdapter() : new ExpressAdapter(),
    { logger: false },
  );
  await app.listen(0, '127.0.0.1');
  return app;
}

describe.each(ADAPTERS)(
  'overrideAuthModuleOptions on an app booted with @nestjs/testing, on %s',
  (adapter) => {
    let issuer: TestIssuer;
    let app: INestApplication;

    beforeAll(async () => {
      issuer = await createTestIssuer();
      app = await bootWithOverride(adapter, issuer);
    });

    afterAll(async () => {
      await app?.close();
      await issuer?.close();
    });

    it('trusts the test issuer instead of the configured one', async () => {
      const res = await request(app.getHttpServer())
        .get('/kit/documents')
        .set(
          'Authorization',
          `Bearer ${issuer.mint({ sub: 'bob' }, { scope: 'documents.read' })}`,
        );
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ sub: 'bob', scopes: ['documents.read'] });
    });

    it('refuses a token for the audience the app was configured with', async () => {
      await expectBearerChallenge(
        await request(app.getHttpServer())
          .get('/kit/documents')
          .set(
            'Authorization',
            `Bearer ${issuer.mint({ aud: 'api://production' }, { scope: 'documents.read' })}`,
          ),
        {
          status: 401,
          error: 'invalid_token',
          errorDescription: described('audience'),
        },
      );
    });
  },
);

/** Stands in for the app of the README example: its own module, set up for production. */
@Controller('documents')
class DocumentsController {
  @Scopes('documents.read')
  @Get()
  list(): { id: string; title: string }[] {
    return [{ id: '1', title: 'Welcome' }];
  }
}

@Module({
  imports: [
    AuthModule.forRoot({
      issuer: 'https://login.example.com/tenant/v2.0',
      audience: 'api://documents',
    }),
  ],
  controllers: [DocumentsController],
})
class AppModule {}

// --- README "Testing your app": keep in step with the README. -------------------------
// In an app the kit comes from 'nestjs-bearer/testing' and AppModule from the app.

describe('documents API', () => {
  let issuer: TestIssuer;
  let app: INestApplication;

  beforeAll(async () => {
    issuer = await createTestIssuer();
    const moduleRef = await overrideAuthModuleOptions(
      Test.createTestingModule({ imports: [AppModule] }),
      issuer.authModuleOptions(),
    ).compile();
    app = moduleRef.createNestApplication();
    await app.init();
  });

  afterAll(async () => {
    await app.close();
    await issuer.close();
  });

  it('lists documents for a token with documents.read', async () => {
    const token = issuer.mint({ sub: 'alice' }, { scope: 'documents.read' });
    await request(app.getHttpServer())
      .get('/documents')
      .set('Authorization', `Bearer ${token}`)
      .expect(200);
  });

  it('asks for a token', async () => {
    const res = await request(app.getHttpServer()).get('/documents');
    await expectBearerChallenge(res, { status: 401 });
  });

  it('refuses a token without the scope', async () => {
    const token = issuer.mint({}, { scope: 'profile' });
    const res = await request(app.getHttpServer())
      .get('/documents')
      .set('Authorization', `Bearer ${token}`);
    await expectBearerChallenge(res, {
      status: 403,
      error: 'insufficient_scope',
      scope: 'documents.read',
    });
  });

  it('refuses an expired token', async () => {
    const token = issuer.mint({}, { scope: 'documents.read', expired: true });
    const res = await request(app.getHttpServer())
      .get('/documents')
      .set('Authorization', `Bearer ${token}`);
    await expectBearerChallenge(res, {
      status: 401,
      error: 'invalid_token',
      errorDescription: 'The access token is expired.',
    });
  });
});

// --- end of the README example. ------------------------------------------------------

describe('the compiled nestjs-bearer/testing', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    exports: Record<string, unknown>;
    files: string[];
  };

  it('is in the exports map with its types', () => {
    expect(pkg.exports['./testing']).toEqual({
      types: './dist/lib/testing/index.d.ts',
      default: './dist/lib/testing/index.js',
    });
    expect(pkg.files).toEqual(['dist/lib']);
  });

  it('loads by name, and its import graph reaches node built-ins only', () => {
    const out = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const kit = await import('nestjs-bearer/testing'); console.log(Object.keys(kit).sort().join(','))",
      ],
      { cwd: root, encoding: 'utf8' },
    ).trim();
    expect(out.split(',')).toEqual(
      expect.arrayContaining([
        'createTestIssuer',
        'expectBearerChallenge',
        'overrideAuthModuleOptions',
      ]),
    );
    const { files: seen, external } = readImportGraph(
      root,
      'dist/lib/testing/index.js',
    );
    expect(seen.size).toBeGreaterThanOrEqual(5);
    expect([...external].filter((name) => !name.startsWith('node:'))).toEqual(
      [],
    );
  });
});
