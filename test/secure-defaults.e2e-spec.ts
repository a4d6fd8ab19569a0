/**
 * Secure by default on HTTP: decorator combinations that cannot be what the author meant
 * are reported at start, `@OptionalAuth()`, and a challenge that survives an app's own
 * catch-all exception filter.
 */
import {
  Catch,
  Controller,
  Get,
  Module,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import { APP_FILTER, HttpAdapterHost } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import {
  AuthCoverageError,
  AuthModule,
  OptionalAuth,
  Principal,
  Public,
  Scopes,
  type AuthModuleOptions,
  type BearerPrincipal,
} from '../lib/index.js';
import {
  ADAPTERS,
  createScenarioModule,
  startScenarioApp,
  type ScenarioApp,
} from './scenario/scenario-app.js';
import { CapturingLogger } from './support/capturing-logger.js';
import { bearer, send } from './support/http.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { mintToken } from './support/tokens.js';

const AUDIENCE = 'api://secure-defaults';

let key: TestKey;
let jwks: JwksServer;

beforeAll(async () => {
  key = await createTestKey();
  jwks = await JwksServer.start({ keys: [key] });
});
afterAll(() => jwks?.close());

const options = (
  extra: Partial<AuthModuleOptions> = {},
): AuthModuleOptions => ({
  issuer: jwks.issuer,
  audience: AUDIENCE,
  jwksUri: jwks.jwksUri,
  ...extra,
});
const token = (extra: Record<string, unknown> = {}) =>
  mintToken(key, { iss: jwks.issuer, aud: AUDIENCE, sub: 'alice', ...extra });

@Controller('feed')
class FeedController {
  @OptionalAuth()
  @Get()
  feed(@Principal() caller: BearerPrincipal | undefined): {
    sub: string | null;
  } {
    return { sub: caller?.sub ?? null };
  }
}

@Public()
@Controller('mixed')
class MixedController {
  @Get('open')
  open(): { open: boolean } {
    return { open: true };
  }

  @Scopes('documents.read')
  @Get('scoped')
  scoped(): { scoped: boolean } {
    return { scoped: true };
  }
}

async function compileWith(
  controllers: (new () => unknown)[],
  extra: Partial<AuthModuleOptions> = {},
): Promise<unknown> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      createScenarioModule(AuthModule.forRoot(options(extra)), { controllers }),
    ],
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

describe('start-up checks', () => {
  it('refuses @Public() and @Scopes() on the same handler, naming it', async () => {
    @Controller()
    class Contradiction {
      @Public()
      @Scopes('a')
      @Get()
      both(): void {}
    }
    const error = await compileWith([Contradiction]);
    expect(error).toBeInstanceOf(AuthCoverageError);
    expect((error as Error).message).toContain('Contradiction.both()');
  });

  it('refuses @OptionalAuth() with a requirement', async () => {
    @Controller()
    class OptionalScoped {
      @OptionalAuth()
      @Scopes('a')
      @Get()
      both(): void {}
    }
    expect(await compileWith([OptionalScoped])).toBeInstanceOf(
      AuthCoverageError,
    );
  });

  it('refuses a requirement that no guard covers when globalGuard is off', async () => {
    @Controller()
    class Unguarded {
      @Scopes('a')
      @Get()
      read(): void {}
    }
    const error = await compileWith([Unguarded], { globalGuard: false });
    expect(error).toBeInstanceOf(AuthCoverageError);
    expect((error as Error).message).toContain('Unguarded.read()');
    expect((error as Error).message).toContain('@UseGuards(BearerGuard)');
  });

  it('starts when everything is covered', async () => {
    expect(
      await compileWith([FeedController, MixedController]),
    ).toBeUndefined();
  });

  it('warns when a @Public() class holds a requirement', async () => {
    const logger = new CapturingLogger();
    const moduleRef = await Test.createTestingModule({
      imports: [
        createScenarioModule(AuthModule.forRoot(options()), {
          controllers: [MixedController],
        }),
      ],
    }).compile();
    const app = moduleRef.createNestApplication({ logger });
    await app.init();
    await app.close();
    expect(logger.text).toMatch(
      /warn \[nestjs-bearer\] MixedController\.scoped\(\) requires .* the requirement wins/,
    );
  });
});

/** A catch-all filter that writes only a body of its own, as many apps have. */
@Catch()
class BodyOnlyFilter implements ExceptionFilter {
  constructor(private readonly host: HttpAdapterHost) {}
  catch(exception: unknown, context: ArgumentsHost): void {
    const status =
      typeof (exception as { getStatus?: unknown }).getStatus === 'function'
        ? (exception as { getStatus(): number }).getStatus()
        : 500;
    this.host.httpAdapter.reply(
      context.switchToHttp().getResponse(),
      { failed: true },
      status,
    );
  }
}

@Module({ providers: [{ provide: APP_FILTER, useClass: BodyOnlyFilter }] })
class CatchAllModule {}

describe.each(ADAPTERS)('on %s', (adapter) => {
  let scenario: ScenarioApp;

  beforeAll(async () => {
    scenario = await startScenarioApp(options(), {
      adapter,
      controllers: [FeedController, MixedController],
      imports: [CatchAllModule],
    });
  });
  afterAll(() => scenario?.app.close());

  it('@OptionalAuth(): runs without credentials, with the caller, and refuses a bad token', async () => {
    const none = await send(`${scenario.url}/feed`);
    expect(none.status).toBe(200);
    expect(JSON.parse(none.text)).toEqual({ sub: null });
    const valid = await send(`${scenario.url}/feed`, {
      headers: bearer(await token()),
    });
    expect(JSON.parse(valid.text)).toEqual({ sub: 'alice' });
    const bad = await send(`${scenario.url}/feed`, {
      headers: bearer(`${await token()}x`),
    });
    expect(bad.status).toBe(401);
    expect(bad.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  it('a requirement inside a @Public() class wins: a token is required', async () => {
    expect((await send(`${scenario.url}/mixed/open`)).status).toBe(200);
    const refused = await send(`${scenario.url}/mixed/scoped`);
    expect(refused.status).toBe(401);
    const granted = await send(`${scenario.url}/mixed/scoped`, {
      headers: bearer(await token({ scp: 'documents.read' })),
    });
    expect(granted.status).toBe(200);
  });

  it("keeps the challenge when the app's catch-all filter writes its own body", async () => {
    const none = await send(`${scenario.url}/mixed/scoped`);
    // The app's filter answered (its body), yet the challenge is on the response.
    expect(JSON.parse(none.text)).toEqual({ failed: true });
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe(
      `Bearer authorization_uri="${jwks.url}/authorize"`,
    );
    const scope = await send(`${scenario.url}/mixed/scoped`, {
      headers: bearer(await token({ scp: 'other' })),
    });
    expect(scope.status).toBe(403);
    expect(scope.headers['www-authenticate']).toContain(
      'error="insufficient_scope"',
    );
    expect(scope.headers['www-authenticate']).toContain(
      'scope="documents.read"',
    );
  });
});
