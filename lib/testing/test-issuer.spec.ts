import {
  calculateJwkThumbprint,
  createLocalJWKSet,
  decodeProtectedHeader,
  jwtVerify,
  type JSONWebKeySet,
  type JWTPayload,
} from 'jose';
import { resolveAuthOptions } from '../auth-options.js';
import {
  createTestIssuer,
  WRONG_AUDIENCE,
  WRONG_ISSUER,
  type TestIssuer,
} from './test-issuer.js';
import { computeJwkThumbprint, createSigningKey } from './test-keys.js';

/** Verifies with jose against what the issuer serves over HTTP right now. */
async function verify(
  issuer: TestIssuer,
  token: string,
  algorithms = ['RS256'],
): Promise<JWTPayload> {
  const res = await fetch(issuer.jwksUri);
  const keys = createLocalJWKSet((await res.json()) as JSONWebKeySet);
  const { payload } = await jwtVerify(token, keys, {
    issuer: issuer.issuer,
    audience: issuer.audience,
    algorithms,
  });
  return payload;
}

function decodePayload(token: string): Record<string, unknown> {
  return JSON.parse(
    Buffer.from(token.split('.')[1], 'base64url').toString('utf8'),
  ) as Record<string, unknown>;
}

describe('createTestIssuer', () => {
  let issuer: TestIssuer;

  beforeAll(async () => {
    issuer = await createTestIssuer();
  });

  afterAll(() => issuer.close());

  it('listens on a loopback port and serves discovery and the JWKS', async () => {
    expect(issuer.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(
      `${issuer.issuer}/.well-known/openid-configuration`,
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(
      expect.objectContaining({
        issuer: issuer.issuer,
        jwks_uri: issuer.jwksUri,
        authorization_endpoint: `${issuer.issuer}/authorize`,
        token_endpoint: `${issuer.issuer}/token`,
      }),
    );
    const jwks = (await (await fetch(issuer.jwksUri)).json()) as {
      keys: Record<string, unknown>[];
    };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toEqual(
      expect.objectContaining({
        kty: 'RSA',
        kid: issuer.kid,
        alg: 'RS256',
        use: 'sig',
      }),
    );
    // Only the public half is published.
    expect(Object.keys(jwks.keys[0]).sort()).toEqual(
      ['alg', 'e', 'kid', 'kty', 'n', 'use'].sort(),
    );
    expect(issuer.requests.discovery).toBeGreaterThanOrEqual(1);
    expect(issuer.requests.jwks).toBeGreaterThanOrEqual(1);
  });

  it('answers 404 and 405 for anything else', async () => {
    expect((await fetch(`${issuer.issuer}/nothing`)).status).toBe(404);
    expect(
      (await fetch(issuer.jwksUri, { method: 'POST', body: '' })).status,
    ).toBe(405);
  });

  it('mints a token with the default claims and header that jose verifies', async () => {
    const token = issuer.mint();
    const payload = await verify(issuer, token);
    expect(payload).toEqual({
      iss: issuer.issuer,
      aud: 'api://test',
      sub: 'test-user',
      iat: expect.any(Number),
      exp: (payload.iat ?? 0) + 300,
      jti: expect.any(String),
    });
    expect(decodeProtectedHeader(token)).toEqual({
      alg: 'RS256',
      typ: 'JWT',
      kid: issuer.kid,
    });
    expect(Math.abs((payload.iat ?? 0) - Date.now() / 1000)).toBeLessThan(5);
  });

  it('merges claims over the defaults and leaves out the ones given as undefined', async () => {
    const payload = await verify(
      issuer,
      issuer.mint({ sub: undefined, tid: 'tenant', scp: ['a', 'b'] }),
    );
    expect(payload).not.toHaveProperty('sub');
    expect(payload.tid).toBe('tenant');
    expect(payload.scp).toEqual(['a', 'b']);
  });

  it('writes scopes as a space-separated scope claim, and roles', async () => {
    expect(
      (await verify(issuer, issuer.mint({}, { scope: ['a', 'b'] }))).scope,
    ).toBe('a b');
    const payload = await verify(
      issuer,
      issuer.mint({ scope: 'ignored' }, { scope: 'x', roles: ['Admin'] }),
    );
    expect(payload.scope).toBe('x');
    expect(payload.roles).toEqual(['Admin']);
  });

  it('mints expired and not-yet-valid tokens past any clock tolerance', async () => {
    await expect(
      verify(issuer, issuer.mint({}, { expired: true })),
    ).rejects.toMatchObject({ code: 'ERR_JWT_EXPIRED' });
    const expired = decodePayload(issuer.mint({}, { expired: true }));
    expect(Number(expired.exp)).toBeLessThan(Date.now() / 1000 - 600);

    const early = issuer.mint({}, { notYetValid: true, expiresIn: 60 });
    await expect(verify(issuer, early)).rejects.toMatchObject({
      code: 'ERR_JWT_CLAIM_VALIDATION_FAILED',
      claim: 'nbf',
    });
    const claims = decodePayload(early);
    expect(Number(claims.nbf)).toBeGreaterThan(Date.now() / 1000 + 600);
    expect(claims.exp).toBe(Number(claims.nbf) + 60);
  });

  it('mints for the wrong audience or from the wrong issuer', async () => {
    expect(decodePayload(issuer.mint({}, { wrongAudience: true })).aud).toBe(
      WRONG_AUDIENCE,
    );
    await expect(
      verify(issuer, issuer.mint({}, { wrongAudience: true })),
    ).rejects.toMatchObject({ claim: 'aud' });
    expect(decodePayload(issuer.mint({}, { wrongIssuer: true })).iss).toBe(
      WRONG_ISSUER,
    );
    await expect(
      verify(issuer, issuer.mint({}, { wrongIssuer: true })),
    ).rejects.toMatchObject({ claim: 'iss' });
  });

  it('signs with a key the JWKS does not publish, under its own kid or the current one', async () => {
    const unknown = issuer.mint({}, { otherKey: 'unknown-kid' });
    expect(decodeProtectedHeader(unknown).kid).not.toBe(issuer.kid);
    await expect(verify(issuer, unknown)).rejects.toMatchObject({
      code: 'ERR_JWKS_NO_MATCHING_KEY',
    });
    const sameKid = issuer.mint({}, { otherKey: 'same-kid' });
    expect(decodeProtectedHeader(sameKid).kid).toBe(issuer.kid);
    await expect(verify(issuer, sameKid)).rejects.toMatchObject({
      code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    });
  });

  it('adds and removes header fields, and carries cnf', () => {
    const token = issuer.mint(
      {},
      {
        header: { typ: 'at+jwt', jku: 'https://evil.example/jwks' },
        cnf: { jkt: 'thumbprint' },
      },
    );
    expect(decodeProtectedHeader(token)).toEqual({
      alg: 'RS256',
      typ: 'at+jwt',
      kid: issuer.kid,
      jku: 'https://evil.example/jwks',
    });
    expect(decodePayload(token).cnf).toEqual({ jkt: 'thumbprint' });
    expect(
      decodeProtectedHeader(issuer.mint({}, { header: { typ: undefined } })),
    ).not.toHaveProperty('typ');
  });

  it('gives options that AuthModule accepts and that point at it', () => {
    const options = issuer.authModuleOptions({ realm: 'tests' });
    expect(options).toEqual({
      issuer: issuer.issuer,
      audience: 'api://test',
      jwksUri: issuer.jwksUri,
      algorithms: ['RS256'],
      realm: 'tests',
      jwks: { cooldown: 0 },
    });
    const resolved = resolveAuthOptions(options);
    expect(resolved.issuers).toEqual([issuer.issuer]);
    expect(resolved.jwks.cooldown).toBe(0);
    expect(issuer.authModuleOptions({ jwks: { timeout: 1000 } }).jwks).toEqual({
      cooldown: 0,
      timeout: 1000,
    });
  });
});

describe('createTestIssuer options', () => {
  it('signs ES256 with a P-256 key in the JWS (r || s) form', async () => {
    const issuer = await createTestIssuer({
      algorithm: 'ES256',
      audience: 'api://es',
      subject: 'robot',
      expiresIn: 60,
      kid: 'es-1',
    });
    try {
      const token = issuer.mint();
      expect(decodeProtectedHeader(token)).toEqual({
        alg: 'ES256',
        typ: 'JWT',
        kid: 'es-1',
      });
      // 64 bytes: two 32-byte integers, not a DER sequence.
      expect(Buffer.from(token.split('.')[2], 'base64url')).toHaveLength(64);
      const payload = await verify(issuer, token, ['ES256']);
      expect(payload).toEqual(
        expect.objectContaining({ aud: 'api://es', sub: 'robot' }),
      );
      expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(60);
      expect(issuer.jwks().keys[0]).toEqual(
        expect.objectContaining({ kty: 'EC', crv: 'P-256', kid: 'es-1' }),
      );
      expect(issuer.authModuleOptions().algorithms).toEqual(['ES256']);
    } finally {
      await issuer.close();
    }
  });

  it('refuses a lifetime that is not a positive whole number', async () => {
    await expect(createTestIssuer({ expiresIn: 0 })).rejects.toThrow(
      RangeError,
    );
  });
});

describe('key rotation', () => {
  let issuer: TestIssuer;

  beforeEach(async () => {
    issuer = await createTestIssuer();
  });

  afterEach(() => issuer.close());

  it('signs with the new key and keeps publishing the old one by default', async () => {
    const before = issuer.mint();
    const first = issuer.kid;
    const second = await issuer.rotateKey();
    expect(second).not.toBe(first);
    expect(issuer.kid).toBe(second);
    const after = issuer.mint();
    expect(decodeProtectedHeader(after).kid).toBe(second);
    expect(issuer.jwks().keys.map((key) => key.kid)).toEqual([first, second]);
    await expect(verify(issuer, before)).resolves.toBeDefined();
    await expect(verify(issuer, after)).resolves.toBeDefined();

    issuer.removeKey(first);
    expect(issuer.jwks().keys.map((key) => key.kid)).toEqual([second]);
    await expect(verify(issuer, before)).rejects.toMatchObject({
      code: 'ERR_JWKS_NO_MATCHING_KEY',
    });
  });

  it('drops the previous keys with keepPrevious: false, and takes a kid', async () => {
    const kid = await issuer.rotateKey({ keepPrevious: false, kid: 'next' });
    expect(kid).toBe('next');
    expect(issuer.jwks().keys.map((key) => key.kid)).toEqual(['next']);
  });

  it('refuses to remove the key that signs', () => {
    expect(() => issuer.removeKey(issuer.kid)).toThrow(/rotate before/);
  });

  it('closes once however often close() is called', async () => {
    const url = issuer.jwksUri;
    await Promise.all([issuer.close(), issuer.close()]);
    await expect(fetch(url)).rejects.toThrow();
  });
});

describe('computeJwkThumbprint', () => {
  it.each(['RS256', 'ES256'] as const)(
    'agrees with jose for %s keys, and names keys by it',
    async (alg) => {
      const key = await createSigningKey(alg);
      expect(computeJwkThumbprint(key.publicJwk)).toBe(
        await calculateJwkThumbprint(key.publicJwk),
      );
      expect(key.kid).toBe(computeJwkThumbprint(key.publicJwk));
    },
  );

  it('refuses key types it has no rule for', () => {
    expect(() => computeJwkThumbprint({ kty: 'oct', k: 'AA' })).toThrow(
      TypeError,
    );
  });
});
