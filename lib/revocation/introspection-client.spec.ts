import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AuthServerError, InvalidTokenError } from '../bearer.errors.js';
import {
  IntrospectionClient,
  JWT_INTROSPECTION_TYPE,
  type IntrospectionClientOptions,
} from './introspection-client.js';

type Answer = (
  req: IncomingMessage,
  body: string,
) => {
  status?: number;
  type?: string;
  body: string;
  headers?: Record<string, string>;
};

describe('IntrospectionClient', () => {
  let server: Server;
  let uri: string;
  let answer: Answer;
  let seen: { authorization?: string; accept?: string; body: string }[];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (c: string) => (body += c));
      req.on('end', () => {
        seen.push({
          authorization: req.headers.authorization,
          accept: req.headers.accept,
          body,
        });
        const out = answer(req, body);
        res.writeHead(out.status ?? 200, {
          'content-type': out.type ?? 'application/json',
          ...out.headers,
        });
        res.end(out.body);
      });
    });
    await new Promise<void>((resolve) =>
      server.listen(0, '127.0.0.1', resolve),
    );
    uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/introspect`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));
  beforeEach(() => {
    seen = [];
  });

  const active =
    (extra: Record<string, unknown> = {}): Answer =>
    () => ({
      body: JSON.stringify({
        active: true,
        aud: 'api://unit',
        sub: 'alice',
        scope: 'a b',
        roles: ['Admin'],
        exp: Math.floor(Date.now() / 1000) + 300,
        ...extra,
      }),
    });

  function create(
    extra: Partial<IntrospectionClientOptions> = {},
  ): IntrospectionClient {
    return new IntrospectionClient({
      uri,
      clientId: 'api client',
      clientSecret: 's:cret%',
      timeout: 500,
      maxResponseBytes: 1024,
      cacheMaxAge: 30,
      maxEntries: 100,
      cooldown: 30_000,
      jwtResponse: false,
      audiences: ['api://unit'],
      issuers: ['https://issuer.example'],
      clockTolerance: 0,
      scopeClaims: ['scope'],
      roleClaim: 'roles',
      ...extra,
    });
  }

  it('POSTs the token with client_secret_basic (form-encoded parts) and builds the principal', async () => {
    answer = active();
    const principal = await create().verifyOpaqueToken('opaque-1');
    expect(principal).toMatchObject({
      sub: 'alice',
      scopes: ['a', 'b'],
      roles: ['Admin'],
    });
    expect(seen).toHaveLength(1);
    expect(seen[0].body).toBe('token=opaque-1&token_type_hint=access_token');
    expect(seen[0].accept).toBe('application/json');
    const decoded = Buffer.from(
      (seen[0].authorization ?? '').replace(/^Basic /, ''),
      'base64',
    ).toString();
    expect(decoded).toBe('api+client:s%3Acret%25');
  });

  it.each([
    'Bearer',
    'bearer',
    'DPoP',
    'N_A',
    'urn:ietf:params:oauth:token-type:access_token',
  ])('accepts an access token whose token_type is %s', async (tokenType) => {
    answer = active({ token_type: tokenType });
    const principal = await create().verifyOpaqueToken(`typed-${tokenType}`);
    expect(principal.sub).toBe('alice');
  });

  it('caches answers: synchronous on a hit, one request for concurrent misses', async () => {
    answer = active();
    const client = create();
    const both = await Promise.all([
      client.verifyOpaqueToken('t'),
      client.verifyOpaqueToken('t'),
    ]);
    expect(both[0]).toBe(both[1]);
    expect(client.verifyOpaqueToken('t')).not.toBeInstanceOf(Promise);
    expect(client.requests).toBe(1);
  });

  it('never caches past the token exp', async () => {
    let now = Date.now();
    answer = active({ exp: Math.floor(now / 1000) + 2 });
    const client = create({ now: () => now });
    await client.verifyOpaqueToken('t');
    now += 2500;
    answer = () => ({ body: '{"active":false}' });
    await expect(
      Promise.resolve().then(() => client.verifyOpaqueToken('t')),
    ).rejects.toBeInstanceOf(InvalidTokenError);
    expect(client.requests).toBe(2);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['inactive', { active: false }, 'invalid'],
    ['another audience', { aud: 'api://other' }, 'audience'],
    ['no audience', { aud: undefined }, 'audience'],
    ['expired', { exp: 1000 }, 'expired'],
    [
      'not yet valid',
      { nbf: Math.floor(Date.now() / 1000) + 600 },
      'not_yet_valid',
    ],
    ['an untrusted iss', { iss: 'https://evil.example' }, 'issuer'],
    ['a non-numeric exp', { exp: 'soon' }, 'claims'],
    ['a refresh token', { token_type: 'refresh_token' }, 'type'],
    ['a Keycloak refresh token', { token_type: 'Refresh' }, 'type'],
    [
      'an RFC 8693 refresh token type',
      { token_type: 'urn:ietf:params:oauth:token-type:refresh_token' },
      'type',
    ],
    ['an ID token type', { token_type: 'id_token' }, 'type'],
    ['a MAC token', { token_type: 'mac' }, 'type'],
    ['a non-string token_type', { token_type: true }, 'type'],
  ])('refuses %s with 401 invalid_token', async (_name, extra, reason) => {
    answer = active(extra);
    const error = await Promise.resolve()
      .then(() => create().verifyOpaqueToken('t'))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidTokenError);
    expect((error as InvalidTokenError).reason).toBe(reason);
  });

  it.each<[string, Answer]>([
    ['HTTP 500', () => ({ status: 500, body: '{}' })],
    [
      'HTTP 401 (wrong client credentials)',
      () => ({ status: 401, body: '{}' }),
    ],
    [
      'a redirect',
      () => ({ status: 302, body: '', headers: { location: '/x' } }),
    ],
    ['not JSON', () => ({ body: 'active' })],
    ['a JSON array', () => ({ body: '[]' })],
    ['no boolean active', () => ({ body: '{"active":"true"}' })],
    [
      'an oversized answer',
      () => ({ body: JSON.stringify({ active: true, pad: 'x'.repeat(2000) }) }),
    ],
  ])('answers %s with a 500, never a 401', async (_name, fn) => {
    answer = fn;
    await expect(
      Promise.resolve().then(() => create().verifyOpaqueToken('t')),
    ).rejects.toBeInstanceOf(AuthServerError);
  });

  it('times out, then backs off before the next try', async () => {
    let now = Date.now();
    answer = () => ({ body: '' });
    const hang = createServer(() => undefined);
    await new Promise<void>((resolve) => hang.listen(0, '127.0.0.1', resolve));
    const client = create({
      uri: `http://127.0.0.1:${(hang.address() as AddressInfo).port}/`,
      timeout: 200,
      now: () => now,
    });
    try {
      await expect(
        Promise.resolve().then(() => client.verifyOpaqueToken('t')),
      ).rejects.toBeInstanceOf(AuthServerError);
      expect(client.requests).toBe(1);
      // Within the back-off: refused at once, without a request.
      await expect(
        Promise.resolve().then(() => client.verifyOpaqueToken('u')),
      ).rejects.toBeInstanceOf(AuthServerError);
      expect(client.requests).toBe(1);
      now += 1001;
      await expect(
        Promise.resolve().then(() => client.verifyOpaqueToken('u')),
      ).rejects.toBeInstanceOf(AuthServerError);
      expect(client.requests).toBe(2);
    } finally {
      hang.closeAllConnections();
      await new Promise((resolve) => hang.close(resolve));
    }
  });

  describe('RFC 9701 (jwtResponse)', () => {
    const verifyJwt = (jwt: string) =>
      Promise.resolve(
        JSON.parse(
          Buffer.from(jwt.split('.')[1], 'base64url').toString(),
        ) as Record<string, unknown>,
      );
    const signed = (payload: Record<string, unknown>): string =>
      `e30.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.sig`;

    it('asks for a signed answer and reads token_introspection', async () => {
      answer = () => ({
        type: JWT_INTROSPECTION_TYPE,
        body: signed({
          aud: 'api client',
          token_introspection: { active: true, aud: 'api://unit', sub: 'bob' },
        }),
      });
      const principal = await create({
        jwtResponse: true,
        verifyJwt,
      }).verifyOpaqueToken('t');
      expect(principal.sub).toBe('bob');
      expect(seen[0].accept).toBe(JWT_INTROSPECTION_TYPE);
    });

    it.each<[string, Answer]>([
      ['a plain JSON answer (downgrade)', active()],
      [
        'a signed answer for another client',
        () => ({
          type: JWT_INTROSPECTION_TYPE,
          body: signed({ aud: 'other', token_introspection: { active: true } }),
        }),
      ],
      [
        'a signed answer without token_introspection',
        () => ({
          type: JWT_INTROSPECTION_TYPE,
          body: signed({ aud: 'api client' }),
        }),
      ],
    ])('refuses %s with a 500', async (_name, fn) => {
      answer = fn;
      await expect(
        Promise.resolve().then(() =>
          create({ jwtResponse: true, verifyJwt }).verifyOpaqueToken('t'),
        ),
      ).rejects.toBeInstanceOf(AuthServerError);
    });

    it('refuses an answer whose signature does not verify', async () => {
      answer = () => ({
        type: JWT_INTROSPECTION_TYPE,
        body: signed({
          aud: 'api client',
          token_introspection: { active: true },
        }),
      });
      const client = create({
        jwtResponse: true,
        verifyJwt: () => Promise.reject(new Error('bad signature')),
      });
      await expect(
        Promise.resolve().then(() => client.verifyOpaqueToken('t')),
      ).rejects.toBeInstanceOf(AuthServerError);
    });
  });
});
