/**
 * The README's examples, compiled by the typecheck and run here, so the README cannot drift
 * from the API. Each block below mirrors one README section.
 */
import {
  Controller,
  Get,
  Injectable,
  Module,
  Param,
  Post,
  UseGuards,
  type INestApplication,
} from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  AuthModule,
  azureAd,
  BearerGuard,
  Claims,
  InsufficientAccessError,
  InsufficientClaimsError,
  Principal,
  Public,
  Scopes,
  StepUp,
  type AuthModuleOptions,
  type BearerPrincipal,
} from '../lib/index.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { mintToken } from './support/tokens.js';

// README "Use it in your app".
@Controller()
class DocumentsController {
  @Public()
  @Get('health')
  health() {
    return { status: 'ok' };
  }

  @Scopes('documents.read')
  @Get('documents')
  list(@Principal() caller: BearerPrincipal) {
    return [{ id: 1, owner: caller.sub }];
  }

  // README "Decorators and the principal": an ownership rule thrown by app code.
  @Get('documents/:id')
  get(@Param('id') id: string, @Principal() caller: BearerPrincipal) {
    const doc = { id, owner: 'alice' };
    if (doc.owner !== caller.sub) throw new InsufficientAccessError();
    return doc;
  }

  // README "Custom claims".
  @Get('tenant')
  tenant(@Claims('https://example.com/tenant') tenant: unknown) {
    return { tenant };
  }

  // README "Step-up (RFC 9470) and claims challenges".
  @StepUp({ acrValues: ['urn:example:mfa'], maxAge: 300 })
  @Post('payments')
  pay() {
    return { paid: true };
  }

  @Post('reevaluate')
  reevaluate(): never {
    throw new InsufficientClaimsError({
      access_token: { nbf: { essential: true, value: '1604106651' } },
    });
  }
}

// README "Global guard or per-controller guard".
@UseGuards(BearerGuard)
@Controller('guarded')
class GuardedController {
  @Get()
  guarded() {
    return { guarded: true };
  }
}

@Controller('open')
class OpenController {
  @Get()
  open() {
    return { open: true };
  }
}

// README "forRootAsync": a ConfigService stand-in with the same shape.
@Injectable()
class ConfigService {
  constructor(private readonly values: Record<string, string>) {}
  getOrThrow<T = string>(name: string): T {
    const value = this.values[name];
    if (value === undefined) throw new Error(`${name} is not set`);
    return value as T;
  }
}

describe('README examples', () => {
  let key: TestKey;
  let jwks: JwksServer;
  let app: INestApplication | undefined;
  let url: string;

  beforeAll(async () => {
    key = await createTestKey({ kid: 'readme' });
    jwks = await JwksServer.start({ keys: [key] });
  });
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });
  afterAll(() => jwks.close());

  async function boot(root: object): Promise<void> {
    const moduleRef = await Test.createTestingModule({
      imports: [root as never],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(0, '127.0.0.1');
    url = await app.getUrl();
  }
  const call = async (path: string, token?: string, method = 'GET') =>
    fetch(`${url}${path}`, {
      method,
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });
  const token = (claims: Record<string, unknown>) =>
    mintToken(key, {
      iss: jwks.issuer,
      aud: 'api://documents',
      sub: 'alice',
      ...claims,
    });

  it('"Use it in your app": forRoot + @Scopes + @Public + ownership + custom claims', async () => {
    const options: AuthModuleOptions = {
      issuer: jwks.issuer,
      audience: 'api://documents',
    };
    @Module({
      imports: [AuthModule.forRoot(options)],
      controllers: [DocumentsController],
    })
    class AppModule {}
    await boot(AppModule);
    expect((await call('/health')).status).toBe(200);
    expect((await call('/documents')).status).toBe(401);
    expect(
      (await call('/documents', await token({ scp: 'documents.read' }))).status,
    ).toBe(200);
    expect((await call('/documents', await token({}))).status).toBe(403);
    expect(
      (await call('/documents/7', await token({ sub: 'bob' }))).status,
    ).toBe(403);
    const tenant = await call(
      '/tenant',
      await token({ 'https://example.com/tenant': 'contoso' }),
    );
    expect(await tenant.json()).toEqual({ tenant: 'contoso' });
    const weak = await call(
      '/payments',
      await token({ acr: 'urn:example:pwd' }),
      'POST',
    );
    expect(weak.headers.get('www-authenticate')).toContain(
      'acr_values="urn:example:mfa"',
    );
    const claims = await call('/reevaluate', await token({}), 'POST');
    expect(claims.headers.get('www-authenticate')).toContain(
      'error="insufficient_claims"',
    );
  });

  it('"forRootAsync" with imports, inject and useFactory', async () => {
    @Module({
      providers: [
        {
          provide: ConfigService,
          useValue: new ConfigService({
            AUTH_ISSUER: jwks.issuer,
            AUTH_AUDIENCE: 'api://documents,api://other',
          }),
        },
      ],
      exports: [ConfigService],
    })
    class ConfigModule {}
    @Module({
      imports: [
        AuthModule.forRootAsync({
          imports: [ConfigModule],
          inject: [ConfigService],
          useFactory: (config: ConfigService) => ({
            issuer: config.getOrThrow('AUTH_ISSUER'),
            audience: config.getOrThrow<string>('AUTH_AUDIENCE').split(','),
          }),
        }),
      ],
      controllers: [DocumentsController],
    })
    class AppModule {}
    await boot(AppModule);
    expect(
      (await call('/documents', await token({ scp: 'documents.read' }))).status,
    ).toBe(200);
  });

  it('"Global guard or per-controller guard": globalGuard false + @UseGuards(BearerGuard)', async () => {
    @Module({
      imports: [
        AuthModule.forRoot({
          issuer: jwks.issuer,
          audience: 'api://documents',
          globalGuard: false,
        }),
      ],
      controllers: [GuardedController, OpenController],
    })
    class AppModule {}
    await boot(AppModule);
    expect((await call('/open')).status).toBe(200);
    expect((await call('/guarded')).status).toBe(401);
    expect((await call('/guarded', await token({}))).status).toBe(200);
  });

  it('"Custom claims": scopes from permissions, roles from a namespaced claim', async () => {
    @Module({
      imports: [
        AuthModule.forRoot({
          issuer: jwks.issuer,
          audience: 'api://documents',
          scopeClaims: ['permissions'], // Auth0 RBAC: an array of strings
          roleClaim: 'https://example.com/roles',
        }),
      ],
      controllers: [DocumentsController],
    })
    class AppModule {}
    await boot(AppModule);
    const auth0 = await token({
      permissions: ['documents.read'],
      scp: 'ignored',
    });
    expect((await call('/documents', auth0)).status).toBe(200);
    const scpOnly = await token({ scp: 'documents.read' });
    expect((await call('/documents', scpOnly)).status).toBe(403);
  });

  it('"Protected resource metadata": the document and resource_metadata', async () => {
    @Module({
      imports: [
        AuthModule.forRoot({
          issuer: jwks.issuer,
          audience: 'api://documents',
          protectedResourceMetadata: {
            resource: 'https://api.example.com/v1',
            resourceName: 'Documents API',
          },
        }),
      ],
      controllers: [DocumentsController],
    })
    class AppModule {}
    await boot(AppModule);
    const doc = (await (
      await call('/.well-known/oauth-protected-resource/v1')
    ).json()) as Record<string, unknown>;
    expect(doc).toMatchObject({
      resource: 'https://api.example.com/v1',
      authorization_servers: [jwks.issuer],
      bearer_methods_supported: ['header'],
      scopes_supported: ['documents.read'],
      resource_name: 'Documents API',
    });
    expect(
      (await call('/documents')).headers.get('www-authenticate'),
    ).toContain(
      'resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/v1"',
    );
  });

  it('"Azure AD": azureAd() options are accepted by the module', () => {
    const options = azureAd({
      tenantId: '7fe81447-da57-4385-becb-6de57f21477e',
      audience: [
        'api://contoso-documents',
        '2d4d11a2-f814-46a7-890a-274a72a7309e',
      ],
    });
    expect(() => AuthModule.forRoot(options)).not.toThrow();
    expect(options.resourceId).toBe('api://contoso-documents');
  });
});
