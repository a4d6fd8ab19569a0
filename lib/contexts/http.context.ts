import type { ArgumentsHost } from '@nestjs/common';
import type { BearerPrincipal } from '../claims.js';
import type { RequestSocket, TokenRequest } from '../token-extractor.js';
import {
  setResponseHeader,
  type ContextCredentials,
  type TransportContext,
} from './transport-context.js';

/** An Express request or a Fastify request: Node's `IncomingMessage` or a wrapper of it. */
export type HttpRequest = TokenRequest & {
  user?: unknown;
  rawHeaders?: string[];
  /** Express: the URL before any router stripped a mount path. */
  originalUrl?: string;
  raw?: { rawHeaders?: string[]; socket?: RequestSocket };
};

/** The credential request of an Express or Fastify request. */
export function toCredentialRequest(request: HttpRequest): TokenRequest {
  return {
    method: request.method,
    url: request.originalUrl ?? request.url,
    headers: request.headers,
    // Fastify wraps Node's request; Express extends it.
    rawHeaders: request.rawHeaders ?? request.raw?.rawHeaders,
    body: request.body,
    socket: request.socket ?? request.raw?.socket,
  };
}

/** HTTP routes on Express and Fastify: the request's headers, body and query. */
export const httpContext: TransportContext = {
  type: 'http',
  readCredentials(host: ArgumentsHost): ContextCredentials {
    const request = host.switchToHttp().getRequest<HttpRequest>();
    return { kind: 'request', request: toCredentialRequest(request) };
  },
  attachPrincipal(host, principal): void {
    host.switchToHttp().getRequest<HttpRequest>().user = principal;
  },
  readPrincipal(host): BearerPrincipal | undefined {
    return host.switchToHttp().getRequest<{ user?: BearerPrincipal }>().user;
  },
  setHeader(host, name, value): void {
    setResponseHeader(host.switchToHttp().getResponse(), name, value);
  },
};
