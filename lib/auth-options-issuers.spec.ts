import {
  AuthConfigurationError,
  resolveAuthOptions,
  resolveIssuerConfig,
} from './auth-options.js';

const A = 'https://a.example.com/';
const B = 'https://b.example.com/realms/acme';
const resolve = () => undefined;

function refusal(options: unknown): AuthConfigurationError {
  try {
    resolveAuthOptions(options);
  } catch (error) {
    if (error instanceof AuthConfigurationError) return error;
    throw error;
  }
  throw new Error('expected an AuthConfigurationError');
}

function expectRefused(options: unknown, option: string, problem: RegExp) {
  const error = refusal(options);
  expect(error.option).toBe(option);
  expect(error.message).toContain(`option "${option}"`);
  expect(error.message).toMatch(problem);
}

describe('resolveAuthOptions: issuers', () => {
  describe('a list', () => {
    it('resolves each entry, the top level giving audience, algorithms and claim map', () => {
      const resolved = resolveAuthOptions({
        issuer: A,
        audience: 'api://default',
        algorithms: ['ES256'],
        roleClaim: 'groups',
        scopeClaims: ['scope'],
        issuers: [
          { issuer: B },
          {
            issuer: 'https://c.example.com/',
            audience: ['api://c', 'c-client'],
            jwksUri: 'https://c.example.com/keys',
            algorithms: ['PS256'],
            roleClaim: 'realm_access.roles',
            scopeClaims: ['permissions'],
          },
        ],
      });
      expect(resolved.issuers).toEqual([A, B, 'https://c.example.com/']);
      expect(resolved.audiences).toEqual(['api://default']);
      expect(resolved.issuerResolver).toBeUndefined();
      expect(resolved.issuerConfigs).toEqual([
        {
          issuer: B,
          audiences: ['api://default'],
          jwksUri: undefined,
          algorithms: ['ES256'],
          roleClaim: 'groups',
          scopeClaims: ['scope'],
        },
        {
          issuer: 'https://c.example.com/',
          audiences: ['api://c', 'c-client'],
          jwksUri: 'https://c.example.com/keys',
          algorithms: ['PS256'],
          roleClaim: 'realm_access.roles',
          scopeClaims: ['permissions'],
        },
      ]);
      expect(Object.isFrozen(resolved.issuerConfigs[1])).toBe(true);
    });

    it('needs no top-level issuer or audience when every entry names its audience', () => {
      const resolved = resolveAuthOptions({
        issuers: [
          { issuer: A, audience: 'api://a' },
          { issuer: B, audience: 'api://b' },
        ],
      });
      expect(resolved.issuers).toEqual([A, B]);
      expect(resolved.audiences).toEqual([]);
      expect(resolved.issuerConfigs.map((c) => c.algorithms)).toEqual([
        ['RS256'],
        ['RS256'],
      ]);
      expect(resolved.issuerConfigs[0].roleClaim).toBe('roles');
      expect(resolved.issuerConfigs[0].scopeClaims).toEqual(['scp', 'scope']);
    });

    it('refuses an entry without audience when there is no top-level one', () => {
      expectRefused(
        { issuers: [{ issuer: A, audience: 'x' }, { issuer: B }] },
        'issuers[1].audience',
        /is required: there is no top-level "audience"/,
      );
    });

    it.each([
      [[], 'issuers', /must not be an empty array/],
      ['https://a.example.com/', 'issuers', /array of issuer configurations/],
      [[A], 'issuers[0]', /must be an object/],
      [[{ audience: 'x' }], 'issuers[0].issuer', /is required/],
      [[{ issuer: 'not a url' }], 'issuers[0].issuer', /absolute URL/],
      [[{ issuer: 'ftp://a.example.com/' }], 'issuers[0].issuer', /http:/],
      [
        [{ issuer: 'https://login.example.com/{tenantid}/v2.0' }],
        'issuers[0].issuer',
        /must not hold \{tenantid\}/,
      ],
      [[{ issuer: B, audience: '' }], 'issuers[0].audience', /empty string/],
      [[{ issuer: B, audience: [] }], 'issuers[0].audience', /empty array/],
      [[{ issuer: B, jwksUri: 'keys' }], 'issuers[0].jwksUri', /absolute URL/],
      [[{ issuer: B, algorithms: ['HS256'] }], 'issuers[0].algorithms', /HMAC/],
      [[{ issuer: B, algorithms: ['none'] }], 'issuers[0].algorithms', /none/],
      [[{ issuer: B, algorithms: [] }], 'issuers[0].algorithms', /empty/],
      [
        [{ issuer: B, roleClaim: 'realm_access..roles' }],
        'issuers[0].roleClaim',
        /empty segment/,
      ],
      [
        [{ issuer: B, roleClaim: '__proto__.x' }],
        'issuers[0].roleClaim',
        /__proto__/,
      ],
      [
        [{ issuer: B, scopeClaims: ['scope', 'a..b'] }],
        'issuers[0].scopeClaims',
        /empty segment/,
      ],
      [[{ issuer: B, tenant: 'x' }], 'issuers[0].tenant', /not a known option/],
    ])('refuses issuers %j, naming %s', (issuers, option, problem) => {
      expectRefused({ issuer: A, audience: 'api', issuers }, option, problem);
    });

    it('refuses an issuer named twice, in the list or with the top level', () => {
      expectRefused(
        { issuer: A, audience: 'api', issuers: [{ issuer: A }] },
        'issuers[0].issuer',
        /twice/,
      );
      expectRefused(
        { audience: 'api', issuers: [{ issuer: B }, { issuer: B }] },
        'issuers[1].issuer',
        /twice/,
      );
    });

    it('refuses a top-level jwksUri without a top-level issuer: it would belong to no one', () => {
      expectRefused(
        {
          audience: 'api',
          jwksUri: 'https://a.example.com/keys',
          issuers: [{ issuer: B }],
        },
        'jwksUri',
        /top-level "issuer" only/,
      );
    });

    it('still requires the top-level audience with a top-level issuer', () => {
      expectRefused(
        { issuer: A, issuers: [{ issuer: B, audience: 'b' }] },
        'audience',
        /is required/,
      );
    });
  });

  describe('a resolver', () => {
    it('takes resolve() with the defaults maxIssuers 100 and cacheMaxAge 300 s', () => {
      const resolved = resolveAuthOptions({ issuers: { resolve } });
      expect(resolved.issuers).toEqual([]);
      expect(resolved.issuerConfigs).toEqual([]);
      expect(resolved.issuerResolver).toEqual({
        resolve: expect.any(Function) as unknown,
        maxIssuers: 100,
        cacheMaxAge: 300,
      });
    });

    it('calls resolve() as a method of a class instance, whose own fields are its business', () => {
      class Tenants {
        readonly known = { issuer: B, audience: 'api://b' };
        readonly maxIssuers = 5;
        readonly cacheMaxAge = 10;
        resolve(issuer: string) {
          return issuer === B ? this.known : undefined;
        }
      }
      const tenants = new Tenants();
      const resolver = resolveAuthOptions({ issuers: tenants }).issuerResolver;
      expect(resolver?.maxIssuers).toBe(5);
      expect(resolver?.cacheMaxAge).toBe(10);
      expect(resolver?.resolve(B, undefined)).toBe(tenants.known);
      expect(resolver?.resolve(A, undefined)).toBeUndefined();
    });

    it('keeps the top-level issuer next to a resolver', () => {
      const resolved = resolveAuthOptions({
        issuer: A,
        audience: 'api',
        issuers: { resolve },
      });
      expect(resolved.issuers).toEqual([A]);
      expect(resolved.issuerResolver).toBeDefined();
    });

    it.each([
      [{}, 'issuers', /resolver \{ resolve\(issuer, request\) \}/],
      [{ resolve: 'x' }, 'issuers', /resolver/],
      [{ resolve, maxIssuers: 0 }, 'issuers.maxIssuers', /between 1 and/],
      [{ resolve, maxIssuers: '5' }, 'issuers.maxIssuers', /finite number/],
      [{ resolve, cacheMaxAge: 0 }, 'issuers.cacheMaxAge', /between 1 and/],
      [{ resolve, ttl: 5 }, 'issuers.ttl', /not a known option/],
    ])('refuses %p, naming %s', (issuers, option, problem) => {
      expectRefused({ issuers }, option, problem);
    });
  });

  it('requires issuer or issuers, saying so', () => {
    expectRefused(
      { audience: 'api' },
      'issuer',
      /is required \(or set "issuers"\)/,
    );
  });

  it('checks issuers synchronously when forRoot() validates', () => {
    expect(() =>
      resolveAuthOptions({ audience: 'api', issuers: [{ issuer: 'x' }] }),
    ).toThrow(AuthConfigurationError);
  });
});

describe('resolveIssuerConfig (a resolver answer)', () => {
  const defaults = {
    audiences: ['api://default'],
    algorithms: ['RS256'] as const,
    roleClaim: 'roles',
    scopeClaims: ['scp'],
  };

  it('fills in the defaults', () => {
    expect(
      resolveIssuerConfig({ issuer: B }, 'issuers.resolve()', defaults),
    ).toEqual({
      issuer: B,
      audiences: ['api://default'],
      jwksUri: undefined,
      algorithms: ['RS256'],
      roleClaim: 'roles',
      scopeClaims: ['scp'],
    });
  });

  it('names the path it was given', () => {
    expect(() =>
      resolveIssuerConfig(
        { issuer: B, audience: 7 },
        'issuers.resolve()',
        defaults,
      ),
    ).toThrow('option "issuers.resolve().audience"');
  });
});
