/**
 * The compiled sample app as a process with `AUTH_ROLES_CLAIM` (SAMPLE_APP_CONTRACT.md,
 * second part): app roles read from a dotted path, here Keycloak's `realm_access.roles`.
 */
import { bearer, send } from './support/http.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { SampleAppProcess } from './support/sample-app-process.js';
import { mintToken } from './support/tokens.js';

const AUDIENCE = 'api://sample';

let issuer: JwksServer;
let key: TestKey;

beforeAll(async () => {
  key = await createTestKey();
  issuer = await JwksServer.start({ keys: [key] });
});

afterAll(async () => {
  await SampleAppProcess.stopAll();
  await issuer?.close();
});

function token(claims: Record<string, unknown>): Promise<string> {
  return mintToken(key, {
    iss: issuer.issuer,
    aud: AUDIENCE,
    sub: 'alice',
    ...claims,
  });
}

function startApp(env: Record<string, string>): Promise<SampleAppProcess> {
  return SampleAppProcess.start({
    AUTH_ISSUER: issuer.issuer,
    AUTH_AUDIENCE: AUDIENCE,
    ...env,
  });
}

const KEYCLOAK = {
  realm_access: { roles: ['Admin', 'offline_access'] },
  resource_access: { account: { roles: ['view-profile'] } },
};

describe('AUTH_ROLES_CLAIM', () => {
  it('reads the roles at realm_access.roles: /admin 200, /me lists them', async () => {
    const app = await startApp({ AUTH_ROLES_CLAIM: 'realm_access.roles' });
    try {
      const admin = await send(`${app.url}/admin`, {
        headers: bearer(await token(KEYCLOAK)),
      });
      expect(admin.status).toBe(200);
      expect(JSON.parse(admin.text)).toMatchObject({
        roles: ['Admin', 'offline_access'],
      });
      const me = await send(`${app.url}/me`, {
        headers: bearer(await token(KEYCLOAK)),
      });
      expect(JSON.parse(me.text)).toEqual({
        sub: 'alice',
        scopes: [],
        roles: ['Admin', 'offline_access'],
      });
    } finally {
      await app.stop();
    }
  });

  it('then ignores a top-level roles claim: 403 insufficient_access', async () => {
    const app = await startApp({ AUTH_ROLES_CLAIM: 'realm_access.roles' });
    try {
      const res = await send(`${app.url}/admin`, {
        headers: bearer(await token({ roles: ['Admin'] })),
      });
      expect(res.status).toBe(403);
      expect(res.headers['www-authenticate']).toContain(
        'error="insufficient_access"',
      );
      expect(JSON.parse(res.text)).toMatchObject({
        error: 'insufficient_access',
      });
    } finally {
      await app.stop();
    }
  });

  it('unset, reads roles (the contract default) and not realm_access.roles', async () => {
    const app = await startApp({});
    try {
      const top = await send(`${app.url}/admin`, {
        headers: bearer(await token({ roles: ['Admin'] })),
      });
      expect(top.status).toBe(200);
      const nested = await send(`${app.url}/admin`, {
        headers: bearer(await token(KEYCLOAK)),
      });
      expect(nested.status).toBe(403);
    } finally {
      await app.stop();
    }
  });

  it('with the development issuer, /dev/token writes the roles where the app reads them', async () => {
    const app = await SampleAppProcess.start({
      AUTH_ROLES_CLAIM: 'realm_access.roles',
    });
    try {
      const issued = await send(`${app.url}/dev/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sub: 'alice', roles: ['Admin'] }),
      });
      expect(issued.status).toBe(201);
      const { access_token: devToken } = JSON.parse(issued.text) as {
        access_token: string;
      };
      const payload = JSON.parse(
        Buffer.from(devToken.split('.')[1] ?? '', 'base64url').toString(),
      ) as Record<string, unknown>;
      expect(payload).not.toHaveProperty('roles');
      const admin = await send(`${app.url}/admin`, {
        headers: bearer(devToken),
      });
      expect(admin.status).toBe(200);
      expect(JSON.parse(admin.text)).toMatchObject({ roles: ['Admin'] });
    } finally {
      await app.stop();
    }
  });

  it.each([
    ['realm_access..roles', 'empty segment'],
    ['__proto__.roles', 'must not contain the segment "__proto__"'],
  ])(
    'stops on AUTH_ROLES_CLAIM=%s with one line naming it',
    async (value, problem) => {
      const result = await SampleAppProcess.runToExit({
        PORT: '1',
        AUTH_ROLES_CLAIM: value,
      });
      expect(result.code).toBe(1);
      const lines = result.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain('AUTH_ROLES_CLAIM');
      expect(lines[0]).toContain(problem);
      expect(result.stdout).toBe('');
    },
  );
});
