/**
 * RFC 7662 introspection through the compiled sample app, against a real authorization
 * server: oidc-provider issues opaque access tokens for one resource (JWTs for another),
 * serves the introspection endpoint, RFC 7009 revocation and RFC 9701 signed answers.
 */
import { exportJWK, generateKeyPair } from 'jose';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import { resolveAuthOptions } from '../lib/auth-options.js';
import { BearerAuthenticator } from '../lib/bearer-authenticator.service.js';
import { InvalidTokenError } from '../lib/bearer.errors.js';
import { IssuerKeysService } from '../lib/keys/issuer-keys.service.js';
import { TokenIntrospectionService } from '../lib/revocation/token-introspection.service.js';
import { bearer, send, type HttpResult } from './support/http.js';
import { MemoryAdapter } from './support/oidc-memory-adapter.js';
import {
  findFreePort,
  SampleAppProcess,
} from './support/sample-app-process.js';

const OPAQUE_RESOURCE = 'api://opaque';
const JWT_RESOURCE = 'api://jwt';
const SCOPES = 'documents.read documents.write';
const CLIENTS = {
  reader: 'reader-secret',
  admin: 'admin-secret',
  // The API itself, as the introspecting client.
  api: 'api-secret',
} as const;

type ClientId = keyof typeof CLIENTS;

function json<T = Record<string, unknown>>(res: HttpResult): T {
  return JSON.parse(res.text) as T;
}

function basic(clientId: ClientId): string {
  return `Basic ${Buffer.from(`${clientId}:${CLIENTS[clientId]}`).toString('base64')}`;
}

describe('opaque tokens through oidc-provider introspection', () => {
  let server: Server;
  let issuer: string;
  let introspections = 0;
  let app: SampleAppProcess;
  let shortCache: SampleAppProcess;

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
      kid: 'provider-key',
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
        ...(clientId === 'api' && {
          introspection_signed_response_alg: 'RS256',
        }),
      })),
      scopes: SCOPES.split(' '),
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        introspection: { enabled: true },
        jwtIntrospection: { enabled: true },
        revocation: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => OPAQUE_RESOURCE,
          useGrantedResource: () => true,
          getResourceServerInfo: (_ctx: unknown, resource: string) => ({
            scope: SCOPES,
            audience: resource,
            accessTokenFormat: resource === JWT_RESOURCE ? 'jwt' : 'opaque',
            accessTokenTTL: 300,
            ...(resource === JWT_RESOURCE && {
              jwt: { sign: { alg: 'RS256' } },
            }),
          }),
        },
      },
      extraTokenClaims: (_ctx: unknown, token: { clientId?: string }) =>
        token.clientId === 'admin' ? { roles: ['Admin'] } : undefined,
    });
    const callback = provider.callback();
    server.on('request', (req, res) => {
      if (req.url?.startsWith('/token/introspection') === true)
        introspections++;
      callback(req, res);
    });
    const introspection = {
      AUTH_ISSUER: issuer,
      AUTH_AUDIENCE: `${OPAQUE_RESOURCE},${JWT_RESOURCE}`,
      AUTH_INTROSPECTION_URI: `${issuer}/token/introspection`,
      AUTH_INTROSPECTION_CLIENT_ID: 'api',
      AUTH_INTROSPECTION_CLIENT_SECRET: CLIENTS.api,
    };
    [app, shortCache] = await Promise.all([
      SampleAppProcess.start(introspection),
      SampleAppProcess.start({
        ...introspection,
        AUTH_INTROSPECTION_CACHE_MAX_AGE: '1',
        HTTP_ADAPTER: 'fastify',
      }),
    ]);
  });

  afterAll(async () => {
    await SampleAppProcess.stopAll();
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  async function getToken(
    clientId: ClientId,
    scope: string,
    resource = OPAQUE_RESOURCE,
  ): Promise<string> {
    const res = await send(`${issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: basic(clientId),
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        scope,
        resource,
      }).toString(),
    });
    expect(res.status).toBe(200);
    return json<{ access_token: string }>(res).access_token;
  }

  async function revokeAtProvider(clientId: ClientId, token: string) {
    const res = await send(`${issuer}/token/revocation`, {
      method: 'POST',
      headers: {
        authorization: basic(clientId),
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({
        token,
        token_type_hint: 'access_token',
      }).toString(),
    });
    expect(res.status).toBe(200);
  }

  function get(target: SampleAppProcess, path: string, token: string) {
    return send(`${target.url}${path}`, { headers: bearer(token) });
  }

  it('the provider issues opaque tokens (not a JWS)', async () => {
    const token = await getToken('reader', 'documents.read');
    expect(token.split('.')).toHaveLength(1);
  });

  it('accepts an active opaque token: principal, scopes and roles from the answer', async () => {
    const reader = await getToken('reader', 'documents.read');
    // A client credentials token names no subject; the answer's client_id is the client.
    expect(json(await get(app, '/me', reader))).toEqual({
      sub: null,
      scopes: ['documents.read'],
      roles: [],
    });
    expect((await get(app, '/documents', reader)).status).toBe(200);
    const denied = await send(`${app.url}/documents`, {
      method: 'POST',
      headers: { ...bearer(reader), 'content-type': 'application/json' },
      body: '{"title":"no"}',
    });
    expect(denied.status).toBe(403);
    expect(json(denied)).toMatchObject({ error: 'insufficient_scope' });
    const admin = await getToken('admin', 'documents.read');
    expect((await get(app, '/admin', admin)).status).toBe(200);
    expect((await get(app, '/admin', reader)).status).toBe(403);
  });

  it('reuses a cached answer instead of asking again', async () => {
    const token = await getToken('reader', 'documents.read');
    const before = introspections;
    for (let i = 0; i < 5; i++) {
      expect((await get(app, '/me', token)).status).toBe(200);
    }
    expect(introspections - before).toBe(1);
  });

  it('refuses an unknown opaque token (active: false) with 401 invalid_token', async () => {
    const res = await get(app, '/me', 'x'.repeat(43));
    expect(res.status).toBe(401);
    expect(json(res)).toMatchObject({ error: 'invalid_token' });
    expect(res.headers['www-authenticate']).toContain('error="invalid_token"');
  });

  it('refuses a token revoked at the provider (RFC 7009), once the cached answer ends', async () => {
    const unseen = await getToken('reader', 'documents.read');
    await revokeAtProvider('reader', unseen);
    expect((await get(app, '/me', unseen)).status).toBe(401);

    const seen = await getToken('reader', 'documents.read');
    expect((await get(shortCache, '/me', seen)).status).toBe(200);
    await revokeAtProvider('reader', seen);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const res = await get(shortCache, '/me', seen);
    expect(res.status).toBe(401);
    expect(json(res)).toMatchObject({ error: 'invalid_token' });
  });

  it('refuses an opaque token for another audience', async () => {
    const token = await getToken('reader', 'documents.read', 'api://elsewhere');
    const res = await get(app, '/me', token);
    expect(res.status).toBe(401);
    expect(json(res)).toMatchObject({
      error_description: 'The access token is not intended for this resource.',
    });
  });

  it('still verifies JWTs against the JWKS, without introspection', async () => {
    const jwt = await getToken('reader', 'documents.read', JWT_RESOURCE);
    expect(jwt.split('.')).toHaveLength(3);
    const before = introspections;
    expect((await get(app, '/me', jwt)).status).toBe(200);
    expect(introspections).toBe(before);
  });

  it('an opaque token can be revoked at the API too (by client)', async () => {
    const token = await getToken('reader', 'documents.read');
    expect((await get(app, '/me', token)).status).toBe(200);
    const admin = await getToken('admin', 'documents.read');
    const res = await send(`${app.url}/admin/revocations`, {
      method: 'POST',
      headers: { ...bearer(admin), 'content-type': 'application/json' },
      body: JSON.stringify({
        clientId: 'reader',
        issuedBefore: Math.floor(Date.now() / 1000) + 1,
      }),
    });
    expect(res.status).toBe(204);
    const refused = await get(app, '/me', token);
    expect(refused.status).toBe(401);
    expect(json(refused)).toMatchObject({
      error_description: 'The access token is revoked.',
    });
  });

  it('an unreachable introspection endpoint is a 500, never a 401', async () => {
    const down = await SampleAppProcess.start({
      AUTH_ISSUER: issuer,
      AUTH_AUDIENCE: OPAQUE_RESOURCE,
      AUTH_INTROSPECTION_URI: `http://127.0.0.1:${await findFreePort()}/introspect`,
      AUTH_INTROSPECTION_CLIENT_ID: 'api',
      AUTH_INTROSPECTION_CLIENT_SECRET: CLIENTS.api,
    });
    try {
      const token = await getToken('reader', 'documents.read');
      for (let i = 0; i < 2; i++) {
        const res = await get(down, '/me', token);
        expect(res.status).toBe(500);
        expect(res.headers['www-authenticate']).toBeUndefined();
        expect(res.text).not.toMatch(/introspect|ECONNREFUSED/i);
      }
    } finally {
      await down.stop();
    }
  });

  it('wrong client credentials at the endpoint are a 500 too', async () => {
    const wrong = await SampleAppProcess.start({
      AUTH_ISSUER: issuer,
      AUTH_AUDIENCE: OPAQUE_RESOURCE,
      AUTH_INTROSPECTION_URI: `${issuer}/token/introspection`,
      AUTH_INTROSPECTION_CLIENT_ID: 'api',
      AUTH_INTROSPECTION_CLIENT_SECRET: 'not-the-secret',
    });
    try {
      const res = await get(
        wrong,
        '/me',
        await getToken('reader', 'documents.read'),
      );
      expect(res.status).toBe(500);
    } finally {
      await wrong.stop();
    }
  });

  describe('RFC 9701 signed answers (jwtResponse), in process', () => {
    function createService(clientId: ClientId = 'api') {
      // oidc-provider signs its answer whenever the Accept header asks for it (RFC 9701).
      const options = resolveAuthOptions({
        issuer,
        audience: OPAQUE_RESOURCE,
        introspection: {
          uri: `${issuer}/token/introspection`,
          clientId,
          clientSecret: CLIENTS[clientId],
          jwtResponse: true,
        },
      });
      const keys = new IssuerKeysService(options);
      const authenticator = new BearerAuthenticator(options, keys);
      const service = new TokenIntrospectionService(
        options,
        authenticator,
        keys,
      );
      service.onModuleInit();
      return { service, authenticator };
    }

    it('verifies the signed answer with the issuer JWKS and builds the principal', async () => {
      const { authenticator } = createService();
      const token = await getToken('admin', 'documents.read');
      const principal = await authenticator.verifyToken(token);
      expect(principal.claims).toMatchObject({
        client_id: 'admin',
        iss: issuer,
      });
      expect(principal).toMatchObject({
        scopes: ['documents.read'],
        roles: ['Admin'],
      });
    });

    it('an inactive token is refused; a revoked one too', async () => {
      const { service } = createService();
      await expect(
        Promise.resolve().then(() => service.introspect('y'.repeat(43))),
      ).rejects.toBeInstanceOf(InvalidTokenError);
      const token = await getToken('reader', 'documents.read');
      await revokeAtProvider('reader', token);
      await expect(
        Promise.resolve().then(() => service.introspect(token)),
      ).rejects.toBeInstanceOf(InvalidTokenError);
    });
  });
});
