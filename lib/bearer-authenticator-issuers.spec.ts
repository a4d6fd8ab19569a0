import { jest } from '@jest/globals';
import {
  JwksServer,
  createTestKey,
  type TestKey,
} from '../test/support/jwks-server.js';
import { mintToken } from '../test/support/tokens.js';
import { resolveAuthOptions, type AuthModuleOptions } from './auth-options.js';
import { BearerAuthenticator } from './bearer-authenticator.service.js';
import { AuthServerError } from './bearer.errors.js';
import type { BearerPrincipal } from './claims.js';
import { IssuerRegistry } from './issuer-registry.service.js';
import { IssuerKeysService } from './keys/issuer-keys.service.js';

describe('BearerAuthenticator with several issuers', () => {
  let keycloak: JwksServer;
  let auth0: JwksServer;
  let keycloakKey: TestKey;
  let auth0Key: TestKey;

  beforeAll(async () => {
    keycloakKey = await createTestKey();
    auth0Key = await createTestKey({ alg: 'ES256' });
    keycloak = await JwksServer.start({
      keys: [keycloakKey],
      issuerPath: '/realms/acme',
    });
    auth0 = await JwksServer.start({ keys: [auth0Key] });
  });
  afterAll(async () => {
    await keycloak.close();
    await auth0.close();
  });

  function create(extra: Partial<AuthModuleOptions> = {}) {
    const options = resolveAuthOptions({
      issuers: [
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
          scopeClaims: ['scope'],
        },
      ],
      jwks: { cooldown: 0 },
      ...extra,
    });
    const keys = new IssuerKeysService(options);
    const registry = new IssuerRegistry(options, keys);
    return {
      authenticator: new BearerAuthenticator(options, keys, registry),
      keys,
      registry,
    };
  }

  const keycloakToken = (more: Record<string, unknown> = {}) =>
    mintToken(keycloakKey, {
      iss: keycloak.issuer,
      aud: 'account-api',
      sub: 'kc-user',
      scope: 'profile',
      realm_access: { roles: ['reports-admin'] },
      roles: ['ignored'],
      ...more,
    });
  const auth0Token = (more: Record<string, unknown> = {}) =>
    mintToken(auth0Key, {
      iss: auth0.issuer,
      aud: 'https://api.acme.com',
      sub: 'auth0|1',
      scope: 'read:reports',
      permissions: ['reports:export'],
      ...more,
    });

  it("reads each issuer's roles and scopes with its own claim map", async () => {
    const { authenticator } = create();
    const a = await authenticator.verifyToken(await keycloakToken());
    expect(a.roles).toEqual(['reports-admin']);
    expect(a.scopes).toEqual(['profile']);
    const b = await authenticator.verifyToken(await auth0Token());
    expect(b.roles).toEqual(['reports:export']);
    expect(b.scopes).toEqual(['read:reports']);
  });

  it('decides a listed issuer synchronously once its keys are known', async () => {
    const { authenticator } = create();
    await authenticator.verifyToken(await keycloakToken());
    const next = authenticator.verifyToken(await keycloakToken({ sub: 'x' }));
    expect(next).not.toBeInstanceOf(Promise);
    expect((next as BearerPrincipal).sub).toBe('x');
  });

  it("refuses a token naming one issuer but signed with the other's key", async () => {
    const { authenticator } = create();
    await authenticator.verifyToken(await keycloakToken());
    const forged = await mintToken(
      { ...auth0Key, alg: 'ES256' },
      { iss: keycloak.issuer, aud: 'account-api', sub: 'mallory' },
      { header: { kid: keycloakKey.kid } },
    );
    // ES256 is not Keycloak's algorithm (RS256, the default); with its kid, a wrong key.
    await expect(
      Promise.resolve().then(() => authenticator.verifyToken(forged)),
    ).rejects.toMatchObject({ reason: 'algorithm' });
  });

  it('refuses an unknown issuer before any fetch', async () => {
    const { authenticator, keys } = create();
    const before = keycloak.jwksRequests + keycloak.discoveryRequests;
    const token = await mintToken(keycloakKey, {
      iss: `${keycloak.url}/realms/other`,
      aud: 'account-api',
    });
    expect(() => authenticator.verifyToken(token)).toThrow(
      expect.objectContaining({ reason: 'issuer' }) as Error,
    );
    expect(keycloak.jwksRequests + keycloak.discoveryRequests).toBe(before);
    expect(keys.fetches).toBe(0);
  });

  it("does not reuse a resolved issuer's token from the cache past the resolver's answer", async () => {
    const resolve = jest.fn((issuer: string) =>
      issuer === auth0.issuer
        ? {
            issuer,
            audience: 'https://api.acme.com',
            jwksUri: auth0.jwksUri,
            algorithms: ['ES256' as const],
          }
        : undefined,
    );
    const { authenticator } = create({
      issuers: { resolve, cacheMaxAge: 1 },
    });
    const token = await auth0Token();
    await authenticator.verifyToken(token);
    // The second verification admits it to the cache; the third is a cache hit.
    await authenticator.verifyToken(token);
    expect(authenticator.verifyToken(token)).not.toBeInstanceOf(Promise);
    expect(resolve).toHaveBeenCalledTimes(1);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await authenticator.verifyToken(token);
    expect(resolve).toHaveBeenCalledTimes(2);
  });

  it('answers 500, never 401, when the resolver throws', async () => {
    const { authenticator } = create({
      issuers: {
        resolve: () => Promise.reject(new Error('tenants table is gone')),
      },
    });
    const token = await auth0Token();
    await expect(
      Promise.resolve(authenticator.verifyToken(token)),
    ).rejects.toBeInstanceOf(AuthServerError);
  });
});
