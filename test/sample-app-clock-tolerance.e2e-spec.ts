/**
 * The compiled sample app as a process: `AUTH_CLOCK_TOLERANCE` on both sides of its
 * boundary, and `AUTH_ACCEPT_CONTEXTS` (SAMPLE_APP_CONTRACT.md, second part).
 */
import { bearer, send } from './support/http.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { SampleAppProcess } from './support/sample-app-process.js';
import { mintToken } from './support/tokens.js';

const AUDIENCE = 'api://sample';

let issuer: JwksServer;
let key: TestKey;

beforeAll(async () => {
  key = await createTestKey();
  issuer = await JwksServer.start({ keys: [key] });
});

afterAll(async () => {
  await SampleAppProcess.stopAll();
  await issuer?.close();
});

/** A token for the sample app whose `exp` passed `seconds` ago. */
function expiredSince(seconds: number): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return mintToken(
    key,
    { iss: issuer.issuer, aud: AUDIENCE, sub: 'alice' },
    { expiresIn: -seconds, issuedAt: now - 300 },
  );
}

function startApp(env: Record<string, string>): Promise<SampleAppProcess> {
  return SampleAppProcess.start({
    AUTH_ISSUER: issuer.issuer,
    AUTH_AUDIENCE: AUDIENCE,
    ...env,
  });
}

describe('AUTH_CLOCK_TOLERANCE', () => {
  it('accepts a token expired 20 s ago with AUTH_CLOCK_TOLERANCE=60', async () => {
    const app = await startApp({ AUTH_CLOCK_TOLERANCE: '60' });
    try {
      const res = await send(`${app.url}/me`, {
        headers: bearer(await expiredSince(20)),
      });
      expect(res.status).toBe(200);
      expect(JSON.parse(res.text)).toMatchObject({ sub: 'alice' });
    } finally {
      await app.stop();
    }
  });

  it('refuses the same token with AUTH_CLOCK_TOLERANCE=5: 401, "expired"', async () => {
    const app = await startApp({ AUTH_CLOCK_TOLERANCE: '5' });
    try {
      const res = await send(`${app.url}/me`, {
        headers: bearer(await expiredSince(20)),
      });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toContain(
        'error="invalid_token", error_description="The access token is expired."',
      );
      expect(JSON.parse(res.text)).toMatchObject({
        error: 'invalid_token',
        error_description: 'The access token is expired.',
      });
    } finally {
      await app.stop();
    }
  });

  it.each([['601'], ['-5'], ['2.5'], ['thirty']])(
    'stops on AUTH_CLOCK_TOLERANCE=%s with one line naming it',
    async (value) => {
      const result = await SampleAppProcess.runToExit({
        PORT: '1',
        AUTH_CLOCK_TOLERANCE: value,
      });
      expect(result.code).toBe(1);
      const lines = result.stderr.trimEnd().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain('AUTH_CLOCK_TOLERANCE');
      expect(lines[0]).toContain('from 0 to 600');
      expect(result.stdout).toBe('');
    },
  );
});

describe('AUTH_ACCEPT_CONTEXTS', () => {
  it('stops on an unknown context type with one line naming the variable', async () => {
    const result = await SampleAppProcess.runToExit({
      PORT: '1',
      AUTH_ACCEPT_CONTEXTS: 'rpc,kafka',
    });
    expect(result.code).toBe(1);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/AUTH_ACCEPT_CONTEXTS contains "kafka"/);
    expect(result.stdout).toBe('');
  });

  it('starts with AUTH_ACCEPT_CONTEXTS=rpc, says so, and still guards HTTP routes', async () => {
    const app = await startApp({ AUTH_ACCEPT_CONTEXTS: 'rpc' });
    try {
      expect((await send(`${app.url}/me`)).status).toBe(401);
      expect(app.stdout + app.stderr).toContain(
        'acceptContexts: "rpc" handlers are let through without authentication.',
      );
    } finally {
      await app.stop();
    }
  });

  it('starts with AUTH_ACCEPT_CONTEXTS set to nothing, as none', async () => {
    const app = await startApp({ AUTH_ACCEPT_CONTEXTS: '' });
    try {
      expect((await send(`${app.url}/me`)).status).toBe(401);
      expect(app.stdout + app.stderr).not.toContain('acceptContexts');
    } finally {
      await app.stop();
    }
  });
});
