/**
 * Every row of the DESIGN.md error table, end to end: a real app on each adapter, a
 * loopback JWKS server, tokens minted with jose. Each case asserts the status, the exact
 * `WWW-Authenticate` challenge and the JSON body.
 */
import { createPublicKey } from 'node:crypto';
import { SignJWT } from 'jose';
import {
  ADAPTERS,
  startScenarioApp,
  type ScenarioApp,
} from './scenario/scenario-app.js';
import {
  bearer,
  outcome,
  send,
  type HttpRequestOptions,
  type Outcome,
} from './support/http.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { forgeUnsigned, mintToken, tamper } from './support/tokens.js';

const AUDIENCE = 'api://scenario';
const REALM = 'scenario';
const AUTHORIZATION_URI =
  'https://login.example.com/tenant/oauth2/v2.0/authorize';
const ERROR_URI = 'https://docs.example.com/bearer-errors';

/** The challenge parameters every response carries, in DESIGN.md order. */
const PREFIX = `Bearer realm="${REALM}", authorization_uri="${AUTHORIZATION_URI}", resource_id="${AUDIENCE}"`;

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

function rejected(
  status: number,
  error: string,
  description: string,
  scope?: string,
): Outcome {
  const scopeParam = scope === undefined ? '' : `, scope="${scope}"`;
  return {
    status,
    challenge: `${PREFIX}, error="${error}", error_description="${description}", error_uri="${ERROR_URI}"${scopeParam}`,
    body: {
      statusCode: status,
      error,
      error_description: description,
      message: description,
      ...(scope !== undefined && { scope }),
    },
  };
}

const invalidToken = (description: string): Outcome =>
  rejected(401, 'invalid_token', description);
const invalidRequest = (description: string): Outcome =>
  rejected(400, 'invalid_request', description);

const NO_CREDENTIALS: Outcome = {
  status: 401,
  challenge: PREFIX,
  body: {
    statusCode: 401,
    error: null,
    error_description: null,
    message: 'Authentication is required.',
  },
};

describe.each(ADAPTERS)('error responses on %s', (adapter) => {
  let jwks: JwksServer;
  let key: TestKey;
  let rs384Key: TestKey;
  let strangerKey: TestKey;
  let scenario: ScenarioApp;

  const claims = (extra: Record<string, unknown> = {}) => ({
    iss: jwks.issuer,
    aud: AUDIENCE,
    sub: 'alice',
    ...extra,
  });
  const call = async (
    path: string,
    options: HttpRequestOptions = {},
  ): Promise<Outcome> => outcome(await send(scenario.url + path, options));
  const withToken = (path: string, token: string) =>
    call(path, { headers: bearer(token) });

  beforeAll(async () => {
    [key, rs384Key, strangerKey] = await Promise.all([
      createTestKey({ kid: 'key-1' }),
      createTestKey({ kid: 'key-384', alg: 'RS384' }),
      createTestKey({ kid: 'key-stranger' }),
    ]);
    jwks = await JwksServer.start({ keys: [key, rs384Key] });
    scenario = await startScenarioApp(
      {
        issuer: jwks.issuer,
        audience: AUDIENCE,
        jwksUri: jwks.jwksUri,
        tokenLocations: ['header', 'body', 'query'],
        realm: REALM,
        authorizationUri: AUTHORIZATION_URI,
        resourceId: AUDIENCE,
        errorUri: ERROR_URI,
        jwks: { cooldown: 0 },
      },
      { adapter },
    );
  });

  afterAll(async () => {
    await scenario?.app.close();
    await jwks?.close();
  });

  it('answers 200 to a valid token (the baseline of every case below)', async () => {
    const token = await mintToken(key, claims({ scp: 'documents.read' }));
    expect(await withToken('/me', token)).toEqual({
      status: 200,
      challenge: undefined,
      body: { sub: 'alice', scopes: ['documents.read'], roles: [] },
    });
  });

  describe('400 invalid_request', () => {
    let token: string;
    beforeAll(async () => {
      token = await mintToken(key, claims({ scp: 'documents.write' }));
    });

    it('refuses a token sent in the header and the query', async () => {
      expect(
        await call(`/me?access_token=${token}`, { headers: bearer(token) }),
      ).toEqual(
        invalidRequest('The access token was sent by more than one method.'),
      );
    });

    it('refuses a token sent in the header and the form body', async () => {
      expect(
        await call('/write', {
          method: 'POST',
          headers: { ...FORM, ...bearer(token) },
          body: `access_token=${token}`,
        }),
      ).toEqual(
        invalidRequest('The access token was sent by more than one method.'),
      );
    });

    it('refuses a repeated access_token query parameter', async () => {
      expect(
        await call(`/me?access_token=${token}&access_token=${token}`),
      ).toEqual(
        invalidRequest(
          'The access_token parameter must be given exactly once.',
        ),
      );
    });

    it('refuses a repeated Authorization header', async () => {
      expect(
        await call('/me', {
          headers: { authorization: [`Bearer ${token}`, `Bearer ${token}`] },
        }),
      ).toEqual(
        invalidRequest(
          'The request carries more than one Authorization header.',
        ),
      );
    });

    it('refuses access_token in a JSON body', async () => {
      expect(
        await call('/write', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ access_token: token }),
        }),
      ).toEqual(
        invalidRequest(
          'The access_token body parameter is only accepted in a form-encoded request body.',
        ),
      );
    });

    it('never accepts access_token in the form body of a GET', async () => {
      const result = await call('/me', {
        headers: FORM,
        body: `access_token=${token}`,
      });
      if (adapter === 'express') {
        expect(result).toEqual(
          invalidRequest(
            'The access_token body parameter is only accepted in a form-encoded request body.',
          ),
        );
      } else {
        // Fastify does not parse the body of a GET: the token is never seen.
        expect(result).toEqual(NO_CREDENTIALS);
      }
    });
  });

  describe('401 without error: no credentials', () => {
    it('challenges a request with no Authorization header', async () => {
      expect(await call('/me')).toEqual(NO_CREDENTIALS);
    });

    it('treats another scheme as no bearer credentials', async () => {
      expect(
        await call('/me', { headers: { authorization: 'Basic YWxpY2U6cHc=' } }),
      ).toEqual(NO_CREDENTIALS);
    });
  });

  describe('401 invalid_token', () => {
    it('says the token is missing for a bare "Bearer"', async () => {
      expect(
        await call('/me', { headers: { authorization: 'Bearer' } }),
      ).toEqual(invalidToken('The access token is missing.'));
    });

    it.each([
      ['not a JWS', 'not-a-jwt'],
      ['two segments', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0'],
      ['a header that is not JSON', 'bm90IGpzb24.eyJzdWIiOiJhIn0.c2ln'],
    ])('refuses a malformed token (%s)', async (_name, token) => {
      expect(await withToken('/me', token)).toEqual(
        invalidToken('The access token is malformed.'),
      );
    });

    it('refuses credentials outside the b64token syntax', async () => {
      const token = await mintToken(key, claims());
      expect(
        await call('/me', { headers: { authorization: `Bearer ${token} x` } }),
      ).toEqual(invalidToken('The access token is malformed.'));
    });

    it('refuses a bad signature', async () => {
      const token = await mintToken(key, claims());
      expect(await withToken('/me', tamper(token))).toEqual(
        invalidToken('The access token signature is invalid.'),
      );
    });

    it('refuses an unknown kid after one refetch of the JWKS', async () => {
      // A verified request first, so the key set is surely loaded.
      await withToken('/me', await mintToken(key, claims()));
      const before = jwks.jwksRequests;
      const token = await mintToken(strangerKey, claims());
      expect(await withToken('/me', token)).toEqual(
        invalidToken('The access token is signed with an unknown key.'),
      );
      expect(jwks.jwksRequests - before).toBe(1);
    });

    it('refuses alg "none" (unsigned)', async () => {
      const unsigned = forgeUnsigned(
        { alg: 'none', typ: 'JWT', kid: key.kid },
        { ...claims(), exp: Math.floor(Date.now() / 1000) + 300 },
      );
      expect(await withToken('/me', unsigned)).toEqual(
        invalidToken('The access token is malformed.'),
      );
      // Even with something in the signature slot, "none" is not an accepted algorithm.
      expect(await withToken('/me', `${unsigned}c2lnbmF0dXJl`)).toEqual(
        invalidToken(
          'The access token is signed with an algorithm that is not accepted.',
        ),
      );
    });

    it('refuses HS256 signed with the public key material as the secret', async () => {
      const pem = createPublicKey({ key: key.publicJwk, format: 'jwk' })
        .export({ type: 'spki', format: 'pem' })
        .toString();
      const token = await new SignJWT({
        ...claims(),
        scp: 'documents.read',
      })
        .setProtectedHeader({ alg: 'HS256', kid: key.kid, typ: 'JWT' })
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(pem));
      expect(await withToken('/me', token)).toEqual(
        invalidToken(
          'The access token is signed with an algorithm that is not accepted.',
        ),
      );
    });

    it('refuses an algorithm outside the allowlist (RS384 when only RS256 is allowed)', async () => {
      const token = await mintToken(rs384Key, claims());
      expect(await withToken('/me', token)).toEqual(
        invalidToken(
          'The access token is signed with an algorithm that is not accepted.',
        ),
      );
    });

    it('refuses a wrong issuer', async () => {
      const token = await mintToken(
        key,
        claims({ iss: `${jwks.issuer}/other` }),
      );
      expect(await withToken('/me', token)).toEqual(
        invalidToken('The access token was issued by an untrusted issuer.'),
      );
    });

    it('refuses a wrong audience', async () => {
      const token = await mintToken(key, claims({ aud: 'api://other' }));
      expect(await withToken('/me', token)).toEqual(
        invalidToken('The access token is not intended for this resource.'),
      );
    });

    it('says the token is expired', async () => {
      const token = await mintToken(key, claims(), { expiresIn: -3600 });
      expect(await withToken('/me', token)).toEqual(
        invalidToken('The access token is expired.'),
      );
    });

    it('refuses a token whose nbf is in the future', async () => {
      const nbf = Math.floor(Date.now() / 1000) + 3600;
      const token = await mintToken(key, claims({ nbf }), {
        expiresIn: 7200,
      });
      expect(await withToken('/me', token)).toEqual(
        invalidToken('The access token is not yet valid.'),
      );
    });

    it.each(['dpop+jwt', 'logout+jwt'])('refuses typ "%s"', async (typ) => {
      const token = await mintToken(key, claims(), { header: { typ } });
      expect(await withToken('/me', token)).toEqual(
        invalidToken('The access token has a type that is not accepted.'),
      );
    });

    it.each([
      ['absent', undefined],
      ['JWT', 'JWT'],
      ['at+jwt', 'at+jwt'],
      ['application/at+jwt', 'application/at+jwt'],
    ])('accepts typ %s', async (_name, typ) => {
      const token = await mintToken(key, claims(), { header: { typ } });
      expect(await withToken('/me', token)).toEqual({
        status: 200,
        challenge: undefined,
        body: { sub: 'alice', scopes: [], roles: [] },
      });
    });
  });

  describe('403 insufficient_scope', () => {
    const DESCRIPTION =
      'The access token does not grant the scope this resource requires.';

    it('names the required scope', async () => {
      const token = await mintToken(key, claims({ scp: 'profile' }));
      expect(await withToken('/read', token)).toEqual(
        rejected(403, 'insufficient_scope', DESCRIPTION, 'documents.read'),
      );
    });

    it('accepts the scope from scp (string or array) and from scope', async () => {
      for (const grant of [
        { scp: 'profile documents.read' },
        { scp: ['documents.read'] },
        { scope: 'documents.read' },
      ]) {
        const token = await mintToken(key, claims(grant));
        expect(await withToken('/read', token)).toEqual({
          status: 200,
          challenge: undefined,
          body: ['a'],
        });
      }
    });

    it('combines class and handler scopes: all are required', async () => {
      const readOnly = await mintToken(key, claims({ scp: 'documents.read' }));
      const writeOnly = await mintToken(
        key,
        claims({ scp: 'documents.write' }),
      );
      const both = await mintToken(
        key,
        claims({ scp: 'documents.read documents.write' }),
      );
      const combined = rejected(
        403,
        'insufficient_scope',
        DESCRIPTION,
        'documents.write documents.read',
      );
      expect(await withToken('/combined', readOnly)).toEqual(combined);
      expect(await withToken('/combined', writeOnly)).toEqual(combined);
      expect(await withToken('/combined', both)).toEqual({
        status: 200,
        challenge: undefined,
        body: { ok: true },
      });
    });
  });

  describe('403 insufficient_access', () => {
    const DESCRIPTION =
      'The subject of the access token does not have the permission this resource requires.';

    it('refuses a token without the @Roles() app role', async () => {
      const user = await mintToken(key, claims({ roles: ['Reader'] }));
      const admin = await mintToken(key, claims({ roles: ['Admin'] }));
      expect(await withToken('/admin', user)).toEqual(
        rejected(403, 'insufficient_access', DESCRIPTION),
      );
      expect(await withToken('/admin', admin)).toEqual({
        status: 200,
        challenge: undefined,
        body: { admin: true },
      });
    });

    it('renders InsufficientAccessError thrown by app code (ownership)', async () => {
      const bob = await mintToken(key, claims({ sub: 'bob' }));
      const alice = await mintToken(key, claims({ sub: 'alice' }));
      expect(await withToken('/owned', bob)).toEqual(
        rejected(403, 'insufficient_access', DESCRIPTION),
      );
      expect(await withToken('/owned', alice)).toEqual({
        status: 200,
        challenge: undefined,
        body: { owner: 'alice' },
      });
    });
  });

  describe('other exceptions', () => {
    it("pass through to Nest's own 500 handling", async () => {
      const token = await mintToken(key, claims());
      const res = await send(`${scenario.url}/boom`, {
        headers: bearer(token),
      });
      expect(outcome(res)).toEqual({
        status: 500,
        challenge: undefined,
        body: { statusCode: 500, message: 'Internal server error' },
      });
      expect(res.text).not.toContain('internal detail');
    });
  });

  describe('challenge parameters', () => {
    it('come in the order realm, authorization_uri, resource_id, error, error_description, error_uri, scope', async () => {
      const token = await mintToken(key, claims());
      const { challenge } = await withToken('/read', token);
      const names = [...(challenge ?? '').matchAll(/([a-z_]+)="/g)].map(
        ([, name]) => name,
      );
      expect(names).toEqual([
        'realm',
        'authorization_uri',
        'resource_id',
        'error',
        'error_description',
        'error_uri',
        'scope',
      ]);
    });

    it('never reflect anything from the request', async () => {
      const evil = '"\r\nX-Injected: 1\r\n<script>alert(1)</script>';
      const tokens = await Promise.all([
        mintToken(key, claims(), { header: { kid: `key-1${evil}` } }),
        mintToken(key, claims({ iss: `${jwks.issuer}${evil}` })),
        mintToken(key, claims({ aud: `${AUDIENCE}${evil}` })),
        mintToken(key, claims({ sub: evil }), { expiresIn: -3600 }),
      ]);
      for (const token of tokens) {
        const res = await send(`${scenario.url}/me`, {
          headers: bearer(token),
        });
        expect(res.status).toBe(401);
        const sent = `${res.headers['www-authenticate']}\n${res.text}`;
        for (const fragment of ['<script>', 'X-Injected', '\r', token]) {
          expect(sent).not.toContain(fragment);
        }
        expect(res.headers['x-injected']).toBeUndefined();
        // The fixed prefix and our own sentence, nothing else.
        expect(res.headers['www-authenticate']).toMatch(
          /^Bearer realm="scenario", authorization_uri="[^"]+", resource_id="api:\/\/scenario", error="invalid_token", error_description="The access token [a-z ]+\.", error_uri="[^"]+"$/,
        );
      }
    });

    it('never reflect a malformed header value', async () => {
      const res = await send(`${scenario.url}/me`, {
        headers: { authorization: 'Bearer <script>alert(1)</script>' },
      });
      expect(outcome(res)).toEqual(
        invalidToken('The access token is malformed.'),
      );
      expect(res.text).not.toContain('<script>');
      expect(res.text).not.toContain('alert');
    });
  });
});
