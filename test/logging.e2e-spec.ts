/**
 * What the module writes to the app's logger: failures are logged with a fingerprint of
 * the token, never the token itself, at every level (debug included).
 */
import { createHash } from 'node:crypto';
import {
  ADAPTERS,
  startScenarioApp,
  type ScenarioApp,
} from './scenario/scenario-app.js';
import { CapturingLogger } from './support/capturing-logger.js';
import { bearer, send } from './support/http.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { mintToken, tamper } from './support/tokens.js';

const AUDIENCE = 'api://scenario';

/** The documented log fingerprint: the first 16 characters of base64url(SHA-256(token)). */
const fingerprint = (token: string) =>
  createHash('sha256').update(token).digest('base64url').slice(0, 16);

describe.each(ADAPTERS)('logs on %s', (adapter) => {
  let jwks: JwksServer;
  let key: TestKey;
  let stranger: TestKey;
  let logger: CapturingLogger;
  let scenario: ScenarioApp;

  const claims = (extra: Record<string, unknown> = {}) => ({
    iss: jwks.issuer,
    aud: AUDIENCE,
    sub: 'alice',
    ...extra,
  });

  beforeAll(async () => {
    [key, stranger] = await Promise.all([
      createTestKey({ kid: 'key-1' }),
      createTestKey({ kid: 'key-stranger' }),
    ]);
    jwks = await JwksServer.start({ keys: [key] });
    logger = new CapturingLogger();
    scenario = await startScenarioApp(
      {
        issuer: jwks.issuer,
        audience: AUDIENCE,
        jwksUri: jwks.jwksUri,
        tokenLocations: ['header', 'query'],
        jwks: { cooldown: 0 },
      },
      { adapter, logger },
    );
  });

  afterAll(async () => {
    await scenario?.app.close();
    await jwks?.close();
  });

  it('records debug lines from the module (the capture works)', async () => {
    await send(`${scenario.url}/me`);
    expect(logger.lines).toContainEqual(
      expect.stringMatching(/^debug \[nestjs-bearer\] .*token=none/),
    );
  });

  it('logs a fingerprint of a refused token, never the token', async () => {
    const valid = await mintToken(key, claims());
    const refused = [
      tamper(valid),
      await mintToken(key, claims(), { expiresIn: -3600 }),
      await mintToken(key, claims({ aud: 'api://other' })),
      await mintToken(stranger, claims()),
      await mintToken(key, claims({ scp: 'profile' })),
    ];
    for (const token of refused) {
      const path = token === refused[4] ? '/read' : '/me';
      const res = await send(`${scenario.url}${path}`, {
        headers: bearer(token),
      });
      expect([401, 403]).toContain(res.status);
    }
    // A query token takes the same path through the logs.
    const queried = await mintToken(key, claims(), { expiresIn: -60 });
    expect(
      (await send(`${scenario.url}/me?access_token=${queried}`)).status,
    ).toBe(401);
    refused.push(queried);
    // A JWKS outage is logged too (unknown kid, refetch fails).
    jwks.setMode('down');
    const during = await mintToken(stranger, claims({ sub: 'during' }));
    await send(`${scenario.url}/me`, { headers: bearer(during) });
    jwks.setMode('ok');
    refused.push(during);

    const text = logger.text;
    expect(text).toMatch(/warn \[nestjs-bearer\] JWKS fetch failed/);
    for (const token of refused) {
      expect(text).toContain(fingerprint(token));
      expect(text).not.toContain(token);
      expect(text).not.toContain(token.split('.')[2]);
    }
  });

  it('logs nothing of an accepted token', async () => {
    const token = await mintToken(key, claims({ scp: 'documents.read' }));
    const before = logger.lines.length;
    expect(
      (await send(`${scenario.url}/read`, { headers: bearer(token) })).status,
    ).toBe(200);
    expect(
      (await send(`${scenario.url}/read?access_token=${token}`)).status,
    ).toBe(200);
    const text = logger.lines.slice(before).join('\n');
    expect(text).not.toContain(token);
    expect(text).not.toContain(token.split('.')[2]);
  });
});
