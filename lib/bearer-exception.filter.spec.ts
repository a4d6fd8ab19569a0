/**
 * BearerExceptionFilter on its own: what it writes for each transport (HTTP through the
 * adapter, a WebSocket message, an RPC error, a GraphQL error), the 500 that says only
 * "retry" while the log keeps the reason, and the rendered responses it reuses.
 */
import { jest } from '@jest/globals';
import { Logger, type ArgumentsHost } from '@nestjs/common';
import { FILTER_CATCH_EXCEPTIONS } from '@nestjs/common/constants.js';
import type { HttpAdapterHost } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/internal';
import { GraphQLError } from 'graphql';
import { firstValueFrom, isObservable, type Observable } from 'rxjs';
import { resolveAuthOptions, type AuthModuleOptions } from './auth-options.js';
import {
  BearerChallengesService,
  INTERNAL_ERROR_MESSAGE,
} from './bearer-challenges.service.js';
import {
  BearerExceptionFilter,
  WS_ERROR_EVENT,
} from './bearer-exception.filter.js';
import {
  AuthenticationRequiredError,
  AuthServerError,
  BearerError,
  InsufficientAccessError,
  InsufficientScopeError,
  InvalidTokenError,
  UseDpopNonceError,
} from './bearer.errors.js';
import { UNAUTHENTICATED_CODE } from './contexts/graphql-error.js';
import type { IssuerKeysService } from './keys/issuer-keys.service.js';
import { ProtectedResourceMetadataService } from './protected-resource-metadata.service.js';

const ISSUER = 'https://issuer.example.com';
const AUTHORIZATION_URI = 'https://login.example.com/authorize';
const EXPIRED = 'The access token is expired.';
const CHALLENGE = `Bearer realm="api", authorization_uri="${AUTHORIZATION_URI}", error="invalid_token", error_description="${EXPIRED}"`;

/** An HTTP adapter that records what the filter asks of it, in order. */
class RecordingAdapter {
  readonly calls: unknown[][] = [];
  setHeader(response: unknown, name: string, value: string): void {
    this.calls.push(['setHeader', response, name, value]);
  }
  /** The serialized bodies as received, to check they are built once. */
  readonly raw: unknown[] = [];
  reply(response: unknown, body: unknown, status: number): void {
    this.raw.push(body);
    // The filter hands over the body serialized once; record what the client gets.
    const sent: unknown = typeof body === 'string' ? JSON.parse(body) : body;
    this.calls.push(['reply', response, sent, status]);
  }
}

/** Node's response shape (Express): status, headers and body in one write. */
class RecordingNodeResponse {
  headersSent = false;
  written:
    | { status: number; headers: Record<string, unknown>; body: string }
    | undefined;
  writeHead(status: number, headers: Record<string, unknown>): this {
    this.written = { status, headers, body: '' };
    return this;
  }
  end(body: string): void {
    if (this.written !== undefined) this.written.body = body;
    this.headersSent = true;
  }
}

function createFilter(options: Partial<AuthModuleOptions> = {}) {
  const resolved = resolveAuthOptions({
    issuer: ISSUER,
    audience: 'api://filter',
    jwksUri: `${ISSUER}/jwks.json`,
    realm: 'api',
    authorizationUri: AUTHORIZATION_URI,
    ...options,
  });
  const keys = { discoveryOf: () => undefined };
  const metadata = new ProtectedResourceMetadataService(
    resolved,
    undefined as never,
    undefined as never,
    undefined as never,
  );
  const challenges = new BearerChallengesService(
    resolved,
    keys as unknown as IssuerKeysService,
    metadata,
  );
  const adapter = new RecordingAdapter();
  const filter = new BearerExceptionFilter(challenges, {
    httpAdapter: adapter,
  } as unknown as HttpAdapterHost);
  return { filter, adapter, challenges };
}

/** An ArgumentsHost of one context type, with the response or client the filter reads. */
function hostOf(
  type: string,
  parts: { response?: unknown; client?: unknown } = {},
): ArgumentsHost {
  const host = {
    getType: () => type,
    getArgs: () => [],
    // An HTTP call's arguments are the request and the response (Nest's switchToHttp()).
    getArgByIndex: (index: number) =>
      type === 'http' && index === 1 ? parts.response : undefined,
    switchToHttp: () => ({
      getResponse: () => parts.response,
      getRequest: () => ({}),
      getNext: () => undefined,
    }),
    switchToWs: () => ({
      getClient: () => parts.client,
      getData: () => undefined,
      getPattern: () => 'event',
    }),
    switchToRpc: () => ({ getContext: () => ({}), getData: () => undefined }),
  };
  return host as unknown as ArgumentsHost;
}

/** A `ws` socket: readyState and send(). */
class FakeWsSocket {
  readonly sent: string[] = [];
  constructor(public readyState: number) {}
  send(data: string): void {
    this.sent.push(data);
  }
}

describe('BearerExceptionFilter', () => {
  let logError: jest.SpiedFunction<Logger['error']>;

  beforeEach(() => {
    logError = jest
      .spyOn(Logger.prototype, 'error')
      .mockImplementation(() => undefined);
  });

  afterEach(() => {
    logError.mockRestore();
  });

  it('catches BearerError, and only it (other exceptions go to Nest)', () => {
    expect(
      Reflect.getMetadata(FILTER_CATCH_EXCEPTIONS, BearerExceptionFilter),
    ).toEqual([BearerError]);
  });

  describe('HTTP', () => {
    it('writes the challenge, the media type and the body, through the adapter', () => {
      const { filter, adapter } = createFilter();
      const response = { id: 'response' };
      const returned = filter.catch(
        new InvalidTokenError('expired'),
        hostOf('http', { response }),
      );
      expect(returned).toBeUndefined();
      expect(adapter.calls).toEqual([
        ['setHeader', response, 'WWW-Authenticate', CHALLENGE],
        [
          'setHeader',
          response,
          'Content-Type',
          'application/json; charset=utf-8',
        ],
        [
          'reply',
          response,
          {
            statusCode: 401,
            error: 'invalid_token',
            error_description: EXPIRED,
            message: EXPIRED,
          },
          401,
        ],
      ]);
    });

    it("reads the response without switchToHttp(), which assigns to Nest's context", () => {
      const { filter } = createFilter();
      const response = new RecordingNodeResponse();
      const context = new ExecutionContextHost([{}, response, () => undefined]);
      const before = Object.keys(context);
      filter.catch(new InvalidTokenError('expired'), context);
      expect(response.written?.status).toBe(401);
      expect(Object.keys(context)).toEqual(before);
    });

    it('writes a 403 with its scope', () => {
      const { filter, adapter } = createFilter();
      filter.catch(
        new InsufficientScopeError(['documents.read']),
        hostOf('http', { response: {} }),
      );
      const [, , name, challenge] = adapter.calls[0] as string[];
      expect(name).toBe('WWW-Authenticate');
      expect(challenge).toContain('scope="documents.read"');
      expect(adapter.calls[2]?.[3]).toBe(403);
      expect(adapter.calls[2]?.[2]).toMatchObject({ scope: 'documents.read' });
    });

    it('a 500: no challenge, a body that says only "retry", the reason in the log only', () => {
      const { filter, adapter } = createFilter();
      filter.catch(
        new AuthServerError('JWKS fetch failed (ECONNREFUSED)'),
        hostOf('http', { response: {} }),
      );
      expect(adapter.calls).toEqual([
        ['setHeader', {}, 'Content-Type', 'application/json; charset=utf-8'],
        [
          'reply',
          {},
          {
            statusCode: 500,
            error: null,
            error_description: null,
            message: INTERNAL_ERROR_MESSAGE,
          },
          500,
        ],
      ]);
      expect(JSON.stringify(adapter.calls)).not.toContain('ECONNREFUSED');
      expect(logError).toHaveBeenCalledTimes(1);
      expect(String(logError.mock.calls[0][0])).toContain(
        'JWKS fetch failed (ECONNREFUSED)',
      );
    });

    it('logs nothing for a 4xx', () => {
      const { filter } = createFilter();
      filter.catch(new InvalidTokenError(), hostOf('http', { response: {} }));
      filter.catch(
        new AuthenticationRequiredError(),
        hostOf('http', { response: {} }),
      );
      expect(logError).not.toHaveBeenCalled();
    });

    it('hands the adapter the same rendered body for every error of a kind', () => {
      const { filter, adapter } = createFilter();
      filter.catch(new InvalidTokenError('expired'), hostOf('http', {}));
      filter.catch(new InvalidTokenError('expired'), hostOf('http', {}));
      expect(adapter.raw).toHaveLength(2);
      expect(typeof adapter.raw[0]).toBe('string');
      expect(adapter.raw[1]).toBe(adapter.raw[0]);
    });

    it("writes Node's response (Express) in one writeHead + end, with the challenge", () => {
      const { filter, adapter } = createFilter();
      const response = new RecordingNodeResponse();
      filter.catch(
        new InvalidTokenError('expired'),
        hostOf('http', { response }),
      );
      expect(adapter.calls).toEqual([]);
      expect(response.written?.status).toBe(401);
      expect(response.written?.headers).toEqual({
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(response.written?.body ?? ''),
        'www-authenticate': CHALLENGE,
      });
      expect(JSON.parse(response.written?.body ?? '')).toEqual({
        statusCode: 401,
        error: 'invalid_token',
        error_description: EXPIRED,
        message: EXPIRED,
      });
    });

    it("writes an error's own response headers (DPoP-Nonce) on both paths, as app code throws it", () => {
      const { filter, adapter } = createFilter({ dpop: 'allowed' });
      const response = new RecordingNodeResponse();
      filter.catch(
        new UseDpopNonceError('n0nce'),
        hostOf('http', { response }),
      );
      expect(response.written?.headers['DPoP-Nonce']).toBe('n0nce');
      filter.catch(new UseDpopNonceError('n1nce'), hostOf('http', {}));
      expect(adapter.calls).toContainEqual([
        'setHeader',
        undefined,
        'DPoP-Nonce',
        'n1nce',
      ]);
    });

    it('leaves a response whose headers are already sent to the adapter', () => {
      const { filter, adapter } = createFilter();
      const response = new RecordingNodeResponse();
      response.headersSent = true;
      filter.catch(
        new InvalidTokenError('expired'),
        hostOf('http', { response }),
      );
      expect(response.written).toBeUndefined();
      expect(adapter.calls.map((call) => call[0])).toContain('reply');
    });

    it("writes application/problem+json with errorFormat: 'problem'", () => {
      const { filter, adapter } = createFilter({ errorFormat: 'problem' });
      filter.catch(new InvalidTokenError('expired'), hostOf('http', {}));
      expect(adapter.calls[1]).toEqual([
        'setHeader',
        undefined,
        'Content-Type',
        'application/problem+json; charset=utf-8',
      ]);
      expect(adapter.calls[2]?.[2]).toEqual({
        type: 'about:blank',
        title: 'Unauthorized',
        status: 401,
        detail: EXPIRED,
        error: 'invalid_token',
        error_description: EXPIRED,
      });
    });

    it('treats a context type it does not know as HTTP', () => {
      const { filter, adapter } = createFilter();
      filter.catch(new InvalidTokenError('expired'), hostOf('custom', {}));
      expect(adapter.calls.map((call) => call[0])).toEqual([
        'setHeader',
        'setHeader',
        'reply',
      ]);
    });

    it('never writes a CR or LF that app code put in a description', () => {
      const { filter, adapter } = createFilter();
      filter.catch(
        new InsufficientAccessError('no\r\nSet-Cookie: a=b'),
        hostOf('http', {}),
      );
      const text = JSON.stringify(adapter.calls);
      expect(text).not.toMatch(/\\r|\\n|Set-Cookie/);
      expect(adapter.calls[0]?.[3]).toBe(
        `Bearer realm="api", authorization_uri="${AUTHORIZATION_URI}", error="insufficient_access"`,
      );
    });

    it('lets a subclass change how a response is written', () => {
      const { challenges, adapter } = createFilter();
      const written: unknown[] = [];
      class AppFilter extends BearerExceptionFilter {
        protected override reply(httpResponse: unknown, response: never) {
          written.push([httpResponse, response]);
        }
      }
      const filter = new AppFilter(challenges, {
        httpAdapter: adapter,
      } as unknown as HttpAdapterHost);
      filter.catch(new InvalidTokenError('expired'), hostOf('http', {}));
      expect(written).toHaveLength(1);
      expect(adapter.calls).toEqual([]);
    });
  });

  describe('WebSocket', () => {
    it('sends one {"event":"error","data":body} message on an open ws socket', () => {
      const { filter, adapter } = createFilter();
      const socket = new FakeWsSocket(1);
      const returned = filter.catch(
        new InvalidTokenError('expired'),
        hostOf('ws', { client: socket }),
      );
      expect(returned).toBeUndefined();
      expect(socket.sent).toHaveLength(1);
      expect(JSON.parse(socket.sent[0])).toEqual({
        event: WS_ERROR_EVENT,
        data: {
          statusCode: 401,
          error: 'invalid_token',
          error_description: EXPIRED,
          message: EXPIRED,
        },
      });
      expect(adapter.calls).toEqual([]);
    });

    it.each([0, 2, 3])(
      'sends nothing on a socket that is not open (readyState %i)',
      (readyState) => {
        const { filter } = createFilter();
        const socket = new FakeWsSocket(readyState);
        filter.catch(
          new InvalidTokenError('expired'),
          hostOf('ws', { client: socket }),
        );
        expect(socket.sent).toEqual([]);
      },
    );

    it('emits "exception" with the body on a Socket.IO-like client', () => {
      const { filter } = createFilter();
      const emitted: unknown[][] = [];
      const client = {
        emit: (event: string, data: unknown) => emitted.push([event, data]),
      };
      filter.catch(new AuthenticationRequiredError(), hostOf('ws', { client }));
      expect(emitted).toEqual([
        [
          'exception',
          {
            statusCode: 401,
            error: null,
            error_description: null,
            message: 'Authentication is required.',
          },
        ],
      ]);
    });

    it('does nothing with a client that can neither send nor emit', () => {
      const { filter } = createFilter();
      expect(() =>
        filter.catch(new InvalidTokenError(), hostOf('ws', { client: {} })),
      ).not.toThrow();
    });

    it('sends the 500 body, never the reason', () => {
      const { filter } = createFilter();
      const socket = new FakeWsSocket(1);
      filter.catch(
        new AuthServerError('secret reason'),
        hostOf('ws', { client: socket }),
      );
      expect(JSON.parse(socket.sent[0])).toEqual({
        event: 'error',
        data: {
          statusCode: 500,
          error: null,
          error_description: null,
          message: INTERNAL_ERROR_MESSAGE,
        },
      });
      expect(socket.sent[0]).not.toContain('secret');
    });
  });

  describe('RPC', () => {
    const rpcError = async (error: BearerError): Promise<unknown> => {
      const { filter } = createFilter();
      const returned = filter.catch(error, hostOf('rpc'));
      expect(isObservable(returned)).toBe(true);
      return firstValueFrom(returned as Observable<never>).then(
        () => {
          throw new Error('the observable emitted a value');
        },
        (reason: unknown) => reason,
      );
    };

    it('returns an observable that errors with a copy of the body', async () => {
      const reason = await rpcError(new InsufficientScopeError(['a']));
      expect(reason).toEqual({
        statusCode: 403,
        error: 'insufficient_scope',
        error_description:
          'The access token does not grant the scope this resource requires.',
        message:
          'The access token does not grant the scope this resource requires.',
        scope: 'a',
      });
      // A copy: a transport may add fields to it without touching the shared response.
      expect(Object.isFrozen(reason)).toBe(false);
    });

    it('a 500 error says only "retry"', async () => {
      const reason = await rpcError(new AuthServerError('secret reason'));
      expect(reason).toEqual({
        statusCode: 500,
        error: null,
        error_description: null,
        message: INTERNAL_ERROR_MESSAGE,
      });
    });
  });

  describe('GraphQL', () => {
    const graphqlError = (
      error: BearerError,
      options: Partial<AuthModuleOptions> = {},
    ): GraphQLError => {
      const { filter, adapter } = createFilter(options);
      const returned = filter.catch(error, hostOf('graphql'));
      expect(adapter.calls).toEqual([]);
      expect(returned).toBeInstanceOf(GraphQLError);
      return returned as GraphQLError;
    };

    it('returns a GraphQLError with the code, status, description and challenge', () => {
      const error = graphqlError(new InvalidTokenError('expired'));
      expect(error.message).toBe(EXPIRED);
      expect(error.extensions).toEqual({
        code: 'invalid_token',
        status: 401,
        error_description: EXPIRED,
        www_authenticate: CHALLENGE,
      });
    });

    it('carries the scope of a 403', () => {
      const error = graphqlError(new InsufficientScopeError(['a', 'b']));
      expect(error.extensions).toMatchObject({
        code: 'insufficient_scope',
        status: 403,
        scope: 'a b',
      });
    });

    it(`uses "${UNAUTHENTICATED_CODE}" without credentials`, () => {
      const error = graphqlError(new AuthenticationRequiredError());
      expect(error.extensions).toEqual({
        code: UNAUTHENTICATED_CODE,
        status: 401,
        error_description: null,
        www_authenticate:
          'Bearer realm="api", authorization_uri="https://login.example.com/authorize"',
      });
      expect(error.message).toBe('Authentication is required.');
    });

    it('a 500: internal_server_error, no challenge, no reason', () => {
      const error = graphqlError(new AuthServerError('secret reason'));
      expect(error.extensions).toEqual({
        code: 'internal_server_error',
        status: 500,
        error_description: null,
      });
      expect(error.message).toBe(INTERNAL_ERROR_MESSAGE);
      expect(JSON.stringify(error)).not.toContain('secret');
    });

    it('reads the problem format too', () => {
      const error = graphqlError(new InvalidTokenError('expired'), {
        errorFormat: 'problem',
      });
      expect(error.message).toBe(EXPIRED);
      expect(error.extensions).toMatchObject({
        code: 'invalid_token',
        status: 401,
      });
    });

    it('has no stack frames, so a driver in debug mode shows none', () => {
      const error = graphqlError(new InvalidTokenError('expired'));
      expect(error.stack ?? '').not.toMatch(/\n\s+at /);
    });
  });
});
