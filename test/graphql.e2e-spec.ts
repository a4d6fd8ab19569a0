/**
 * GraphQL behind the module, in-process, on Apollo (Express) and Mercurius (Fastify),
 * against a loopback issuer and real signed tokens. One table of refusals, each checked
 * for its HTTP status, `extensions.code`, challenge (header and `extensions`), and that
 * the resolver never ran; the status and challenge are compared with the REST route of
 * the same protection in the same app.
 */
import { Catch, UseFilters, type ExceptionFilter } from '@nestjs/common';
import {
  Field,
  ObjectType,
  Query,
  ResolveField,
  Resolver,
} from '@nestjs/graphql';
import { GraphQLError } from 'graphql';
import {
  AUTHENTICATION_REQUIRED_MESSAGE,
  INTERNAL_ERROR_MESSAGE,
} from '../lib/bearer-challenges.service.js';
import {
  AuthCoverageError,
  InsufficientAccessError,
  InsufficientScopeError,
  InvalidTokenError,
  Public,
  Scopes,
  type AuthModuleOptions,
} from '../lib/index.js';
import {
  GRAPHQL_DRIVERS,
  requestGraphql,
  resetResolverCalls,
  resolverCalls,
  ScenarioResolver,
  startGraphqlApp,
  startGraphqlModule,
  type GraphqlAnswer,
  type GraphqlApp,
} from './support/graphql-app.js';
import {
  apolloGraphql,
  createReadmeAppModule,
  mercuriusGraphql,
} from './support/graphql-readme-example.js';
import { bearer, send } from './support/http.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { mintToken, type MintTokenOptions } from './support/tokens.js';

const AUDIENCE = 'api://graphql';
const AUTHORIZATION_URI = 'https://login.example.com/authorize';
const PREFIX = `Bearer realm="api", authorization_uri="${AUTHORIZATION_URI}"`;

const MALFORMED = new InvalidTokenError('malformed').description as string;
const EXPIRED = new InvalidTokenError('expired').description as string;
const AUDIENCE_MISMATCH = new InvalidTokenError('audience')
  .description as string;
const NO_SCOPE = new InsufficientScopeError([]).description as string;
const NO_ACCESS = new InsufficientAccessError().description as string;

/** The challenge of a refusal: the configured parameters, then the error's own. */
function challengeOf(
  error?: string,
  description?: string,
  scope?: string,
): string {
  let challenge = PREFIX;
  if (error !== undefined) challenge += `, error="${error}"`;
  if (description !== undefined) {
    challenge += `, error_description="${description}"`;
  }
  if (scope !== undefined) challenge += `, scope="${scope}"`;
  return challenge;
}

/** Neither a stack trace nor a source frame, anywhere in the answer. */
function expectNothingInternal(answer: GraphqlAnswer): void {
  for (const error of answer.errors) {
    expect(error.extensions).not.toHaveProperty('stacktrace');
    expect(error.extensions).not.toHaveProperty('exception');
    expect(error.extensions).not.toHaveProperty('originalError');
  }
  expect(answer.res.text).not.toMatch(
    /"\s+at \S|\\n\s+at \S|node_modules|\.[jt]s:\d/,
  );
}

/** A row of the refusal table. */
interface RefusalCase {
  readonly name: string;
  /** The Authorization header (a token built per row), or none. */
  readonly authorization: (token: Tokens) => Promise<string | undefined>;
  readonly operation: string;
  /** The refused root field. */
  readonly field: string;
  /** The REST scenario route with the same protection. */
  readonly rest: { readonly method: 'GET' | 'POST'; readonly path: string };
  readonly status: number;
  readonly code: string;
  readonly error?: string;
  readonly description?: string;
  readonly scope?: string;
}

interface Tokens {
  mint(
    claims?: Record<string, unknown>,
    opts?: MintTokenOptions,
  ): Promise<string>;
}

const READ = { method: 'GET', path: '/read' } as const;

const REFUSALS: readonly RefusalCase[] = [
  {
    name: 'no credentials',
    authorization: () => Promise.resolve(undefined),
    operation: '{ documents { id } }',
    field: 'documents',
    rest: READ,
    status: 401,
    code: 'unauthenticated',
  },
  {
    name: 'a malformed token',
    authorization: () => Promise.resolve('Bearer not-a-jwt'),
    operation: '{ documents { id } }',
    field: 'documents',
    rest: READ,
    status: 401,
    code: 'invalid_token',
    error: 'invalid_token',
    description: MALFORMED,
  },
  {
    name: 'an expired token',
    authorization: async (t) =>
      `Bearer ${await t.mint({}, { expiresIn: -120 })}`,
    operation: '{ documents { id } }',
    field: 'documents',
    rest: READ,
    status: 401,
    code: 'invalid_token',
    error: 'invalid_token',
    description: EXPIRED,
  },
  {
    name: 'a token for another audience',
    authorization: async (t) =>
      `Bearer ${await t.mint({ aud: 'api://other' })}`,
    operation: '{ documents { id } }',
    field: 'documents',
    rest: READ,
    status: 401,
    code: 'invalid_token',
    error: 'invalid_token',
    description: AUDIENCE_MISMATCH,
  },
  {
    name: 'a token without the scope',
    authorization: async (t) => `Bearer ${await t.mint({ scope: 'profile' })}`,
    operation: '{ documents { id } }',
    field: 'documents',
    rest: READ,
    status: 403,
    code: 'insufficient_scope',
    error: 'insufficient_scope',
    description: NO_SCOPE,
    scope: 'documents.read',
  },
  {
    name: 'a mutation with a token without the scope',
    authorization: async (t) =>
      `Bearer ${await t.mint({ scope: 'documents.read' })}`,
    operation: 'mutation { createDocument(title: "t") { id } }',
    field: 'createDocument',
    rest: { method: 'POST', path: '/write' },
    status: 403,
    code: 'insufficient_scope',
    error: 'insufficient_scope',
    description: NO_SCOPE,
    scope: 'documents.write',
  },
  {
    name: 'a token without the role',
    authorization: async (t) => `Bearer ${await t.mint({ roles: ['Reader'] })}`,
    operation: '{ admin }',
    field: 'admin',
    rest: { method: 'GET', path: '/admin' },
    status: 403,
    code: 'insufficient_access',
    error: 'insufficient_access',
    description: NO_ACCESS,
  },
];

/** An app's own catch-all filter that answers with its own error, without a challenge. */
@Catch()
class OwnGraphqlFilter implements ExceptionFilter {
  catch(): GraphQLError {
    return new GraphQLError('Denied.', { extensions: { code: 'DENIED' } });
  }
}

@UseFilters(OwnGraphqlFilter)
@Resolver()
class OwnFilterResolver {
  @Scopes('documents.read')
  @Query(() => String, { nullable: true })
  filtered(): string {
    return 'filtered';
  }
}

@ObjectType('Profile')
class Profile {
  @Field(() => String)
  name!: string;

  @Field(() => String, { nullable: true })
  secret?: string;
}

let secretsRead = 0;

/** A field resolver with a requirement of its own, under a public root field. */
@Resolver(() => Profile)
class ProfileResolver {
  @Public()
  @Query(() => Profile)
  profile(): Profile {
    return { name: 'alice' };
  }

  @Scopes('profile.secret')
  @ResolveField(() => String, { nullable: true })
  secret(): string {
    secretsRead++;
    return 'secret';
  }
}

let key: TestKey;
let issuer: JwksServer;

beforeAll(async () => {
  key = await createTestKey();
  issuer = await JwksServer.start({ keys: [key] });
});

afterAll(() => issuer?.close());

function authOptions(): AuthModuleOptions {
  return {
    issuer: issuer.issuer,
    audience: AUDIENCE,
    realm: 'api',
    authorizationUri: AUTHORIZATION_URI,
  };
}

const tokens: Tokens = {
  mint: (claims = {}, opts) =>
    mintToken(
      key,
      {
        iss: issuer.issuer,
        aud: AUDIENCE,
        sub: 'alice',
        scope: 'documents.read documents.write',
        roles: ['Admin'],
        tid: 'tenant-1',
        ...claims,
      },
      opts,
    ),
};

describe.each(GRAPHQL_DRIVERS)(
  'GraphQL on $driver ($adapter)',
  ({ driver }) => {
    let app: GraphqlApp;
    let valid: Record<string, string>;

    beforeAll(async () => {
      // With the driver's debug output on: Apollo then adds stack traces to errors.
      app = await startGraphqlApp({
        driver,
        auth: authOptions(),
        debug: true,
        resolvers: [ScenarioResolver, OwnFilterResolver],
      });
      valid = bearer(await tokens.mint());
    });

    afterAll(() => app?.app.close());

    beforeEach(() => resetResolverCalls());

    describe.each(REFUSALS)('$name', (row) => {
      let answer: GraphqlAnswer;
      let headers: Record<string, string>;

      beforeAll(async () => {
        const authorization = await row.authorization(tokens);
        headers = authorization === undefined ? {} : { authorization };
        resetResolverCalls();
        answer = await app.request({ query: row.operation, headers });
      });

      it('never runs the resolver', () => {
        expect(resolverCalls[row.field]).toBeUndefined();
        expect(answer.data).toEqual({ [row.field]: null });
      });

      it('answers with the status and challenge of the REST route', async () => {
        const challenge = challengeOf(row.error, row.description, row.scope);
        expect({ status: answer.status, challenge: answer.challenge }).toEqual({
          status: row.status,
          challenge,
        });
        const rest = await send(`${app.url}${row.rest.path}`, {
          method: row.rest.method,
          headers,
        });
        expect({
          status: rest.status,
          challenge: rest.headers['www-authenticate'],
        }).toEqual({ status: row.status, challenge });
      });

      it('carries code, status, description and challenge in extensions', () => {
        expect(answer.errors).toHaveLength(1);
        const [error] = answer.errors;
        expect(error.path).toEqual([row.field]);
        expect(error.message).toBe(
          row.description ?? AUTHENTICATION_REQUIRED_MESSAGE,
        );
        expect(error.extensions).toEqual({
          code: row.code,
          status: row.status,
          error_description: row.description ?? null,
          www_authenticate: challengeOf(row.error, row.description, row.scope),
          ...(row.scope !== undefined && { scope: row.scope }),
        });
      });

      it('shows no stack trace, even with debug on', () => {
        expectNothingInternal(answer);
      });
    });

    it('answers a valid token with the data, 200 and no challenge', async () => {
      const answer = await app.request({
        query: '{ documents { id owner } }',
        headers: valid,
      });
      expect(answer.status).toBe(200);
      expect(answer.challenge).toBeUndefined();
      expect(answer.errors).toEqual([]);
      expect(answer.data).toEqual({ documents: [{ id: '1', owner: 'alice' }] });
      expect(resolverCalls.documents).toBe(1);
    });

    it('runs a mutation for a token with the scope', async () => {
      const answer = await app.request({
        query:
          'mutation ($t: String!) { createDocument(title: $t) { id owner } }',
        variables: { t: 'draft' },
        headers: valid,
      });
      expect(answer.status).toBe(200);
      expect(answer.data).toEqual({
        createDocument: { id: 'draft', owner: 'alice' },
      });
    });

    it('keeps 200 for two root fields, with data for the public one and an error for the other', async () => {
      const answer = await app.request({
        query: '{ health documents { id } }',
      });
      expect(answer.status).toBe(200);
      expect(answer.challenge).toBeUndefined();
      expect(answer.data).toEqual({ health: 'ok', documents: null });
      expect(answer.errors).toHaveLength(1);
      expect(answer.errors[0].path).toEqual(['documents']);
      expect(answer.errors[0].extensions).toMatchObject({
        code: 'unauthenticated',
        status: 401,
        www_authenticate: PREFIX,
      });
      expect(resolverCalls).toEqual({ health: 1 });
      expectNothingInternal(answer);
    });

    it('keeps 200 for one field asked twice under two aliases', async () => {
      const answer = await app.request({
        query: '{ a: documents { id } b: documents { id } }',
      });
      expect(answer.status).toBe(200);
      expect(answer.challenge).toBeUndefined();
      expect(answer.errors.map((e) => e.path)).toEqual([['a'], ['b']]);
    });

    it('counts root fields through fragments and @include', async () => {
      const spread = await app.request({
        query: 'query { ...Docs } fragment Docs on Query { documents { id } }',
      });
      expect({ status: spread.status, challenge: spread.challenge }).toEqual({
        status: 401,
        challenge: PREFIX,
      });
      const query =
        'query ($all: Boolean!) { health @include(if: $all) documents { id } }';
      const alone = await app.request({ query, variables: { all: false } });
      expect(alone.status).toBe(401);
      const both = await app.request({ query, variables: { all: true } });
      expect(both.status).toBe(200);
      expect(both.data).toEqual({ health: 'ok', documents: null });
    });

    it('refuses a non-null root field with the REST status; data is null', async () => {
      const answer = await app.request({
        query: '{ requiredDocuments { id } }',
      });
      expect(answer.status).toBe(401);
      expect(answer.challenge).toBe(PREFIX);
      expect(answer.data).toBeNull();
      expect(resolverCalls.requiredDocuments).toBeUndefined();
    });

    it('answers a GET query as a POST one', async () => {
      const refused = await app.request({
        method: 'GET',
        query: '{ documents { id } }',
        headers: bearer('not-a-jwt'),
      });
      expect(refused.status).toBe(401);
      expect(refused.challenge).toBe(
        challengeOf('invalid_token', MALFORMED, undefined),
      );
      const answered = await app.request({
        method: 'GET',
        query: '{ documents { id owner } }',
        headers: valid,
      });
      expect(answered.status).toBe(200);
      expect(answered.data).toEqual({
        documents: [{ id: '1', owner: 'alice' }],
      });
    });

    it('answers a @Public() field without a token, and ignores a bad one', async () => {
      for (const headers of [{}, bearer('not-a-jwt')]) {
        const answer = await app.request({ query: '{ health }', headers });
        expect(answer.status).toBe(200);
        expect(answer.data).toEqual({ health: 'ok' });
      }
    });

    it('runs an @OptionalAuth() field without credentials, with its principal when valid', async () => {
      const anonymous = await app.request({ query: '{ feed }' });
      expect(anonymous.status).toBe(200);
      expect(anonymous.data).toEqual({ feed: 'anonymous' });
      const known = await app.request({ query: '{ feed }', headers: valid });
      expect(known.data).toEqual({ feed: 'alice' });
      // Its answer differs by caller: a shared cache must key it by the credentials.
      for (const answer of [anonymous, known]) {
        expect(answer.res.headers.vary).toMatch(/(^|, *)Authorization($|,)/);
      }
      expect(resolverCalls.feed).toBe(2);
    });

    it('refuses an @OptionalAuth() field with an invalid token, as any field', async () => {
      const answer = await app.request({
        query: '{ feed }',
        headers: bearer('not-a-jwt'),
      });
      expect(answer.status).toBe(401);
      expect(answer.errors[0].extensions).toMatchObject({
        code: 'invalid_token',
      });
      expect(resolverCalls.feed).toBeUndefined();
    });

    it('gives @Principal() and @Claims() to a resolver', async () => {
      const answer = await app.request({
        query: '{ me { sub scopes roles tid sameClaims } }',
        headers: valid,
      });
      expect(answer.data).toEqual({
        me: {
          sub: 'alice',
          scopes: ['documents.read', 'documents.write'],
          roles: ['Admin'],
          tid: 'tenant-1',
          sameClaims: true,
        },
      });
    });

    it('renders a bearer error thrown by the resolver itself like a guard refusal', async () => {
      const bob = bearer(await tokens.mint({ sub: 'bob' }));
      const answer = await app.request({ query: '{ owned }', headers: bob });
      expect(answer.status).toBe(403);
      expect(answer.challenge).toBe(
        challengeOf('insufficient_access', NO_ACCESS),
      );
      expect(answer.errors[0].extensions).toMatchObject({
        code: 'insufficient_access',
        status: 403,
      });
      expect(resolverCalls.owned).toBe(1);
      expectNothingInternal(answer);
      const alice = await app.request({ query: '{ owned }', headers: valid });
      expect(alice.data).toEqual({ owned: 'yours' });
    });

    it('keeps the challenge the guard set when an app filter answers the error', async () => {
      const answer = await app.request({ query: '{ filtered }' });
      expect(answer.challenge).toBe(PREFIX);
      expect(answer.errors[0]).toMatchObject({
        message: 'Denied.',
        extensions: { code: 'DENIED' },
      });
    });
  },
);

describe.each(GRAPHQL_DRIVERS)(
  'GraphQL on $driver with an unreachable JWKS',
  ({ driver }) => {
    let down: JwksServer;
    let app: GraphqlApp;

    beforeAll(async () => {
      down = await JwksServer.start({ keys: [key] });
      down.setMode('down');
      app = await startGraphqlApp({
        driver,
        auth: { ...authOptions(), issuer: down.issuer },
        debug: true,
      });
    });

    afterAll(async () => {
      await app?.app.close();
      await down?.close();
    });

    it('answers 500, as the REST route, with no challenge and no reason', async () => {
      resetResolverCalls();
      const headers = bearer(
        await mintToken(key, {
          iss: down.issuer,
          aud: AUDIENCE,
          sub: 'alice',
          scope: 'documents.read',
        }),
      );
      const answer = await app.request({
        query: '{ documents { id } }',
        headers,
      });
      const rest = await send(`${app.url}/read`, { headers });
      expect(rest.status).toBe(500);
      expect(answer.status).toBe(500);
      expect(answer.challenge).toBeUndefined();
      expect(answer.errors).toHaveLength(1);
      expect(answer.errors[0].message).toBe(INTERNAL_ERROR_MESSAGE);
      expect(answer.errors[0].extensions).toEqual({
        code: 'internal_server_error',
        status: 500,
        error_description: null,
      });
      expect(resolverCalls.documents).toBeUndefined();
      expectNothingInternal(answer);
    });
  },
);

describe.each(GRAPHQL_DRIVERS)(
  'GraphQL on $driver with guards on field resolvers',
  ({ driver }) => {
    let app: GraphqlApp;

    beforeAll(async () => {
      app = await startGraphqlApp({
        driver,
        auth: authOptions(),
        resolvers: [ProfileResolver],
        fieldResolverEnhancers: ['guards', 'filters'],
      });
    });

    afterAll(() => app?.app.close());

    it('refuses a @ResolveField() with its own requirement; the parent keeps its data', async () => {
      secretsRead = 0;
      const answer = await app.request({
        query: '{ profile { name secret } }',
      });
      // The refused field is not a root field: the response stays 200.
      expect(answer.status).toBe(200);
      expect(answer.challenge).toBeUndefined();
      expect(answer.data).toEqual({ profile: { name: 'alice', secret: null } });
      expect(answer.errors[0]).toMatchObject({
        path: ['profile', 'secret'],
        extensions: { code: 'unauthenticated', status: 401 },
      });
      expect(secretsRead).toBe(0);
      const granted = await app.request({
        query: '{ profile { secret } }',
        headers: bearer(await tokens.mint({ scope: 'profile.secret' })),
      });
      expect(granted.data).toEqual({ profile: { secret: 'secret' } });
      expect(secretsRead).toBe(1);
    });
  },
);

describe.each([
  { driver: 'apollo', graphql: apolloGraphql },
  { driver: 'mercurius', graphql: mercuriusGraphql },
] as const)('the README example on $driver', ({ driver, graphql }) => {
  let app: GraphqlApp;

  beforeAll(async () => {
    app = await startGraphqlModule(
      createReadmeAppModule(issuer.issuer, AUDIENCE, graphql),
      driver,
    );
  });

  afterAll(() => app?.app.close());

  it('answers health without a token', async () => {
    const answer = await app.request({ query: '{ health }' });
    expect(answer.data).toEqual({ health: 'ok' });
  });

  it('refuses documents without a token, and answers them with the scope', async () => {
    const refused = await requestGraphql(app.url, {
      query: '{ documents { id owner } }',
    });
    expect(refused.status).toBe(401);
    expect(refused.challenge).toMatch(/^Bearer /);
    expect(refused.errors[0].extensions?.code).toBe('unauthenticated');
    const answered = await app.request({
      query: '{ documents { id owner } }',
      headers: bearer(await tokens.mint({ scope: 'documents.read' })),
    });
    expect(answered.data).toEqual({ documents: [{ id: '1', owner: 'alice' }] });
  });
});

describe.each(GRAPHQL_DRIVERS)(
  'GraphQL on $driver without guards on field resolvers',
  ({ driver }) => {
    it('refuses to start: a @ResolveField() requirement would not be enforced', async () => {
      const started = startGraphqlApp({
        driver,
        auth: authOptions(),
        resolvers: [ProfileResolver],
      });
      const error = await started.then(
        async (app) => {
          await app.app.close();
          return undefined;
        },
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(AuthCoverageError);
      expect((error as Error).message).toContain('ProfileResolver.secret()');
      expect((error as Error).message).toContain('fieldResolverEnhancers');
    });
  },
);
