/**
 * The module's shapes end to end: `forRoot`, every `forRootAsync` variant, options
 * refused at start, per-controller use with `globalGuard: false`, `@Public()`, and what
 * handlers receive (`@Principal()`, `@Claims()`, `request.user`).
 */
import { Test } from '@nestjs/testing';
import {
  AuthConfigurationError,
  AuthModule,
  type AuthModuleOptions,
} from '../lib/index.js';
import { FeatureModule } from './scenario/feature.module.js';
import {
  ADAPTERS,
  createScenarioModule,
  startScenarioApp,
  startScenarioAppAsync,
  type AuthModuleAsyncOptions,
  type ScenarioApp,
} from './scenario/scenario-app.js';
import {
  ScenarioAuthOptionsFactory,
  ScenarioConfigModule,
  ScenarioConfigService,
} from './scenario/scenario-config.module.js';
import { bearer, outcome, send, type Outcome } from './support/http.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { mintToken, tamper } from './support/tokens.js';

const AUDIENCE = 'api://scenario';

let key: TestKey;
let jwks: JwksServer;

beforeAll(async () => {
  key = await createTestKey({ kid: 'key-1' });
  jwks = await JwksServer.start({ keys: [key] });
});

afterAll(() => jwks?.close());

const claims = (extra: Record<string, unknown> = {}) => ({
  iss: jwks.issuer,
  aud: AUDIENCE,
  sub: 'alice',
  ...extra,
});

const get = async (url: string, token?: string): Promise<Outcome> =>
  outcome(
    await send(url, { headers: token === undefined ? {} : bearer(token) }),
  );

describe.each(ADAPTERS)('AuthModule on %s', (adapter) => {
  describe('forRoot: decorators and request state', () => {
    let scenario: ScenarioApp;

    beforeAll(async () => {
      scenario = await startScenarioApp(
        { issuer: jwks.issuer, audience: AUDIENCE, jwksUri: jwks.jwksUri },
        { adapter },
      );
    });

    afterAll(() => scenario?.app.close());

    it('@Public() skips the guard, with or without a (bad) token', async () => {
      const bad = tamper(await mintToken(key, claims()));
      for (const token of [undefined, bad, 'not-a-jwt']) {
        expect(await get(`${scenario.url}/public`, token)).toMatchObject({
          status: 200,
          challenge: undefined,
          body: { status: 'ok' },
        });
      }
    });

    it('guards every other route by default', async () => {
      expect((await get(`${scenario.url}/me`)).status).toBe(401);
      expect((await get(`${scenario.url}/claim`)).status).toBe(401);
    });

    it('@Principal() delivers sub, scopes and roles', async () => {
      const token = await mintToken(
        key,
        claims({ scp: 'a b', scope: 'c', roles: ['Admin', 'Reader'] }),
      );
      expect((await get(`${scenario.url}/me`, token)).body).toEqual({
        sub: 'alice',
        scopes: ['a', 'b', 'c'],
        roles: ['Admin', 'Reader'],
      });
    });

    it("@Claims('tid') delivers one claim", async () => {
      const token = await mintToken(key, claims({ tid: 'tenant-42' }));
      expect((await get(`${scenario.url}/claim`, token)).body).toEqual({
        tid: 'tenant-42',
      });
      const without = await mintToken(key, claims());
      expect((await get(`${scenario.url}/claim`, without)).body).toEqual({});
    });

    it('sets request.user to the principal', async () => {
      const token = await mintToken(key, claims({ sub: 'carol' }));
      expect((await get(`${scenario.url}/user`, token)).body).toEqual({
        sub: 'carol',
        samePrincipal: true,
      });
    });
  });

  describe('forRootAsync', () => {
    const settings = (): AuthModuleOptions => ({
      issuer: jwks.issuer,
      audience: AUDIENCE,
      jwksUri: jwks.jwksUri,
      realm: 'from-config',
    });

    const variants: [string, () => AuthModuleAsyncOptions][] = [
      [
        'useFactory with inject',
        () => ({
          imports: [ScenarioConfigModule.register(settings())],
          inject: [ScenarioConfigService],
          useFactory: (config: ScenarioConfigService) =>
            Promise.resolve({
              issuer: config.get('issuer'),
              audience: config.get('audience'),
              jwksUri: config.get('jwksUri'),
              realm: config.get('realm'),
            }),
        }),
      ],
      [
        'useClass',
        () => ({
          imports: [ScenarioConfigModule.register(settings())],
          useClass: ScenarioAuthOptionsFactory,
        }),
      ],
      [
        'useExisting',
        () => ({
          imports: [ScenarioConfigModule.register(settings())],
          useExisting: ScenarioAuthOptionsFactory,
        }),
      ],
    ];

    it.each(variants)('takes its options from %s', async (_name, options) => {
      const scenario = await startScenarioAppAsync(options(), { adapter });
      try {
        const token = await mintToken(key, claims());
        expect((await get(`${scenario.url}/me`, token)).status).toBe(200);
        // The realm and the audience check come from the provided options.
        const foreign = await mintToken(key, claims({ aud: 'api://other' }));
        expect(await get(`${scenario.url}/me`, foreign)).toMatchObject({
          status: 401,
          challenge: `Bearer realm="from-config", authorization_uri="${jwks.issuer}/authorize", error="invalid_token", error_description="The access token is not intended for this resource."`,
        });
      } finally {
        await scenario.app.close();
      }
    });
  });

  describe('globalGuard: false with @UseGuards(BearerGuard) in a feature module', () => {
    let scenario: ScenarioApp;

    beforeAll(async () => {
      scenario = await startScenarioApp(
        {
          issuer: jwks.issuer,
          audience: AUDIENCE,
          jwksUri: jwks.jwksUri,
          authorizationUri: 'https://login.example.com/authorize',
          globalGuard: false,
        },
        { adapter, imports: [FeatureModule], controllers: [] },
      );
    });

    afterAll(() => scenario?.app.close());

    it('leaves unguarded routes open', async () => {
      expect(await get(`${scenario.url}/open`)).toMatchObject({
        status: 200,
        body: { open: true },
      });
    });

    it('guards the controller that asks for it, with the full challenge', async () => {
      expect(await get(`${scenario.url}/feature`)).toMatchObject({
        status: 401,
        challenge:
          'Bearer authorization_uri="https://login.example.com/authorize"',
        body: {
          statusCode: 401,
          error: null,
          error_description: null,
          message: 'Authentication is required.',
        },
      });
      const token = await mintToken(key, claims());
      expect(await get(`${scenario.url}/feature`, token)).toMatchObject({
        status: 200,
        body: { sub: 'alice' },
      });
    });

    it('enforces @Scopes() on the guarded controller', async () => {
      const token = await mintToken(key, claims({ scp: 'profile' }));
      expect(await get(`${scenario.url}/feature/read`, token)).toMatchObject({
        status: 403,
        challenge:
          'Bearer authorization_uri="https://login.example.com/authorize", error="insufficient_scope", error_description="The access token does not grant the scope this resource requires.", scope="documents.read"',
      });
    });
  });
});

describe('options refused at start', () => {
  const base = (): AuthModuleOptions => ({
    issuer: jwks.issuer,
    audience: AUDIENCE,
    jwksUri: jwks.jwksUri,
  });

  const compile = (auth: ReturnType<typeof AuthModule.forRoot>) =>
    Test.createTestingModule({
      imports: [createScenarioModule(auth)],
    }).compile();

  it.each<[string, () => Record<string, unknown>]>([
    ['issuer', () => ({ ...base(), issuer: 'not a url' })],
    ['audience', () => ({ ...base(), audience: '' })],
    ['audience', () => ({ ...base(), audience: [] })],
    ['algorithms', () => ({ ...base(), algorithms: ['HS256'] })],
    ['algorithms', () => ({ ...base(), algorithms: ['none'] })],
    ['jwksUri', () => ({ ...base(), jwksUri: 'ftp://example.com/keys' })],
    ['tokenLocations', () => ({ ...base(), tokenLocations: ['cookie'] })],
    ['jwks.timeout', () => ({ ...base(), jwks: { timeout: 1 } })],
    // A list entry is a configuration object, not a bare URL.
    ['issuers[0]', () => ({ ...base(), issuers: [jwks.issuer] })],
    ['issuerz', () => ({ ...base(), issuerz: [jwks.issuer] })],
  ])('forRoot: names "%s", when forRoot() is called', (option, options) => {
    let error: unknown;
    try {
      AuthModule.forRoot(options());
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AuthConfigurationError);
    expect(error).toMatchObject({ option });
    expect((error as Error).message).toContain(`"${option}"`);
  });

  it('forRootAsync: a factory that returns a wrong option stops the start', async () => {
    await expect(
      compile(
        AuthModule.forRootAsync({
          useFactory: () => ({ ...base(), clockTolerance: -1 }),
        }),
      ),
    ).rejects.toThrow(
      new AuthConfigurationError(
        'clockTolerance',
        'must be between 0 and 600.',
      ),
    );
  });
});
