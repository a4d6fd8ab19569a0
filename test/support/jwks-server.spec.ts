import jwt from 'jsonwebtoken';
import jwksRsa from 'jwks-rsa';
import { createTestKey, JwksServer, type TestKey } from './jwks-server.js';
import { forgeUnsigned, mintToken, tamper } from './tokens.js';

interface Jwks {
  keys: { kid?: string; use?: string; alg?: string; kty?: string }[];
}

async function fetchJwks(server: JwksServer): Promise<Jwks> {
  const res = await fetch(server.jwksUri);
  expect(res.status).toBe(200);
  return (await res.json()) as Jwks;
}

async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 5));
}

describe('createTestKey', () => {
  it('creates an RS256 key whose kid is its JWK thumbprint by default', async () => {
    const key = await createTestKey();
    expect(key.alg).toBe('RS256');
    expect(key.kid).toMatch(/^[\w-]{43}$/);
    expect(key.publicJwk).toMatchObject({
      kty: 'RSA',
      kid: key.kid,
      alg: 'RS256',
      use: 'sig',
    });
    expect(key.publicJwk).not.toHaveProperty('d');
  });

  it('creates EC keys with a given kid', async () => {
    const key = await createTestKey({ alg: 'ES256', kid: 'ec-1' });
    expect(key.publicJwk).toMatchObject({
      kty: 'EC',
      crv: 'P-256',
      kid: 'ec-1',
    });
  });
});

describe('JwksServer', () => {
  let key: TestKey;
  let server: JwksServer;

  beforeAll(async () => {
    key = await createTestKey({ kid: 'key-1' });
  });

  beforeEach(async () => {
    server = await JwksServer.start({
      keys: [key],
      issuerPath: '/tenant/v2.0',
    });
  });

  afterEach(() => server.close());

  it('listens on an ephemeral loopback port', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.issuer).toBe(`${server.url}/tenant/v2.0`);
    expect(server.jwksUri).toBe(`${server.url}/jwks.json`);
  });

  it('serves the discovery document under the issuer', async () => {
    const res = await fetch(
      `${server.issuer}/.well-known/openid-configuration`,
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      issuer: server.issuer,
      jwks_uri: server.jwksUri,
      authorization_endpoint: `${server.issuer}/authorize`,
      token_endpoint: `${server.issuer}/token`,
    });
    expect(server.discoveryRequests).toBe(1);
    expect(server.jwksRequests).toBe(0);
  });

  it('serves the public keys and counts JWKS requests', async () => {
    const jwks = await fetchJwks(server);
    expect(jwks.keys).toEqual([key.publicJwk]);
    expect(server.jwksRequests).toBe(1);
  });

  it('answers 404 for unknown paths', async () => {
    const res = await fetch(`${server.url}/nope`);
    expect(res.status).toBe(404);
  });

  it('serves rotated keys after setKeys', async () => {
    const next = await createTestKey({ kid: 'key-2', alg: 'ES256' });
    server.setKeys([next]);
    const jwks = await fetchJwks(server);
    expect(jwks.keys.map((k) => k.kid)).toEqual(['key-2']);
  });

  it('delays JWKS answers by setJwksDelay', async () => {
    server.setJwksDelay(150);
    const started = performance.now();
    await fetchJwks(server);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
  });

  describe('with jwks-rsa and jsonwebtoken', () => {
    it('fetches the signing key as PEM and verifies a minted token', async () => {
      const client = jwksRsa({ jwksUri: server.jwksUri });
      const signingKey = await client.getSigningKey('key-1');
      const pem = signingKey.getPublicKey();
      expect(pem).toMatch(/^-----BEGIN PUBLIC KEY-----/);

      const token = await mintToken(key, {
        iss: server.issuer,
        aud: 'api://test',
        sub: 'user-1',
      });
      const payload = jwt.verify(token, pem, {
        algorithms: ['RS256'],
        issuer: server.issuer,
        audience: 'api://test',
      });
      expect(payload).toMatchObject({ sub: 'user-1' });
      expect(jwt.decode(token, { complete: true })?.header).toEqual({
        alg: 'RS256',
        kid: 'key-1',
        typ: 'JWT',
      });

      expect(() => jwt.verify(tamper(token), pem)).toThrow('invalid signature');
      expect(() =>
        jwt.verify(forgeUnsigned({ alg: 'none' }, { sub: 'x' }), pem),
      ).toThrow('jwt signature is required');
    });

    it('rejects when the server is down', async () => {
      server.setMode('down');
      const client = jwksRsa({ jwksUri: server.jwksUri });
      await expect(client.getSigningKey('key-1')).rejects.toThrow();
    });

    it('finds no signing key in no-signing-keys mode', async () => {
      server.setMode('no-signing-keys');
      const client = jwksRsa({ jwksUri: server.jwksUri });
      await expect(client.getSigningKey('key-1')).rejects.toThrow(
        'did not contain any signing keys',
      );
    });
  });

  describe('mintToken', () => {
    it('omits exp and iat on request and drops undefined header fields', async () => {
      const token = await mintToken(
        key,
        { sub: 'u' },
        {
          expiresIn: null,
          issuedAt: null,
          header: { kid: undefined, typ: 'at+jwt' },
        },
      );
      const decoded = jwt.decode(token, { complete: true });
      expect(decoded?.header).toEqual({ alg: 'RS256', typ: 'at+jwt' });
      expect(decoded?.payload).toEqual({ sub: 'u' });
    });

    it('mints expired tokens with a negative expiresIn', async () => {
      const token = await mintToken(key, {}, { expiresIn: -60 });
      const pem = await jwksRsa({ jwksUri: server.jwksUri })
        .getSigningKey('key-1')
        .then((k) => k.getPublicKey());
      expect(() => jwt.verify(token, pem)).toThrow(jwt.TokenExpiredError);
    });

    it('lets explicit claims win over derived ones', async () => {
      const token = await mintToken(key, { exp: 123, iat: 100 });
      expect(jwt.decode(token)).toEqual({ exp: 123, iat: 100 });
    });
  });

  describe('modes', () => {
    it('down: destroys the socket', async () => {
      server.setMode('down');
      await expect(fetch(server.jwksUri)).rejects.toThrow('fetch failed');
    });

    it('hang: never answers, so a timeout aborts the request', async () => {
      server.setMode('hang');
      await expect(
        fetch(server.jwksUri, { signal: AbortSignal.timeout(200) }),
      ).rejects.toMatchObject({ name: 'TimeoutError' });
    });

    it('hang: close() completes while a request is pending', async () => {
      server.setMode('hang');
      const pending = fetch(server.jwksUri);
      const settled = expect(pending).rejects.toThrow('fetch failed');
      await waitFor(() => server.jwksRequests === 1);
      await server.close();
      await settled;
    });

    it('status500: answers 500', async () => {
      server.setMode('status500');
      expect((await fetch(server.jwksUri)).status).toBe(500);
    });

    it('garbage: answers 200 with a body that is not JSON', async () => {
      server.setMode('garbage');
      const res = await fetch(server.jwksUri);
      expect(res.status).toBe(200);
      // fetch lives in Node's realm, so its SyntaxError is not the test's.
      await expect(res.json()).rejects.toThrow('is not valid JSON');
    });

    it('oversized: answers a valid JWKS larger than 2 MiB', async () => {
      server.setMode('oversized');
      const res = await fetch(server.jwksUri);
      const body = await res.text();
      expect(body.length).toBeGreaterThan(2 * 1024 * 1024);
      expect((JSON.parse(body) as Jwks).keys).toEqual([key.publicJwk]);
    });

    it('redirect: answers 302 to a path that serves the keys', async () => {
      server.setMode('redirect');
      const res = await fetch(server.jwksUri, { redirect: 'manual' });
      expect(res.status).toBe(302);
      const location = res.headers.get('location');
      expect(location).toMatch(/^http:\/\/127\.0\.0\.1:\d+\//);
      expect(location).not.toBe(server.jwksUri);
      const jwks = await fetchJwks(server);
      expect(jwks.keys).toEqual([key.publicJwk]);
    });

    it('empty: answers an empty key set', async () => {
      server.setMode('empty');
      expect(await fetchJwks(server)).toEqual({ keys: [] });
    });

    it('no-signing-keys: marks every key use "enc"', async () => {
      server.setMode('no-signing-keys');
      const jwks = await fetchJwks(server);
      expect(jwks.keys).toEqual([{ ...key.publicJwk, use: 'enc' }]);
    });

    it('ok: answers normally again after another mode', async () => {
      server.setMode('status500');
      server.setMode('ok');
      expect((await fetchJwks(server)).keys).toHaveLength(1);
    });
  });

  it('close() is idempotent', async () => {
    await server.close();
    await server.close();
  });
});
