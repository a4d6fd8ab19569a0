/**
 * Hostile tokens against a real app: keys named in a token's header are never fetched or
 * used, and tokens refused by the key-free policy (foreign issuer, expired, wrong type)
 * never cost a JWKS fetch, even with a key id the app has never seen.
 */
import type { INestApplication } from '@nestjs/common';
import fc from 'fast-check';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startScenarioApp } from './scenario/scenario-app.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { mintToken } from './support/tokens.js';

describe('hostile tokens', () => {
  let key: TestKey;
  let attackerKey: TestKey;
  let jwks: JwksServer;
  let attacker: Server;
  let attackerUrl: string;
  let attackerHits = 0;
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    key = await createTestKey({ kid: 'real' });
    attackerKey = await createTestKey({ kid: 'real' });
    jwks = await JwksServer.start({ keys: [key] });
    // A server an attacker controls, serving its own key set at any path.
    attacker = createServer((_req, res) => {
      attackerHits++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [attackerKey.publicJwk] }));
    });
    await new Promise<void>((resolve) =>
      attacker.listen(0, '127.0.0.1', resolve),
    );
    attackerUrl = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}`;
    ({ app, url } = await startScenarioApp({
      issuer: jwks.issuer,
      audience: 'api',
      jwks: { cooldown: 60_000 },
    }));
    // Let the background warm-up finish, so every later fetch would be visible.
    const warm = await mintToken(key, {
      iss: jwks.issuer,
      aud: 'api',
      sub: 'a',
    });
    expect((await me(warm)).status).toBe(200);
  });
  afterAll(async () => {
    await app.close();
    await jwks.close();
    await new Promise((resolve) => attacker.close(resolve));
  });

  async function me(token: string): Promise<Response> {
    return fetch(`${url}/me`, {
      headers: { authorization: `Bearer ${token}` },
    });
  }

  it('never fetches or uses jku, x5u, jwk or x5c from a token header', async () => {
    const fetchesBefore = jwks.jwksRequests;
    const claims = { iss: jwks.issuer, aud: 'api', sub: 'mallory' };
    const headers = [
      { jku: `${attackerUrl}/jwks.json` },
      { x5u: `${attackerUrl}/cert.pem` },
      { jwk: attackerKey.publicJwk },
      { x5c: ['MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA'] },
    ];
    for (const header of headers) {
      // Signed by the attacker's key under the real key's kid.
      const res = await me(await mintToken(attackerKey, claims, { header }));
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain(
        'error_description="The access token signature is invalid."',
      );
    }
    expect(attackerHits).toBe(0);
    expect(jwks.jwksRequests).toBe(fetchesBefore);
  });

  it('refuses foreign, expired and wrongly typed tokens without any JWKS fetch', async () => {
    const fetchesBefore = jwks.jwksRequests;
    const unknownKid = await createTestKey({ kid: 'never-seen' });
    const cases: [Promise<string>, string][] = [
      [
        mintToken(unknownKid, {
          iss: 'https://elsewhere.example/',
          aud: 'api',
        }),
        'The access token was issued by an untrusted issuer.',
      ],
      [
        mintToken(
          unknownKid,
          { iss: jwks.issuer, aud: 'api' },
          { expiresIn: -3600 },
        ),
        'The access token is expired.',
      ],
      [
        mintToken(unknownKid, { iss: jwks.issuer, aud: 'other-api' }),
        'The access token is not intended for this resource.',
      ],
      [
        mintToken(
          unknownKid,
          { iss: jwks.issuer, aud: 'api' },
          { header: { typ: 'dpop+jwt' } },
        ),
        'The access token has a type that is not accepted.',
      ],
    ];
    for (let round = 0; round < 25; round++) {
      for (const [token, description] of cases) {
        const res = await me(await token);
        expect(res.status).toBe(401);
        expect(res.headers.get('www-authenticate')).toContain(
          `error_description="${description}"`,
        );
      }
    }
    expect(jwks.jwksRequests).toBe(fetchesBefore);
  });
});

describe('nothing from the request is reflected (property)', () => {
  let key: TestKey;
  let jwks: JwksServer;
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    key = await createTestKey({ kid: 'k' });
    jwks = await JwksServer.start({ keys: [key] });
    ({ app, url } = await startScenarioApp({
      issuer: jwks.issuer,
      audience: 'api',
      realm: 'api',
      jwks: { cooldown: 60_000 },
    }));
  });
  afterAll(async () => {
    await app.close();
    await jwks.close();
  });

  // Marked values are easy to find in a response; fast-check fills in the hostile middle.
  const marked = fc
    .string({ unit: 'binary', minLength: 1, maxLength: 40 })
    .map((middle) => `QQ${middle}QQ`);

  it('never echoes kid, iss, aud or sub, whatever their bytes', async () => {
    await fc.assert(
      fc.asyncProperty(
        marked,
        marked,
        marked,
        marked,
        async (kid, iss, aud, sub) => {
          const token = await mintToken(
            key,
            { iss, aud, sub },
            { header: { kid } },
          );
          const res = await fetch(`${url}/me`, {
            headers: { authorization: `Bearer ${token}` },
          });
          const text = `${res.headers.get('www-authenticate') ?? ''}\n${await res.text()}`;
          expect(res.status).toBe(401);
          for (const value of [kid, iss, aud, sub])
            expect(text).not.toContain(value);
          expect(text).not.toContain('QQ');
        },
      ),
      { numRuns: 60 },
    );
  });
});
