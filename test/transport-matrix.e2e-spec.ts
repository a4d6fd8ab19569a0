/**
 * The scenario matrix of issue 9, on every transport with one table of cases: each case
 * runs against a handler that requires scope `documents.read` (the role case: one that
 * requires role `Admin`) on Express, Fastify, GraphQL (Apollo on Express, Mercurius on
 * Fastify) and WebSocket (`BearerWsAdapter` on Express and Fastify), against a loopback
 * issuer and real signed tokens. Each asserts the status, the RFC 6750 code, the
 * challenge and whether the handler ran.
 *
 * The expected values come from {@link CASES} only. What differs between transports is
 * data of the transport's entry in {@link TRANSPORTS}: where it carries the challenge at
 * each stage of a refusal, the status of a served call, and how it spells a refusal that
 * RFC 6750 gives no error code.
 *
 * RPC is not in the matrix: TCP carries no credentials at all (every call is refused), and
 * the gRPC service of the support code has no method with a role requirement.
 */
import { Controller, Get } from '@nestjs/common';
import {
  SubscribeMessage,
  WebSocketGateway,
  type WsResponse,
} from '@nestjs/websockets';
import { Roles, Scopes, type AuthModuleOptions } from '../lib/index.js';
import {
  startScenarioApp,
  type ScenarioAdapter,
  type ScenarioApp,
} from './scenario/scenario-app.js';
import {
  resetResolverCalls,
  resolverCalls,
  startGraphqlApp,
  type GraphqlApp,
  type GraphqlDriverCase,
} from './support/graphql-app.js';
import { outcome, send } from './support/http.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { mintToken, type MintTokenOptions } from './support/tokens.js';
import { startWsApp, type WsApp } from './support/ws-app.js';
import { connect, WS_WAIT_MS } from './support/ws-client.js';

const AUDIENCE = 'api://matrix';
const REALM = 'matrix';
const AUTHORIZATION_URI = 'https://login.example.com/authorize';
/** The configured challenge parameters, which every challenge starts with. */
const PREFIX = `Bearer realm="${REALM}", authorization_uri="${AUTHORIZATION_URI}"`;

/** The protected handler of each transport: `documents` needs the scope, `admin` the role. */
type Handler = 'documents' | 'admin';

/**
 * How far a case gets: refused when its token is authenticated (at the WebSocket upgrade),
 * refused when the handler's requirements are checked (per WebSocket message), or served.
 */
type Stage = 'authentication' | 'authorization' | 'served';

/** Mints a token for the matrix audience with these claims over the valid defaults. */
type Mint = (
  claims?: Record<string, unknown>,
  opts?: MintTokenOptions,
) => Promise<string>;

/** One row of the matrix. */
interface Case {
  readonly name: string;
  /** The `Authorization` value, or none. */
  readonly authorization: (mint: Mint) => Promise<string | undefined>;
  readonly handler: Handler;
  readonly stage: Stage;
  /** The status of a refusal; a served call has its transport's `servedStatus`. */
  readonly status?: number;
  /** The RFC 6750 error code; none for no credentials (RFC 6750 section 3.1) and success. */
  readonly code?: string;
  /** The full challenge of a refusal, where the transport carries one. */
  readonly challenge?: string;
  readonly handlerRan: boolean;
}

function challengeOf(
  error: string,
  description: string,
  scope?: string,
): string {
  const scopeParam = scope === undefined ? '' : `, scope="${scope}"`;
  return `${PREFIX}, error="${error}", error_description="${description}"${scopeParam}`;
}

const CASES: readonly Case[] = [
  {
    name: 'no credentials',
    authorization: () => Promise.resolve(undefined),
    handler: 'documents',
    stage: 'authentication',
    status: 401,
    challenge: PREFIX,
    handlerRan: false,
  },
  {
    name: 'a malformed token',
    authorization: () => Promise.resolve('Bearer not-a-jwt'),
    handler: 'documents',
    stage: 'authentication',
    status: 401,
    code: 'invalid_token',
    challenge: challengeOf('invalid_token', 'The access token is malformed.'),
    handlerRan: false,
  },
  {
    name: 'an expired token',
    authorization: async (mint) =>
      `Bearer ${await mint({}, { expiresIn: -120 })}`,
    handler: 'documents',
    stage: 'authentication',
    status: 401,
    code: 'invalid_token',
    challenge: challengeOf('invalid_token', 'The access token is expired.'),
    handlerRan: false,
  },
  {
    name: 'a token for another audience',
    authorization: async (mint) =>
      `Bearer ${await mint({ aud: 'api://other' })}`,
    handler: 'documents',
    stage: 'authentication',
    status: 401,
    code: 'invalid_token',
    challenge: challengeOf(
      'invalid_token',
      'The access token is not intended for this resource.',
    ),
    handlerRan: false,
  },
  {
    name: 'a token without the scope',
    authorization: async (mint) => `Bearer ${await mint({ scope: 'profile' })}`,
    handler: 'documents',
    stage: 'authorization',
    status: 403,
    code: 'insufficient_scope',
    challenge: challengeOf(
      'insufficient_scope',
      'The access token does not grant the scope this resource requires.',
      'documents.read',
    ),
    handlerRan: false,
  },
  {
    name: 'a token without the role',
    authorization: async (mint) =>
      `Bearer ${await mint({ roles: ['Reader'] })}`,
    handler: 'admin',
    stage: 'authorization',
    status: 403,
    code: 'insufficient_access',
    challenge: challengeOf(
      'insufficient_access',
      'The subject of the access token does not have the permission this resource requires.',
    ),
    handlerRan: false,
  },
  {
    name: 'a valid token',
    authorization: async (mint) => `Bearer ${await mint()}`,
    handler: 'documents',
    stage: 'served',
    handlerRan: true,
  },
];

/** What one call of a case observed, in the same shape on every transport. */
interface Observed {
  status: number;
  code: string | undefined;
  challenge: string | undefined;
  handlerRan: boolean;
}

/** Where a transport carries the challenge of a refusal. */
type ChallengeCarrier =
  /** The `WWW-Authenticate` header of the response. */
  | 'http header'
  /** `extensions.www_authenticate` of the field's error, and the header (one root field). */
  | 'graphql extensions + http header'
  /** The `WWW-Authenticate` header of the refused upgrade response. */
  | 'ws upgrade header'
  /** Nowhere: a per-message `{"event":"error"}` has a body, no challenge. */
  | 'none';

/** A transport of the matrix: its differences as data, and a way to run a case on it. */
interface MatrixTransport {
  readonly name: string;
  /** Where the challenge of a refusal at each stage travels. */
  readonly challenge: Record<Exclude<Stage, 'served'>, ChallengeCarrier>;
  /** The status of a served call: the response's, or the upgrade's 101 for WebSocket. */
  readonly servedStatus: number;
  /** What stands in the code slot of a refusal without an RFC 6750 code. */
  readonly codeWithoutError: string | undefined;
  start(): Promise<void>;
  call(row: Case): Promise<Observed>;
  stop(): Promise<void>;
}

/** How often each HTTP route and WebSocket handler of this file ran. */
const calls: Record<Handler, number> = { documents: 0, admin: 0 };

@Controller('matrix')
class MatrixController {
  @Scopes('documents.read')
  @Get('documents')
  documents(): string[] {
    calls.documents++;
    return ['a'];
  }

  @Roles('Admin')
  @Get('admin')
  admin(): { admin: boolean } {
    calls.admin++;
    return { admin: true };
  }
}

@WebSocketGateway({ path: '/matrix' })
class MatrixGateway {
  @Scopes('documents.read')
  @SubscribeMessage('documents')
  documents(): WsResponse<string[]> {
    calls.documents++;
    return { event: 'documents', data: ['a'] };
  }

  @Roles('Admin')
  @SubscribeMessage('admin')
  admin(): WsResponse<{ admin: boolean }> {
    calls.admin++;
    return { event: 'admin', data: { admin: true } };
  }
}

/** The GraphQL root field of each handler, in `ScenarioResolver`. */
const GRAPHQL_OPERATIONS: Record<Handler, string> = {
  documents: '{ documents { id } }',
  admin: '{ admin }',
};

let key: TestKey;
let issuer: JwksServer;

const mint: Mint = (claims = {}, opts) =>
  mintToken(
    key,
    {
      iss: issuer.issuer,
      aud: AUDIENCE,
      sub: 'alice',
      scope: 'documents.read',
      roles: ['Admin'],
      ...claims,
    },
    opts,
  );

function authOptions(): AuthModuleOptions {
  return {
    issuer: issuer.issuer,
    audience: AUDIENCE,
    jwksUri: issuer.jwksUri,
    realm: REALM,
    authorizationUri: AUTHORIZATION_URI,
    clockTolerance: 0,
  };
}

async function headersOf(row: Case): Promise<Record<string, string>> {
  const authorization = await row.authorization(mint);
  return authorization === undefined ? {} : { authorization };
}

/** Runs `call` and reports whether the counter of `handler` moved meanwhile. */
async function counting<T>(
  runs: () => number,
  call: () => Promise<T>,
): Promise<{ result: T; handlerRan: boolean }> {
  const before = runs();
  const result = await call();
  return { result, handlerRan: runs() > before };
}

function httpTransport(adapter: ScenarioAdapter): MatrixTransport {
  let scenario: ScenarioApp | undefined;
  return {
    name: adapter,
    challenge: { authentication: 'http header', authorization: 'http header' },
    servedStatus: 200,
    codeWithoutError: undefined,
    async start() {
      scenario = await startScenarioApp(authOptions(), {
        adapter,
        controllers: [MatrixController],
      });
    },
    async call(row) {
      const url = `${scenario!.url.replace('[::1]', '127.0.0.1')}/matrix/${row.handler}`;
      const headers = await headersOf(row);
      const { result, handlerRan } = await counting(
        () => calls[row.handler],
        () => send(url, { headers }),
      );
      const answer = outcome(result);
      const body = answer.body as { error?: string | null } | string[];
      return {
        status: answer.status,
        code: (!Array.isArray(body) && body.error) || undefined,
        challenge: answer.challenge,
        handlerRan,
      };
    },
    async stop() {
      await scenario?.app.close();
    },
  };
}

function graphqlTransport(
  driver: GraphqlDriverCase['driver'],
): MatrixTransport {
  let app: GraphqlApp | undefined;
  return {
    name: `graphql-${driver}`,
    challenge: {
      authentication: 'graphql extensions + http header',
      authorization: 'graphql extensions + http header',
    },
    servedStatus: 200,
    // GraphQL's own code for a refusal without credentials.
    codeWithoutError: 'unauthenticated',
    async start() {
      app = await startGraphqlApp({ driver, auth: authOptions() });
    },
    async call(row) {
      const headers = await headersOf(row);
      resetResolverCalls();
      const answer = await app!.request({
        query: GRAPHQL_OPERATIONS[row.handler],
        headers,
      });
      const extensions = answer.errors[0]?.extensions as
        { code?: string; www_authenticate?: string } | undefined;
      const inExtensions = extensions?.www_authenticate;
      return {
        status: answer.status,
        code: extensions?.code,
        // Both carriers must agree; a mismatch shows both in the diff.
        challenge:
          answer.challenge === inExtensions
            ? answer.challenge
            : `header: ${answer.challenge} / extensions: ${inExtensions}`,
        handlerRan: (resolverCalls[row.handler] ?? 0) > 0,
      };
    },
    async stop() {
      await app?.app.close();
    },
  };
}

function wsTransport(adapter: ScenarioAdapter): MatrixTransport {
  let app: WsApp | undefined;
  return {
    name: `ws-${adapter}`,
    challenge: {
      authentication: 'ws upgrade header',
      authorization: 'none',
    },
    servedStatus: 101,
    codeWithoutError: undefined,
    async start() {
      app = await startWsApp({
        adapter,
        auth: authOptions(),
        gateways: [MatrixGateway],
      });
    },
    async call(row) {
      const headers = await headersOf(row);
      const { result, handlerRan } = await counting(
        () => calls[row.handler],
        async (): Promise<Omit<Observed, 'handlerRan'>> => {
          const upgrade = await connect(
            `${app!.wsUrl}/matrix`,
            headers,
            WS_WAIT_MS,
          );
          if (upgrade.kind === 'refused') {
            const body = upgrade.body as { error?: string | null };
            return {
              status: upgrade.status,
              code: body.error ?? undefined,
              challenge: upgrade.headers['www-authenticate'],
            };
          }
          try {
            const reply = (await upgrade.request(row.handler)) as {
              event: string;
              data: { statusCode?: number; error?: string };
            };
            if (reply.event !== 'error') {
              return { status: 101, code: undefined, challenge: undefined };
            }
            return {
              status: reply.data.statusCode ?? 0,
              code: reply.data.error,
              challenge: undefined,
            };
          } finally {
            await upgrade.close();
          }
        },
      );
      return { ...result, handlerRan };
    },
    async stop() {
      await app?.app.close();
    },
  };
}

const TRANSPORTS: readonly MatrixTransport[] = [
  httpTransport('express'),
  httpTransport('fastify'),
  graphqlTransport('apollo'),
  graphqlTransport('mercurius'),
  wsTransport('express'),
  wsTransport('fastify'),
];

/** What `row` must observe on `transport`: the table's values, read through its data. */
function expectedOf(transport: MatrixTransport, row: Case): Observed {
  if (row.stage === 'served') {
    return {
      status: transport.servedStatus,
      code: undefined,
      challenge: undefined,
      handlerRan: row.handlerRan,
    };
  }
  return {
    status: row.status!,
    code: row.code ?? transport.codeWithoutError,
    challenge:
      transport.challenge[row.stage] === 'none' ? undefined : row.challenge,
    handlerRan: row.handlerRan,
  };
}

beforeAll(async () => {
  key = await createTestKey();
  issuer = await JwksServer.start({ keys: [key] });
});

afterAll(() => issuer?.close());

describe.each(TRANSPORTS)('the scenario matrix on $name', (transport) => {
  // Passport strategies register globally by name: one app at a time, closed after.
  beforeAll(() => transport.start());
  afterAll(() => transport.stop());

  it.each(CASES)('$name', async (row) => {
    await expect(transport.call(row)).resolves.toEqual(
      expectedOf(transport, row),
    );
  });
});
