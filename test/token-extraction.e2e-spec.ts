/**
 * RFC 6750 section 2 end to end: where a token may travel, with every location enabled
 * and with the default (header only).
 */
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
import { mintToken } from './support/tokens.js';

const AUDIENCE = 'api://scenario';
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

describe.each(ADAPTERS)('token extraction on %s', (adapter) => {
  let jwks: JwksServer;
  let key: TestKey;
  let token: string;

  beforeAll(async () => {
    key = await createTestKey({ kid: 'key-1' });
    jwks = await JwksServer.start({ keys: [key] });
    token = await mintToken(key, {
      iss: jwks.issuer,
      aud: AUDIENCE,
      sub: 'alice',
      scp: 'documents.read documents.write',
    });
  });

  afterAll(() => jwks?.close());

  const ME: Outcome = {
    status: 200,
    challenge: undefined,
    body: {
      sub: 'alice',
      scopes: ['documents.read', 'documents.write'],
      roles: [],
    },
  };

  describe("with tokenLocations ['header', 'body', 'query']", () => {
    let scenario: ScenarioApp;

    beforeAll(async () => {
      scenario = await startScenarioApp(
        {
          issuer: jwks.issuer,
          audience: AUDIENCE,
          jwksUri: jwks.jwksUri,
          tokenLocations: ['header', 'body', 'query'],
          authorizationUri: 'https://login.example.com/authorize',
        },
        { adapter },
      );
    });

    afterAll(() => scenario?.app.close());

    it('accepts the header, whatever the case of the scheme', async () => {
      for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
        const res = await send(`${scenario.url}/me`, {
          headers: { authorization: `${scheme} ${token}` },
        });
        expect(outcome(res)).toEqual(ME);
        // Only a query-token response must be kept private.
        expect(res.headers['cache-control']).toBeUndefined();
      }
    });

    it('accepts a form-encoded body on POST', async () => {
      for (const contentType of [
        'application/x-www-form-urlencoded',
        'application/x-www-form-urlencoded; charset=utf-8',
      ]) {
        const res = await send(`${scenario.url}/write`, {
          method: 'POST',
          headers: { 'content-type': contentType },
          body: `other=1&access_token=${token}`,
        });
        expect(outcome(res)).toEqual({
          status: 201,
          challenge: undefined,
          body: { created: true },
        });
      }
    });

    it('accepts the query and marks the response Cache-Control: private', async () => {
      const res = await send(`${scenario.url}/me?access_token=${token}`);
      expect(outcome(res)).toEqual(ME);
      expect(res.headers['cache-control']).toBe('private');
    });

    it('refuses a token in the form body and the query: 400', async () => {
      const res = await send(`${scenario.url}/write?access_token=${token}`, {
        method: 'POST',
        headers: FORM,
        body: `access_token=${token}`,
      });
      expect(outcome(res)).toEqual({
        status: 400,
        challenge:
          'Bearer authorization_uri="https://login.example.com/authorize", error="invalid_request", error_description="The access token was sent by more than one method."',
        body: {
          statusCode: 400,
          error: 'invalid_request',
          error_description:
            'The access token was sent by more than one method.',
          message: 'The access token was sent by more than one method.',
        },
      });
    });

    it('says the token is missing for an empty access_token parameter', async () => {
      const res = await send(`${scenario.url}/me?access_token=`);
      expect(outcome(res)).toEqual({
        status: 401,
        challenge:
          'Bearer authorization_uri="https://login.example.com/authorize", error="invalid_token", error_description="The access token is missing."',
        body: {
          statusCode: 401,
          error: 'invalid_token',
          error_description: 'The access token is missing.',
          message: 'The access token is missing.',
        },
      });
    });
  });

  describe("with the default tokenLocations ['header']", () => {
    let scenario: ScenarioApp;
    // No authorizationUri: the challenge carries the discovered authorization_endpoint.
    let noCredentials: Outcome;

    beforeAll(async () => {
      scenario = await startScenarioApp(
        {
          issuer: jwks.issuer,
          audience: AUDIENCE,
          jwksUri: jwks.jwksUri,
          realm: 'scenario',
        },
        { adapter },
      );
      noCredentials = {
        status: 401,
        challenge: `Bearer realm="scenario", authorization_uri="${jwks.issuer}/authorize"`,
        body: {
          statusCode: 401,
          error: null,
          error_description: null,
          message: 'Authentication is required.',
        },
      };
    });

    afterAll(() => scenario?.app.close());

    it('accepts the header', async () => {
      expect(
        outcome(await send(`${scenario.url}/me`, { headers: bearer(token) })),
      ).toEqual(ME);
    });

    it('does not read the query: 401 without error', async () => {
      expect(
        outcome(await send(`${scenario.url}/me?access_token=${token}`)),
      ).toEqual(noCredentials);
    });

    it('does not read the form body: 401 without error', async () => {
      expect(
        outcome(
          await send(`${scenario.url}/write`, {
            method: 'POST',
            headers: FORM,
            body: `access_token=${token}`,
          }),
        ),
      ).toEqual(noCredentials);
    });

    it('ignores a query token next to a header token (no 400)', async () => {
      expect(
        outcome(
          await send(`${scenario.url}/me?access_token=${token}`, {
            headers: bearer(token),
          }),
        ),
      ).toEqual(ME);
    });
  });
});
