import { jest } from '@jest/globals';
import { EventEmitter } from 'node:events';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from '../../test/support/jwks-server.js';
import { mintToken } from '../../test/support/tokens.js';
import {
  AuthConfigurationError,
  resolveAuthOptions,
  type AuthModuleOptions,
} from '../auth-options.js';
import { BearerAuthenticator } from '../bearer-authenticator.service.js';
import { AuthServerError, InvalidTokenError } from '../bearer.errors.js';
import { IssuerKeysService } from '../keys/issuer-keys.service.js';
import { BearerRevocations } from './bearer-revocations.service.js';
import { createRevocationStore } from './create-revocation-store.js';
import { MemoryRevocationStore } from './memory-revocation.store.js';
import type { RevocationStore } from './revocation-store.js';
import { SocketStandings } from '../contexts/ws-upgrade.js';

const AUDIENCE = 'api://unit';

/** Synchronous answers and promises alike, as a promise. */
function verify(authenticator: BearerAuthenticator, token: string) {
  return Promise.resolve().then(() => authenticator.verifyToken(token));
}

describe('BearerRevocations', () => {
  let jwks: JwksServer;
  let key: TestKey;

  beforeAll(async () => {
    key = await createTestKey();
    jwks = await JwksServer.start({ keys: [key] });
  });
  afterAll(() => jwks.close());

  async function create(extra: Partial<AuthModuleOptions> = {}) {
    const options = resolveAuthOptions({
      issuer: jwks.issuer,
      audience: AUDIENCE,
      jwksUri: jwks.jwksUri,
      revocation: true,
      ...extra,
    });
    const keys = new IssuerKeysService(options);
    const authenticator = new BearerAuthenticator(options, keys);
    const configured = await createRevocationStore(options);
    const revocations = new BearerRevocations(
      options,
      authenticator,
      configured,
    );
    await revocations.onModuleInit();
    return { authenticator, revocations, options };
  }

  const mint = (claims: Record<string, unknown> = {}, issuedAt?: number) =>
    mintToken(
      key,
      {
        iss: jwks.issuer,
        aud: AUDIENCE,
        sub: 'alice',
        jti: 'jti-1',
        ...claims,
      },
      issuedAt === undefined ? {} : { issuedAt },
    );

  function refusal(fn: () => unknown): unknown {
    try {
      fn();
    } catch (error) {
      return error;
    }
    return undefined;
  }

  it('refuses a revoked jti on the cached path, synchronously, and evicts the token cache', async () => {
    const { authenticator, revocations } = await create();
    const clear = jest.spyOn(authenticator, 'clearCache');
    const token = await mint();
    await authenticator.verifyToken(token);
    expect(authenticator.verifyToken(token)).not.toBeInstanceOf(Promise);
    await revocations.revokeToken('jti-1', Math.floor(Date.now() / 1000) + 300);
    expect(clear).toHaveBeenCalledTimes(1);
    const error = refusal(() => authenticator.verifyToken(token));
    expect(error).toBeInstanceOf(InvalidTokenError);
    expect((error as InvalidTokenError).reason).toBe('revoked');
    expect((error as InvalidTokenError).description).toBe(
      'The access token is revoked.',
    );
    await revocations.onApplicationShutdown();
  });

  it('refuses on the fresh path too, and by subject and client issued before', async () => {
    const { authenticator, revocations } = await create();
    const now = Math.floor(Date.now() / 1000);
    await revocations.revokeSubject('alice', now - 10);
    await revocations.revokeClient('app', now - 10);
    await expect(
      verify(authenticator, await mint({ jti: 'a' }, now - 20)),
    ).rejects.toMatchObject({ reason: 'revoked' });
    await expect(
      verify(authenticator, await mint({ jti: 'b' }, now)),
    ).resolves.toMatchObject({ sub: 'alice' });
    await expect(
      verify(
        authenticator,
        await mint({ sub: 'bob', azp: 'app', jti: 'c' }, now - 20),
      ),
    ).rejects.toMatchObject({ reason: 'revoked' });
    expect(
      revocations.isRevoked({
        sub: 'alice',
        scopes: [],
        roles: [],
        claims: { sub: 'alice' },
      }),
    ).toBe(true);
    await revocations.onApplicationShutdown();
  });

  it('revokeSubject without a time covers every token issued so far', async () => {
    const { authenticator, revocations } = await create();
    const token = await mint({ jti: 'd' });
    await revocations.revokeSubject('alice');
    await expect(verify(authenticator, token)).rejects.toMatchObject({
      reason: 'revoked',
    });
    await revocations.onApplicationShutdown();
  });

  it('checks its arguments', async () => {
    const { revocations } = await create();
    await expect(revocations.revokeToken('')).rejects.toThrow(TypeError);
    await expect(revocations.revokeToken('x'.repeat(1025))).rejects.toThrow(
      TypeError,
    );
    await expect(revocations.revokeToken('j', Number.NaN)).rejects.toThrow(
      TypeError,
    );
    await expect(revocations.revokeSubject('alice', -1)).rejects.toThrow(
      TypeError,
    );
    await revocations.onApplicationShutdown();
  });

  it('says so when revocation is off, and adds no hook', async () => {
    const { authenticator, revocations } = await create({
      revocation: undefined,
    });
    expect(revocations.enabled).toBe(false);
    await expect(revocations.revokeToken('j')).rejects.toThrow(
      /revocation is off/,
    );
    const token = await mint();
    await expect(verify(authenticator, token)).resolves.toBeDefined();
  });

  describe('with a store that cannot vouch for its copy', () => {
    const down = (): RevocationStore => {
      const store = new MemoryRevocationStore();
      jest.spyOn(store, 'isAvailable').mockReturnValue(false);
      return store;
    };

    it('fail-closed (the default): 500, on the cached path too', async () => {
      const { authenticator } = await create({ revocation: { store: down() } });
      const token = await mint();
      await expect(verify(authenticator, token)).rejects.toBeInstanceOf(
        AuthServerError,
      );
    });

    it('fail-open: goes on with what it knows, and warns once', async () => {
      const store = down();
      const { authenticator, revocations } = await create({
        revocation: { store, onStoreUnavailable: 'fail-open' },
      });
      const warn = jest
        .spyOn(
          (revocations as unknown as { logger: { warn(m: string): void } })
            .logger,
          'warn',
        )
        .mockImplementation(() => undefined);
      await expect(
        verify(authenticator, await mint({ jti: 'e' })),
      ).resolves.toBeDefined();
      await expect(
        verify(authenticator, await mint({ jti: 'f' })),
      ).resolves.toBeDefined();
      expect(warn).toHaveBeenCalledTimes(1);
      await store.add({
        kind: 'jti',
        value: 'g',
        expiresAt: Date.now() / 1000 + 60,
      });
      await expect(
        verify(authenticator, await mint({ jti: 'g' })),
      ).rejects.toMatchObject({
        reason: 'revoked',
      });
    });
  });

  it('the option refuses a store that is not one, naming it', () => {
    expect(() =>
      resolveAuthOptions({
        issuer: jwks.issuer,
        audience: AUDIENCE,
        revocation: { store: 'disk' },
      }),
    ).toThrow(AuthConfigurationError);
    expect(() =>
      resolveAuthOptions({
        issuer: jwks.issuer,
        audience: AUDIENCE,
        revocation: { store: {} as RevocationStore },
      }),
    ).toThrow('revocation.store');
    expect(() =>
      resolveAuthOptions({
        issuer: jwks.issuer,
        audience: AUDIENCE,
        revocation: { onStoreUnavailable: 'maybe' as never },
      }),
    ).toThrow('revocation.onStoreUnavailable');
    expect(() =>
      resolveAuthOptions({
        issuer: jwks.issuer,
        audience: AUDIENCE,
        introspection: { uri: 'ftp://x', clientId: 'a', clientSecret: 'b' },
      }),
    ).toThrow('introspection.uri');
    expect(() =>
      resolveAuthOptions({
        issuer: jwks.issuer,
        audience: AUDIENCE,
        introspection: {
          uri: 'https://as.example/introspect',
          clientId: 'a',
        } as never,
      }),
    ).toThrow('introspection.clientSecret');
  });

  it('closes the socket of a token revoked while a shared store was resyncing (fail-closed)', async () => {
    // As the Redis store's rebuild does: revocations learnt, and reported, while the store
    // is still unavailable; it is available again by the end of the same turn.
    const inner = new MemoryRevocationStore();
    let available = true;
    const store: RevocationStore = {
      add: (revocation) => inner.add(revocation),
      check: (candidate) => inner.check(candidate),
      isAvailable: () => available,
      subscribe: (listener) => inner.subscribe(listener),
      addIfAbsent: (k, e) => inner.addIfAbsent(k, e),
      close: () => inner.close(),
    };
    const { authenticator, revocations } = await create({
      revocation: { store, onStoreUnavailable: 'fail-closed' },
    });
    const principal = authenticator.verifyToken(
      await mint({ jti: 'jti-resync' }),
    );
    const socket = new (class extends EventEmitter {
      readonly closes: unknown[] = [];
      close(code: number, reason: string): void {
        this.closes.push([code, reason]);
      }
    })();
    const standings = new SocketStandings((held) =>
      authenticator.checkStanding(held),
    );
    authenticator.onStandingChange(() => standings.recheck());
    standings.watch(socket, await principal);
    available = false;
    await revocations.revokeToken('jti-resync');
    available = true;
    await new Promise((resolve) => setImmediate(resolve));
    expect(socket.closes).toEqual([[1008, 'The access token is revoked.']]);
    await inner.close();
  });
});
