/**
 * The compiled sample app against a real authorization server: `oidc-provider` issues
 * RFC 9068 JWT access tokens (client credentials grant, RFC 8707 resource indicator).
 * The app gets only AUTH_ISSUER and AUTH_AUDIENCE and must find the keys by discovery.
 */
import { exportJWK, generateKeyPair } from 'jose';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import { bearer, send, type HttpResult } from './support/http.js';
import { MemoryAdapter } from './support/oidc-memory-adapter.js';
import { SampleAppProcess } from './support/sample-app-process.js';

const RESOURCE = 'api://sample';
const OTHER_RESOURCE = 'api://other';
/** The sample app's second resource (`GET /reports`, `@Resource()`). */
const REPORTS_RESOURCE = 'api://reports';
const SCOPES = 'documents.read documents.write reports.read';
const CLIENTS = {
  reader: 'reader-secret',
  admin: 'admin-secret',
} as const;

type ClientId = keyof typeof CLIENTS;

type JsonObject = Record<string, unknown>;

function decodeSegment(segment: string): JsonObject {
  return JSON.parse(Buffer.from(segment, 'base64url').toString()) as JsonObject;
}

function json<T = JsonObject>(res: HttpResult): T {
  return JSON.parse(res.text) as T;
}

describe('with oidc-provider as the authorization server', () => {
  let server: Server;
  let issuer: string;
  let app: SampleAppProcess;

  beforeAll(async () => {
    server = createServer();
    await new Promise<void>((resolve) =>
      server.listen(0, '127.0.0.1', resolve),
    );
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { privateKey } = await generateKeyPair('RS256', {
      extractable: true,
    });
    const signingKey = {
      ...(await exportJWK(privateKey)),
      kid: 'oidc-provider-key',
      alg: 'RS256',
      use: 'sig',
    };
    const provider = new Provider(issuer, {
      adapter: MemoryAdapter,
      jwks: { keys: [signingKey] },
      clients: Object.entries(CLIENTS).map(([clientId, secret]) => ({
        client_id: clientId,
        client_secret: secret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        scope: SCOPES,
      })),
      scopes: SCOPES.split(' '),
      ttl: { ClientCredentials: 300 },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => RESOURCE,
          useGrantedResource: () => true,
          // Each resource is its own audience; every one issues RFC 9068 JWTs.
          getResourceServerInfo: (_ctx: unknown, resource: string) => ({
            scope: SCOPES,
            audience: resource,
            accessTokenFormat: 'jwt',
            accessTokenTTL: 300,
            jwt: { sign: { alg: 'RS256' } },
          }),
        },
      },
      // The admin client's tokens carry the Admin app role, as Azure AD's `roles` does.
      extraTokenClaims: (_ctx: unknown, token: { clientId?: string }) =>
        token.clientId === 'admin' ? { roles: ['Admin'] } : undefined,
    });
    server.on('request', provider.callback());
    app = await SampleAppProcess.start({
      AUTH_ISSUER: issuer,
      AUTH_AUDIENCE: RESOURCE,
      AUTH_REPORTS_AUDIENCE: REPORTS_RESOURCE,
    });
  });

  afterAll(async () => {
    await app?.stop();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  /** A client credentials grant at the provider's token endpoint. */
  async function getToken(
    clientId: ClientId,
    scope: string,
    resource?: string,
  ): Promise<string> {
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      scope,
    });
    if (resource !== undefined) form.set('resource', resource);
    const basic = Buffer.from(`${clientId}:${CLIENTS[clientId]}`).toString(
      'base64',
    );
    const res = await send(`${issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${basic}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: form.toString(),
    });
    expect(res.status).toBe(200);
    return json<{ access_token: string }>(res).access_token;
  }

  function get(path: string, token?: string): Promise<HttpResult> {
    return send(`${app.url}${path}`, {
      headers: token === undefined ? {} : bearer(token),
    });
  }

  it('issues RFC 9068 JWTs for the resource', async () => {
    const token = await getToken('reader', 'documents.read');
    const [header, payload] = token.split('.').slice(0, 2).map(decodeSegment);
    expect(header).toMatchObject({ typ: 'at+jwt', alg: 'RS256' });
    expect(payload).toMatchObject({
      iss: issuer,
      aud: RESOURCE,
      scope: 'documents.read',
    });
  });

  it('accepts a token with the right scope (keys found by discovery)', async () => {
    const token = await getToken('reader', 'documents.read');
    const documents = await get('/documents', token);
    expect(documents.status).toBe(200);
    expect(Array.isArray(json(documents))).toBe(true);
    expect(json(await get('/me', token))).toEqual({
      sub: 'reader',
      scopes: ['documents.read'],
      roles: [],
    });
  });

  it('answers a token without the scope with 403 insufficient_scope', async () => {
    const token = await getToken('reader', 'documents.read');
    const res = await send(`${app.url}/documents`, {
      method: 'POST',
      headers: { ...bearer(token), 'content-type': 'application/json' },
      body: '{"title":"denied"}',
    });
    expect(res.status).toBe(403);
    expect(json(res)).toMatchObject({
      error: 'insufficient_scope',
      scope: 'documents.write',
    });
    expect(res.headers['www-authenticate']).toContain(
      'scope="documents.write"',
    );
    const writer = await getToken('reader', SCOPES);
    const created = await send(`${app.url}/documents`, {
      method: 'POST',
      headers: { ...bearer(writer), 'content-type': 'application/json' },
      body: '{"title":"allowed"}',
    });
    expect(created.status).toBe(201);
  });

  it('answers /admin without the Admin role with 403 insufficient_access', async () => {
    const res = await get('/admin', await getToken('reader', 'documents.read'));
    expect(res.status).toBe(403);
    expect(json(res).error).toBe('insufficient_access');
  });

  it('answers /admin with the Admin role', async () => {
    const res = await get('/admin', await getToken('admin', 'documents.read'));
    expect(res.status).toBe(200);
    expect(json(res)).toMatchObject({ sub: 'admin', roles: ['Admin'] });
  });

  it('refuses a token issued for another resource with 401 invalid_token', async () => {
    const token = await getToken('reader', 'documents.read', OTHER_RESOURCE);
    const res = await get('/documents', token);
    expect(res.status).toBe(401);
    expect(json(res).error).toBe('invalid_token');
  });

  it('puts the discovered authorization_endpoint in challenges', async () => {
    const discovery = json<{ authorization_endpoint: string }>(
      await send(`${issuer}/.well-known/openid-configuration`),
    );
    const res = await get('/me');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe(
      `Bearer authorization_uri="${discovery.authorization_endpoint}"`,
    );
  });

  it('binds tokens for two resources to their own routes (RFC 8707 and @Resource())', async () => {
    const forReports = await getToken(
      'reader',
      'documents.read reports.read',
      REPORTS_RESOURCE,
    );
    const [, payload] = forReports.split('.').slice(0, 2).map(decodeSegment);
    expect(payload.aud).toBe(REPORTS_RESOURCE);
    const forDocuments = await getToken(
      'reader',
      'documents.read reports.read',
      RESOURCE,
    );
    expect((await get('/reports', forReports)).status).toBe(200);
    expect((await get('/documents', forDocuments)).status).toBe(200);
    const crossed = await get('/reports', forDocuments);
    expect(crossed.status).toBe(401);
    expect(crossed.headers['www-authenticate']).toContain(
      `resource_id="${REPORTS_RESOURCE}"`,
    );
    expect((await get('/documents', forReports)).status).toBe(401);
  });
});
