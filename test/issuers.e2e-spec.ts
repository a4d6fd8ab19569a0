/**
 * Several issuers and tenants, over HTTP on Express and Fastify: two loopback issuers at
 * once (Keycloak-shaped and Auth0-shaped, each with its own keys, audience and claim map),
 * a run-time resolver adding a third, and a flood of invented issuers that reaches no
 * server and leaves the registry bounded. Also the README example, compared and run.
 */
import type { INestApplication } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  IssuerRegistry,
  type AuthModuleOptions,
  type IssuerConfig,
} from '../lib/index.js';
import {
  ADAPTERS,
  startScenarioApp,
  type ScenarioApp,
} from './scenario/scenario-app.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { mintToken } from './support/tokens.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

let keycloakKey: TestKey;
let auth0Key: TestKey;
let tenantKey: TestKey;
let keycloak: JwksServer;
let auth0: JwksServer;
let tenant: JwksServer;
/** A server the invented issuers point at; nothing may ever reach it. */
let trap: Server;
let trapUrl: string;
let trapRequests = 0;

beforeAll(async () => {
  [keycloakKey, auth0Key, tenantKey] = await Promise.all([
    createTestKey(),
    createTestKey({ alg: 'ES256' }),
    createTestKey(),
  ]);
  [keycloak, auth0, tenant] = await Promise.all([
    JwksServer.start({ keys: [keycloakKey], issuerPath: '/realms/acme' }),
    JwksServer.start({ keys: [auth0Key] }),
    JwksServer.start({ keys: [tenantKey], issuerPath: '/tenant-3' }),
  ]);
  trap = createServer((_req, res) => {
    trapRequests++;
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => trap.listen(0, '127.0.0.1', resolve));
  trapUrl = `http://127.0.0.1:${(trap.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await Promise.all([keycloak?.close(), auth0?.close(), tenant?.close()]);
  await new Promise((resolve) => trap?.close(resolve));
});

/** Every request that reached an issuer (discovery and JWKS) or the trap. */
const serverRequests = () =>
  [keycloak, auth0, tenant].reduce(
    (sum, server) => sum + server.jwksRequests + server.discoveryRequests,
    trapRequests,
  );

const KEYCLOAK_AUDIENCE = 'account-api';
const AUTH0_AUDIENCE = 'https://api.acme.com';

const keycloakToken = (more: Record<string, unknown> = {}) =>
  mintToken(keycloakKey, {
    iss: keycloak.issuer,
    aud: KEYCLOAK_AUDIENCE,
    sub: 'kc-alice',
    scope: 'documents.read',
    realm_access: { roles: ['Admin', 'offline_access'] },
    ...more,
  });
const auth0Token = (more: Record<string, unknown> = {}) =>
  mintToken(auth0Key, {
    iss: auth0.issuer,
    aud: AUTH0_AUDIENCE,
    sub: 'auth0|bob',
    scope: 'openid',
    permissions: ['documents.read', 'Admin'],
    ...more,
  });
const tenantToken = (more: Record<string, unknown> = {}) =>
  mintToken(tenantKey, {
    iss: tenant.issuer,
    aud: 'api://tenant-3',
    sub: 'carol',
    roles: ['Admin'],
    ...more,
  });

const KEYCLOAK: IssuerConfig = {
  issuer: '',
  audience: KEYCLOAK_AUDIENCE,
  roleClaim: 'realm_access.roles',
};
const AUTH0: IssuerConfig = {
  issuer: '',
  audience: AUTH0_AUDIENCE,
  jwksUri: '',
  algorithms: ['ES256'],
  roleClaim: 'permissions',
  scopeClaims: ['scope', 'permissions'],
};
const listed = (): IssuerConfig[] => [
  { ...KEYCLOAK, issuer: keycloak.issuer },
  { ...AUTH0, issuer: auth0.issuer, jwksUri: auth0.jwksUri },
];

/** A token for `iss` that nobody signed: it must be refused before its signature matters. */
function inventedToken(iss: string): string {
  const segment = (value: object) =>
    Buffer.from(JSON.stringify(value)).toString('base64url');
  const exp = Math.floor(Date.now() / 1000) + 300;
  return [
    segment({ alg: 'RS256', kid: 'k1', typ: 'JWT' }),
    segment({ iss, aud: 'api://tenant-3', sub: 'x', exp }),
    randomBytes(256).toString('base64url'),
  ].join('.');
}

async function get(
  url: string,
  token?: string,
): Promise<{ status: number; challenge: string | null; body: unknown }> {
  const response = await fetch(url, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  const text = await response.text();
  return {
    status: response.status,
    challenge: response.headers.get('www-authenticate'),
    body: text === '' ? undefined : (JSON.parse(text) as unknown),
  };
}

/** Sends one request per token, `concurrency` at a time; the statuses seen. */
async function flood(
  url: string,
  tokens: readonly string[],
  concurrency = 50,
): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < tokens.length) {
        const token = tokens[next++];
        const response = await fetch(url, {
          headers: { authorization: `Bearer ${token}` },
        });
        await response.arrayBuffer();
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
      }
    }),
  );
  return statuses;
}

/** A full collection, so that heap sizes compare; `--expose-gc` is switched on here. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe.each(ADAPTERS)('several issuers (%s)', (adapter) => {
  describe('a static list: Keycloak-shaped and Auth0-shaped issuers at once', () => {
    let scenario: ScenarioApp;

    beforeAll(async () => {
      scenario = await startScenarioApp(
        {
          issuers: listed(),
          jwks: { cooldown: 0 },
          protectedResourceMetadata: { resource: 'https://api.example.com' },
        },
        { adapter },
      );
    });
    afterAll(() => scenario?.app.close());

    it("reads each issuer's roles and scopes with its own claim map", async () => {
      const a = await get(`${scenario.url}/me`, await keycloakToken());
      expect(a).toMatchObject({
        status: 200,
        body: {
          sub: 'kc-alice',
          scopes: ['documents.read'],
          roles: ['Admin', 'offline_access'],
        },
      });
      const b = await get(`${scenario.url}/me`, await auth0Token());
      expect(b).toMatchObject({
        status: 200,
        body: {
          sub: 'auth0|bob',
          scopes: ['openid', 'documents.read', 'Admin'],
          roles: ['documents.read', 'Admin'],
        },
      });
      // @Roles('Admin') and @Scopes('documents.read'), each from its issuer's claims.
      expect(
        (await get(`${scenario.url}/admin`, await auth0Token())).status,
      ).toBe(200);
      expect(
        (await get(`${scenario.url}/read`, await keycloakToken())).status,
      ).toBe(200);
      expect(
        (
          await get(
            `${scenario.url}/admin`,
            await keycloakToken({
              realm_access: { roles: [] },
              roles: ['Admin'],
            }),
          )
        ).status,
      ).toBe(403);
    });

    it("refuses a token of issuer A for B's audience, and a token naming A signed with B's key", async () => {
      const crossed = await get(
        `${scenario.url}/me`,
        await keycloakToken({ aud: AUTH0_AUDIENCE }),
      );
      expect(crossed.status).toBe(401);
      expect(crossed.challenge).toContain('error="invalid_token"');
      const forged = await mintToken(
        { ...auth0Key, kid: keycloakKey.kid, alg: 'ES256' },
        { iss: keycloak.issuer, aud: KEYCLOAK_AUDIENCE, sub: 'mallory' },
      );
      expect((await get(`${scenario.url}/me`, forged)).status).toBe(401);
      const wrongKey = await mintToken(
        keycloakKey,
        {
          iss: keycloak.issuer,
          aud: KEYCLOAK_AUDIENCE,
        },
        { header: { kid: 'not-in-the-jwks' } },
      );
      expect((await get(`${scenario.url}/me`, wrongKey)).status).toBe(401);
    });

    it('names the first configured issuer in challenges and every one in RFC 9728 metadata', async () => {
      const refused = await get(`${scenario.url}/me`);
      expect(refused.status).toBe(401);
      expect(refused.challenge).toContain(
        `authorization_uri="${keycloak.issuer}/authorize"`,
      );
      const metadata = await get(
        `${scenario.url}/.well-known/oauth-protected-resource`,
      );
      expect(metadata.body).toMatchObject({
        authorization_servers: [keycloak.issuer, auth0.issuer],
      });
    });

    it('refuses 1,000 invented issuers without a request to any server', async () => {
      const before = serverRequests();
      const statuses = await flood(
        `${scenario.url}/me`,
        Array.from({ length: 1000 }, (_, i) =>
          inventedToken(`${trapUrl}/static/${i}`),
        ),
      );
      expect([...statuses]).toEqual([[401, 1000]]);
      expect(serverRequests()).toBe(before);
    });
  });

  describe('a resolver adding a third issuer at run time', () => {
    let scenario: ScenarioApp;
    let registry: IssuerRegistry;
    const tenants = new Map<string, IssuerConfig>();
    const calls = new Map<string, number>();

    beforeAll(async () => {
      tenants.clear();
      tenants.set(keycloak.issuer, { ...KEYCLOAK, issuer: keycloak.issuer });
      tenants.set(auth0.issuer, {
        ...AUTH0,
        issuer: auth0.issuer,
        jwksUri: auth0.jwksUri,
      });
      const options: AuthModuleOptions = {
        issuers: {
          resolve: (issuer) => {
            calls.set(issuer, (calls.get(issuer) ?? 0) + 1);
            return tenants.get(issuer);
          },
          maxIssuers: 100,
          cacheMaxAge: 300,
        },
        jwks: { cooldown: 0 },
      };
      scenario = await startScenarioApp(options, { adapter });
      registry = scenario.app.get(IssuerRegistry);
    });
    afterAll(() => scenario?.app.close());

    it('refuses the third issuer until the resolver vouches for it, then verifies it with its keys', async () => {
      const token = await tenantToken();
      const before = tenant.jwksRequests + tenant.discoveryRequests;
      const unknown = await get(`${scenario.url}/me`, token);
      expect(unknown.status).toBe(401);
      expect(unknown.challenge).toContain('error="invalid_token"');
      expect(tenant.jwksRequests + tenant.discoveryRequests).toBe(before);
      tenants.set(tenant.issuer, {
        issuer: tenant.issuer,
        audience: 'api://tenant-3',
      });
      // "Not trusted" is cached too, until forgotten (or cacheMaxAge passes).
      expect((await get(`${scenario.url}/me`, token)).status).toBe(401);
      registry.forget(tenant.issuer);
      const known = await get(`${scenario.url}/me`, token);
      expect(known).toMatchObject({
        status: 200,
        body: { sub: 'carol', roles: ['Admin'] },
      });
      // Its keys were found by its own discovery document.
      expect(tenant.discoveryRequests).toBeGreaterThan(0);
    });

    it('asks the resolver once per issuer within cacheMaxAge', async () => {
      calls.clear();
      registry.forget(tenant.issuer);
      registry.forget(keycloak.issuer);
      for (let i = 0; i < 5; i++) {
        // Different tokens, so the token cache hides nothing.
        expect(
          (await get(`${scenario.url}/me`, await tenantToken({ sub: `u${i}` })))
            .status,
        ).toBe(200);
        expect(
          (
            await get(
              `${scenario.url}/me`,
              await keycloakToken({ sub: `k${i}` }),
            )
          ).status,
        ).toBe(200);
      }
      expect(calls.get(tenant.issuer)).toBe(1);
      expect(calls.get(keycloak.issuer)).toBe(1);
      // Concurrent first lookups share one call.
      registry.forget(auth0.issuer);
      const tokens = await Promise.all(
        Array.from({ length: 20 }, (_, i) => auth0Token({ sub: `c${i}` })),
      );
      const statuses = await Promise.all(
        tokens.map(
          async (token) => (await get(`${scenario.url}/me`, token)).status,
        ),
      );
      expect(new Set(statuses)).toEqual(new Set([200]));
      expect(calls.get(auth0.issuer)).toBe(1);
    });

    it('refuses a flood of 5,000 invented issuers with no request to any server, bounded in memory', async () => {
      // Warm up: the code paths and a first batch, so the heap compares like with like.
      await flood(
        `${scenario.url}/me`,
        Array.from({ length: 500 }, (_, i) =>
          inventedToken(`${trapUrl}/warm-up/${i}`),
        ),
      );
      collectGarbage();
      const heapBefore = process.memoryUsage().heapUsed;
      const requestsBefore = serverRequests();
      const callsBefore = registry.stats().resolverCalls;
      const started = performance.now();
      const statuses = await flood(
        `${scenario.url}/me`,
        Array.from({ length: 5000 }, (_, i) =>
          inventedToken(`${trapUrl}/tenant-${adapter}-${i}`),
        ),
      );
      const elapsed = performance.now() - started;
      collectGarbage();
      const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
      const stats = registry.stats();
      expect([...statuses]).toEqual([[401, 5000]]);
      expect(serverRequests()).toBe(requestsBefore);
      expect(trapRequests).toBe(0);
      // One resolver call per invented issuer; the answers and key sources stay bounded.
      expect(stats.resolverCalls - callsBefore).toBe(5000);
      expect(stats.resolved).toBeLessThanOrEqual(100);
      expect(stats.resolvedKeySources).toBeLessThanOrEqual(100);
      expect(stats.pending).toBe(0);
      // Coarse: 5,000 unbounded entries with key sources would take tens of MB.
      expect(heapGrowth).toBeLessThan(16 * 1024 * 1024);
      console.log(
        `issuers flood (${adapter}): 5000 invented issuers, ${serverRequests() - requestsBefore} requests to servers, ` +
          `${stats.resolved} cached answers, ${stats.resolvedKeySources} resolved key sources, ` +
          `heap ${(heapGrowth / 1024 / 1024).toFixed(1)} MiB, ${Math.round(elapsed)} ms`,
      );
      // The vouched-for tenants still work (asked again if the flood pushed them out).
      expect(
        (await get(`${scenario.url}/me`, await tenantToken())).status,
      ).toBe(200);
    });

    it('answers 500, not 401, when the resolver throws, and asks again next time', async () => {
      const failing = await startScenarioApp(
        {
          issuers: {
            resolve: () => {
              throw new Error('tenants table unreachable');
            },
          },
        },
        { adapter },
      );
      try {
        const response = await get(`${failing.url}/me`, await tenantToken());
        expect(response.status).toBe(500);
        expect(failing.app.get(IssuerRegistry).stats()).toMatchObject({
          resolved: 0,
          resolverCalls: 1,
        });
        expect(
          (await get(`${failing.url}/me`, await tenantToken())).status,
        ).toBe(500);
        expect(failing.app.get(IssuerRegistry).stats().resolverCalls).toBe(2);
      } finally {
        await failing.app.close();
      }
    });
  });
});

describe('README "Several issuers and tenants"', () => {
  const EXAMPLE = 'test/support/issuers-readme-example.ts';

  /** The first TypeScript block of a README section. */
  function readmeBlock(section: string): string {
    const readme = readFileSync(`${ROOT}/README.md`, 'utf8');
    const start = readme.indexOf(`\n## ${section}\n`);
    if (start < 0) throw new Error(`README has no section "${section}"`);
    const end = readme.indexOf('\n## ', start + 1);
    const body = readme.slice(start, end < 0 ? undefined : end);
    const block = /```ts\n([\s\S]*?)```/.exec(body);
    if (block === null) throw new Error(`"${section}" has no ts block`);
    return block[1];
  }

  it('prints test/support/issuers-readme-example.ts, but for the import path', () => {
    const example = readFileSync(`${ROOT}/${EXAMPLE}`, 'utf8');
    const code = example.slice(example.indexOf('*/\n') + 3);
    expect(code).toBe(
      readmeBlock('Several issuers and tenants').replace(
        "from 'nestjs-bearer'",
        "from '../../lib/index.js'",
      ),
    );
  });

  let example: typeof import('./support/issuers-readme-example.js');

  beforeAll(async () => {
    // The example reads its issuers when its modules are declared, so set them first.
    process.env.KEYCLOAK_ISSUER = keycloak.issuer;
    process.env.AUTH0_ISSUER = auth0.issuer;
    example = await import('./support/issuers-readme-example.js');
  });
  afterAll(() => {
    delete process.env.KEYCLOAK_ISSUER;
    delete process.env.AUTH0_ISSUER;
  });

  describe.each(ADAPTERS)('(%s)', (adapter) => {
    async function start(module: object): Promise<{
      app: INestApplication;
      url: string;
    }> {
      const moduleRef = await Test.createTestingModule({
        imports: [module as never],
      }).compile();
      const app = moduleRef.createNestApplication(
        adapter === 'fastify' ? new FastifyAdapter() : new ExpressAdapter(),
        { logger: false },
      );
      await app.listen(0, '127.0.0.1');
      return {
        app,
        url: (await app.getUrl()).replace('[::1]', '127.0.0.1'),
      };
    }

    const reportsToken = (key: TestKey, claims: Record<string, unknown>) =>
      mintToken(key, { sub: 'u', ...claims });

    it('ReportsModule: Keycloak realm roles and Auth0 permissions, each for its own audience', async () => {
      const rsaAuth0 = await createTestKey();
      auth0.setKeys([auth0Key, rsaAuth0]);
      const { app, url } = await start(example.ReportsModule);
      try {
        const kc = await get(
          `${url}/reports`,
          await reportsToken(keycloakKey, {
            iss: keycloak.issuer,
            aud: 'reports-api',
            realm_access: { roles: ['reports-admin'] },
          }),
        );
        expect(kc).toMatchObject({
          status: 200,
          body: { roles: ['reports-admin'] },
        });
        const a0 = await get(
          `${url}/reports`,
          await reportsToken(rsaAuth0, {
            iss: auth0.issuer,
            aud: 'https://reports.acme.com',
            permissions: ['reports-admin'],
          }),
        );
        expect(a0).toMatchObject({
          status: 200,
          body: { roles: ['reports-admin'] },
        });
        // Keycloak's audience on an Auth0 token: refused.
        const crossed = await get(
          `${url}/reports`,
          await reportsToken(rsaAuth0, {
            iss: auth0.issuer,
            aud: 'reports-api',
            permissions: ['reports-admin'],
          }),
        );
        expect(crossed.status).toBe(401);
      } finally {
        await app.close();
        auth0.setKeys([auth0Key]);
      }
    });

    it('TenantReportsModule: a tenant added to the map is verified, with the defaults', async () => {
      example.tenants.set(tenant.issuer, { issuer: tenant.issuer });
      const { app, url } = await start(example.TenantReportsModule);
      try {
        const ok = await get(
          `${url}/reports`,
          await reportsToken(tenantKey, {
            iss: tenant.issuer,
            aud: 'reports-api',
            realm_access: { roles: ['reports-admin'] },
          }),
        );
        expect(ok).toMatchObject({
          status: 200,
          body: { roles: ['reports-admin'] },
        });
        const stranger = await get(
          `${url}/reports`,
          inventedToken(`${trapUrl}/stranger`),
        );
        expect(stranger.status).toBe(401);
        expect(trapRequests).toBe(0);
      } finally {
        await app.close();
        example.tenants.clear();
      }
    });
  });
});
