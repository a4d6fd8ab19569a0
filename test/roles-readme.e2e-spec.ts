/**
 * README "Roles from your IdP": the example printed there is the one in
 * test/support/roles-readme-example.ts (checked here, line for line), and it behaves as the
 * section says, against a loopback issuer with real keys, on Express and Fastify.
 */
import type { INestApplication } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ADAPTERS } from './scenario/scenario-app.js';
import { bearer, send } from './support/http.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { mintToken } from './support/tokens.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const EXAMPLE = 'test/support/roles-readme-example.ts';

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

it('the README example is test/support/roles-readme-example.ts, but for the import path', () => {
  const example = readFileSync(`${ROOT}/${EXAMPLE}`, 'utf8');
  // Everything after the file's doc comment.
  const code = example.slice(example.indexOf('*/\n') + 3);
  expect(code).toBe(
    readmeBlock('Roles from your IdP').replace(
      "from 'nestjs-bearer'",
      "from '../../lib/index.js'",
    ),
  );
});

let key: TestKey;
let jwks: JwksServer;
let ReportsModule: object;

beforeAll(async () => {
  key = await createTestKey();
  jwks = await JwksServer.start({ keys: [key] });
  // The example reads its issuer when its module is declared, so set it first.
  process.env.AUTH_ISSUER = jwks.issuer;
  ({ ReportsModule } = await import('./support/roles-readme-example.js'));
});
afterAll(async () => {
  await jwks?.close();
  delete process.env.AUTH_ISSUER;
});

describe.each(ADAPTERS)('README "Roles from your IdP" (%s)', (adapter) => {
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [ReportsModule as never],
    }).compile();
    app = moduleRef.createNestApplication(
      adapter === 'fastify' ? new FastifyAdapter() : new ExpressAdapter(),
      { logger: false },
    );
    await app.listen(0, '127.0.0.1');
    url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });
  afterAll(async () => {
    await app?.close();
  });

  const call = async (
    method: string,
    path: string,
    claims: Record<string, unknown>,
  ) =>
    send(`${url}${path}`, {
      method,
      headers: bearer(
        await mintToken(key, {
          iss: jwks.issuer,
          aud: 'reports-api',
          ...claims,
        }),
      ),
    });

  // A Keycloak user's token: realm roles, and scopes in `scope`.
  const user = {
    sub: '8d3b8a52-1b5e-4d0e-9f43-7c1f2d6a9e01',
    azp: 'reports-web',
    scope: 'openid reports.read',
    realm_access: { roles: ['reports-admin', 'reports.export'] },
  };
  // A Keycloak service account with the README's hardcoded `gty` mapper.
  const serviceAccount = {
    sub: '1f0c4e7a-6a8b-4c52-a1d3-0e9b5f2c7d48',
    azp: 'reports-exporter',
    preferred_username: 'service-account-reports-exporter',
    gty: 'client-credentials',
    scope: 'profile',
    realm_access: { roles: ['reports.export'] },
  };

  it('@Scopes(): the user with the scope is let in; a token without it is not', async () => {
    expect((await call('GET', '/reports', user)).status).toBe(200);
    const res = await call('GET', '/reports', serviceAccount);
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text)).toMatchObject({ error: 'insufficient_scope' });
  });

  it("@AppRoles(): the service account is let in, the user's token with the same role is not", async () => {
    expect((await call('POST', '/reports/export', serviceAccount)).status).toBe(
      201,
    );
    const res = await call('POST', '/reports/export', user);
    expect(res.status).toBe(403);
    expect(res.headers['www-authenticate']).toContain(
      'error="insufficient_access"',
    );
    // Without the mapper, a service account is not recognized as an application.
    const { gty: _gty, ...unmapped } = serviceAccount;
    expect((await call('POST', '/reports/export', unmapped)).status).toBe(403);
  });

  it('@Roles(): read from realm_access.roles, whoever holds the role', async () => {
    const removed = await call('DELETE', '/reports/7', user);
    expect(removed.status).toBe(200);
    expect(JSON.parse(removed.text)).toEqual({ removed: '7' });
    expect((await call('DELETE', '/reports/7', serviceAccount)).status).toBe(
      403,
    );
    // A top-level `roles` claim is not where this IdP puts roles.
    expect(
      (
        await call('DELETE', '/reports/7', {
          sub: 'x',
          roles: ['reports-admin'],
        })
      ).status,
    ).toBe(403);
  });
});
