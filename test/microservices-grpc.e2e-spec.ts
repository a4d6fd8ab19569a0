/**
 * A hybrid app (HTTP + a real gRPC microservice on 127.0.0.1) with the default global
 * guard, driven by a real gRPC client: the token travels in the call's `authorization`
 * metadata, refusals come back as gRPC statuses with the challenge in the trailers.
 */
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import type { INestApplication } from '@nestjs/common';
import { firstValueFrom, type Observable } from 'rxjs';
import {
  AuthModule,
  parseChallenges,
  type AuthModuleOptions,
} from '../lib/index.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import {
  connectGrpcClient,
  handlerCalls,
  resetHandlerCalls,
  startHybridApp,
  type DocumentsGrpcService,
} from './support/rpc-apps.js';
import { mintToken, tamper } from './support/tokens.js';

const AUDIENCE = 'api://documents';

function metadataWith(...authorization: string[]): Metadata {
  const metadata = new Metadata();
  for (const value of authorization) metadata.add('authorization', value);
  return metadata;
}

/** The gRPC error a call fails with; fails the test when the call succeeds. */
async function failureOf(call: Observable<unknown>): Promise<ServiceError> {
  try {
    await firstValueFrom(call);
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('the call succeeded');
}

/** The one Bearer challenge of a refusal's `www-authenticate` trailer. */
function challengeOf(error: ServiceError): Record<string, string> {
  const values = error.metadata.get('www-authenticate');
  expect(values).toHaveLength(1);
  const [challenge] = parseChallenges(String(values[0]));
  expect(challenge.scheme.toLowerCase()).toBe('bearer');
  return challenge.params;
}

describe.each([
  ['connectMicroservice() without inheritAppConfig', false],
  ['connectMicroservice(options, { inheritAppConfig: true })', true],
])('gRPC hybrid app, %s', (_name, inheritAppConfig) => {
  let jwks: JwksServer;
  let key: TestKey;
  let app: INestApplication;
  let documents: DocumentsGrpcService;
  let closeClient: () => void;

  const token = (claims: Record<string, unknown>, expiresIn?: number) =>
    mintToken(
      key,
      { iss: jwks.issuer, aud: AUDIENCE, sub: 'alice', ...claims },
      { expiresIn },
    );

  beforeAll(async () => {
    key = await createTestKey();
    jwks = await JwksServer.start({ keys: [key] });
    const options: AuthModuleOptions = {
      issuer: jwks.issuer,
      audience: AUDIENCE,
      clockTolerance: 0,
    };
    const started = await startHybridApp(AuthModule.forRoot(options), {
      transport: 'grpc',
      inheritAppConfig,
    });
    app = started.app;
    ({ documents, close: closeClient } = connectGrpcClient(started.rpcPort));
  });

  afterAll(async () => {
    closeClient?.();
    await app?.close();
    await jwks?.close();
  });

  beforeEach(() => resetHandlerCalls());

  it('refuses a @Scopes() method called without credentials: UNAUTHENTICATED, no error code', async () => {
    const error = await failureOf(documents.list({}));
    expect(error.code).toBe(status.UNAUTHENTICATED);
    expect(error.details).toBe('Authentication is required.');
    expect(challengeOf(error)).not.toHaveProperty('error');
    expect(handlerCalls.list).toBe(0);
  });

  it('refuses a plain protected method called without credentials', async () => {
    const error = await failureOf(documents.me({}));
    expect(error.code).toBe(status.UNAUTHENTICATED);
    expect(handlerCalls.me).toBe(0);
  });

  it('treats another auth-scheme as no credentials', async () => {
    const error = await failureOf(
      documents.me({}, metadataWith('Basic YWxpY2U6c2VjcmV0')),
    );
    expect(error.code).toBe(status.UNAUTHENTICATED);
    expect(challengeOf(error)).not.toHaveProperty('error');
    expect(handlerCalls.me).toBe(0);
  });

  it('answers a @Public() method without credentials', async () => {
    await expect(firstValueFrom(documents.health({}))).resolves.toEqual({
      status: 'ok',
    });
    expect(handlerCalls.health).toBe(1);
  });

  it('runs the method for a valid token with the scope, and @Principal() is the caller', async () => {
    const metadata = metadataWith(
      `Bearer ${await token({ scp: 'documents.read' })}`,
    );
    await expect(
      firstValueFrom(documents.list({ title: 'Plan' }, metadata)),
    ).resolves.toEqual({
      documents: [{ id: 1, title: 'Plan', owner: 'alice' }],
    });
    await expect(firstValueFrom(documents.me({}, metadata))).resolves.toEqual({
      sub: 'alice',
      scopes: ['documents.read'],
    });
    expect(handlerCalls).toEqual({ list: 1, me: 1, health: 0 });
  });

  it('keeps callers apart: each call sees its own principal', async () => {
    const [bob, carol] = await Promise.all([
      token({ sub: 'bob', scp: 'documents.read' }),
      token({ sub: 'carol', scp: 'documents.read' }),
    ]);
    const replies = await Promise.all(
      [bob, carol, bob, carol].map((jwt) =>
        firstValueFrom(documents.me({}, metadataWith(`Bearer ${jwt}`))),
      ),
    );
    expect(replies.map((reply) => reply.sub)).toEqual([
      'bob',
      'carol',
      'bob',
      'carol',
    ]);
  });

  it('refuses a valid token without the scope: PERMISSION_DENIED, insufficient_scope', async () => {
    const error = await failureOf(
      documents.list(
        {},
        metadataWith(`Bearer ${await token({ scp: 'documents.write' })}`),
      ),
    );
    expect(error.code).toBe(status.PERMISSION_DENIED);
    expect(challengeOf(error)).toMatchObject({
      error: 'insufficient_scope',
      scope: 'documents.read',
    });
    expect(handlerCalls.list).toBe(0);
  });

  it('refuses a token whose signature does not verify: UNAUTHENTICATED, invalid_token', async () => {
    const error = await failureOf(
      documents.me(
        {},
        metadataWith(
          `Bearer ${tamper(await token({ scp: 'documents.read' }))}`,
        ),
      ),
    );
    expect(error.code).toBe(status.UNAUTHENTICATED);
    expect(challengeOf(error)).toMatchObject({ error: 'invalid_token' });
    expect(handlerCalls.me).toBe(0);
  });

  it('refuses an expired token: UNAUTHENTICATED, invalid_token, "expired"', async () => {
    const error = await failureOf(
      documents.list(
        {},
        metadataWith(`Bearer ${await token({ scp: 'documents.read' }, -60)}`),
      ),
    );
    expect(error.code).toBe(status.UNAUTHENTICATED);
    expect(error.details).toBe('The access token is expired.');
    expect(challengeOf(error)).toMatchObject({
      error: 'invalid_token',
      error_description: 'The access token is expired.',
    });
    expect(handlerCalls.list).toBe(0);
  });

  it('refuses a token for another audience', async () => {
    const error = await failureOf(
      documents.me(
        {},
        metadataWith(`Bearer ${await token({ aud: 'api://other' })}`),
      ),
    );
    expect(error.code).toBe(status.UNAUTHENTICATED);
    expect(challengeOf(error)).toMatchObject({ error: 'invalid_token' });
    expect(handlerCalls.me).toBe(0);
  });

  // HTTP/2 forbids trailing blanks in a field value, and Node drops such a field, so
  // "Bearer " arrives as no credentials; "Bearer" alone is a scheme without a token.
  it('refuses "Bearer" with no token: invalid_token, "missing"', async () => {
    const error = await failureOf(documents.me({}, metadataWith('Bearer')));
    expect(error.code).toBe(status.UNAUTHENTICATED);
    expect(challengeOf(error)).toMatchObject({
      error: 'invalid_token',
      error_description: 'The access token is missing.',
    });
  });

  // HTTP/2 (RFC 9113 section 8.2.2 via Node's single-value fields) carries one Authorization
  // field: the client refuses to send two, and a server keeps only the first one it gets.
  it('never runs a method for a call with two authorization values', async () => {
    const jwt = await token({ scp: 'documents.read' });
    const error = await failureOf(
      documents.me({}, metadataWith(`Bearer ${jwt}`, `Bearer ${jwt}`)),
    );
    expect(error.code).toBe(status.INTERNAL);
    expect(handlerCalls.me).toBe(0);
  });

  it('sends no trailers that echo the request metadata', async () => {
    const error = await failureOf(
      documents.list(
        {},
        metadataWith(`Bearer ${await token({ scp: 'documents.write' })}`),
      ),
    );
    expect(error.metadata.get('authorization')).toEqual([]);
  });
});
