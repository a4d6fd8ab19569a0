/**
 * The sample app's WebSocket contract (SAMPLE_APP_CONTRACT.md, "WebSocket"), black-box: the
 * compiled app as a child process on each HTTP adapter, real `ws` clients on
 * `ws://127.0.0.1:$PORT/ws`.
 */
import { randomUUID } from 'node:crypto';
import { ADAPTERS } from './scenario/scenario-app.js';
import { bearer, outcome, send } from './support/http.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { SampleAppProcess } from './support/sample-app-process.js';
import { mintToken } from './support/tokens.js';
import { open, refused, type OpenSocket } from './support/ws-client.js';

const AUDIENCE = 'api://sample-ws';

afterAll(() => SampleAppProcess.stopAll());

describe.each(ADAPTERS)('the sample app WebSocket on %s', (adapter) => {
  let key: TestKey;
  let issuer: JwksServer;
  let app: SampleAppProcess;
  let wsUrl: string;
  const sockets: OpenSocket[] = [];

  beforeAll(async () => {
    key = await createTestKey();
    issuer = await JwksServer.start({ keys: [key] });
    app = await SampleAppProcess.start({
      HTTP_ADAPTER: adapter,
      AUTH_ISSUER: issuer.issuer,
      AUTH_AUDIENCE: AUDIENCE,
      AUTH_REALM: 'sample',
      // The module's default, spelled out: the expiry case relies on it.
      AUTH_CLOCK_TOLERANCE: '30',
    });
    wsUrl = `ws://127.0.0.1:${app.port}/ws`;
  });

  afterEach(async () => {
    await Promise.all(sockets.splice(0).map((socket) => socket.close()));
  });

  afterAll(async () => {
    await app?.stop();
    await issuer?.close();
  });

  function token(
    claims: Record<string, unknown>,
    expiresIn = 300,
  ): Promise<string> {
    return mintToken(
      key,
      { iss: issuer.issuer, aud: AUDIENCE, sub: 'alice', ...claims },
      { expiresIn },
    );
  }

  async function openWith(
    headers: Record<string, string>,
  ): Promise<OpenSocket> {
    const socket = await open(wsUrl, headers);
    sockets.push(socket);
    return socket;
  }

  it.each([
    ['no token', () => Promise.resolve({})],
    ['a malformed token', () => Promise.resolve(bearer('not.a.jwt'))],
    [
      'an expired token',
      async () => bearer(await token({ scope: 'documents.read' }, -3600)),
    ],
    [
      'a token for another audience',
      async () =>
        bearer(await token({ aud: 'api://other', scope: 'documents.read' })),
    ],
  ])(
    'refuses the upgrade with %s as GET /documents refuses it',
    async (_name, headers) => {
      const sent = await headers();
      const upgrade = await refused(wsUrl, sent);
      const rest = outcome(
        await send(`${app.url}/documents`, { headers: sent }),
      );
      expect(rest.status).toBe(401);
      expect({
        status: upgrade.status,
        challenge: upgrade.headers['www-authenticate'],
        body: upgrade.body,
      }).toEqual(rest);
      expect(upgrade.headers['content-type']).toMatch(/^application\/json/);
    },
  );

  it('answers {"event":"documents"} with the documents for documents.read', async () => {
    const socket = await openWith(
      bearer(await token({ scope: 'documents.read' })),
    );
    const reply = (await socket.request('documents')) as {
      event: string;
      data: Array<{ title: string; owner: string | null }>;
    };
    expect(reply.event).toBe('documents');
    expect(reply.data).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ title: 'Welcome', owner: null }),
      ]),
    );
    const listed = await send(`${app.url}/documents`, {
      headers: bearer(await token({ scope: 'documents.read' })),
    });
    expect(reply.data).toEqual(JSON.parse(listed.text));
  });

  it('answers an error message without documents.read, and keeps the connection open', async () => {
    const socket = await openWith(
      bearer(await token({ scope: 'documents.write' })),
    );
    await expect(socket.request('documents')).resolves.toMatchObject({
      event: 'error',
      data: {
        statusCode: 403,
        error: 'insufficient_scope',
        scope: 'documents.read',
      },
    });
    await expect(socket.drain(200)).resolves.toEqual([]);
    expect(socket.isOpen).toBe(true);
    await expect(socket.request('documents')).resolves.toMatchObject({
      event: 'error',
    });
  });

  it('closes the connection with 1008 within a second of its token being revoked', async () => {
    const jti = randomUUID();
    const socket = await openWith(
      bearer(await token({ scope: 'documents.read', jti })),
    );
    const other = await openWith(
      bearer(await token({ scope: 'documents.read', jti: randomUUID() })),
    );
    await expect(socket.request('documents')).resolves.toMatchObject({
      event: 'documents',
    });
    const revoked = await send(`${app.url}/admin/revocations`, {
      method: 'POST',
      headers: {
        ...bearer(await token({ roles: ['Admin'] })),
        'content-type': 'application/json',
      },
      body: JSON.stringify({ jti }),
    });
    expect(revoked.status).toBe(204);
    await expect(socket.waitForClose(1000)).resolves.toEqual({
      code: 1008,
      reason: 'The access token is revoked.',
    });
    // Another token's socket stays open and answered.
    await expect(other.request('documents')).resolves.toMatchObject({
      event: 'documents',
    });
  });

  it('closes the connection with 1008 when the token expires', async () => {
    // exp 28 s ago: within the 30 s tolerance for about 2 s more.
    const socket = await openWith(
      bearer(await token({ scope: 'documents.read' }, -28)),
    );
    await expect(socket.request('documents')).resolves.toMatchObject({
      event: 'documents',
    });
    await expect(socket.waitForClose(6000)).resolves.toEqual({
      code: 1008,
      reason: 'The access token is expired.',
    });
  });
});

describe.each(ADAPTERS)(
  'the sample app WebSocket with the development issuer on %s',
  (adapter) => {
    let app: SampleAppProcess;

    beforeAll(async () => {
      app = await SampleAppProcess.start({ HTTP_ADAPTER: adapter });
    });

    afterAll(() => app?.stop());

    it('accepts a token from POST /dev/token', async () => {
      const issued = await send(`${app.url}/dev/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ sub: 'carol', scope: 'documents.read' }),
      });
      expect(issued.status).toBe(201);
      const { access_token: accessToken } = JSON.parse(issued.text) as {
        access_token: string;
      };
      const socket = await open(
        `ws://127.0.0.1:${app.port}/ws`,
        bearer(accessToken),
      );
      try {
        await expect(socket.request('documents')).resolves.toMatchObject({
          event: 'documents',
          data: [expect.objectContaining({ title: 'Welcome' })],
        });
      } finally {
        await socket.close();
      }
    });
  },
);
