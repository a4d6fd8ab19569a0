import type { INestApplication } from '@nestjs/common';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createBearerFetch,
  UntrustedChallengeError,
  type GetTokenRequest,
} from '../lib/client/index.js';
import { Test } from '@nestjs/testing';
import { AuthModule, type AuthModuleOptions } from '../lib/index.js';
import { createScenarioModule } from './scenario/scenario-app.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { mintToken } from './support/tokens.js';

const TENANT = '7fe81447-da57-4385-becb-6de57f21477e';
const AUTHORIZE = `https://login.microsoftonline.com/${TENANT}/oauth2/v2.0/authorize`;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * The client kit against a real API built with the module: the challenges it reads are the
 * ones BearerExceptionFilter writes.
 */
describe('createBearerFetch against a Nest API protected by the module', () => {
  let key: TestKey;
  let jwks: JwksServer;
  let app: INestApplication | undefined;
  let base: string;

  beforeAll(async () => {
    key = await createTestKey({ kid: 'client-kit' });
    jwks = await JwksServer.start({ keys: [key] });
  });
  afterAll(() => jwks.close());
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  /** Starts the API on a port chosen first, so its resource_id can name its own base URL. */
  async function start(overrides: Partial<AuthModuleOptions>): Promise<void> {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const auth = AuthModule.forRoot({
      issuer: jwks.issuer,
      audience: 'api://documents',
      authorizationUri: AUTHORIZE,
      resourceId: `${base}/`,
      ...overrides,
    });
    const moduleRef = await Test.createTestingModule({
      imports: [createScenarioModule(auth)],
    }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.listen(port, '127.0.0.1');
  }

  function tokenProvider(): {
    calls: GetTokenRequest[];
    getToken: (request: GetTokenRequest) => Promise<string>;
  } {
    const calls: GetTokenRequest[] = [];
    return {
      calls,
      getToken: (request) => {
        calls.push(request);
        // As Entra ID does, the token carries the scope names without the resource.
        const scp = (request.scopes ?? ['api://documents/documents.read'])
          .map((scope) => scope.replace(/^api:\/\/documents\//, ''))
          .join(' ');
        // The first token handed out is expired, as a stale cache would give.
        const expiresIn = calls.length === 1 ? -600 : 600;
        return mintToken(
          key,
          { iss: jwks.issuer, aud: 'api://documents', sub: 'alice', scp },
          { expiresIn },
        );
      },
    };
  }

  it('gets a new token once on invalid_token, then asks for the scope of insufficient_scope', async () => {
    await start({});
    const provider = tokenProvider();
    const api = createBearerFetch({
      getToken: provider.getToken,
      // The module's challenges carry bare scopes; they belong to this resource.
      verify: { expectedTenant: TENANT, resource: 'api://documents' },
      sleep: () => Promise.resolve(),
    });
    const read = await api(`${base}/read`);
    expect(read.status).toBe(200);
    expect(provider.calls.map((c) => c.forceRefresh)).toEqual([false, true]);

    const write = await api(`${base}/write`, { method: 'POST' });
    expect(write.status).toBe(201);
    const last = provider.calls.at(-1);
    expect(last?.scopes).toEqual(['api://documents/documents.write']);
  });

  it('refuses a challenge whose authorization_uri is not a trusted authority', async () => {
    await start({ authorizationUri: 'https://login.evil.example/authorize' });
    const provider = tokenProvider();
    const api = createBearerFetch({
      getToken: provider.getToken,
      verify: {},
      sleep: () => Promise.resolve(),
    });
    await expect(api(`${base}/read`)).rejects.toBeInstanceOf(
      UntrustedChallengeError,
    );
    // Only the first token was ever asked for: nothing was requested for the untrusted server.
    expect(provider.calls).toHaveLength(1);
  });

  it('refuses a resource_id that is not under the API it called', async () => {
    await start({ resourceId: 'https://service.contoso.com/' });
    const api = createBearerFetch({
      getToken: tokenProvider().getToken,
      verify: {},
      sleep: () => Promise.resolve(),
    });
    await expect(api(`${base}/read`)).rejects.toMatchObject({
      reason: 'resource_id_mismatch',
    });
  });
});
