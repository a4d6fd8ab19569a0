/**
 * The verified-token cache end to end: a repeated token costs no key lookup, a token
 * whose key left the JWKS stops verifying, and `tokenCache: false` stays correct.
 */
import type { JwksKeySource } from '../lib/keys/jwks-key-source.js';
import { jest } from '@jest/globals';
import { IssuerKeysService } from '../lib/index.js';
import {
  ADAPTERS,
  startScenarioApp,
  type ScenarioApp,
} from './scenario/scenario-app.js';
import { bearer, outcome, send, type Outcome } from './support/http.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { mintToken, tamper } from './support/tokens.js';

const AUDIENCE = 'api://scenario';
const CACHE_MAX_AGE = 1000;

const ME: Outcome = {
  status: 200,
  challenge: undefined,
  body: { sub: 'alice', scopes: [], roles: [] },
};

const sleep = (ms: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, ms));

const invalidToken = (description: string): Outcome => ({
  status: 401,
  challenge: `Bearer authorization_uri="https://login.example.com/authorize", error="invalid_token", error_description="${description}"`,
  body: {
    statusCode: 401,
    error: 'invalid_token',
    error_description: description,
    message: description,
  },
});

describe.each(ADAPTERS)('verified-token cache on %s', (adapter) => {
  let oldKey: TestKey;
  let newKey: TestKey;

  beforeAll(async () => {
    [oldKey, newKey] = await Promise.all([
      createTestKey({ kid: 'key-old' }),
      createTestKey({ kid: 'key-new' }),
    ]);
  });

  describe.each([
    ['on', undefined],
    ['off', false as const],
  ])('with the cache %s', (state, tokenCache) => {
    let jwks: JwksServer;
    let scenario: ScenarioApp;
    // Every fresh verification asks the key source for the token's key once.
    let getKey: jest.SpiedFunction<JwksKeySource['getKnownKey']>;

    const claims = () => ({ iss: jwks.issuer, aud: AUDIENCE, sub: 'alice' });
    const me = async (token: string) =>
      outcome(await send(`${scenario.url}/me`, { headers: bearer(token) }));

    beforeAll(async () => {
      jwks = await JwksServer.start({ keys: [oldKey] });
      scenario = await startScenarioApp(
        {
          issuer: jwks.issuer,
          audience: AUDIENCE,
          jwksUri: jwks.jwksUri,
          authorizationUri: 'https://login.example.com/authorize',
          jwks: { cacheMaxAge: CACHE_MAX_AGE, cooldown: 0 },
          ...(tokenCache === false && { tokenCache }),
        },
        { adapter },
      );
      getKey = jest.spyOn(
        scenario.app.get(IssuerKeysService).sourceFor(jwks.issuer),
        'getKnownKey',
      );
    });

    beforeEach(() => getKey.mockClear());

    afterAll(async () => {
      getKey?.mockRestore();
      await scenario?.app.close();
      await jwks?.close();
    });

    // The cache admits a token on its second verification, so a token used once never
    // costs an entry: four uses are two verifications with the cache, four without.
    it(`verifies the same token ${state === 'on' ? 'twice' : 'four times'} in four uses`, async () => {
      const token = await mintToken(oldKey, claims());
      for (let i = 0; i < 4; i++) expect(await me(token)).toEqual(ME);
      expect(getKey).toHaveBeenCalledTimes(state === 'on' ? 2 : 4);
    });

    it('never serves a tampered or an expired token, even next to a verified one', async () => {
      const token = await mintToken(oldKey, claims());
      expect(await me(token)).toEqual(ME);
      expect(await me(tamper(token))).toEqual(
        invalidToken('The access token signature is invalid.'),
      );
      const expired = await mintToken(oldKey, claims(), { expiresIn: -3600 });
      expect(await me(expired)).toEqual(
        invalidToken('The access token is expired.'),
      );
    });

    // Both states, because with the cache on a stale entry must not outlive its key.
    it('stops verifying a token whose key was removed from the JWKS', async () => {
      const token = await mintToken(oldKey, claims());
      expect(await me(token)).toEqual(ME);
      jwks.setKeys([newKey]);
      await sleep(CACHE_MAX_AGE + 100);
      expect(await me(token)).toEqual(
        invalidToken('The access token is signed with an unknown key.'),
      );
      expect(await me(await mintToken(newKey, claims()))).toEqual(ME);
    });

    it('stops admitting a token once its JWK names another alg', async () => {
      jwks.setKeys([oldKey]);
      await sleep(CACHE_MAX_AGE + 100);
      const token = await mintToken(oldKey, claims());
      expect(await me(token)).toEqual(ME);
      // Same key material, so the key source keeps its KeyObject; only `alg` changes.
      jwks.setKeys([
        { ...oldKey, publicJwk: { ...oldKey.publicJwk, alg: 'PS256' } },
      ]);
      await sleep(CACHE_MAX_AGE + 100);
      const refused = invalidToken(
        'The access token is signed with an algorithm that is not accepted.',
      );
      // Another token refetches the JWKS, so the key set is fresh again...
      expect(await me(await mintToken(oldKey, claims()))).toEqual(refused);
      // ...and the first token, verified before the change, must not come from the cache.
      expect(await me(token)).toEqual(refused);
    });
  });
});
