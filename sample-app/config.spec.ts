import { AuthConfigurationError } from '../lib/index.js';
import {
  ConfigError,
  DEV_AUDIENCE,
  loadConfig,
  toAuthOptions,
  toConfigError,
} from './config.js';

const EXTERNAL = {
  AUTH_ISSUER: 'https://login.example.com/tenant/v2.0',
  AUTH_AUDIENCE: 'api://sample',
};

function failureOf(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('loadConfig accepted the environment');
}

describe('loadConfig', () => {
  it('defaults to the development issuer on 127.0.0.1:3000 with Express', () => {
    expect(loadConfig({})).toEqual({
      port: 3000,
      host: '127.0.0.1',
      httpAdapter: 'express',
      logLevel: 'warn',
      mode: 'development',
      issuer: 'http://127.0.0.1:3000',
      audiences: [DEV_AUDIENCE],
      jwksUri: undefined,
      authorizationUri: undefined,
      resourceId: undefined,
      realm: undefined,
      tokenLocations: ['header'],
      algorithms: ['RS256'],
      acceptContexts: [],
      clockTolerance: undefined,
      rolesClaim: undefined,
      revocationStore: 'memory',
      revocationOnStoreUnavailable: 'fail-closed',
      introspection: undefined,
      dpop: 'off',
      dpopNonce: undefined,
      reportsAudience: undefined,
    });
  });

  it('reads every variable of an external issuer set-up', () => {
    const config = loadConfig({
      ...EXTERNAL,
      PORT: '8080',
      HOST: '0.0.0.0',
      HTTP_ADAPTER: 'Fastify',
      LOG_LEVEL: 'debug',
      AUTH_AUDIENCE: ' api://a , api://b,api://a ',
      AUTH_JWKS_URI: 'http://keys.internal/jwks.json',
      AUTH_AUTHORIZATION_URI: 'https://login.example.com/authorize',
      AUTH_RESOURCE_ID: 'api://sample',
      AUTH_REALM: 'sample',
      AUTH_TOKEN_LOCATIONS: 'query, HEADER',
      AUTH_ALGORITHMS: 'RS256,ES256',
      AUTH_ACCEPT_CONTEXTS: 'rpc',
      AUTH_CLOCK_TOLERANCE: '60',
    });
    expect(config).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      httpAdapter: 'fastify',
      logLevel: 'debug',
      mode: 'external',
      issuer: EXTERNAL.AUTH_ISSUER,
      audiences: ['api://a', 'api://b'],
      jwksUri: 'http://keys.internal/jwks.json',
      authorizationUri: 'https://login.example.com/authorize',
      resourceId: 'api://sample',
      realm: 'sample',
      // RFC 6750 order, whatever the order given.
      tokenLocations: ['header', 'query'],
      algorithms: ['RS256', 'ES256'],
      acceptContexts: ['rpc'],
      clockTolerance: 60,
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('lets AUTH_AUDIENCE name the development audience', () => {
    expect(loadConfig({ AUTH_AUDIENCE: 'api://mine' }).audiences).toEqual([
      'api://mine',
    ]);
  });

  it.each([
    [
      { AUTH_ISSUER: EXTERNAL.AUTH_ISSUER },
      'AUTH_AUDIENCE',
      /required when AUTH_ISSUER/,
    ],
    [
      { ...EXTERNAL, AUTH_ISSUER: 'login.example.com' },
      'AUTH_ISSUER',
      /absolute URL/,
    ],
    [
      { ...EXTERNAL, AUTH_ISSUER: 'https://x.example/?tenant=a' },
      'AUTH_ISSUER',
      /query/,
    ],
    [{ ...EXTERNAL, AUTH_ISSUER: '   ' }, 'AUTH_ISSUER', /empty/],
    [
      { AUTH_JWKS_URI: 'https://x.example/jwks' },
      'AUTH_JWKS_URI',
      /needs AUTH_ISSUER/,
    ],
    [{ AUTH_ALGORITHMS: 'ES256' }, 'AUTH_ALGORITHMS', /must include RS256/],
    [{ AUTH_ALGORITHMS: 'rs256' }, 'AUTH_ALGORITHMS', /not accepted/],
    [{ AUTH_ALGORITHMS: 'None' }, 'AUTH_ALGORITHMS', /"none"/],
    [{ AUTH_ALGORITHMS: 'RS256,hs512' }, 'AUTH_ALGORITHMS', /HMAC/],
    [
      { AUTH_TOKEN_LOCATIONS: 'header,,query' },
      'AUTH_TOKEN_LOCATIONS',
      /empty entry/,
    ],
    [{ AUTH_TOKEN_LOCATIONS: 'cookie' }, 'AUTH_TOKEN_LOCATIONS', /"cookie"/],
    [{ PORT: '0' }, 'PORT', /1 to 65535/],
    [{ PORT: '3000.5' }, 'PORT', /whole number/],
    [{ HOST: 'a b' }, 'HOST', /IP address or a host name/],
    [{ HOST: '::1' }, 'HOST', /must be 127\.0\.0\.1 when AUTH_ISSUER is unset/],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL', /one of error, warn/],
    [{ AUTH_REALM: 'a"\nb' }, 'AUTH_REALM', /control characters/],
    [{ AUTH_JWKS_COOLDOWN_MS: '5s' }, 'AUTH_JWKS_COOLDOWN_MS', /whole number/],
    [{ AUTH_JWKS_COOLDOWN_MS: '9999999' }, 'AUTH_JWKS_COOLDOWN_MS', /between/],
    [
      { AUTH_ACCEPT_CONTEXTS: 'rpc,kafka' },
      'AUTH_ACCEPT_CONTEXTS',
      /"kafka", which is not a Nest context type; use http, graphql, ws, rpc/,
    ],
    [
      { AUTH_ACCEPT_CONTEXTS: 'rpc,,ws' },
      'AUTH_ACCEPT_CONTEXTS',
      /empty entry/,
    ],
    [{ AUTH_ACCEPT_CONTEXTS: 'rpc ws' }, 'AUTH_ACCEPT_CONTEXTS', /"rpc ws"/],
    [{ AUTH_ACCEPT_CONTEXTS: '*' }, 'AUTH_ACCEPT_CONTEXTS', /context type/],
    [
      { AUTH_REPORTS_AUDIENCE: 'api://a api://b' },
      'AUTH_REPORTS_AUDIENCE',
      /one audience/,
    ],
    [{ AUTH_DPOP: 'on' }, 'AUTH_DPOP', /"off", "allowed" or "required"/],
    [{ AUTH_DPOP_NONCE: 'yes' }, 'AUTH_DPOP_NONCE', /"true" or "false"/],
    [{ AUTH_DPOP_NONCE: 'true' }, 'AUTH_DPOP_NONCE', /needs AUTH_DPOP=/],
    [
      { AUTH_DPOP: 'allowed', AUTH_DPOP_NONCE_SECRET: 'x'.repeat(40) },
      'AUTH_DPOP_NONCE_SECRET',
      /needs AUTH_DPOP_NONCE=true/,
    ],
    [
      {
        AUTH_DPOP: 'allowed',
        AUTH_DPOP_NONCE: 'true',
        AUTH_DPOP_NONCE_SECRET: 'short',
      },
      'AUTH_DPOP_NONCE_SECRET',
      /at least 32 characters/,
    ],
    [
      { AUTH_DPOP: 'required', AUTH_TOKEN_LOCATIONS: 'header,query' },
      'AUTH_TOKEN_LOCATIONS',
      /only in the Authorization header/,
    ],
    [{ AUTH_CLOCK_TOLERANCE: '601' }, 'AUTH_CLOCK_TOLERANCE', /from 0 to 600/],
    [{ AUTH_CLOCK_TOLERANCE: '-1' }, 'AUTH_CLOCK_TOLERANCE', /whole number/],
    [{ AUTH_CLOCK_TOLERANCE: '1.5' }, 'AUTH_CLOCK_TOLERANCE', /whole number/],
    [{ AUTH_CLOCK_TOLERANCE: '30s' }, 'AUTH_CLOCK_TOLERANCE', /"30s"/],
    [{ AUTH_CLOCK_TOLERANCE: '1e2' }, 'AUTH_CLOCK_TOLERANCE', /whole number/],
    [
      { AUTH_CLOCK_TOLERANCE: '99999' },
      'AUTH_CLOCK_TOLERANCE',
      /from 0 to 600/,
    ],
    [{ AUTH_CLOCK_TOLERANCE: ' ' }, 'AUTH_CLOCK_TOLERANCE', /empty/],
  ])('refuses %o, naming %s', (env, variable, problem) => {
    const error = failureOf(env);
    expect(error.variable).toBe(variable);
    expect(error.message.startsWith(`${variable} `)).toBe(true);
    expect(error.message).toMatch(problem);
    expect(error.message).not.toContain('\n');
  });

  it('never shows more than a short, printable excerpt of a bad value', () => {
    const error = failureOf({ PORT: `9${'\u0007'.repeat(200)}` });
    expect(error.message).toMatch(/^[\x20-\x7E]+$/);
    expect(error.message.length).toBeLessThan(200);
  });
});

describe('toAuthOptions', () => {
  it('passes only the options that are set', () => {
    expect(toAuthOptions(loadConfig(EXTERNAL))).toEqual({
      issuer: EXTERNAL.AUTH_ISSUER,
      audience: ['api://sample'],
      algorithms: ['RS256'],
      tokenLocations: ['header'],
      // Always on (contract: AUTH_REVOCATION_STORE defaults to memory).
      revocation: { store: 'memory', onStoreUnavailable: 'fail-closed' },
    });
  });
});

describe('toConfigError', () => {
  it('names the variable behind a module option', () => {
    const error = toConfigError(
      new AuthConfigurationError('resourceId', 'must not be an empty string.'),
    );
    expect(error?.message).toBe(
      'AUTH_RESOURCE_ID (option "resourceId") must not be an empty string.',
    );
  });

  it('names the option when no variable feeds it', () => {
    const error = toConfigError(
      new AuthConfigurationError('jwks.timeout', 'must be a finite number.'),
    );
    expect(error?.message).toBe(
      'option "jwks.timeout" must be a finite number.',
    );
  });

  it('leaves other errors alone', () => {
    expect(toConfigError(new Error('boom'))).toBeUndefined();
  });
});

describe('AUTH_JWKS_COOLDOWN_MS', () => {
  it('becomes the module option jwks.cooldown', () => {
    const config = loadConfig({ AUTH_JWKS_COOLDOWN_MS: '5000' });
    expect(toAuthOptions(config).jwks).toEqual({ cooldown: 5000 });
    expect(toAuthOptions(loadConfig({})).jwks).toBeUndefined();
  });
});

describe('AUTH_ACCEPT_CONTEXTS', () => {
  it('becomes the module option acceptContexts, in a fixed order, without repeats', () => {
    const config = loadConfig({ AUTH_ACCEPT_CONTEXTS: ' WS , rpc,ws' });
    expect(config.acceptContexts).toEqual(['ws', 'rpc']);
    expect(toAuthOptions(config).acceptContexts).toEqual(['ws', 'rpc']);
  });

  it.each(['http', 'graphql', 'ws', 'rpc'])('accepts %s', (type) => {
    expect(loadConfig({ AUTH_ACCEPT_CONTEXTS: type }).acceptContexts).toEqual([
      type,
    ]);
  });

  it.each([
    [{}],
    [{ AUTH_ACCEPT_CONTEXTS: '' }],
    [{ AUTH_ACCEPT_CONTEXTS: '  ' }],
  ])('lets no context through when unset or empty: %o', (env) => {
    const config = loadConfig(env);
    expect(config.acceptContexts).toEqual([]);
    expect(toAuthOptions(config)).not.toHaveProperty('acceptContexts');
  });

  it('names the variable when the module refuses the option', () => {
    const error = toConfigError(
      new AuthConfigurationError('acceptContexts', 'must be an array.'),
    );
    expect(error?.variable).toBe('AUTH_ACCEPT_CONTEXTS');
  });
});

describe('AUTH_ROLES_CLAIM', () => {
  it.each([
    'roles',
    'realm_access.roles',
    'permissions',
    'groups',
    'https://example.com/roles',
  ])('reads %s as the module option roleClaim', (value) => {
    const config = loadConfig({ ...EXTERNAL, AUTH_ROLES_CLAIM: ` ${value} ` });
    expect(config.rolesClaim).toBe(value);
    expect(toAuthOptions(config).roleClaim).toBe(value);
  });

  it("keeps the module's default, roles, when unset", () => {
    expect(loadConfig({}).rolesClaim).toBeUndefined();
    expect(toAuthOptions(loadConfig({}))).not.toHaveProperty('roleClaim');
  });

  it.each([
    ['realm_access..roles', /empty segment in "realm_access\.\.roles"/],
    ['.roles', /empty segment/],
    ['roles.', /empty segment/],
    ['__proto__.roles', /segment "__proto__"/],
    ['  ', /is set but empty/],
  ])('refuses %j in one line naming the variable', (value, problem) => {
    const error = failureOf({ ...EXTERNAL, AUTH_ROLES_CLAIM: value });
    expect(error.variable).toBe('AUTH_ROLES_CLAIM');
    expect(error.message.startsWith('AUTH_ROLES_CLAIM ')).toBe(true);
    expect(error.message).toMatch(problem);
    expect(error.message).not.toContain('\n');
  });
});

describe('AUTH_CLOCK_TOLERANCE', () => {
  it.each([
    ['0', 0],
    ['5', 5],
    ['60', 60],
    ['600', 600],
    ['007', 7],
  ])('reads %s as the module option clockTolerance %i', (value, seconds) => {
    const config = loadConfig({ AUTH_CLOCK_TOLERANCE: value });
    expect(config.clockTolerance).toBe(seconds);
    expect(toAuthOptions(config).clockTolerance).toBe(seconds);
  });

  it("keeps the module's default when unset", () => {
    expect(toAuthOptions(loadConfig({}))).not.toHaveProperty('clockTolerance');
  });

  it('names the variable when the module refuses the option', () => {
    const error = toConfigError(
      new AuthConfigurationError(
        'clockTolerance',
        'must be between 0 and 600.',
      ),
    );
    expect(error?.message).toBe(
      'AUTH_CLOCK_TOLERANCE (option "clockTolerance") must be between 0 and 600.',
    );
  });
});
