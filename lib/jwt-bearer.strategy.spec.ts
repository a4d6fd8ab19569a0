/**
 * JwtBearerStrategy on its own: the options it hands passport-jwt (pinned, so that the
 * second verifier can never drift from the module's policy unnoticed), what it reports to
 * passport for each kind of request, and how jsonwebtoken's refusals become our errors.
 * Tokens are real (jose), and so are passport-jwt and jsonwebtoken; only the key service
 * and the authenticator's hooks are stand-ins.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import passport from 'passport';
import {
  resolveAuthOptions,
  type AuthModuleOptions,
  type ResolvedAuthOptions,
} from './auth-options.js';
import type {
  BearerAuthenticator,
  VerificationDetails,
} from './bearer-authenticator.service.js';
import {
  AuthenticationRequiredError,
  AuthServerError,
  BearerError,
  InsufficientAccessError,
  InvalidRequestError,
  InvalidTokenError,
  type InvalidTokenReason,
} from './bearer.errors.js';
import type { BearerPrincipal } from './claims.js';
import {
  fromJsonWebTokenError,
  JwtBearerStrategy,
} from './jwt-bearer.strategy.js';
import type { IssuerKeysService } from './keys/issuer-keys.service.js';
import { createTestKey, type TestKey } from '../test/support/jwks-server.js';
import { mintToken, tamper } from '../test/support/tokens.js';

const ISSUER = 'https://issuer.example.com';
const AUDIENCE = 'api://strategy';

/** The key service as the strategy uses it: one `getKey` call per token. */
class FakeKeys {
  readonly calls: [string, string | undefined, string][] = [];
  constructor(public answer: KeyObject | Error) {}

  getKey(issuer: string, kid: string | undefined, alg: string) {
    this.calls.push([issuer, kid, alg]);
    return this.answer instanceof Error
      ? Promise.reject(this.answer)
      : Promise.resolve(this.answer);
  }
}

/** The authenticator as the strategy uses it: its verification hooks. */
class FakeAuthenticator {
  readonly calls: {
    principal: BearerPrincipal;
    details: VerificationDetails;
  }[] = [];
  refusal: Error | undefined;

  runVerificationHooks(
    principal: BearerPrincipal,
    details: VerificationDetails,
  ): Promise<void> {
    this.calls.push({ principal, details });
    return this.refusal === undefined
      ? Promise.resolve()
      : Promise.reject(this.refusal);
  }

  /** What the real one answers when DPoP is not required: the extraction's error. */
  refusalWithoutCredentials(_request: unknown, error: Error): Error {
    return error;
  }
}

/** What the strategy told passport about one request. */
type Outcome =
  | { kind: 'success'; user: unknown }
  | { kind: 'fail'; challenge: unknown; status: unknown }
  | { kind: 'error'; error: unknown }
  | { kind: 'pass' };

interface Setup {
  strategy: JwtBearerStrategy;
  keys: FakeKeys;
  authenticator: FakeAuthenticator;
  options: ResolvedAuthOptions;
}

function createStrategy(
  key: KeyObject | Error,
  overrides: Partial<AuthModuleOptions> = {},
): Setup {
  const options = resolveAuthOptions({
    issuer: ISSUER,
    audience: AUDIENCE,
    jwksUri: 'https://issuer.example.com/jwks.json',
    ...overrides,
  });
  const keys = new FakeKeys(key);
  const authenticator = new FakeAuthenticator();
  const strategy = new JwtBearerStrategy(
    options,
    keys as unknown as IssuerKeysService,
    authenticator as unknown as BearerAuthenticator,
  );
  return { strategy, keys, authenticator, options };
}

/**
 * Runs the strategy as `passport.authenticate()` does: on a per-request object that
 * inherits from the strategy and carries the success/fail/error/pass actions.
 */
function run(
  strategy: JwtBearerStrategy,
  headers: Record<string, string | string[]>,
): Promise<Outcome> {
  const rawHeaders: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    for (const one of Array.isArray(value) ? value : [value]) {
      rawHeaders.push(name, one);
    }
  }
  const request = {
    method: 'GET',
    url: '/resource',
    headers: Object.fromEntries(
      Object.entries(headers).map(([name, value]) => [
        name,
        Array.isArray(value) ? value.join(', ') : value,
      ]),
    ),
    rawHeaders,
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error('the strategy reported nothing within 5 s')),
      5000,
    );
    const done = (outcome: Outcome) => {
      clearTimeout(timer);
      resolve(outcome);
    };
    const attempt = Object.assign(
      Object.create(strategy) as JwtBearerStrategy,
      {
        success: (user: unknown) => done({ kind: 'success', user }),
        fail: (challenge: unknown, status: unknown) =>
          done({ kind: 'fail', challenge, status }),
        error: (error: unknown) => done({ kind: 'error', error }),
        pass: () => done({ kind: 'pass' }),
        redirect: () => reject(new Error('the strategy redirected')),
      },
    );
    attempt.authenticate(request);
  });
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

function expectInvalidToken(outcome: Outcome, reason: InvalidTokenReason) {
  expect(outcome.kind).toBe('error');
  const { error } = outcome as { error: unknown };
  expect(error).toBeInstanceOf(InvalidTokenError);
  expect((error as InvalidTokenError).reason).toBe(reason);
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

describe('JwtBearerStrategy', () => {
  let key: TestKey;
  let otherKey: TestKey;
  let es256: TestKey;
  let publicKey: KeyObject;

  const claims = (extra: Record<string, unknown> = {}) => ({
    iss: ISSUER,
    aud: AUDIENCE,
    sub: 'alice',
    ...extra,
  });

  beforeAll(async () => {
    [key, otherKey, es256] = await Promise.all([
      createTestKey({ kid: 'key-1' }),
      createTestKey({ kid: 'key-other' }),
      createTestKey({ kid: 'key-es', alg: 'ES256' }),
    ]);
    publicKey = createPublicKey({ key: key.publicJwk, format: 'jwk' });
  });

  describe('the passport-jwt options (pinned)', () => {
    const verifyOptions = (strategy: JwtBearerStrategy) =>
      (strategy as unknown as { _verifOpts: Record<string, unknown> })
        ._verifOpts;

    it('passes exactly the module policy: algorithms, issuers, audiences, clock tolerance, expiry on', () => {
      const { strategy } = createStrategy(publicKey, {
        issuer: [ISSUER, 'https://second.example.com'],
        audience: [AUDIENCE, 'api://second'],
        algorithms: ['RS256', 'PS256', 'ES256'],
        clockTolerance: 42,
      });
      expect(verifyOptions(strategy)).toStrictEqual({
        algorithms: ['RS256', 'PS256', 'ES256'],
        issuer: [ISSUER, 'https://second.example.com'],
        audience: [AUDIENCE, 'api://second'],
        clockTolerance: 42,
        ignoreExpiration: false,
      });
    });

    it('passes the default clock tolerance (30 s), and 0 as 0', () => {
      expect(verifyOptions(createStrategy(publicKey).strategy)).toMatchObject({
        clockTolerance: 30,
        algorithms: ['RS256'],
        issuer: [ISSUER],
        audience: [AUDIENCE],
        ignoreExpiration: false,
      });
      expect(
        verifyOptions(createStrategy(publicKey, { clockTolerance: 0 }).strategy)
          .clockTolerance,
      ).toBe(0);
    });

    it('leaves EdDSA out (jsonwebtoken has none), keeping the other algorithms', () => {
      const { strategy } = createStrategy(publicKey, {
        algorithms: ['EdDSA', 'ES384'],
      });
      expect(verifyOptions(strategy).algorithms).toEqual(['ES384']);
    });

    it('checks no fixed issuer for a {tenantid} template: the policy matched it against tid', () => {
      const { strategy } = createStrategy(publicKey, {
        issuer: 'https://login.example.com/{tenantid}/v2.0',
      });
      expect(verifyOptions(strategy).issuer).toBeUndefined();
      expect(verifyOptions(strategy).audience).toEqual([AUDIENCE]);
    });

    it('hands passport-jwt copies of the option arrays, not the frozen originals', () => {
      const { strategy, options } = createStrategy(publicKey);
      const opts = verifyOptions(strategy);
      expect(opts.audience).not.toBe(options.audiences);
      expect(opts.issuer).not.toBe(options.issuers);
    });

    it('registers itself with passport as "nestjs-bearer", with the request passed to validate', () => {
      const { strategy } = createStrategy(publicKey);
      const registered = (
        passport as unknown as { _strategy(name: string): unknown }
      )._strategy('nestjs-bearer');
      expect(registered).toBe(strategy);
      expect(
        (strategy as unknown as { _passReqToCallback: unknown })
          ._passReqToCallback,
      ).toBe(true);
    });
  });

  describe('what it reports to passport', () => {
    it('succeeds with the principal for a valid token, after the hooks', async () => {
      const { strategy, keys, authenticator } = createStrategy(publicKey);
      const token = await mintToken(key, claims({ scp: 'a b', roles: ['R'] }));
      const outcome = await run(strategy, bearer(token));
      expect(outcome.kind).toBe('success');
      const user = (outcome as { user: BearerPrincipal }).user;
      expect(user).toMatchObject({
        sub: 'alice',
        scopes: ['a', 'b'],
        roles: ['R'],
      });
      expect(keys.calls).toEqual([[ISSUER, 'key-1', 'RS256']]);
      expect(authenticator.calls).toHaveLength(1);
      expect(authenticator.calls[0].principal).toBe(user);
      expect(authenticator.calls[0].details).toMatchObject({
        token,
        cached: false,
      });
      expect(authenticator.calls[0].details.request?.headers).toEqual(
        bearer(token),
      );
    });

    it('verifies ES256 tokens through jsonwebtoken with a KeyObject', async () => {
      const { strategy } = createStrategy(
        createPublicKey({ key: es256.publicJwk, format: 'jwk' }),
        { algorithms: ['ES256'] },
      );
      const outcome = await run(
        strategy,
        bearer(await mintToken(es256, claims())),
      );
      expect(outcome.kind).toBe('success');
    });

    // These two fail if the clock tolerance is dropped from jsonWebTokenOptions: the token
    // policy admits the token, then jsonwebtoken (tolerance 0) would refuse it.
    it('admits a token expired 25 s ago with clockTolerance 30 (jsonwebtoken gets the tolerance)', async () => {
      const { strategy } = createStrategy(publicKey, { clockTolerance: 30 });
      const token = await mintToken(key, claims({ exp: nowSeconds() - 25 }));
      expect((await run(strategy, bearer(token))).kind).toBe('success');
    });

    it('admits a token valid from 25 s ahead with clockTolerance 30', async () => {
      const { strategy } = createStrategy(publicKey, { clockTolerance: 30 });
      const token = await mintToken(key, claims({ nbf: nowSeconds() + 25 }));
      expect((await run(strategy, bearer(token))).kind).toBe('success');
    });

    it('refuses a token expired 35 s ago with clockTolerance 30, before any key lookup', async () => {
      const { strategy, keys } = createStrategy(publicKey, {
        clockTolerance: 30,
      });
      const token = await mintToken(key, claims({ exp: nowSeconds() - 35 }));
      expectInvalidToken(await run(strategy, bearer(token)), 'expired');
      expect(keys.calls).toEqual([]);
    });

    it('refuses a token valid from 35 s ahead with clockTolerance 30', async () => {
      const { strategy } = createStrategy(publicKey, { clockTolerance: 30 });
      const token = await mintToken(key, claims({ nbf: nowSeconds() + 35 }));
      expectInvalidToken(await run(strategy, bearer(token)), 'not_yet_valid');
    });

    it('fails (not errors) without credentials, so passport tries the next strategy', async () => {
      const { strategy, keys } = createStrategy(publicKey);
      const outcome = await run(strategy, {});
      expect(outcome.kind).toBe('fail');
      const failed = outcome as { challenge: unknown; status: unknown };
      expect(failed.challenge).toBeInstanceOf(AuthenticationRequiredError);
      expect(failed.status).toBe(401);
      expect(keys.calls).toEqual([]);
    });

    it('fails without credentials when the only Authorization is another scheme', async () => {
      const { strategy } = createStrategy(publicKey);
      const outcome = await run(strategy, {
        authorization: `Negotiate ${'a'.repeat(9000)}`,
      });
      expect(outcome.kind).toBe('fail');
    });

    it('errors with invalid_request for a repeated Authorization header', async () => {
      const { strategy } = createStrategy(publicKey);
      const token = await mintToken(key, claims());
      const outcome = await run(strategy, {
        authorization: [`Bearer ${token}`, `Bearer ${token}`],
      });
      expect(outcome.kind).toBe('error');
      expect((outcome as { error: unknown }).error).toBeInstanceOf(
        InvalidRequestError,
      );
    });

    it.each([
      ['audience', { aud: 'api://other' }],
      ['issuer', { iss: 'https://evil.example.com' }],
    ] as const)(
      'errors with the policy reason (%s) before any key lookup',
      async (reason, extra) => {
        const { strategy, keys } = createStrategy(publicKey);
        const token = await mintToken(key, claims(extra));
        expectInvalidToken(await run(strategy, bearer(token)), reason);
        expect(keys.calls).toEqual([]);
      },
    );

    it('errors with signature for a tampered token (jsonwebtoken refused it)', async () => {
      const { strategy, keys } = createStrategy(publicKey);
      const token = tamper(await mintToken(key, claims()));
      expectInvalidToken(await run(strategy, bearer(token)), 'signature');
      expect(keys.calls).toHaveLength(1);
    });

    it('errors with signature for a token signed by another key under the same kid', async () => {
      const { strategy } = createStrategy(publicKey);
      const token = await mintToken(otherKey, claims(), {
        header: { kid: 'key-1' },
      });
      expectInvalidToken(await run(strategy, bearer(token)), 'signature');
    });

    it('errors with the key service error: unknown_key, or a 500 when the keys cannot be had', async () => {
      const token = await mintToken(key, claims());
      const unknown = createStrategy(new InvalidTokenError('unknown_key'));
      expectInvalidToken(
        await run(unknown.strategy, bearer(token)),
        'unknown_key',
      );
      const down = createStrategy(new AuthServerError('JWKS fetch failed'));
      const outcome = await run(down.strategy, bearer(token));
      expect((outcome as { error: unknown }).error).toBeInstanceOf(
        AuthServerError,
      );
      // Anything else the key service throws is a 500 too, never a 401.
      const odd = createStrategy(new TypeError('boom'));
      const oddOutcome = await run(odd.strategy, bearer(token));
      expect(oddOutcome.kind).toBe('error');
      expect((oddOutcome as { error: BearerError }).error.getStatus()).toBe(
        500,
      );
    });

    it('errors with the hook refusal, as it was thrown', async () => {
      const { strategy, authenticator } = createStrategy(publicKey);
      const refusal = new InsufficientAccessError();
      authenticator.refusal = refusal;
      const outcome = await run(
        strategy,
        bearer(await mintToken(key, claims())),
      );
      expect(outcome).toEqual({ kind: 'error', error: refusal });
    });

    it('leaves nothing enumerable on the request', async () => {
      const { strategy } = createStrategy(publicKey);
      const token = await mintToken(key, claims());
      const request = {
        method: 'GET',
        url: '/',
        headers: bearer(token),
        rawHeaders: ['Authorization', `Bearer ${token}`],
      };
      const keysBefore = Object.keys(request);
      await new Promise<void>((resolve, reject) => {
        const attempt = Object.assign(
          Object.create(strategy) as JwtBearerStrategy,
          {
            success: () => resolve(),
            fail: () => reject(new Error('failed')),
            error: (error: unknown) =>
              reject(error instanceof Error ? error : new Error('error')),
          },
        );
        attempt.authenticate(request);
      });
      expect(Object.keys(request)).toEqual(keysBefore);
      expect(JSON.stringify(request)).not.toContain('KeyObject');
    });
  });

  describe('fromJsonWebTokenError', () => {
    let token: string;
    let notYet: string;
    beforeAll(async () => {
      token = await mintToken(key, claims());
      notYet = await mintToken(key, claims({ nbf: nowSeconds() + 3600 }));
    });

    /** What jsonwebtoken itself throws for these verify options. */
    const jsonwebtokenError = (
      input: string,
      verifyKey: KeyObject,
      options: jwt.VerifyOptions,
    ): Error => {
      try {
        jwt.verify(input, verifyKey, options);
      } catch (error) {
        if (error instanceof Error) return error;
      }
      throw new Error('jsonwebtoken accepted the token');
    };

    // Control characters, a quote and a would-be header line: none may reach a client.
    const HOSTILE = 'evil"\r\nSet-Cookie: a=b';

    it.each<[string, () => Error, InvalidTokenReason]>([
      [
        'an audience mismatch',
        () =>
          jsonwebtokenError(token, publicKey, {
            algorithms: ['RS256'],
            audience: HOSTILE,
          }),
        'audience',
      ],
      [
        'an issuer mismatch',
        () =>
          jsonwebtokenError(token, publicKey, {
            algorithms: ['RS256'],
            issuer: HOSTILE,
          }),
        'issuer',
      ],
      [
        'a bad signature',
        () =>
          jsonwebtokenError(tamper(token), publicKey, {
            algorithms: ['RS256'],
          }),
        'signature',
      ],
      [
        'an algorithm outside the list',
        () => jsonwebtokenError(token, publicKey, { algorithms: ['RS512'] }),
        'algorithm',
      ],
      [
        'a malformed token',
        () => jsonwebtokenError('abc', publicKey, { algorithms: ['RS256'] }),
        'malformed',
      ],
      [
        'an expired token',
        () =>
          jsonwebtokenError(token, publicKey, {
            algorithms: ['RS256'],
            clockTimestamp: nowSeconds() + 3600,
          }),
        'expired',
      ],
      [
        'a token not yet valid',
        () => jsonwebtokenError(notYet, publicKey, { algorithms: ['RS256'] }),
        'not_yet_valid',
      ],
      [
        'a subject mismatch (a check the module never asks for)',
        () =>
          jsonwebtokenError(token, publicKey, {
            algorithms: ['RS256'],
            subject: HOSTILE,
          }),
        'invalid',
      ],
    ])(
      'maps %s to its reason, with a fixed description',
      (_what, produce, reason) => {
        const source = produce();
        const mapped = fromJsonWebTokenError(source);
        expect(mapped).toBeInstanceOf(InvalidTokenError);
        expect((mapped as InvalidTokenError).reason).toBe(reason);
        expect(mapped.description).toBe(
          new InvalidTokenError(reason).description,
        );
        const rendered = JSON.stringify(mapped.getResponse());
        expect(rendered).not.toContain(source.message);
        expect(rendered).not.toContain('evil');
        expect(rendered).not.toContain('expected');
        expect(mapped.message).not.toContain('evil');
      },
    );

    // jsonwebtoken 9 reports a key that does not fit `alg` as a plain `Error`
    // ('"alg" parameter for "ec" key type must be one of: …'), not a JsonWebTokenError.
    it('maps a key of the wrong type (a plain Error from jsonwebtoken) to algorithm', () => {
      let source: unknown;
      try {
        jwt.verify(
          token,
          createPublicKey({ key: es256.publicJwk, format: 'jwk' }),
          { algorithms: ['RS256'] },
        );
      } catch (error) {
        source = error;
      }
      expect(source).toBeInstanceOf(Error);
      const mapped = fromJsonWebTokenError(source);
      expect(mapped).toBeInstanceOf(InvalidTokenError);
      expect(JSON.stringify(mapped.getResponse())).not.toContain('key type');
      expect((mapped as InvalidTokenError).reason).toBe('algorithm');
    });

    it('maps by the error name, not by words in a foreign message', () => {
      const impostor = new TypeError('invalid signature, audience, issuer');
      expect(
        (fromJsonWebTokenError(impostor) as InvalidTokenError).reason,
      ).toBe('invalid');
      const named = Object.assign(new Error('jwt expired'), {
        name: 'SomethingElse',
      });
      expect((fromJsonWebTokenError(named) as InvalidTokenError).reason).toBe(
        'invalid',
      );
    });

    it.each([
      ['a string', 'invalid signature'],
      ['undefined', undefined],
      ['null', null],
      ['an object', { name: 'TokenExpiredError', message: 'jwt expired' }],
    ])('maps %s to invalid', (_what, value) => {
      const mapped = fromJsonWebTokenError(value);
      expect(mapped).toBeInstanceOf(InvalidTokenError);
      expect((mapped as InvalidTokenError).reason).toBe('invalid');
    });

    it('passes one of our errors through unchanged', () => {
      const ours = new AuthServerError('JWKS fetch failed');
      expect(fromJsonWebTokenError(ours)).toBe(ours);
    });

    it('answers 401 for every mapped jsonwebtoken error', () => {
      for (const error of [
        new jwt.JsonWebTokenError('anything at all\r\n'),
        new jwt.TokenExpiredError('jwt expired', new Date()),
        new jwt.NotBeforeError('jwt not active', new Date()),
      ]) {
        const mapped = fromJsonWebTokenError(error);
        expect(mapped.getStatus()).toBe(401);
        expect(mapped.code).toBe('invalid_token');
        expect(JSON.stringify(mapped.getResponse())).not.toMatch(/[\r\n]/);
      }
    });
  });
});
