import { ClientError } from './app-exception.filter.js';
import { ConfigError, loadConfig, toAuthOptions } from './config.js';
import { readRevocationRequest } from './revocation-request.js';

function failureOf(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('loadConfig did not fail');
}

describe('AUTH_REVOCATION_STORE', () => {
  it('defaults to the memory store, fail-closed', () => {
    expect(toAuthOptions(loadConfig({})).revocation).toEqual({
      store: 'memory',
      onStoreUnavailable: 'fail-closed',
    });
  });

  it('takes a redis:// URL and the failure mode', () => {
    const options = toAuthOptions(
      loadConfig({
        AUTH_REVOCATION_STORE: 'redis://127.0.0.1:6379',
        AUTH_REVOCATION_ON_STORE_UNAVAILABLE: 'fail-open',
      }),
    );
    expect(options.revocation).toEqual({
      store: 'redis://127.0.0.1:6379',
      onStoreUnavailable: 'fail-open',
    });
  });

  it.each(['disk', 'http://127.0.0.1:6379', 'redis://'])(
    'refuses %j, naming the variable',
    (value) => {
      expect(failureOf({ AUTH_REVOCATION_STORE: value }).variable).toBe(
        'AUTH_REVOCATION_STORE',
      );
    },
  );

  it('never shows a password of the URL', () => {
    const error = failureOf({ AUTH_REVOCATION_STORE: 'redis:// secret@x' });
    expect(error.message).not.toContain('secret');
  });

  it('refuses an unknown failure mode', () => {
    expect(
      failureOf({ AUTH_REVOCATION_ON_STORE_UNAVAILABLE: 'maybe' }).variable,
    ).toBe('AUTH_REVOCATION_ON_STORE_UNAVAILABLE');
  });
});

describe('AUTH_INTROSPECTION_*', () => {
  const INTROSPECTION = {
    AUTH_INTROSPECTION_URI: 'http://127.0.0.1:9/introspect',
    AUTH_INTROSPECTION_CLIENT_ID: 'api',
    AUTH_INTROSPECTION_CLIENT_SECRET: 's3cret',
  };

  it('becomes the introspection option', () => {
    expect(toAuthOptions(loadConfig(INTROSPECTION)).introspection).toEqual({
      uri: INTROSPECTION.AUTH_INTROSPECTION_URI,
      clientId: 'api',
      clientSecret: 's3cret',
    });
    expect(
      toAuthOptions(
        loadConfig({ ...INTROSPECTION, AUTH_INTROSPECTION_CACHE_MAX_AGE: '5' }),
      ).introspection?.cacheMaxAge,
    ).toBe(5);
    expect(toAuthOptions(loadConfig({})).introspection).toBeUndefined();
  });

  it.each([
    ['AUTH_INTROSPECTION_CLIENT_ID'],
    ['AUTH_INTROSPECTION_CLIENT_SECRET'],
  ])('needs %s with the URI', (name) => {
    const env: Record<string, string> = { ...INTROSPECTION };
    delete env[name];
    expect(failureOf(env).variable).toBe(name);
  });

  it('refuses client credentials without the URI, and a bad URI or cache age', () => {
    expect(failureOf({ AUTH_INTROSPECTION_CLIENT_ID: 'api' }).variable).toBe(
      'AUTH_INTROSPECTION_CLIENT_ID',
    );
    expect(
      failureOf({ ...INTROSPECTION, AUTH_INTROSPECTION_URI: 'ftp://x' })
        .variable,
    ).toBe('AUTH_INTROSPECTION_URI');
    expect(
      failureOf({ ...INTROSPECTION, AUTH_INTROSPECTION_CACHE_MAX_AGE: '301' })
        .variable,
    ).toBe('AUTH_INTROSPECTION_CACHE_MAX_AGE');
  });

  it('never shows the client secret in a message', () => {
    const error = failureOf({
      ...INTROSPECTION,
      AUTH_INTROSPECTION_CLIENT_SECRET: 'bad\u0001secret',
    });
    expect(error.variable).toBe('AUTH_INTROSPECTION_CLIENT_SECRET');
    expect(error.message).not.toContain('secret\u0001');
    expect(error.message).not.toContain('bad');
  });
});

describe('readRevocationRequest', () => {
  it.each([
    [{ jti: 'j' }, { kind: 'jti', jti: 'j' }],
    [
      { jti: 'j', exp: 2000000000 },
      { kind: 'jti', jti: 'j', exp: 2000000000 },
    ],
    [
      { sub: 'alice', issuedBefore: 1700000000 },
      { kind: 'sub', sub: 'alice', issuedBefore: 1700000000 },
    ],
    [
      { clientId: 'app', issuedBefore: 1 },
      { kind: 'client', clientId: 'app', issuedBefore: 1 },
    ],
  ])('reads %j', (body, expected) => {
    expect(readRevocationRequest(body)).toEqual(expected);
  });

  it.each([
    [null],
    ['jti'],
    [[{ jti: 'j' }]],
    [{}],
    [{ jti: '' }],
    [{ jti: 5 }],
    [{ jti: 'x'.repeat(1025) }],
    [{ jti: 'j', sub: 'alice', issuedBefore: 1 }],
    [{ jti: 'j', issuedBefore: 1 }],
    [{ sub: 'alice' }],
    [{ sub: 'alice', issuedBefore: '1700000000' }],
    [{ sub: 'alice', issuedBefore: -1 }],
    [{ sub: 'alice', issuedBefore: 1, exp: 2 }],
    [{ jti: 'j', extra: true }],
  ])('refuses %j with 400', (body) => {
    let error: unknown;
    try {
      readRevocationRequest(body);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ClientError);
    expect((error as ClientError).getStatus()).toBe(400);
  });
});
