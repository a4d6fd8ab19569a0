/**
 * JwtBearerStrategy with several issuers: the token's issuer gives the policy, the key and
 * jsonwebtoken's own `issuer`, `audience` and `algorithms`, set on passport's per-request
 * copy of the strategy. Real loopback issuers, real passport-jwt and jsonwebtoken.
 */
import { jest } from '@jest/globals';
import { Strategy } from 'passport-jwt';
import {
  JwksServer,
  createTestKey,
  type TestKey,
} from '../test/support/jwks-server.js';
import { mintToken } from '../test/support/tokens.js';
import { resolveAuthOptions, type IssuerConfig } from './auth-options.js';
import type {
  BearerAuthenticator,
  VerificationDetails,
} from './bearer-authenticator.service.js';
import { InvalidTokenError } from './bearer.errors.js';
import type { BearerPrincipal } from './claims.js';
import { IssuerRegistry } from './issuer-registry.service.js';
import { JwtBearerStrategy } from './jwt-bearer.strategy.js';
import { IssuerKeysService } from './keys/issuer-keys.service.js';

type Outcome =
  | { kind: 'success'; user: BearerPrincipal }
  | { kind: 'error'; error: unknown }
  | { kind: 'fail'; challenge: unknown };

type Verifier = (
  token: string,
  key: unknown,
  options: Record<string, unknown>,
  done: (error: unknown, payload?: unknown) => void,
) => void;

const verifierHost = Strategy as unknown as { JwtVerifier: Verifier };

describe('JwtBearerStrategy with several issuers', () => {
  let keycloak: JwksServer;
  let auth0: JwksServer;
  let tenant: JwksServer;
  let keycloakKey: TestKey;
  let auth0Key: TestKey;
  let tenantKey: TestKey;
  let strategy: JwtBearerStrategy;
  let keys: IssuerKeysService;
  const seen: Record<string, unknown>[] = [];
  let original: Verifier;

  beforeAll(async () => {
    [keycloakKey, auth0Key, tenantKey] = await Promise.all([
      createTestKey(),
      createTestKey({ alg: 'ES256' }),
      createTestKey(),
    ]);
    keycloak = await JwksServer.start({ keys: [keycloakKey] });
    auth0 = await JwksServer.start({ keys: [auth0Key] });
    tenant = await JwksServer.start({ keys: [tenantKey] });
    const list: IssuerConfig[] = [
      {
        issuer: keycloak.issuer,
        audience: 'account-api',
        roleClaim: 'realm_access.roles',
      },
      {
        issuer: auth0.issuer,
        audience: 'https://api.acme.com',
        jwksUri: auth0.jwksUri,
        algorithms: ['ES256'],
        roleClaim: 'permissions',
      },
    ];
    const options = resolveAuthOptions({
      issuers: list,
      jwks: { cooldown: 0 },
    });
    keys = new IssuerKeysService(options);
    strategy = createStrategy(options, keys);
    original = verifierHost.JwtVerifier;
    verifierHost.JwtVerifier = (token, key, options, done) => {
      seen.push(options);
      original(token, key, options, done);
    };
  });
  afterAll(async () => {
    verifierHost.JwtVerifier = original;
    await Promise.all([keycloak.close(), auth0.close(), tenant.close()]);
  });
  beforeEach(() => (seen.length = 0));

  function createStrategy(
    options: ReturnType<typeof resolveAuthOptions>,
    keyService: IssuerKeysService,
  ): JwtBearerStrategy {
    const hooks = {
      runVerificationHooks: (_: BearerPrincipal, __: VerificationDetails) =>
        Promise.resolve(),
    };
    return new JwtBearerStrategy(
      options,
      keyService,
      hooks as unknown as BearerAuthenticator,
      new IssuerRegistry(options, keyService),
    );
  }

  function run(on: JwtBearerStrategy, token: string): Promise<Outcome> {
    const request = {
      method: 'GET',
      url: '/',
      headers: { authorization: `Bearer ${token}` },
      rawHeaders: ['authorization', `Bearer ${token}`],
    };
    return new Promise((resolve) => {
      const attempt = Object.assign(Object.create(on) as JwtBearerStrategy, {
        success: (user: BearerPrincipal) => resolve({ kind: 'success', user }),
        fail: (challenge: unknown) => resolve({ kind: 'fail', challenge }),
        error: (error: unknown) => resolve({ kind: 'error', error }),
      });
      attempt.authenticate(request);
    });
  }

  it("verifies each issuer's token with that issuer's jsonwebtoken options and claim map", async () => {
    const a = await run(
      strategy,
      await mintToken(keycloakKey, {
        iss: keycloak.issuer,
        aud: 'account-api',
        sub: 'kc',
        realm_access: { roles: ['admin'] },
      }),
    );
    expect(a).toMatchObject({ kind: 'success', user: { roles: ['admin'] } });
    const b = await run(
      strategy,
      await mintToken(auth0Key, {
        iss: auth0.issuer,
        aud: 'https://api.acme.com',
        permissions: ['reports:export'],
      }),
    );
    expect(b).toMatchObject({
      kind: 'success',
      user: { roles: ['reports:export'] },
    });
    expect(seen).toEqual([
      expect.objectContaining({
        issuer: [keycloak.issuer],
        audience: ['account-api'],
        algorithms: ['RS256'],
      }),
      expect.objectContaining({
        issuer: [auth0.issuer],
        audience: ['https://api.acme.com'],
        algorithms: ['ES256'],
      }),
    ]);
    // The shared strategy keeps what it was built with; only per-request copies differ.
    const shared = (strategy as unknown as { _verifOpts: { issuer: unknown } })
      ._verifOpts;
    expect(shared.issuer).toEqual([keycloak.issuer, auth0.issuer]);
  });

  it("refuses a token of one issuer for the other's audience", async () => {
    const outcome = await run(
      strategy,
      await mintToken(keycloakKey, {
        iss: keycloak.issuer,
        aud: 'https://api.acme.com',
      }),
    );
    expect(outcome.kind).toBe('error');
    expect((outcome as { error: InvalidTokenError }).error.reason).toBe(
      'audience',
    );
    expect(seen).toEqual([]);
  });

  it('refuses an unknown issuer before any fetch', async () => {
    const before = keycloak.jwksRequests + keycloak.discoveryRequests;
    const outcome = await run(
      strategy,
      await mintToken(keycloakKey, {
        iss: `${keycloak.url}/nobody`,
        aud: 'account-api',
      }),
    );
    expect((outcome as { error: InvalidTokenError }).error.reason).toBe(
      'issuer',
    );
    expect(keycloak.jwksRequests + keycloak.discoveryRequests).toBe(before);
  });

  it("works with a resolver: the resolved issuer's options go to jsonwebtoken", async () => {
    const resolve = jest.fn((issuer: string) =>
      issuer === tenant.issuer
        ? { issuer, audience: 'api://tenant', jwksUri: tenant.jwksUri }
        : undefined,
    );
    const options = resolveAuthOptions({ issuers: { resolve } });
    const resolved = createStrategy(options, new IssuerKeysService(options));
    const outcome = await run(
      resolved,
      await mintToken(tenantKey, {
        iss: tenant.issuer,
        aud: 'api://tenant',
        roles: ['r'],
      }),
    );
    expect(outcome).toMatchObject({ kind: 'success', user: { roles: ['r'] } });
    expect(seen).toEqual([
      expect.objectContaining({
        issuer: [tenant.issuer],
        audience: ['api://tenant'],
      }),
    ]);
    expect(resolve).toHaveBeenCalledTimes(1);
  });
});
