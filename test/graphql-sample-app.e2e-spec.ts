/**
 * The sample app's GraphQL contract (SAMPLE_APP_CONTRACT.md, second part, "GraphQL"), on
 * the compiled app in its own process: Apollo when HTTP_ADAPTER=express, Mercurius when
 * fastify. Every field with and without the token it needs.
 */
import { InvalidTokenError } from '../lib/index.js';
import {
  requestGraphql,
  type GraphqlAnswer,
  type GraphqlRequest,
} from './support/graphql-app.js';
import { bearer, send } from './support/http.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { SampleAppProcess } from './support/sample-app-process.js';
import { mintToken } from './support/tokens.js';

const AUDIENCE = 'api://sample';
/** A stack trace's marks: the key, a frame, a source location. */
const INTERNAL = /stacktrace|"\s+at \S|\\n\s+at \S|node_modules|\.[jt]s:\d/;

afterAll(() => SampleAppProcess.stopAll());

describe.each(['express', 'fastify'] as const)(
  'the sample app over GraphQL, on %s',
  (adapter) => {
    let issuer: JwksServer;
    let key: TestKey;
    let app: SampleAppProcess;
    let prefix: string;

    beforeAll(async () => {
      key = await createTestKey();
      issuer = await JwksServer.start({ keys: [key] });
      app = await SampleAppProcess.start({
        HTTP_ADAPTER: adapter,
        AUTH_ISSUER: issuer.issuer,
        AUTH_AUDIENCE: AUDIENCE,
        AUTH_REALM: 'sample',
      });
      prefix = `Bearer realm="sample", authorization_uri="${issuer.issuer}/authorize"`;
    });

    afterAll(async () => {
      await app?.stop();
      await issuer?.close();
    });

    function token(claims: Record<string, unknown> = {}): Promise<string> {
      return mintToken(key, {
        iss: issuer.issuer,
        aud: AUDIENCE,
        sub: 'alice',
        scope: 'documents.read documents.write',
        roles: ['Admin'],
        ...claims,
      });
    }

    async function ask(request: GraphqlRequest): Promise<GraphqlAnswer> {
      const answer = await requestGraphql(app.url, request);
      expect(answer.res.text).not.toMatch(INTERNAL);
      return answer;
    }

    /** A refused sole root field: the REST route's status and challenge, no data. */
    function expectRefused(
      answer: GraphqlAnswer,
      field: string,
      status: number,
      code: string,
      challenge: string,
    ): void {
      expect({
        status: answer.status,
        challenge: answer.challenge,
        data: answer.data,
      }).toEqual({ status, challenge, data: { [field]: null } });
      expect(answer.errors).toHaveLength(1);
      expect(answer.errors[0].path).toEqual([field]);
      expect(answer.errors[0].extensions).toMatchObject({
        code,
        status,
        www_authenticate: challenge,
      });
    }

    it('answers query { health } without a token', async () => {
      const answer = await ask({ query: '{ health }' });
      expect(answer.status).toBe(200);
      expect(answer.data).toEqual({ health: 'ok' });
    });

    it('answers GET /graphql?query={health} too', async () => {
      const res = await send(
        `${app.url}/graphql?query=${encodeURIComponent('{ health }')}`,
      );
      expect(res.status).toBe(200);
      expect(JSON.parse(res.text)).toEqual({ data: { health: 'ok' } });
    });

    it('answers query { me } for any valid token, and refuses none with 401', async () => {
      const answer = await ask({
        query: '{ me { sub scopes roles } }',
        headers: bearer(await token({ scope: 'profile', roles: [] })),
      });
      expect(answer.status).toBe(200);
      expect(answer.data).toEqual({
        me: { sub: 'alice', scopes: ['profile'], roles: [] },
      });
      const refused = await ask({ query: '{ me { sub } }' });
      expectRefused(refused, 'me', 401, 'unauthenticated', prefix);
      expect(refused.errors[0].extensions?.error_description).toBeNull();
    });

    it('refuses an expired token with the REST description', async () => {
      const expired = await mintToken(
        key,
        { iss: issuer.issuer, aud: AUDIENCE, sub: 'alice' },
        { expiresIn: -120 },
      );
      const description = new InvalidTokenError('expired').description;
      const challenge = `${prefix}, error="invalid_token", error_description="${description}"`;
      const answer = await ask({
        query: '{ me { sub } }',
        headers: bearer(expired),
      });
      expectRefused(answer, 'me', 401, 'invalid_token', challenge);
      const rest = await send(`${app.url}/me`, { headers: bearer(expired) });
      expect(rest.headers['www-authenticate']).toBe(challenge);
    });

    it('answers query { documents } with documents.read, else 403 insufficient_scope', async () => {
      const answer = await ask({
        query: '{ documents { id title owner } }',
        headers: bearer(await token({ scope: 'documents.read' })),
      });
      expect(answer.status).toBe(200);
      expect(answer.data?.documents).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ title: 'Welcome', owner: null }),
        ]),
      );
      const refused = await ask({
        query: '{ documents { id } }',
        headers: bearer(await token({ scope: 'documents.write' })),
      });
      const challenge = `${prefix}, error="insufficient_scope", error_description="The access token does not grant the scope this resource requires.", scope="documents.read"`;
      expectRefused(refused, 'documents', 403, 'insufficient_scope', challenge);
      expect(refused.errors[0].extensions?.scope).toBe('documents.read');
    });

    it('runs mutation { createDocument } with documents.write; REST lists the document', async () => {
      const headers = bearer(await token());
      const answer = await ask({
        query:
          'mutation ($title: String!) { createDocument(title: $title) { id title owner } }',
        variables: { title: 'From GraphQL' },
        headers,
      });
      expect(answer.status).toBe(200);
      const created = answer.data?.createDocument as { id: string };
      expect(created).toEqual({
        id: expect.any(String),
        title: 'From GraphQL',
        owner: 'alice',
      });
      const listed = await send(`${app.url}/documents`, { headers });
      expect(JSON.parse(listed.text)).toEqual(
        expect.arrayContaining([expect.objectContaining({ id: created.id })]),
      );
    });

    it('refuses mutation { createDocument } without documents.write', async () => {
      const answer = await ask({
        query: 'mutation { createDocument(title: "x") { id } }',
        headers: bearer(await token({ scope: 'documents.read' })),
      });
      const challenge = `${prefix}, error="insufficient_scope", error_description="The access token does not grant the scope this resource requires.", scope="documents.write"`;
      expectRefused(
        answer,
        'createDocument',
        403,
        'insufficient_scope',
        challenge,
      );
    });

    it('refuses mutation { createDocument } for a token without sub, as REST does', async () => {
      const answer = await ask({
        query: 'mutation { createDocument(title: "x") { id } }',
        headers: bearer(await token({ sub: undefined })),
      });
      expect(answer.status).toBe(403);
      expect(answer.errors[0].extensions?.code).toBe('insufficient_access');
    });

    it('answers an over-long title with the app input error, nothing internal', async () => {
      const answer = await ask({
        query: 'mutation ($t: String!) { createDocument(title: $t) { id } }',
        variables: { t: 'x'.repeat(201) },
        headers: bearer(await token()),
      });
      expect(answer.status).toBe(200);
      expect(answer.errors[0]).toMatchObject({
        message: 'title must be at most 200 characters long.',
        extensions: { code: 'BAD_USER_INPUT' },
      });
    });

    it('answers query { admin } for the Admin role, else 403 insufficient_access', async () => {
      const answer = await ask({
        query: '{ admin { message } }',
        headers: bearer(await token()),
      });
      expect(answer.status).toBe(200);
      expect(answer.data).toEqual({
        admin: { message: 'Welcome, administrator.' },
      });
      const refused = await ask({
        query: '{ admin { message } }',
        headers: bearer(await token({ roles: ['Reader'] })),
      });
      const challenge = `${prefix}, error="insufficient_access", error_description="The subject of the access token does not have the permission this resource requires."`;
      expectRefused(refused, 'admin', 403, 'insufficient_access', challenge);
    });

    it('answers a body that is not JSON with 400, on /graphql and on REST alike', async () => {
      for (const path of ['/graphql', '/documents']) {
        const res = await send(`${app.url}${path}`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...bearer(await token()),
          },
          body: '{"query": ',
        });
        expect(res.status).toBe(400);
        expect(res.text).not.toMatch(INTERNAL);
      }
      // Mercurius's routes would take Nest's error handling from the REST routes.
      const rest = await send(`${app.url}/documents`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...bearer(await token()),
        },
        body: '{bad',
      });
      expect(JSON.parse(rest.text)).toEqual({
        statusCode: 400,
        message: 'Bad Request',
      });
    });

    it('keeps 200 for several root fields, with an error for the refused one', async () => {
      const answer = await ask({ query: '{ health admin { message } }' });
      expect(answer.status).toBe(200);
      expect(answer.challenge).toBeUndefined();
      expect(answer.data).toEqual({ health: 'ok', admin: null });
      expect(answer.errors[0].extensions?.code).toBe('unauthenticated');
    });
  },
);
