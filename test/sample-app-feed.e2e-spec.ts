/** The sample app's `GET /feed` (contract, second part): optional authentication. */
import { ADAPTERS } from './scenario/scenario-app.js';
import { bearer, send } from './support/http.js';
import { SampleAppProcess } from './support/sample-app-process.js';

afterAll(() => SampleAppProcess.stopAll());

describe.each(ADAPTERS)('GET /feed of the sample app on %s', (adapter) => {
  let app: SampleAppProcess;

  beforeAll(async () => {
    app = await SampleAppProcess.start({ HTTP_ADAPTER: adapter });
  });
  afterAll(() => app?.stop());

  async function devToken(sub: string): Promise<string> {
    const issued = await send(`${app.url}/dev/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sub, scope: 'documents.write' }),
    });
    expect(issued.status).toBe(201);
    return (JSON.parse(issued.text) as { access_token: string }).access_token;
  }

  it('without credentials: 200 with sub null and the shared documents', async () => {
    const res = await send(`${app.url}/feed`);
    expect(res.status).toBe(200);
    const body = JSON.parse(res.text) as {
      sub: unknown;
      documents: { title: string }[];
    };
    expect(body.sub).toBeNull();
    expect(body.documents.map((d) => d.title)).toEqual(['Welcome']);
  });

  it("with a valid token: the caller's sub and own documents", async () => {
    const token = await devToken('dora');
    const created = await send(`${app.url}/documents`, {
      method: 'POST',
      headers: { ...bearer(token), 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'Mine' }),
    });
    expect(created.status).toBe(201);
    const res = await send(`${app.url}/feed`, { headers: bearer(token) });
    expect(res.status).toBe(200);
    const body = JSON.parse(res.text) as {
      sub: unknown;
      documents: { title: string }[];
    };
    expect(body.sub).toBe('dora');
    expect(body.documents.map((d) => d.title)).toEqual(['Welcome', 'Mine']);
    // Nobody else sees it.
    const anonymous = JSON.parse((await send(`${app.url}/feed`)).text) as {
      documents: unknown[];
    };
    expect(anonymous.documents).toHaveLength(1);
  });

  it('answers with Vary: Authorization, with and without a token; a protected route without', async () => {
    const token = await devToken('vera');
    for (const headers of [{}, bearer(token)]) {
      const res = await send(`${app.url}/feed`, { headers });
      expect(res.status).toBe(200);
      expect(res.headers.vary).toBe('Authorization');
    }
    const me = await send(`${app.url}/me`, { headers: bearer(token) });
    expect(me.status).toBe(200);
    expect(me.headers.vary).toBeUndefined();
  });

  it('with an invalid token: the same 401 as any route', async () => {
    const bad = bearer('not.a.jwt');
    const feed = await send(`${app.url}/feed`, { headers: bad });
    const me = await send(`${app.url}/me`, { headers: bad });
    expect(feed.status).toBe(401);
    expect(feed.headers['www-authenticate']).toBe(
      me.headers['www-authenticate'],
    );
    expect(feed.headers['www-authenticate']).toContain('error="invalid_token"');
    expect(JSON.parse(feed.text)).toEqual(JSON.parse(me.text));
  });
});
