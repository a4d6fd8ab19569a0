import { jest } from '@jest/globals';
import {
  resolveAuthOptions,
  type AuthModuleOptions,
  type IssuerConfig,
} from './auth-options.js';
import { AuthServerError, InvalidTokenError } from './bearer.errors.js';
import {
  IssuerRegistry,
  type IssuedToken,
  type IssuerEntry,
} from './issuer-registry.service.js';
import { IssuerKeysService } from './keys/issuer-keys.service.js';

const TOP = 'https://top.example.com/';
const KEYCLOAK = 'https://sso.example.com/realms/acme';
const AUTH0 = 'https://acme.eu.auth0.com/';
const TENANT = 'https://tenant-1.example.com/';

/** A registry whose clock the test moves. */
class TestRegistry extends IssuerRegistry {
  clock = 1_000_000;
  protected override now = (): number => this.clock;
}

function create(extra: Partial<AuthModuleOptions> = {}): {
  registry: TestRegistry;
  keys: IssuerKeysService;
} {
  const options = resolveAuthOptions({
    issuer: TOP,
    audience: 'api://top',
    jwksUri: 'https://top.example.com/keys',
    ...extra,
  });
  const keys = new IssuerKeysService(options);
  return { registry: new TestRegistry(options, keys), keys };
}

const LIST: IssuerConfig[] = [
  {
    issuer: KEYCLOAK,
    audience: 'account-api',
    jwksUri: 'https://sso.example.com/certs',
    roleClaim: 'realm_access.roles',
    algorithms: ['PS256'],
  },
  { issuer: AUTH0, audience: 'https://api.acme.com', roleClaim: 'permissions' },
];

function segment(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** A token with any signature: the registry decides before a signature is checked. */
function token(claims: Record<string, unknown>, alg = 'RS256'): string {
  const exp = Math.floor(Date.now() / 1000) + 300;
  return `${segment({ alg, kid: 'k1' })}.${segment({ exp, ...claims })}.c2ln`;
}

function resolverOf(
  answer: (issuer: string) => IssuerConfig | undefined | Promise<undefined>,
  more: { maxIssuers?: number; cacheMaxAge?: number } = {},
) {
  const resolve = jest.fn(
    (issuer: string): IssuerConfig | undefined | Promise<undefined> =>
      answer(issuer),
  );
  return { resolve, options: { resolve, ...more } };
}

function settled(value: IssuedToken | Promise<IssuedToken>) {
  return Promise.resolve(value);
}

describe('IssuerRegistry', () => {
  describe('configured issuers', () => {
    it('decides a listed issuer synchronously, with its own policy and claim map', () => {
      const { registry } = create({ issuers: LIST });
      const entry = registry.lookup(KEYCLOAK, {}, undefined) as IssuerEntry;
      expect(entry).not.toBeInstanceOf(Promise);
      expect(entry.policy.audiences).toEqual(['account-api']);
      expect(entry.policy.algorithms).toEqual(['PS256']);
      expect(entry.roleClaim).toBe('realm_access.roles');
      expect(entry.resolved).toBeUndefined();
      expect(entry.expiresAt).toBe(Infinity);
      const auth0 = registry.lookup(AUTH0, {}, undefined) as IssuerEntry;
      // Unset fields take the top level's.
      expect(auth0.policy.algorithms).toEqual(['RS256']);
      expect(auth0.scopeClaims).toEqual(['scp', 'scope']);
      expect(registry.lookup(TOP, {}, undefined)).toBe(
        registry.lookup(TOP, {}, undefined),
      );
      expect(registry.multiple).toBe(true);
    });

    it('is not "multiple" with the top-level issuer alone (the authenticator keeps its single-issuer path)', () => {
      expect(create().registry.multiple).toBe(false);
    });

    it('matches a top-level {tenantid} template next to the list', () => {
      const { registry } = create({
        issuer: 'https://login.example.com/{tenantid}/v2.0',
        issuers: LIST,
      });
      const tid = '11111111-2222-3333-4444-555555555555';
      const entry = registry.lookup(
        `https://login.example.com/${tid}/v2.0`,
        { tid },
        undefined,
      );
      expect((entry as IssuerEntry).policy.audiences).toEqual(['api://top']);
      expect(
        registry.lookup('https://login.example.com/x/v2.0', {}, undefined),
      ).toBeUndefined();
    });

    it('answers undefined, synchronously, for an issuer nobody configured', () => {
      const { registry } = create({ issuers: LIST });
      expect(
        registry.lookup('https://evil.example.com/', {}, undefined),
      ).toBeUndefined();
    });

    it("applies the token's issuer's audience: a token of one issuer for another's audience is refused", async () => {
      const { registry } = create({ issuers: LIST });
      expect(() =>
        registry.inspect(token({ iss: AUTH0, aud: 'account-api' }), undefined),
      ).toThrow(expect.objectContaining({ reason: 'audience' }) as Error);
      const issued = await settled(
        registry.inspect(
          token({ iss: KEYCLOAK, aud: 'account-api' }, 'PS256'),
          undefined,
        ),
      );
      expect(issued.inspected.issuer).toBe(KEYCLOAK);
    });

    it("applies the token's issuer's algorithms", () => {
      const { registry } = create({ issuers: LIST });
      // PS256 is Keycloak's only algorithm, RS256 is Auth0's (the default).
      expect(() =>
        registry.inspect(
          token({ iss: KEYCLOAK, aud: 'account-api' }),
          undefined,
        ),
      ).toThrow(expect.objectContaining({ reason: 'algorithm' }) as Error);
      expect(() =>
        registry.inspect(
          token({ iss: AUTH0, aud: 'https://api.acme.com' }, 'PS256'),
          undefined,
        ),
      ).toThrow(expect.objectContaining({ reason: 'algorithm' }) as Error);
    });

    it('refuses an unknown or missing iss as "issuer"', () => {
      const { registry } = create({ issuers: LIST });
      for (const claims of [
        { iss: 'https://evil.example.com/', aud: 'account-api' },
        { aud: 'account-api' },
        { iss: 42, aud: 'account-api' },
      ]) {
        expect(() => registry.inspect(token(claims), undefined)).toThrow(
          expect.objectContaining({ reason: 'issuer' }) as Error,
        );
      }
    });

    it('gives the audiences of the issuer of verified claims', () => {
      const { registry } = create({ issuers: LIST });
      expect(registry.audiencesOf({ iss: AUTH0 })).toEqual([
        'https://api.acme.com',
      ]);
      expect(registry.audiencesOf({ iss: TOP })).toEqual(['api://top']);
      expect(registry.audiencesOf({})).toEqual(['api://top']);
    });

    it("admits a route's resource for every issuer, and keeps each issuer's own audiences apart", () => {
      const { registry } = create({ issuers: LIST });
      registry.acceptAudience('api://reports');
      const entry = registry.lookup(AUTH0, {}, undefined) as IssuerEntry;
      expect(entry.policy.audiences).toEqual([
        'https://api.acme.com',
        'api://reports',
      ]);
      expect(entry.audiences).toEqual(['https://api.acme.com']);
      expect(registry.topLevelPolicy.audiences).toEqual([
        'api://top',
        'api://reports',
      ]);
    });
  });

  describe('a resolver', () => {
    const third = (issuer: string): IssuerConfig | undefined =>
      issuer === TENANT
        ? { issuer, audience: 'api://tenant', jwksUri: `${issuer}keys` }
        : undefined;

    it('is asked once per issuer within cacheMaxAge, and again after it', async () => {
      const { resolve, options } = resolverOf(third, { cacheMaxAge: 60 });
      const { registry } = create({ issuers: options });
      const first = registry.lookup(TENANT, {}, undefined);
      expect(first).toBeInstanceOf(Promise);
      const entry = (await first) as IssuerEntry;
      expect(entry.resolved?.audiences).toEqual(['api://tenant']);
      expect(entry.expiresAt).toBe(registry.clock + 60_000);
      // Cached: synchronous from now on.
      for (let i = 0; i < 10; i++) {
        expect(registry.lookup(TENANT, {}, undefined)).toBe(entry);
      }
      expect(resolve).toHaveBeenCalledTimes(1);
      expect(resolve).toHaveBeenCalledWith(TENANT, undefined);
      registry.clock += 60_000;
      await registry.lookup(TENANT, {}, undefined);
      expect(resolve).toHaveBeenCalledTimes(2);
    });

    it('caches "not trusted" too', async () => {
      const { resolve, options } = resolverOf(third);
      const { registry } = create({ issuers: options });
      await expect(
        registry.lookup('https://nobody.example.com/', {}, undefined),
      ).resolves.toBeUndefined();
      expect(
        registry.lookup('https://nobody.example.com/', {}, undefined),
      ).toBeUndefined();
      expect(resolve).toHaveBeenCalledTimes(1);
    });

    it('shares one call between concurrent lookups of one issuer', async () => {
      let release: (value: undefined) => void = () => undefined;
      const { resolve, options } = resolverOf(
        () => new Promise<undefined>((done) => (release = done)),
      );
      const { registry } = create({ issuers: options });
      const lookups = Array.from({ length: 20 }, () =>
        registry.lookup(TENANT, {}, undefined),
      );
      expect(new Set(lookups).size).toBe(1);
      expect(registry.stats().pending).toBe(1);
      release(undefined);
      await lookups[0];
      expect(resolve).toHaveBeenCalledTimes(1);
      expect(registry.stats().pending).toBe(0);
    });

    it('passes the request along', async () => {
      const { resolve, options } = resolverOf(third);
      const { registry } = create({ issuers: options });
      const request = { headers: { host: 'tenant-1.api.example.com' } };
      await registry.lookup(TENANT, {}, request);
      expect(resolve).toHaveBeenCalledWith(TENANT, request);
    });

    it('turns a throw into a 500 that is not cached', async () => {
      let fail = true;
      const { resolve, options } = resolverOf((issuer) => {
        if (fail) throw new Error('database down');
        return third(issuer);
      });
      const { registry } = create({ issuers: options });
      const refused = registry.lookup(TENANT, {}, undefined);
      await expect(refused).rejects.toBeInstanceOf(AuthServerError);
      await expect(refused).rejects.not.toBeInstanceOf(InvalidTokenError);
      fail = false;
      await expect(
        registry.lookup(TENANT, {}, undefined),
      ).resolves.toBeDefined();
      expect(resolve).toHaveBeenCalledTimes(2);
    });

    it.each([
      ['an invalid configuration', { issuer: TENANT, audience: '' }],
      [
        'another issuer',
        { issuer: 'https://other.example.com/', audience: 'a' },
      ],
      [
        'a template',
        { issuer: 'https://x.example.com/{tenantid}', audience: 'a' },
      ],
    ])(
      'turns an answer with %s into a 500 that is not cached',
      async (_, answer) => {
        const { resolve, options } = resolverOf(() => answer);
        const { registry } = create({ issuers: options });
        await expect(
          registry.lookup(TENANT, {}, undefined),
        ).rejects.toBeInstanceOf(AuthServerError);
        await expect(
          registry.lookup(TENANT, {}, undefined),
        ).rejects.toBeInstanceOf(AuthServerError);
        expect(resolve).toHaveBeenCalledTimes(2);
      },
    );

    it('never asks about a configured issuer', () => {
      const { resolve, options } = resolverOf(third);
      const { registry } = create({ issuers: options });
      expect(registry.lookup(TOP, {}, undefined)).not.toBeInstanceOf(Promise);
      expect(resolve).not.toHaveBeenCalled();
    });

    it('keeps at most maxIssuers answers and key sources (least recently used goes first)', async () => {
      const { resolve, options } = resolverOf(
        (issuer) => ({ issuer, audience: 'api://tenant' }),
        { maxIssuers: 3 },
      );
      const { registry, keys } = create({ issuers: options });
      const issuers = Array.from(
        { length: 10 },
        (_, i) => `https://t${i}.example.com/`,
      );
      for (const issuer of issuers) {
        const entry = (await registry.lookup(
          issuer,
          {},
          undefined,
        )) as IssuerEntry;
        // A key source is made on first use (no fetch until a key is asked for).
        registry.sourceOf(entry, issuer);
        expect(registry.stats().resolved).toBeLessThanOrEqual(3);
        expect(keys.stats().resolved).toBeLessThanOrEqual(3);
      }
      expect(registry.stats()).toEqual({
        configured: 1,
        resolved: 3,
        pending: 0,
        resolverCalls: 10,
        resolvedKeySources: 3,
      });
      // The oldest were dropped: their key sources are gone, and they are asked again.
      expect(keys.findSource(issuers[0])).toBeUndefined();
      expect(keys.findSource(issuers[9])).toBeDefined();
      await registry.lookup(issuers[0], {}, undefined);
      expect(resolve).toHaveBeenCalledTimes(11);
      expect(keys.fetches).toBe(0);
    });

    it('keeps the key source across answers with the same JWKS, and replaces it for another', async () => {
      let jwksUri = `${TENANT}keys`;
      const { options } = resolverOf(
        (issuer) => ({ issuer, audience: 'a', jwksUri }),
        { cacheMaxAge: 1 },
      );
      const { registry } = create({ issuers: options });
      const source = () =>
        Promise.resolve(registry.lookup(TENANT, {}, undefined)).then((entry) =>
          registry.sourceOf(entry as IssuerEntry, TENANT),
        );
      const first = await source();
      registry.clock += 1000;
      expect(await source()).toBe(first);
      registry.clock += 1000;
      jwksUri = `${TENANT}other-keys`;
      expect(await source()).not.toBe(first);
    });

    it('drops the key source of an issuer the resolver no longer vouches for', async () => {
      let vouched = true;
      const { options } = resolverOf(
        (issuer) => (vouched ? { issuer, audience: 'a' } : undefined),
        { cacheMaxAge: 1 },
      );
      const { registry, keys } = create({ issuers: options });
      const entry = await registry.lookup(TENANT, {}, undefined);
      registry.sourceOf(entry as IssuerEntry, TENANT);
      expect(keys.findSource(TENANT)).toBeDefined();
      vouched = false;
      registry.clock += 1000;
      await expect(
        registry.lookup(TENANT, {}, undefined),
      ).resolves.toBeUndefined();
      expect(keys.findSource(TENANT)).toBeUndefined();
    });

    it('forgets an issuer on request', async () => {
      const { resolve, options } = resolverOf(third);
      const { registry, keys } = create({ issuers: options });
      const entry = await registry.lookup(TENANT, {}, undefined);
      registry.sourceOf(entry as IssuerEntry, TENANT);
      registry.forget(TENANT);
      expect(keys.findSource(TENANT)).toBeUndefined();
      expect(registry.stats().resolved).toBe(0);
      await registry.lookup(TENANT, {}, undefined);
      expect(resolve).toHaveBeenCalledTimes(2);
    });

    it("applies the resolved issuer's policy, after the resolver answered", async () => {
      const { options } = resolverOf(third);
      const { registry } = create({ issuers: options });
      await expect(
        settled(
          registry.inspect(token({ iss: TENANT, aud: 'api://top' }), undefined),
        ),
      ).rejects.toMatchObject({ reason: 'audience' });
      const issued = await settled(
        registry.inspect(
          token({ iss: TENANT, aud: 'api://tenant' }),
          undefined,
        ),
      );
      expect(issued.entry.resolved?.issuer).toBe(TENANT);
      await expect(
        settled(
          registry.inspect(
            token({ iss: 'https://nobody.example.com/', aud: 'x' }),
            undefined,
          ),
        ),
      ).rejects.toMatchObject({ reason: 'issuer' });
    });
  });
});
