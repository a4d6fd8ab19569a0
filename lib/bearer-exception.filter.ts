import {
  Catch,
  Injectable,
  Logger,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { throwError, type Observable } from 'rxjs';
import {
  BearerChallengesService,
  type BearerErrorResponse,
} from './bearer-challenges.service.js';
import { BearerError } from './bearer.errors.js';
import { toGraphqlError } from './contexts/graphql-error.js';
import { httpResponseOf } from './contexts/http.context.js';
import { toRpcError } from './contexts/rpc.context.js';

/** The WebSocket event that carries a refusal: `{"event":"error","data":{...}}`. */
export const WS_ERROR_EVENT = 'error';

/**
 * Renders every {@link BearerError}, on every transport:
 *
 * - HTTP: the status, one `WWW-Authenticate: Bearer` challenge (RFC 6750 section 3) and a
 *   JSON body that mirrors it; a 500 carries no challenge and says only "retry".
 * - GraphQL: a `GraphQLError` whose `extensions` carry `code`, `status`,
 *   `error_description` and `www_authenticate`, with no stack trace.
 * - WebSocket: a `{"event":"error","data":{...}}` message; the socket stays open.
 * - RPC: an error reply with the body; on gRPC also the matching status code and the
 *   challenge as `www-authenticate` trailing metadata.
 *
 * Registered globally by `AuthModule`; other exceptions pass through to Nest. An app's own
 * filter can delegate to it (`catch()`), or extend it.
 */
@Catch(BearerError)
@Injectable()
export class BearerExceptionFilter implements ExceptionFilter<BearerError> {
  private readonly logger = new Logger('nestjs-bearer');

  constructor(
    protected readonly challenges: BearerChallengesService,
    protected readonly adapterHost: HttpAdapterHost,
  ) {}

  catch(exception: BearerError, host: ArgumentsHost): unknown {
    const response = this.challenges.render(exception);
    if (response.status >= 500) this.logServerFault(exception);
    switch (host.getType<string>()) {
      case 'graphql':
        return toGraphqlError(response, host);
      case 'ws':
        this.sendWs(host.switchToWs().getClient(), response);
        return undefined;
      case 'rpc':
        return this.rpcError(host, response);
      default:
        this.reply(httpResponseOf(host), response, exception.responseHeaders);
        return undefined;
    }
  }

  /** Writes an error response on the HTTP adapter (Express or Fastify). */
  protected reply(
    httpResponse: unknown,
    response: BearerErrorResponse,
    extraHeaders: Readonly<Record<string, string>> = {},
  ): void {
    const node = (httpResponse ?? {}) as Partial<ServerResponse>;
    // Express's response is Node's: status, headers and the body built once, in one write.
    // Fastify's reply (and anything else) goes through the adapter.
    if (
      typeof node.writeHead === 'function' &&
      typeof node.end === 'function' &&
      node.headersSent === false
    ) {
      const headers: OutgoingHttpHeaders = {
        'content-type': response.contentType,
        'content-length': Buffer.byteLength(response.json),
      };
      if (response.challenge !== undefined) {
        headers['www-authenticate'] = response.challenge;
      }
      for (const name in extraHeaders) headers[name] = extraHeaders[name];
      node.writeHead(response.status, headers).end(response.json);
      return;
    }
    const adapter = this.adapterHost.httpAdapter;
    if (response.challenge !== undefined) {
      adapter.setHeader(httpResponse, 'WWW-Authenticate', response.challenge);
    }
    for (const name in extraHeaders) {
      adapter.setHeader(httpResponse, name, extraHeaders[name]);
    }
    adapter.setHeader(httpResponse, 'Content-Type', response.contentType);
    adapter.reply(httpResponse, response.json, response.status);
  }

  private sendWs(client: unknown, response: BearerErrorResponse): void {
    const socket = client as {
      readyState?: unknown;
      send?: (data: string) => void;
      emit?: (event: string, data: unknown) => void;
    };
    // A `ws` socket sends; a Socket.IO socket emits (its own framing).
    if (
      typeof socket.readyState === 'number' &&
      typeof socket.send === 'function'
    ) {
      if (socket.readyState === 1) {
        socket.send(
          JSON.stringify({ event: WS_ERROR_EVENT, data: response.body }),
        );
      }
    } else if (typeof socket.emit === 'function') {
      socket.emit('exception', response.body);
    }
  }

  private rpcError(
    host: ArgumentsHost,
    response: BearerErrorResponse,
  ): Observable<never> {
    return throwError(() => toRpcError(host, response));
  }

  private logServerFault(exception: BearerError): void {
    const reason = (exception as { internalReason?: unknown }).internalReason;
    this.logger.error(
      `Authentication could not be decided${typeof reason === 'string' ? ` (${reason})` : ''}.`,
    );
  }
}
