import {
  ASYMMETRIC_ALGORITHMS,
  AuthConfigurationError,
  isValidScopeName,
  resolveAuthOptions,
} from './auth-options.js';

const ISSUER = 'https://login.example.com/tenant/v2.0';
const BASE = { issuer: ISSUER, audience: 'api://app' };

function configError(options: unknown): AuthConfigurationError {
  try {
    resolveAuthOptions(options);
  } catch (error) {
    if (error instanceof AuthConfigurationError) return error;
    throw error;
  }
  throw new Error('expected an AuthConfigurationError');
}

function expectRefused(
  options: unknown,
  option: string,
  problem: RegExp,
): void {
  const error = configError(options);
  expect(error.name).toBe('AuthConfigurationError');
  expect(error.option).toBe(option);
  expect(error.message).toContain(`option "${option}"`);
  expect(error.message).toMatch(problem);
}

describe('resolveAuthOptions', () => {
  describe('defaults', () => {
    it('fills in every default from the two required options', () => {
      expect(resolveAuthOptions(BASE)).toEqual({
        issuers: [ISSUER],
        issuerConfigs: [],
        audiences: ['api://app'],
        jwksUri: undefined,
        algorithms: ['RS256'],
        clockTolerance: 30,
        tokenLocations: ['header'],
        maxTokenLength: 8192,
        requireAtJwt: false,
        realm: undefined,
        authorizationUri: undefined,
        resourceId: undefined,
        errorUri: undefined,
        scopeClaims: ['scp', 'scope'],
        roleClaim: 'roles',
        globalGuard: true,
        jwks: {
          timeout: 5000,
          cacheMaxAge: 600_000,
          cooldown: 30_000,
          staleMaxAge: 86_400_000,
          maxResponseBytes: 524_288,
          requireAtStartup: false,
        },
        tokenCache: { maxEntries: 10_000, maxAge: 300 },
        acceptContexts: [],
        errorFormat: 'json',
        dpop: {
          mode: 'off',
          algorithms: ['ES256', 'EdDSA', 'PS256', 'RS256'],
          iatWindow: 60,
        },
        trustedProxies: [],
        requireSenderConstraint: false,
      });
    });

    it.each<[unknown, RegExp]>([
      ['rpc', /array of context types/],
      [[''], /context type names/],
      [['rpc ws'], /context type names/],
      [[1], /context type names/],
    ])('refuses acceptContexts %p', (acceptContexts, problem) => {
      expectRefused({ ...BASE, acceptContexts }, 'acceptContexts', problem);
    });

    it.each(['html', 'JSON', 1])('refuses errorFormat %p', (errorFormat) => {
      expectRefused(
        { ...BASE, errorFormat },
        'errorFormat',
        /"json" or "problem"/,
      );
    });

    it('freezes the result and its nested objects', () => {
      const resolved = resolveAuthOptions(BASE);
      expect(Object.isFrozen(resolved)).toBe(true);
      expect(Object.isFrozen(resolved.jwks)).toBe(true);
      expect(Object.isFrozen(resolved.tokenCache)).toBe(true);
    });

    it('keeps every valid option given', () => {
      const resolved = resolveAuthOptions({
        issuer: [ISSUER, 'http://127.0.0.1:8080'],
        audience: ['api://app', 'client-id'],
        jwksUri: 'https://login.example.com/keys',
        algorithms: ['ES256', 'RS256', 'ES256'],
        clockTolerance: 0,
        tokenLocations: ['query', 'header', 'query'],
        maxTokenLength: 64,
        requireAtJwt: true,
        realm: 'my "api"',
        authorizationUri: 'https://login.example.com/authorize',
        resourceId: 'api://app',
        errorUri: 'https://docs.example.com/errors',
        scopeClaims: 'perms',
        roleClaim: 'groups',
        globalGuard: false,
        jwks: {
          timeout: 100,
          cacheMaxAge: 1000,
          cooldown: 0,
          staleMaxAge: 0,
          maxResponseBytes: 1024,
          requireAtStartup: true,
        },
        tokenCache: { maxEntries: 1, maxAge: 1 },
        acceptContexts: ['rpc', 'kafka', 'rpc'],
        errorFormat: 'problem',
      });
      expect(resolved).toEqual({
        issuers: [ISSUER, 'http://127.0.0.1:8080'],
        issuerConfigs: [],
        audiences: ['api://app', 'client-id'],
        jwksUri: 'https://login.example.com/keys',
        algorithms: ['ES256', 'RS256'],
        clockTolerance: 0,
        tokenLocations: ['header', 'query'],
        maxTokenLength: 64,
        requireAtJwt: true,
        realm: 'my "api"',
        authorizationUri: 'https://login.example.com/authorize',
        resourceId: 'api://app',
        errorUri: 'https://docs.example.com/errors',
        scopeClaims: ['perms'],
        roleClaim: 'groups',
        globalGuard: false,
        jwks: {
          timeout: 100,
          cacheMaxAge: 1000,
          cooldown: 0,
          staleMaxAge: 0,
          maxResponseBytes: 1024,
          requireAtStartup: true,
        },
        tokenCache: { maxEntries: 1, maxAge: 1 },
        acceptContexts: ['rpc', 'kafka'],
        errorFormat: 'problem',
        dpop: {
          mode: 'off',
          algorithms: ['ES256', 'EdDSA', 'PS256', 'RS256'],
          iatWindow: 60,
        },
        trustedProxies: [],
        requireSenderConstraint: false,
      });
    });

    it('accepts the upper bounds of the ranges', () => {
      const resolved = resolveAuthOptions({
        ...BASE,
        clockTolerance: 600,
        maxTokenLength: 65_536,
        jwks: {
          timeout: 60_000,
          cacheMaxAge: 86_400_000,
          cooldown: 3_600_000,
          staleMaxAge: 604_800_000,
          maxResponseBytes: 16 * 1024 * 1024,
        },
        tokenCache: { maxEntries: 10_000_000, maxAge: 86_400 },
      });
      expect(resolved.clockTolerance).toBe(600);
      expect(resolved.jwks.timeout).toBe(60_000);
    });

    it('turns the token cache off with false', () => {
      expect(
        resolveAuthOptions({ ...BASE, tokenCache: false }).tokenCache,
      ).toBe(false);
    });

    it('fills the defaults of partial jwks and tokenCache objects', () => {
      const resolved = resolveAuthOptions({
        ...BASE,
        jwks: { timeout: 200 },
        tokenCache: { maxAge: 60 },
      });
      expect(resolved.jwks).toEqual({
        timeout: 200,
        cacheMaxAge: 600_000,
        cooldown: 30_000,
        staleMaxAge: 86_400_000,
        maxResponseBytes: 524_288,
        requireAtStartup: false,
      });
      expect(resolved.tokenCache).toEqual({ maxEntries: 10_000, maxAge: 60 });
    });

    it('accepts every asymmetric algorithm', () => {
      expect(
        resolveAuthOptions({ ...BASE, algorithms: [...ASYMMETRIC_ALGORITHMS] })
          .algorithms,
      ).toEqual([...ASYMMETRIC_ALGORITHMS]);
    });
  });

  describe('the options object', () => {
    it.each([null, undefined, 'x', 42, [BASE]])(
      'refuses %p as options',
      (options) => {
        expectRefused(options, 'options', /must be an object/);
      },
    );

    it('refuses an unknown option, naming it', () => {
      expectRefused(
        { ...BASE, issuerz: [ISSUER] },
        'issuerz',
        /not a known option/,
      );
    });

    it('refuses an own "__proto__" key', () => {
      const options = JSON.parse(
        `{"issuer":"${ISSUER}","audience":"a","__proto__":{"x":1}}`,
      ) as unknown;
      expectRefused(options, '__proto__', /not a known option/);
    });

    it('formats the message as one clear sentence', () => {
      expect(configError({ audience: 'a' }).message).toBe(
        'nestjs-bearer: option "issuer" is required (or set "issuers").',
      );
    });
  });

  describe('issuer', () => {
    it.each([
      ['missing', { audience: 'a' }, /is required/],
      ['an empty string', { ...BASE, issuer: '' }, /empty string/],
      ['an empty array', { ...BASE, issuer: [] }, /empty array/],
      [
        'an array with an empty string',
        { ...BASE, issuer: [ISSUER, ''] },
        /empty string/,
      ],
      ['a number', { ...BASE, issuer: 42 }, /string or an array/],
      [
        'an array with a number',
        { ...BASE, issuer: [ISSUER, 1] },
        /only strings/,
      ],
      ['not a URL', { ...BASE, issuer: 'login.example.com' }, /absolute URL/],
      [
        'not http(s)',
        { ...BASE, issuer: 'ftp://login.example.com' },
        /http: or https:/,
      ],
      [
        'a URL with CR LF',
        { ...BASE, issuer: `${ISSUER}\r\n` },
        /control characters/,
      ],
      [
        'a URL with a tab',
        { ...BASE, issuer: `${ISSUER}\t` },
        /control characters/,
      ],
    ])('refuses an issuer that is %s', (_what, options, problem) => {
      expectRefused(options, 'issuer', problem);
    });
  });

  describe('audience', () => {
    it.each([
      ['missing', { issuer: ISSUER }, /is required/],
      [
        'an empty string (never "no check")',
        { ...BASE, audience: '' },
        /empty string/,
      ],
      ['an empty array', { ...BASE, audience: [] }, /empty array/],
      [
        'an array with an empty string',
        { ...BASE, audience: ['a', ''] },
        /empty string/,
      ],
      ['an object', { ...BASE, audience: { a: 1 } }, /string or an array/],
    ])('refuses an audience that is %s', (_what, options, problem) => {
      expectRefused(options, 'audience', problem);
    });
  });

  describe.each(['jwksUri', 'authorizationUri', 'errorUri'])('%s', (option) => {
    it.each([
      ['a number', 1, /URL string/],
      ['relative', '/keys', /absolute URL/],
      ['not http(s)', 'file:///etc/passwd', /http: or https:/],
      [
        'with credentials',
        'https://user:secret@example.com/keys',
        /user name or password/,
      ],
      ['with a user name', 'https://user@example.com/keys', /user name/],
      ['with a line break', 'https://example.com/a\nb', /control characters/],
      ['with non-ASCII', 'https://example.com/\u00E9', /control characters/],
    ])('refuses a value that is %s', (_what, value, problem) => {
      expectRefused({ ...BASE, [option]: value }, option, problem);
    });
  });

  it.each([
    ['a space', 'https://docs.example.com/errors/a b'],
    ['a double quote', 'https://docs.example.com/errors/"x"'],
    ['a backslash', 'https://docs.example.com/errors\\x'],
  ])(
    'refuses an errorUri with %s, which no challenge could carry (RFC 6750 section 3)',
    (_what, errorUri) => {
      expectRefused({ ...BASE, errorUri }, 'errorUri', /RFC 3986/);
    },
  );

  describe('algorithms', () => {
    it.each([
      ['a string', 'RS256', /must be an array/],
      ['empty', [], /must not be empty/],
      ['"none"', ['RS256', 'none'], /"none"/],
      ['"NONE" in capitals', ['NONE'], /"none"/],
      ['HS256', ['HS256'], /"HS256": HMAC/],
      ['hs512 in lower case', ['hs512'], /"hs512": HMAC/],
      ['an unknown name', ['RS1'], /contains "RS1", which is not one of RS256/],
      ['a lower-case RS256', ['rs256'], /contains "rs256"/],
      ['an unknown name', ['ES256K'], /contains "ES256K"/],
      ['a number', [256], /only strings/],
    ])('refuses algorithms that are %s', (_what, algorithms, problem) => {
      expectRefused({ ...BASE, algorithms }, 'algorithms', problem);
    });
  });

  describe('numbers', () => {
    it.each([
      ['clockTolerance', -1, /between 0 and 600/],
      ['clockTolerance', 601, /between 0 and 600/],
      ['clockTolerance', Number.NaN, /finite number/],
      ['clockTolerance', Number.POSITIVE_INFINITY, /finite number/],
      ['clockTolerance', '30', /finite number/],
      ['maxTokenLength', 63, /between 64 and 65536/],
      ['maxTokenLength', 65_537, /between 64 and 65536/],
    ])('refuses %s = %p', (option, value, problem) => {
      expectRefused({ ...BASE, [option]: value }, option, problem);
    });
  });

  describe('booleans', () => {
    it.each(['requireAtJwt', 'globalGuard'])(
      'refuses a non-boolean %s',
      (option) => {
        expectRefused({ ...BASE, [option]: 'yes' }, option, /true or false/);
      },
    );
  });

  describe('tokenLocations', () => {
    it.each([
      ['a string', 'header', /must be an array/],
      ['empty', [], /must not be empty/],
      [
        'an unknown location',
        ['header', 'cookie'],
        /"header", "body", "query"/,
      ],
      ['a number', [1], /must contain only/],
      ['a location in capitals', ['Header'], /must contain only/],
    ])(
      'refuses tokenLocations that are %s',
      (_what, tokenLocations, problem) => {
        expectRefused({ ...BASE, tokenLocations }, 'tokenLocations', problem);
      },
    );
  });

  describe.each(['realm', 'resourceId'])('%s', (option) => {
    it.each([
      ['a number', 1, /must be a string/],
      ['empty', '', /empty string/],
      ['with CR', 'a\rb', /control characters/],
      ['with LF', 'a\nb', /control characters/],
      ['with a tab', 'a\tb', /control characters/],
      ['with NUL', 'a\u0000', /control characters/],
      ['with non-ASCII', 'caf\u00E9', /control characters/],
    ])('refuses a value that is %s', (_what, value, problem) => {
      expectRefused({ ...BASE, [option]: value }, option, problem);
    });
  });

  describe('claim names', () => {
    it.each([
      ['empty', [], /empty array/],
      ['with an empty name', ['scp', ''], /empty string/],
      ['a number', 5, /string or an array/],
    ])('refuses scopeClaims that are %s', (_what, scopeClaims, problem) => {
      expectRefused({ ...BASE, scopeClaims }, 'scopeClaims', problem);
    });

    it.each([
      ['empty', ''],
      ['an array', ['roles']],
      ['a number', 1],
    ])('refuses a roleClaim that is %s', (_what, roleClaim) => {
      expectRefused({ ...BASE, roleClaim }, 'roleClaim', /non-empty string/);
    });

    it.each([
      'roles',
      'realm_access.roles',
      'resource_access.reports.api.roles',
      'permissions',
      'groups',
      'https://example.com/roles',
    ])('accepts the roleClaim %s as it is', (roleClaim) => {
      expect(resolveAuthOptions({ ...BASE, roleClaim }).roleClaim).toBe(
        roleClaim,
      );
    });

    it.each([
      ['.roles', /empty segment in "\.roles"/],
      ['realm_access.', /empty segment/],
      ['realm_access..roles', /no leading, trailing or doubled dots/],
      ['__proto__.roles', /must not contain the segment "__proto__"/],
      ['realm_access.constructor', /segment "constructor"/],
      ['prototype', /segment "prototype"/],
    ])('refuses the roleClaim path %s', (roleClaim, problem) => {
      expectRefused({ ...BASE, roleClaim }, 'roleClaim', problem);
    });

    it('accepts dotted scopeClaims and refuses a malformed one', () => {
      expect(
        resolveAuthOptions({ ...BASE, scopeClaims: ['scp', 'ext.perms'] })
          .scopeClaims,
      ).toEqual(['scp', 'ext.perms']);
      expectRefused(
        { ...BASE, scopeClaims: ['scp', 'ext..perms'] },
        'scopeClaims',
        /empty segment in "ext\.\.perms"/,
      );
      expectRefused(
        { ...BASE, scopeClaims: ['constructor'] },
        'scopeClaims',
        /segment "constructor"/,
      );
    });
  });

  describe('jwks', () => {
    it.each([
      ['an array', []],
      ['null', null],
      ['a number', 5],
    ])('refuses jwks that is %s', (_what, jwks) => {
      expectRefused({ ...BASE, jwks }, 'jwks', /must be an object/);
    });

    it('refuses an unknown key, naming its path', () => {
      expectRefused(
        { ...BASE, jwks: { timeout: 1000, cacheTtl: 5 } },
        'jwks.cacheTtl',
        /not a known option/,
      );
    });

    it.each([
      ['timeout', 99, /between 100 and 60000/],
      ['timeout', 60_001, /between 100 and 60000/],
      ['timeout', '5000', /finite number/],
      ['cacheMaxAge', 999, /between 1000 and 86400000/],
      ['cooldown', -1, /between 0 and 3600000/],
      ['cooldown', 3_600_001, /between 0 and 3600000/],
      ['staleMaxAge', -1, /between 0 and 604800000/],
      ['staleMaxAge', 604_800_001, /between 0 and 604800000/],
      ['maxResponseBytes', 1023, /between 1024 and 16777216/],
      ['maxResponseBytes', 16 * 1024 * 1024 + 1, /between 1024 and 16777216/],
    ])('refuses jwks.%s = %p', (key, value, problem) => {
      expectRefused(
        { ...BASE, jwks: { [key]: value } },
        `jwks.${key}`,
        problem,
      );
    });
  });

  describe('tokenCache', () => {
    it.each([
      ['true', true],
      ['an array', []],
      ['null', null],
    ])('refuses tokenCache that is %s', (_what, tokenCache) => {
      expectRefused({ ...BASE, tokenCache }, 'tokenCache', /must be an object/);
    });

    it('refuses an unknown key, naming its path', () => {
      expectRefused(
        { ...BASE, tokenCache: { ttl: 5 } },
        'tokenCache.ttl',
        /not a known option/,
      );
    });

    it.each([
      ['maxEntries', 0, /between 1 and 10000000/],
      ['maxEntries', 10_000_001, /between 1 and 10000000/],
      ['maxAge', 0, /between 1 and 86400/],
      ['maxAge', 86_401, /between 1 and 86400/],
    ])('refuses tokenCache.%s = %p', (key, value, problem) => {
      expectRefused(
        { ...BASE, tokenCache: { [key]: value } },
        `tokenCache.${key}`,
        problem,
      );
    });
  });

  describe('multi-tenant issuers', () => {
    const TEMPLATE = 'https://login.microsoftonline.com/{tenantid}/v2.0';
    const KEYS = 'https://login.microsoftonline.com/common/discovery/v2.0/keys';

    it('accepts a {tenantid} issuer with a jwksUri and allowed tenants', () => {
      const resolved = resolveAuthOptions({
        ...BASE,
        issuer: TEMPLATE,
        jwksUri: KEYS,
        allowedTenants: ['t1'],
      });
      expect(resolved.issuers).toEqual([TEMPLATE]);
      expect(resolved.allowedTenants).toEqual(['t1']);
    });

    it('refuses an issuer that holds {tenantid} twice', () => {
      expectRefused(
        {
          ...BASE,
          issuer: 'https://login.example/{tenantid}/{tenantid}/v2.0',
          jwksUri: KEYS,
        },
        'issuer',
        /at most once/,
      );
    });

    it('refuses a protectedResourceMetadata.resource with an empty query', () => {
      expectRefused(
        {
          ...BASE,
          protectedResourceMetadata: { resource: 'https://api.example/?' },
        },
        'protectedResourceMetadata.resource',
        /no query/,
      );
    });

    it('requires jwksUri with a {tenantid} issuer', () => {
      expectRefused({ ...BASE, issuer: TEMPLATE }, 'jwksUri', /\{tenantid\}/);
    });

    it('refuses allowedTenants without a {tenantid} issuer', () => {
      expectRefused(
        { ...BASE, allowedTenants: ['t1'] },
        'allowedTenants',
        /\{tenantid\}/,
      );
    });

    it('refuses empty allowedTenants', () => {
      expectRefused(
        { ...BASE, issuer: TEMPLATE, jwksUri: KEYS, allowedTenants: [] },
        'allowedTenants',
        /empty array/,
      );
    });
  });
});

describe('isValidScopeName', () => {
  it('accepts one RFC 6750 scope-token', () => {
    expect(isValidScopeName('Files.Read')).toBe(true);
    expect(isValidScopeName('api://app/read')).toBe(true);
  });

  it.each(['', 'a b', 'a"b', 'a\\b', 'caf\u00E9', 'a\tb'])(
    'refuses %p',
    (scope) => {
      expect(isValidScopeName(scope)).toBe(false);
    },
  );
});
