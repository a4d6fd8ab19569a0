/**
 * The issuer's keys end to end: a JWKS that cannot be used is a 500 (never a 401, and
 * nothing leaks), known keys outlive an outage, a recovered server is used again, and
 * OpenID discovery supplies the JWKS and the challenge's authorization_uri.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  ADAPTERS,
  startScenarioApp,
  type ScenarioApp,
} from './scenario/scenario-app.js';
import { bearer, outcome, send, type Outcome } from './support/http.js';
import {
  createTestKey,
  JwksServer,
  type JwksServerMode,
  type TestKey,
} from './support/jwks-server.js';
import { mintToken } from './support/tokens.js';

const AUDIENCE = 'api://scenario';
const CACHE_MAX_AGE = 1000;

const INTERNAL_ERROR: Outcome = {
  status: 500,
  challenge: undefined,
  body: {
    statusCode: 500,
    error: null,
    error_description: null,
    message: 'An internal error occurred. The request may be retried.',
  },
};

const sleep = (ms: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, ms));

describe.each(ADAPTERS)('key source on %s', (adapter) => {
  let key: TestKey;

  beforeAll(async () => {
    key = await createTestKey({ kid: 'key-1' });
  });

  const claims = (issuer: string) => ({
    iss: issuer,
    aud: AUDIENCE,
    sub: 'alice',
  });
  const ME: Outcome = {
    status: 200,
    challenge: undefined,
    body: { sub: 'alice', scopes: [], roles: [] },
  };

  describe('JWKS faults', () => {
    let jwks: JwksServer;
    let scenario: ScenarioApp;
    // Every case mints a new token, so no verified token is ever reused.
    const me = async () =>
      send(`${scenario.url}/me`, {
        headers: bearer(await mintToken(key, claims(jwks.issuer))),
      });

    beforeAll(async () => {
      jwks = await JwksServer.start({ keys: [key] });
      // Down from the start: no key is ever cached before the cases below.
      jwks.setMode('down');
      scenario = await startScenarioApp(
        {
          issuer: jwks.issuer,
          audience: AUDIENCE,
          jwksUri: jwks.jwksUri,
          authorizationUri: 'https://login.example.com/authorize',
          tokenCache: false,
          jwks: { timeout: 200, cooldown: 0, cacheMaxAge: CACHE_MAX_AGE },
        },
        { adapter },
      );
    });

    afterAll(async () => {
      await scenario?.app.close();
      await jwks?.close();
    });

    it.each<JwksServerMode>([
      'down',
      'hang',
      'status500',
      'garbage',
      'oversized',
      'redirect',
      'empty',
      'no-signing-keys',
    ])('answers 500 when the JWKS is %s and no key is cached', async (mode) => {
      jwks.setMode(mode);
      const before = jwks.jwksRequests;
      const res = await me();
      expect(outcome(res)).toEqual(INTERNAL_ERROR);
      // It really asked the JWKS, and nothing of that reaches the client.
      expect(jwks.jwksRequests).toBeGreaterThan(before);
      for (const fragment of [
        'jwks',
        'econnrefused',
        'fetch',
        'timed out',
        'error:',
        '127.0.0.1',
        '    at ',
      ]) {
        expect(res.text.toLowerCase()).not.toContain(fragment);
      }
      expect(Object.keys(JSON.parse(res.text) as object)).toEqual([
        'statusCode',
        'error',
        'error_description',
        'message',
      ]);
    });

    it('works again once the JWKS server recovers', async () => {
      jwks.setMode('ok');
      expect(outcome(await me())).toEqual(ME);
    });

    it('keeps using fetched keys while the JWKS server is down (stale on error)', async () => {
      jwks.setMode('down');
      // Past cacheMaxAge the set is due for a refetch, which fails.
      await sleep(CACHE_MAX_AGE + 100);
      const before = jwks.jwksRequests;
      expect(outcome(await me())).toEqual(ME);
      expect(outcome(await me())).toEqual(ME);
      expect(jwks.jwksRequests).toBeGreaterThan(before);
    });

    it('fetches again from the recovered server', async () => {
      jwks.setMode('ok');
      const before = jwks.jwksRequests;
      expect(outcome(await me())).toEqual(ME);
      expect(jwks.jwksRequests).toBe(before + 1);
    });
  });

  describe('OpenID discovery (no jwksUri, no authorizationUri)', () => {
    let jwks: JwksServer;
    let scenario: ScenarioApp;

    beforeAll(async () => {
      jwks = await JwksServer.start({
        keys: [key],
        issuerPath: '/tenant/v2.0',
      });
      scenario = await startScenarioApp(
        { issuer: jwks.issuer, audience: AUDIENCE },
        { adapter },
      );
    });

    afterAll(async () => {
      await scenario?.app.close();
      await jwks?.close();
    });

    it('challenges with the discovered authorization_endpoint', async () => {
      expect(outcome(await send(`${scenario.url}/me`))).toEqual({
        status: 401,
        challenge: `Bearer authorization_uri="${jwks.issuer}/authorize"`,
        body: {
          statusCode: 401,
          error: null,
          error_description: null,
          message: 'Authentication is required.',
        },
      });
    });

    it('verifies with the keys of the discovered jwks_uri', async () => {
      const token = await mintToken(key, claims(jwks.issuer));
      expect(
        outcome(await send(`${scenario.url}/me`, { headers: bearer(token) })),
      ).toEqual(ME);
      expect(jwks.jwksRequests).toBeGreaterThanOrEqual(1);
    });

    it('reads the discovery document once', async () => {
      const token = await mintToken(key, claims(jwks.issuer));
      await send(`${scenario.url}/me`, { headers: bearer(token) });
      await send(`${scenario.url}/me`);
      expect(jwks.discoveryRequests).toBe(1);
    });
  });
});

describe('a {tenantid} issuer without authorizationUri', () => {
  let key: TestKey;
  let jwks: JwksServer;
  let scenario: ScenarioApp;
  // The issuer's origin: it counts every request, so a discovery attempt shows.
  const origin = createServer((_req, res) => {
    originRequests++;
    res.writeHead(404).end();
  });
  let originRequests = 0;

  beforeAll(async () => {
    key = await createTestKey({ kid: 'key-1' });
    jwks = await JwksServer.start({ keys: [key] });
    await new Promise<void>((resolve) =>
      origin.listen(0, '127.0.0.1', resolve),
    );
    const { port } = origin.address() as AddressInfo;
    scenario = await startScenarioApp({
      issuer: `http://127.0.0.1:${port}/{tenantid}/v2.0`,
      audience: AUDIENCE,
      jwksUri: jwks.jwksUri,
    });
  });

  afterAll(async () => {
    await scenario?.app.close();
    await jwks?.close();
    await new Promise((resolve) => origin.close(resolve));
  });

  it('never tries discovery of the template: the challenge has no authorization_uri', async () => {
    expect(outcome(await send(`${scenario.url}/me`))).toEqual({
      status: 401,
      challenge: 'Bearer',
      body: {
        statusCode: 401,
        error: null,
        error_description: null,
        message: 'Authentication is required.',
      },
    });
    expect(originRequests).toBe(0);
  });
});
