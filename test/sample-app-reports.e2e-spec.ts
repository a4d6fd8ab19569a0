/**
 * The sample app's second resource, `GET /reports` (`@Resource()` with
 * `AUTH_REPORTS_AUDIENCE`), as a process: per-route audiences checked black-box, with an
 * external issuer and with the development issuer's `"audience"` field.
 */
import { randomUUID } from 'node:crypto';
import { bearer, send, type HttpResult } from './support/http.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { SampleAppProcess } from './support/sample-app-process.js';
import { mintToken } from './support/tokens.js';
import { open, refused } from './support/ws-client.js';

const AUDIENCE = 'api://documents';
const REPORTS = 'api://reports';

let key: TestKey;
let jwks: JwksServer;

beforeAll(async () => {
  key = await createTestKey();
  jwks = await JwksServer.start({ keys: [key] });
});
afterAll(async () => {
  await SampleAppProcess.stopAll();
  await jwks?.close();
});

function token(aud: string, scope: string): Promise<string> {
  return mintToken(key, {
    iss: jwks.issuer,
    aud,
    sub: 'alice',
    scope,
    jti: randomUUID(),
  });
}

function json(res: HttpResult): Record<string, unknown> {
  return JSON.parse(res.text) as Record<string, unknown>;
}

describe.each(['express', 'fastify'])(
  'GET /reports with AUTH_REPORTS_AUDIENCE on %s',
  (adapter) => {
    let app: SampleAppProcess;

    beforeAll(async () => {
      app = await SampleAppProcess.start({
        HTTP_ADAPTER: adapter,
        AUTH_ISSUER: jwks.issuer,
        AUTH_AUDIENCE: AUDIENCE,
        AUTH_JWKS_URI: jwks.jwksUri,
        AUTH_REPORTS_AUDIENCE: REPORTS,
      });
    });
    afterAll(() => app?.stop());

    it('accepts a token for api://reports with reports.read', async () => {
      const res = await send(`${app.url}/reports`, {
        headers: bearer(await token(REPORTS, 'reports.read')),
      });
      expect(res.status).toBe(200);
      expect(json(res)).toMatchObject({ resource: REPORTS, sub: 'alice' });
    });

    it("refuses a token for the API's own audience there: 401 naming the resource", async () => {
      const res = await send(`${app.url}/reports`, {
        headers: bearer(await token(AUDIENCE, 'reports.read')),
      });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toContain(
        `resource_id="${REPORTS}"`,
      );
      expect(res.headers['www-authenticate']).toContain(
        'error="invalid_token", error_description="The access token is not intended for this resource."',
      );
    });

    it('refuses a reports token at the WebSocket upgrade, before the socket opens', async () => {
      const wsUrl = `ws://127.0.0.1:${app.port}/ws`;
      const refusal = await refused(
        wsUrl,
        bearer(await token(REPORTS, 'documents.read')),
      );
      expect(refusal.status).toBe(401);
      expect(refusal.headers['www-authenticate']).toContain(
        'The access token is not intended for this resource.',
      );
      const socket = await open(
        wsUrl,
        bearer(await token(AUDIENCE, 'documents.read')),
      );
      await socket.close();
    });

    it('refuses a reports token on the other routes, and a missing scope with 403', async () => {
      const reportsToken = await token(REPORTS, 'documents.read reports.read');
      expect(
        (await send(`${app.url}/documents`, { headers: bearer(reportsToken) }))
          .status,
      ).toBe(401);
      const noScope = await send(`${app.url}/reports`, {
        headers: bearer(await token(REPORTS, '')),
      });
      expect(noScope.status).toBe(403);
      expect(json(noScope)).toMatchObject({
        error: 'insufficient_scope',
        scope: 'reports.read',
      });
    });
  },
);

describe('GET /reports without AUTH_REPORTS_AUDIENCE, and with the development issuer', () => {
  it('is not mounted when AUTH_REPORTS_AUDIENCE is unset', async () => {
    const app = await SampleAppProcess.start({
      AUTH_ISSUER: jwks.issuer,
      AUTH_AUDIENCE: AUDIENCE,
      AUTH_JWKS_URI: jwks.jwksUri,
    });
    try {
      const res = await send(`${app.url}/reports`, {
        headers: bearer(await token(AUDIENCE, 'reports.read')),
      });
      expect(res.status).toBe(404);
    } finally {
      await app.stop();
    }
  });

  it('mints a token for the reports audience on request, and refuses any other audience', async () => {
    const app = await SampleAppProcess.start({
      AUTH_REPORTS_AUDIENCE: REPORTS,
    });
    try {
      const mint = (body: Record<string, unknown>) =>
        send(`${app.url}/dev/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const minted = await mint({ audience: REPORTS, scope: 'reports.read' });
      expect(minted.status).toBe(201);
      const jwt = (json(minted) as { access_token: string }).access_token;
      expect(
        (await send(`${app.url}/reports`, { headers: bearer(jwt) })).status,
      ).toBe(200);
      expect(
        (await send(`${app.url}/me`, { headers: bearer(jwt) })).status,
      ).toBe(401);
      const foreign = await mint({ audience: 'api://somebody-else' });
      expect(foreign.status).toBe(400);
      expect(foreign.text).toContain('audience');
    } finally {
      await app.stop();
    }
  });
});
