import { jest } from '@jest/globals';
import {
  JwksServer,
  createTestKey,
  type TestKey,
} from '../test/support/jwks-server.js';
import { mintToken, tamper } from '../test/support/tokens.js';
import { resolveAuthOptions, type AuthModuleOptions } from './auth-options.js';
import {
  BearerAuthenticator,
  type VerificationHook,
} from './bearer-authenticator.service.js';
import {
  AuthenticationRequiredError,
  AuthServerError,
  InvalidDpopProofError,
  InvalidTokenError,
  UseDpopNonceError,
} from './bearer.errors.js';
import type { BearerPrincipal } from './claims.js';
import { IssuerKeysService } from './keys/issuer-keys.service.js';

const AUDIENCE = 'api://unit';

describe('BearerAuthenticator', () => {
  let jwks: JwksServer;
  let key: TestKey;

  beforeAll(async () => {
    key = await createTestKey();
    jwks = await JwksServer.start({ keys: [key] });
  });
  afterAll(() => jwks.close());

  function create(extra: Partial<AuthModuleOptions> = {}): {
    authenticator: BearerAuthenticator;
    keys: IssuerKeysService;
  } {
    const options = resolveAuthOptions({
      issuer: jwks.issuer,
      audience: AUDIENCE,
      jwksUri: jwks.jwksUri,
      jwks: { cooldown: 0 },
      ...extra,
    });
    const keys = new IssuerKeysService(options);
    return { authenticator: new BearerAuthenticator(options, keys), keys };
  }

  const claims = (more: Record<string, unknown> = {}) => ({
    iss: jwks.issuer,
    aud: AUDIENCE,
    sub: 'alice',
    scp: 'a b',
    roles: ['Admin'],
    ...more,
  });
  const request = (authorization?: string) => ({
    method: 'GET',
    url: '/x',
    headers: authorization === undefined ? {} : { authorization },
  });

  it('authenticates a request: principal, token and location', async () => {
    const { authenticator } = create();
    const token = await mintToken(key, claims());
    const result = await authenticator.authenticate(request(`Bearer ${token}`));
    expect(result.token).toBe(token);
    expect(result.location).toBe('header');
    expect(result.principal).toMatchObject({
      sub: 'alice',
      scopes: ['a', 'b'],
      roles: ['Admin'],
    });
  });

  it('answers a cached token synchronously, and a fresh one once its key is known', async () => {
    const { authenticator } = create();
    const token = await mintToken(key, claims());
    // The first verification fetches the key set.
    expect(authenticator.verifyToken(token)).toBeInstanceOf(Promise);
    await authenticator.verifyToken(token);
    const cached = authenticator.verifyToken(token);
    expect(cached).not.toBeInstanceOf(Promise);
    expect((cached as BearerPrincipal).sub).toBe('alice');
    // Another token under the same, now known, key needs no promise either.
    const other = authenticator.verifyToken(
      await mintToken(key, claims({ sub: 'bob' })),
    );
    expect(other).not.toBeInstanceOf(Promise);
    expect((other as BearerPrincipal).sub).toBe('bob');
  });

  it('refuses synchronously without credentials, and a bad token before any key lookup', () => {
    const { authenticator, keys } = create();
    const lookups = jest.spyOn(keys, 'sourceFor');
    expect(() => authenticator.authenticate(request())).toThrow(
      AuthenticationRequiredError,
    );
    expect(() => authenticator.verifyToken('not.a.jwt')).toThrow(
      InvalidTokenError,
    );
    expect(lookups).not.toHaveBeenCalled();
  });

  it('refuses a credential outside the b64token syntax as malformed, before any verifier', async () => {
    const { authenticator, keys } = create();
    const lookups = jest.spyOn(keys, 'sourceFor');
    const opaque = jest.fn(() => {
      throw new Error('the opaque verifier must not see it');
    });
    authenticator.setOpaqueTokenVerifier({ verifyOpaqueToken: opaque });
    const token = await mintToken(key, claims());
    for (const bad of ['opaque$token', `${token}!`, 'a.b.c%']) {
      expect(() =>
        authenticator.authenticate(request(`Bearer ${bad}`)),
      ).toThrow(expect.objectContaining({ reason: 'malformed' }) as Error);
    }
    expect(opaque).not.toHaveBeenCalled();
    expect(lookups).not.toHaveBeenCalled();
    // The same token, well formed and then cached, is still answered.
    await authenticator.authenticate(request(`Bearer ${token}`));
    await authenticator.authenticate(request(`Bearer ${token}`));
    const hit = authenticator.authenticate(request(`Bearer ${token}`));
    expect(hit).not.toBeInstanceOf(Promise);
  });

  it('refuses a bad signature under a known key', async () => {
    const { authenticator } = create();
    const token = await mintToken(key, claims());
    await authenticator.verifyToken(token);
    expect(() => authenticator.verifyToken(tamper(token))).toThrow(
      expect.objectContaining({ reason: 'signature' }) as Error,
    );
  });

  it('runs the hook on the fresh and the cached path, and a refusal evicts the token', async () => {
    const { authenticator } = create();
    const seen: boolean[] = [];
    let refuse = false;
    const hook: VerificationHook = (principal, details) => {
      seen.push(details.cached);
      expect(principal.sub).toBe('alice');
      if (refuse) throw new InvalidTokenError('invalid');
    };
    authenticator.addVerificationHook(hook);
    const token = await mintToken(key, claims());
    // Cached on its second verification (admitted once seen before), then a hit.
    await authenticator.verifyToken(token);
    void authenticator.verifyToken(token);
    void authenticator.verifyToken(token);
    expect(seen).toEqual([false, false, true]);
    refuse = true;
    expect(() => authenticator.verifyToken(token)).toThrow(InvalidTokenError);
    refuse = false;
    // Evicted: the next verification is a fresh one again.
    void authenticator.verifyToken(token);
    expect(seen).toEqual([false, false, true, true, false]);
  });

  it('keeps the token cached when a hook refuses only the request (a DPoP proof)', async () => {
    const { authenticator } = create();
    const seen: boolean[] = [];
    let refusal: Error | undefined;
    authenticator.addVerificationHook((_principal, details) => {
      seen.push(details.cached);
      if (refusal !== undefined) throw refusal;
    });
    const token = await mintToken(key, claims());
    await authenticator.verifyToken(token);
    void authenticator.verifyToken(token);
    for (const error of [
      new InvalidDpopProofError('replayed'),
      new UseDpopNonceError('nonce'),
    ]) {
      refusal = error;
      expect(() => authenticator.verifyToken(token)).toThrow(
        error.constructor as never,
      );
    }
    refusal = undefined;
    void authenticator.verifyToken(token);
    // Still a cache hit after both refusals.
    expect(seen).toEqual([false, false, true, true, true]);
  });

  it('waits for an asynchronous hook and turns its unexpected failure into a 500', async () => {
    const { authenticator } = create();
    authenticator.addVerificationHook(() =>
      Promise.reject(new Error('store down')),
    );
    const token = await mintToken(key, claims());
    await expect(authenticator.verifyToken(token)).rejects.toBeInstanceOf(
      AuthServerError,
    );
  });

  it('refuses a cached token once its exp has passed', async () => {
    const { authenticator } = create({ clockTolerance: 0 });
    const token = await mintToken(key, claims(), { expiresIn: 1 });
    await authenticator.verifyToken(token);
    expect(authenticator.verifyToken(token)).not.toBeInstanceOf(Promise);
    const exp = (
      JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as {
        exp: number;
      }
    ).exp;
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, exp * 1000 - Date.now()) + 50),
    );
    expect(() => authenticator.verifyToken(token)).toThrow(
      expect.objectContaining({ reason: 'expired' }) as Error,
    );
  });

  it('clearCache() makes the next call verify again', async () => {
    const { authenticator } = create();
    const seen: boolean[] = [];
    authenticator.addVerificationHook((_p, d) => void seen.push(d.cached));
    const token = await mintToken(key, claims());
    await authenticator.verifyToken(token);
    void authenticator.verifyToken(token);
    void authenticator.verifyToken(token);
    authenticator.clearCache();
    void authenticator.verifyToken(token);
    expect(seen).toEqual([false, false, true, false]);
  });

  describe('standing checks', () => {
    const principal = {
      claims: { sub: 'alice' },
    } as unknown as BearerPrincipal;
    const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

    it('runs every check in order, and the first refusal is thrown', () => {
      const { authenticator } = create();
      const ran: string[] = [];
      authenticator.addStandingCheck(() => void ran.push('first'));
      authenticator.checkStanding(principal);
      authenticator.addStandingCheck(() => {
        ran.push('second');
        throw new InvalidTokenError('revoked');
      });
      authenticator.addStandingCheck(() => void ran.push('third'));
      expect(() => authenticator.checkStanding(principal)).toThrow(
        expect.objectContaining({ reason: 'revoked' }) as Error,
      );
      expect(ran).toEqual(['first', 'first', 'second']);
    });

    it('tells the listeners once per burst, on the next turn, past a listener that throws', async () => {
      const { authenticator } = create();
      const calls: string[] = [];
      authenticator.onStandingChange(() => {
        calls.push('failing');
        throw new Error('boom');
      });
      const stop = authenticator.onStandingChange(() => void calls.push('ok'));
      for (let i = 0; i < 50; i++) authenticator.standingChanged();
      expect(calls).toEqual([]);
      await nextTurn();
      expect(calls).toEqual(['failing', 'ok']);
      stop();
      authenticator.standingChanged();
      await nextTurn();
      expect(calls).toEqual(['failing', 'ok', 'failing']);
    });
  });

  it('answers a DPoP-bound JWT sent as Bearer with dpop_bound when DPoP is required, and nothing else', async () => {
    const { authenticator } = create({ dpop: 'required' });
    const bound = await mintToken(
      key,
      claims({ cnf: { jkt: 'x'.repeat(43) } }),
    );
    const unbound = await mintToken(key, claims());
    expect(
      authenticator.refusalWithoutCredentials(request(`Bearer ${bound}`)),
    ).toEqual(expect.objectContaining({ reason: 'dpop_bound' }));
    for (const other of [
      `Bearer ${unbound}`,
      'Bearer opaque',
      'Basic abc',
      undefined,
    ]) {
      expect(
        authenticator.refusalWithoutCredentials(request(other)),
      ).toBeInstanceOf(AuthenticationRequiredError);
    }
    const allowed = create({ dpop: 'allowed' }).authenticator;
    expect(
      allowed.refusalWithoutCredentials(request(`Bearer ${bound}`)),
    ).toBeInstanceOf(AuthenticationRequiredError);
  });
});
