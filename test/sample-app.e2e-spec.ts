/**
 * The sample app as users run it: the compiled `dist/sample-app/main.js` in its own
 * process (what `npm run start:prod` runs), driven over real HTTP. These tests pin the
 * contract of SAMPLE_APP_CONTRACT.md.
 */
import { InvalidTokenError } from '../lib/index.js';
import { bearer, send, type HttpResult } from './support/http.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { SampleAppProcess } from './support/sample-app-process.js';
import { mintToken, tamper, type MintTokenOptions } from './support/tokens.js';

const ADAPTERS = ['express', 'fastify'] as const;
const AUDIENCE = 'api://sample';
const INTERNAL_ERROR = {
  statusCode: 500,
  error: null,
  error_description: null,
  message: 'An internal error occurred. The request may be retried.',
};
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const JSON_TYPE = { 'content-type': 'application/json' };

/** The fields the specs read from JSON answers. */
interface Answer {
  [field: string]: unknown;
  statusCode?: number;
  error?: string | null;
  error_description?: string | null;
  scope?: string;
  id?: string;
}

function json<T = Answer>(res: HttpResult): T {
  return JSON.parse(res.text) as T;
}

interface DocumentAnswer {
  id: string;
  owner: string | null;
  title: string;
}

function description(
  reason: ConstructorParameters<typeof InvalidTokenError>[0],
): string {
  return new InvalidTokenError(reason).description as string;
}

afterAll(() => SampleAppProcess.stopAll());

describe.each(ADAPTERS)('with an external issuer, on %s', (adapter) => {
  let issuer: JwksServer;
  let key: TestKey;
  let app: SampleAppProcess;
  let challengePrefix: string;

  beforeAll(async () => {
    key = await createTestKey();
    issuer = await JwksServer.start({ keys: [key] });
    app = await SampleAppProcess.start({
      HTTP_ADAPTER: adapter,
      AUTH_ISSUER: issuer.issuer,
      AUTH_AUDIENCE: `api://other, ${AUDIENCE}`,
      AUTH_REALM: 'sample',
      AUTH_RESOURCE_ID: AUDIENCE,
      AUTH_TOKEN_LOCATIONS: 'header,body,query',
    });
    // AUTH_AUTHORIZATION_URI is unset: discovery's authorization_endpoint is used.
    challengePrefix = `Bearer realm="sample", authorization_uri="${issuer.issuer}/authorize", resource_id="${AUDIENCE}"`;
  });

  afterAll(async () => {
    await app?.stop();
    await issuer?.close();
  });

  function token(
    claims: Record<string, unknown> = {},
    opts?: MintTokenOptions,
  ): Promise<string> {
    return mintToken(
      key,
      {
        iss: issuer.issuer,
        aud: AUDIENCE,
        sub: 'alice',
        scope: 'documents.read documents.write',
        roles: ['Admin'],
        ...claims,
      },
      opts,
    );
  }

  function get(path: string, headers: Record<string, string | string[]> = {}) {
    return send(`${app.url}${path}`, { headers });
  }

  /** Status, exact challenge, and a JSON body that mirrors it. */
  function expectError(
    res: HttpResult,
    status: number,
    error?: string,
    errorDescription?: string,
    scope?: string,
  ): void {
    let challenge = challengePrefix;
    if (error !== undefined) challenge += `, error="${error}"`;
    if (errorDescription !== undefined) {
      challenge += `, error_description="${errorDescription}"`;
    }
    if (scope !== undefined) challenge += `, scope="${scope}"`;
    expect({
      status: res.status,
      challenge: res.headers['www-authenticate'],
    }).toEqual({ status, challenge });
    const body = json(res);
    expect(body.statusCode).toBe(status);
    // One body shape: no error code is `null`, never a missing key.
    expect(body.error).toBe(error ?? null);
    expect(body.error_description).toBe(errorDescription ?? null);
    expect(body.message).toBe(
      errorDescription ?? 'Authentication is required.',
    );
    expect(body.scope).toBe(scope);
  }

  describe('routes', () => {
    it('answers GET /health without a token', async () => {
      const res = await get('/health');
      expect(res.status).toBe(200);
      expect(json(res)).toEqual({ status: 'ok' });
    });

    it('answers GET /me with sub, scopes and roles', async () => {
      const res = await get('/me', bearer(await token()));
      expect(res.status).toBe(200);
      expect(json(res)).toEqual({
        sub: 'alice',
        scopes: ['documents.read', 'documents.write'],
        roles: ['Admin'],
      });
    });

    it('reads scopes from scp (string or array) and scope together', async () => {
      const fromString = await get(
        '/me',
        bearer(await token({ scp: 'a.read b.read', scope: 'c.read' })),
      );
      const fromArray = await get(
        '/me',
        bearer(await token({ scp: ['a.read'], scope: undefined })),
      );
      const scopesOf = (res: HttpResult) =>
        json<{ scopes: string[] }>(res).scopes.sort();
      expect(scopesOf(fromString)).toEqual(['a.read', 'b.read', 'c.read']);
      expect(scopesOf(fromArray)).toEqual(['a.read']);
    });

    it('accepts a token whose aud holds any configured audience', async () => {
      const res = await get(
        '/me',
        bearer(await token({ aud: ['x', 'api://other'] })),
      );
      expect(res.status).toBe(200);
    });

    it('answers GET /documents with a JSON array', async () => {
      const res = await get('/documents', bearer(await token()));
      expect(res.status).toBe(200);
      expect(Array.isArray(json(res))).toBe(true);
    });

    it('creates a document from a JSON body (201) and lists it', async () => {
      const auth = bearer(await token());
      const created = await send(`${app.url}/documents`, {
        method: 'POST',
        headers: { ...auth, ...JSON_TYPE },
        body: JSON.stringify({ title: 'From JSON', content: 'hello' }),
      });
      expect(created.status).toBe(201);
      const document = json<DocumentAnswer>(created);
      expect(document).toMatchObject({
        owner: 'alice',
        title: 'From JSON',
        content: 'hello',
      });
      const listed = json<DocumentAnswer[]>(await get('/documents', auth));
      expect(listed.map((d) => d.id)).toContain(document.id);
    });

    it('creates a document from a form body that carries the token, without storing it', async () => {
      const accessToken = await token();
      const created = await send(`${app.url}/documents`, {
        method: 'POST',
        headers: FORM,
        body: new URLSearchParams({
          title: 'From a form',
          access_token: accessToken,
        }).toString(),
      });
      expect(created.status).toBe(201);
      expect(json(created)).toMatchObject({
        owner: 'alice',
        title: 'From a form',
      });
      const { id } = json<DocumentAnswer>(created);
      const stored = await get(`/documents/${id}`, bearer(accessToken));
      expect(stored.status).toBe(200);
      for (const text of [created.text, stored.text]) {
        expect(text).not.toContain('access_token');
        expect(text).not.toContain(accessToken.split('.')[2]);
      }
    });

    it('creates a document from a form body with the token in the header', async () => {
      const res = await send(`${app.url}/documents`, {
        method: 'POST',
        headers: { ...bearer(await token()), ...FORM },
        body: 'title=Header+and+form',
      });
      expect(res.status).toBe(201);
      expect(json(res).title).toBe('Header and form');
    });

    it('answers a body that is not JSON with 400 and no parser text', async () => {
      const res = await send(`${app.url}/documents`, {
        method: 'POST',
        headers: { ...bearer(await token()), ...JSON_TYPE },
        body: '{"title": oops',
      });
      expect(res.status).toBe(400);
      expect(json(res)).toEqual({ statusCode: 400, message: 'Bad Request' });
    });

    it('answers GET /admin for the Admin role', async () => {
      const res = await get('/admin', bearer(await token()));
      expect(res.status).toBe(200);
      expect(json(res)).toMatchObject({ sub: 'alice', roles: ['Admin'] });
    });

    it('has no development issuer routes', async () => {
      const routes = await Promise.all([
        send(`${app.url}/dev/token`, {
          method: 'POST',
          headers: JSON_TYPE,
          body: '{"sub":"mallory","scope":"documents.read"}',
        }),
        get('/.well-known/openid-configuration'),
        get('/.well-known/jwks.json'),
      ]);
      expect(routes.map((res) => res.status)).toEqual([404, 404, 404]);
    });
  });

  describe('typ header', () => {
    it.each([
      ['absent', undefined],
      ['JWT', 'JWT'],
      ['at+jwt', 'at+jwt'],
      ['application/at+jwt', 'application/at+jwt'],
    ])('accepts typ %s', async (_name, typ) => {
      const res = await get(
        '/me',
        bearer(await token({}, { header: { typ } })),
      );
      expect(res.status).toBe(200);
    });

    it('refuses another type of JWT', async () => {
      const res = await get(
        '/me',
        bearer(await token({}, { header: { typ: 'dpop+jwt' } })),
      );
      expectError(res, 401, 'invalid_token', description('type'));
    });
  });

  describe('error responses', () => {
    it('answers no credentials with 401 and a challenge without error', async () => {
      expectError(await get('/me'), 401);
    });

    it('treats another auth scheme as no bearer credentials', async () => {
      expectError(
        await get('/me', { authorization: 'Basic YWxpY2U6c2VjcmV0' }),
        401,
      );
    });

    it('answers "Bearer" with no token with "The access token is missing."', async () => {
      expectError(
        await get('/me', { authorization: 'Bearer' }),
        401,
        'invalid_token',
        'The access token is missing.',
      );
    });

    it('answers an expired token with "The access token is expired."', async () => {
      const expired = await token({}, { expiresIn: -3600 });
      expectError(
        await get('/me', bearer(expired)),
        401,
        'invalid_token',
        'The access token is expired.',
      );
    });

    it('answers a bad signature with 401 invalid_token', async () => {
      expectError(
        await get('/me', bearer(tamper(await token()))),
        401,
        'invalid_token',
        description('signature'),
      );
    });

    it('answers a token signed by another key with the same kid with 401', async () => {
      const impostor = await createTestKey({ kid: key.kid });
      const forged = await mintToken(impostor, {
        iss: issuer.issuer,
        aud: AUDIENCE,
        sub: 'alice',
      });
      expectError(
        await get('/me', bearer(forged)),
        401,
        'invalid_token',
        description('signature'),
      );
    });

    it('answers a wrong issuer with 401 invalid_token', async () => {
      expectError(
        await get('/me', bearer(await token({ iss: 'https://evil.example' }))),
        401,
        'invalid_token',
        description('issuer'),
      );
    });

    it('answers a wrong audience with 401 invalid_token', async () => {
      expectError(
        await get('/me', bearer(await token({ aud: 'api://someone-else' }))),
        401,
        'invalid_token',
        description('audience'),
      );
    });

    it('answers a malformed token with 401 invalid_token', async () => {
      expectError(
        await get('/me', bearer('not-a-jwt')),
        401,
        'invalid_token',
        description('malformed'),
      );
    });

    it('answers a missing scope with 403 insufficient_scope and the scope', async () => {
      const readOnly = await token({ scope: 'documents.read' });
      const res = await send(`${app.url}/documents`, {
        method: 'POST',
        headers: { ...bearer(readOnly), ...JSON_TYPE },
        body: '{"title":"no"}',
      });
      expectError(
        res,
        403,
        'insufficient_scope',
        'The access token does not grant the scope this resource requires.',
        'documents.write',
      );
    });

    it('answers a missing app role with 403 insufficient_access', async () => {
      const res = await get(
        '/admin',
        bearer(await token({ roles: ['Reader'] })),
      );
      expect(res.status).toBe(403);
      expect(json(res).error).toBe('insufficient_access');
      expectError(
        res,
        403,
        'insufficient_access',
        json(res).error_description ?? undefined,
      );
    });

    it('answers another subject’s document with 403 insufficient_access (app rule)', async () => {
      const created = await send(`${app.url}/documents`, {
        method: 'POST',
        headers: { ...bearer(await token()), ...JSON_TYPE },
        body: '{"title":"Alice only"}',
      });
      const { id } = json<DocumentAnswer>(created);
      const asBob = bearer(await token({ sub: 'bob' }));
      expectError(
        await get(`/documents/${id}`, asBob),
        403,
        'insufficient_access',
        'The document belongs to another subject.',
      );
      const bobsList = json<DocumentAnswer[]>(await get('/documents', asBob));
      expect(bobsList.map((d) => d.id)).not.toContain(id);
      expect(
        (await get(`/documents/${id}`, bearer(await token()))).status,
      ).toBe(200);
      expect((await get('/documents/no-such-id', asBob)).status).toBe(404);
    });

    it('answers a token sent by two methods with 400 invalid_request', async () => {
      const t = await token();
      expectError(
        await get(`/me?access_token=${t}`, bearer(t)),
        400,
        'invalid_request',
        'The access token was sent by more than one method.',
      );
      const headerAndBody = await send(`${app.url}/documents`, {
        method: 'POST',
        headers: { ...bearer(t), ...FORM },
        body: `access_token=${t}`,
      });
      expect(headerAndBody.status).toBe(400);
      expect(json(headerAndBody).error).toBe('invalid_request');
    });

    it('answers a repeated access_token parameter with 400 invalid_request', async () => {
      const t = await token();
      const inQuery = await get(`/me?access_token=${t}&access_token=${t}`);
      expectError(
        inQuery,
        400,
        'invalid_request',
        json(inQuery).error_description ?? undefined,
      );
      const inBody = await send(`${app.url}/documents`, {
        method: 'POST',
        headers: FORM,
        body: `access_token=${t}&access_token=${t}`,
      });
      expect(inBody.status).toBe(400);
      expect(json(inBody).error).toBe('invalid_request');
    });

    it('never takes a token from the body of a GET', async () => {
      const res = await send(`${app.url}/me`, {
        headers: FORM,
        body: `access_token=${await token()}`,
      });
      // RFC 6750 section 2.2 forbids it. Express parses the body of a GET, so the module
      // sees the token and refuses the request; Fastify never reads it, so no credential.
      if (adapter === 'express') {
        expectError(
          res,
          400,
          'invalid_request',
          json(res).error_description ?? undefined,
        );
      } else {
        expectError(res, 401);
      }
    });

    it('leaks nothing internal into error bodies', async () => {
      const responses = await Promise.all([
        get('/me', bearer(tamper(await token()))),
        get('/me', bearer(await token({ iss: 'https://evil.example' }))),
        get('/nowhere'),
      ]);
      for (const res of responses) {
        expect(res.text).not.toMatch(
          /\bat .+:\d+:\d+|jsonwebtoken|JsonWebTokenError|BEGIN|"n":/,
        );
      }
    });
  });

  describe('token locations', () => {
    it('accepts a query token and marks the response Cache-Control: private', async () => {
      const res = await get(`/me?access_token=${await token()}`);
      expect(res.status).toBe(200);
      expect(res.headers['cache-control']).toBe('private');
    });

    it('does not mark a header-token response private', async () => {
      const res = await get('/me', bearer(await token()));
      expect(res.status).toBe(200);
      expect(res.headers['cache-control'] ?? '').not.toContain('private');
    });

    it('accepts a form-body token on POST', async () => {
      const res = await send(`${app.url}/documents`, {
        method: 'POST',
        headers: FORM,
        body: `access_token=${await token()}`,
      });
      expect(res.status).toBe(201);
    });
  });
});

describe.each(ADAPTERS)(
  'with AUTH_JWKS_URI, AUTH_AUTHORIZATION_URI and default token locations, on %s',
  (adapter) => {
    let issuer: JwksServer;
    let key: TestKey;
    let app: SampleAppProcess;
    // No discovery document lives under this issuer: keys can only come from AUTH_JWKS_URI.
    let issuerId: string;
    const challenge =
      'Bearer authorization_uri="https://login.example.com/authorize"';

    beforeAll(async () => {
      key = await createTestKey();
      issuer = await JwksServer.start({ keys: [key] });
      issuerId = `${issuer.url}/no-discovery-here`;
      app = await SampleAppProcess.start({
        HTTP_ADAPTER: adapter,
        AUTH_ISSUER: issuerId,
        AUTH_AUDIENCE: AUDIENCE,
        AUTH_JWKS_URI: issuer.jwksUri,
        AUTH_AUTHORIZATION_URI: 'https://login.example.com/authorize',
      });
    });

    afterAll(async () => {
      await app?.stop();
      await issuer?.close();
    });

    const token = (claims: Record<string, unknown> = {}) =>
      mintToken(key, {
        iss: issuerId,
        aud: AUDIENCE,
        sub: 'carol',
        scope: 'documents.read',
        ...claims,
      });

    it('verifies with keys from AUTH_JWKS_URI', async () => {
      const res = await send(`${app.url}/documents`, {
        headers: bearer(await token()),
      });
      expect(res.status).toBe(200);
      expect(issuer.discoveryRequests).toBe(0);
    });

    it('puts AUTH_AUTHORIZATION_URI, and no realm or resource_id, in challenges', async () => {
      const res = await send(`${app.url}/me`);
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toBe(challenge);
    });

    it('ignores query and body tokens when only the header is enabled', async () => {
      const t = await token();
      const query = await send(`${app.url}/me?access_token=${t}`);
      const body = await send(`${app.url}/documents`, {
        method: 'POST',
        headers: FORM,
        body: `access_token=${t}`,
      });
      for (const res of [query, body]) {
        expect(res.status).toBe(401);
        expect(res.headers['www-authenticate']).toBe(challenge);
        expect(json(res).error).toBeNull();
      }
    });
  },
);

describe.each(ADAPTERS)('when the JWKS cannot be fetched, on %s', (adapter) => {
  let issuer: JwksServer;
  let key: TestKey;
  let app: SampleAppProcess;

  beforeAll(async () => {
    key = await createTestKey();
    issuer = await JwksServer.start({ keys: [key] });
    issuer.setMode('down');
    app = await SampleAppProcess.start({
      HTTP_ADAPTER: adapter,
      AUTH_ISSUER: issuer.issuer,
      AUTH_AUDIENCE: AUDIENCE,
    });
  });

  afterAll(async () => {
    await app?.stop();
    await issuer?.close();
  });

  it('still starts and answers /health', async () => {
    const res = await send(`${app.url}/health`);
    expect(res.status).toBe(200);
  });

  it('answers a valid token with 500 that claims no error code and leaks nothing', async () => {
    const t = await mintToken(key, {
      iss: issuer.issuer,
      aud: AUDIENCE,
      sub: 'alice',
    });
    const res = await send(`${app.url}/me`, { headers: bearer(t) });
    expect(res.status).toBe(500);
    expect(json(res)).toEqual(INTERNAL_ERROR);
    expect(res.headers['www-authenticate']).toBeUndefined();
    expect(res.text).not.toContain(issuer.url);
  });

  it('still answers a bad token with 401: the token can be judged without keys', async () => {
    const t = await mintToken(key, {
      iss: 'https://evil.example',
      aud: AUDIENCE,
    });
    const res = await send(`${app.url}/me`, { headers: bearer(t) });
    expect(res.status).toBe(401);
    expect(json(res).error).toBe('invalid_token');
  });
});

describe.each(ADAPTERS)('with the development issuer, on %s', (adapter) => {
  let app: SampleAppProcess;

  beforeAll(async () => {
    app = await SampleAppProcess.start({ HTTP_ADAPTER: adapter });
  });

  afterAll(() => app?.stop());

  async function devToken(body: unknown): Promise<HttpResult> {
    return send(`${app.url}/dev/token`, {
      method: 'POST',
      headers: JSON_TYPE,
      body: JSON.stringify(body),
    });
  }

  it('mints a token with POST /dev/token that GET /documents accepts', async () => {
    const minted = await devToken({
      sub: 'alice',
      scope: 'documents.read documents.write',
      roles: ['Admin'],
      expires_in: 3600,
    });
    expect(minted.status).toBe(201);
    expect(minted.headers['cache-control']).toBe('no-store');
    const body = json<{ access_token: string }>(minted);
    expect(body).toEqual({
      access_token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
      token_type: 'Bearer',
      expires_in: 3600,
    });
    const documents = await send(`${app.url}/documents`, {
      headers: bearer(body.access_token),
    });
    expect(documents.status).toBe(200);
    expect(json(documents)).toEqual([
      expect.objectContaining({ owner: null, title: 'Welcome' }),
    ]);
    const me = await send(`${app.url}/me`, {
      headers: bearer(body.access_token),
    });
    expect(json(me)).toEqual({
      sub: 'alice',
      scopes: ['documents.read', 'documents.write'],
      roles: ['Admin'],
    });
    const admin = await send(`${app.url}/admin`, {
      headers: bearer(body.access_token),
    });
    expect(admin.status).toBe(200);
  });

  it('mints a default token from an empty body, limited to what it asks for', async () => {
    const minted = await send(`${app.url}/dev/token`, { method: 'POST' });
    expect(minted.status).toBe(201);
    const token = json<{ access_token: string }>(minted).access_token;
    const claims = JSON.parse(
      Buffer.from(token.split('.')[1], 'base64url').toString(),
    ) as { exp: number; iat: number };
    expect(claims).toMatchObject({
      iss: app.url,
      aud: 'api://nestjs-bearer-sample',
      sub: 'dev-user',
    });
    expect(claims.exp - claims.iat).toBe(3600);
    const res = await send(`${app.url}/documents`, { headers: bearer(token) });
    expect(res.status).toBe(403);
    expect(json(res).error).toBe('insufficient_scope');
  });

  it('publishes discovery and a JWKS for its own issuer URL', async () => {
    const discovery = json<{ jwks_uri: string }>(
      await send(`${app.url}/.well-known/openid-configuration`),
    );
    expect(discovery).toMatchObject({
      issuer: `http://127.0.0.1:${app.port}`,
      jwks_uri: `http://127.0.0.1:${app.port}/.well-known/jwks.json`,
    });
    const jwks = json<{ keys: Record<string, unknown>[] }>(
      await send(discovery.jwks_uri),
    );
    expect(jwks.keys).toEqual([
      expect.objectContaining({ kty: 'RSA', alg: 'RS256', use: 'sig' }),
    ]);
    expect(jwks.keys[0].d).toBeUndefined();
  });

  it.each([
    ['a non-object body', [1, 2], 'body'],
    ['a non-string sub', { sub: 42 }, 'sub'],
    ['an empty sub', { sub: '' }, 'sub'],
    ['a scope array', { scope: ['documents.read'] }, 'scope'],
    ['a scope with a quote', { scope: 'a"b' }, 'scope'],
    ['roles as a string', { roles: 'Admin' }, 'roles'],
    ['a non-string role', { roles: [1] }, 'roles'],
    ['a string expires_in', { expires_in: '3600' }, 'expires_in'],
    ['expires_in 0', { expires_in: 0 }, 'expires_in'],
    ['expires_in over a day', { expires_in: 86_401 }, 'expires_in'],
    ['a fractional expires_in', { expires_in: 1.5 }, 'expires_in'],
    ['an unknown field', { aud: 'api://elsewhere' }, 'aud'],
  ])('refuses %s with 400 naming the field', async (_name, body, field) => {
    const res = await devToken(body);
    expect(res.status).toBe(400);
    const answer = json(res);
    expect(answer.error).toBe('invalid_request');
    expect(answer.error_description).toContain(field);
    expect(answer.access_token).toBeUndefined();
  });

  it('refuses a token it did not mint', async () => {
    const stranger = await createTestKey();
    const forged = await mintToken(stranger, {
      iss: app.url,
      aud: 'api://nestjs-bearer-sample',
      sub: 'mallory',
      scope: 'documents.read',
    });
    const res = await send(`${app.url}/documents`, { headers: bearer(forged) });
    expect(res.status).toBe(401);
    expect(json(res).error).toBe('invalid_token');
  });

  it('prints the URL and a ready-to-paste curl example', () => {
    expect(app.stdout).toContain(`listening on ${app.url}`);
    expect(app.stdout).toContain(`curl -s -X POST ${app.url}/dev/token`);
    expect(app.stdout).toContain(
      `curl -s ${app.url}/documents -H "Authorization: Bearer $TOKEN"`,
    );
    expect(app.stderr).toBe('');
  });
});

describe('start-up', () => {
  const ISSUER = 'https://issuer.example';

  it.each([
    [
      'AUTH_ISSUER without AUTH_AUDIENCE',
      { AUTH_ISSUER: ISSUER },
      'AUTH_AUDIENCE',
    ],
    [
      'a non-URL issuer',
      { AUTH_ISSUER: 'issuer.example', AUTH_AUDIENCE: 'a' },
      'AUTH_ISSUER',
    ],
    [
      'an ftp issuer',
      { AUTH_ISSUER: 'ftp://issuer.example', AUTH_AUDIENCE: 'a' },
      'AUTH_ISSUER',
    ],
    ['an empty AUTH_ISSUER', { AUTH_ISSUER: '' }, 'AUTH_ISSUER'],
    [
      'an unknown token location',
      { AUTH_TOKEN_LOCATIONS: 'header,cookie' },
      'AUTH_TOKEN_LOCATIONS',
    ],
    [
      '"none" in AUTH_ALGORITHMS',
      { AUTH_ALGORITHMS: 'RS256,none' },
      'AUTH_ALGORITHMS',
    ],
    [
      'HS256 in AUTH_ALGORITHMS',
      { AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: 'a', AUTH_ALGORITHMS: 'HS256' },
      'AUTH_ALGORITHMS',
    ],
    [
      'an unknown algorithm',
      { AUTH_ALGORITHMS: 'RS256,XY999' },
      'AUTH_ALGORITHMS',
    ],
    [
      'a non-URL JWKS',
      { AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: 'a', AUTH_JWKS_URI: 'jwks' },
      'AUTH_JWKS_URI',
    ],
    [
      'a non-URL authorization URI',
      { AUTH_AUTHORIZATION_URI: 'login' },
      'AUTH_AUTHORIZATION_URI',
    ],
    [
      'a realm with a control character',
      { AUTH_REALM: 'a\u0001b' },
      'AUTH_REALM',
    ],
    [
      'a resource id with a control character',
      { AUTH_RESOURCE_ID: 'api://x\u007f' },
      'AUTH_RESOURCE_ID',
    ],
    ['a port that is not a number', { PORT: 'eighty' }, 'PORT'],
    ['a port out of range', { PORT: '70000' }, 'PORT'],
    ['an unknown HTTP adapter', { HTTP_ADAPTER: 'koa' }, 'HTTP_ADAPTER'],
    [
      'a fastify app with a bad audience list',
      { HTTP_ADAPTER: 'fastify', AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: 'a,,b' },
      'AUTH_AUDIENCE',
    ],
    [
      'the development issuer on a public interface',
      { HOST: '0.0.0.0' },
      'HOST',
    ],
  ])('stops on %s with one line naming %s', async (_name, env, variable) => {
    const result = await SampleAppProcess.runToExit({ PORT: '1', ...env });
    expect(result.code).toBe(1);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(variable);
    expect(result.stderr).not.toMatch(/\n\s+at |Error:/);
    expect(result.stdout).toBe('');
  });

  it('stops with one line naming PORT when the port is taken', async () => {
    const first = await SampleAppProcess.start({
      AUTH_ISSUER: 'http://127.0.0.1:9/unreachable',
      AUTH_AUDIENCE: AUDIENCE,
    });
    for (const adapter of ADAPTERS) {
      const result = await SampleAppProcess.runToExit({
        HTTP_ADAPTER: adapter,
        PORT: String(first.port),
        AUTH_ISSUER: 'http://127.0.0.1:9/unreachable',
        AUTH_AUDIENCE: AUDIENCE,
      });
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        `Cannot start: PORT ${first.port} is already in use on 127.0.0.1.\n`,
      );
    }
    await first.stop();
  });

  it('starts and answers /health while the issuer is unreachable', async () => {
    const app = await SampleAppProcess.start({
      AUTH_ISSUER: 'http://127.0.0.1:9/unreachable',
      AUTH_AUDIENCE: AUDIENCE,
    });
    expect((await send(`${app.url}/health`)).status).toBe(200);
    const key = await createTestKey();
    const t = await mintToken(key, {
      iss: 'http://127.0.0.1:9/unreachable',
      aud: AUDIENCE,
    });
    const res = await send(`${app.url}/me`, { headers: bearer(t) });
    expect(res.status).toBe(500);
    expect(json(res)).toEqual(INTERNAL_ERROR);
    await app.stop();
  });

  it.each(['SIGTERM', 'SIGINT'] as const)(
    'closes the app and exits on %s',
    async (signal) => {
      const app = await SampleAppProcess.start({});
      const exit = await app.stop(signal);
      // Nest closes the app, runs the shutdown hooks, then re-raises the signal.
      expect(exit).toEqual({ code: null, signal });
      expect(app.stdout).toContain(`Stopped (${signal}).`);
      await expect(send(`${app.url}/health`)).rejects.toThrow();
    },
  );
});
