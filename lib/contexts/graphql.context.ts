import type { ArgumentsHost } from '@nestjs/common';
import { AuthServerError } from '../bearer.errors.js';
import type { BearerPrincipal } from '../claims.js';
import { isSoleRootField } from './graphql-operation.js';
import { holdResponseStatus, nodeResponseOf } from './graphql-response.js';
import { toCredentialRequest, type HttpRequest } from './http.context.js';
import {
  appendVary,
  setResponseHeader,
  type ContextCredentials,
  type TransportContext,
} from './transport-context.js';

/**
 * The GraphQL context object (the third resolver argument). `@nestjs/graphql` puts the
 * HTTP request in `req` for Apollo and Mercurius alike; Mercurius adds Fastify's `reply`,
 * and an Express request links its response as `res`.
 */
interface GraphqlContextValue {
  req?: HttpRequest & { res?: unknown };
  reply?: unknown;
}

function contextValue(host: ArgumentsHost): GraphqlContextValue | undefined {
  const value: unknown = host.getArgByIndex(2);
  return typeof value === 'object' && value !== null ? value : undefined;
}

function requestOf(host: ArgumentsHost): HttpRequest {
  const request = contextValue(host)?.req;
  if (typeof request !== 'object' || request === null || !request.headers) {
    // Fail closed: a resolver whose context has no request cannot be vouched for.
    throw new AuthServerError(
      'the GraphQL context has no "req" with headers (a custom context must keep it)',
    );
  }
  return request;
}

/** The HTTP response that carries the operation: Mercurius's reply or Express's response. */
function responseOf(host: ArgumentsHost): unknown {
  const context = contextValue(host);
  return context?.reply ?? context?.req?.res;
}

/**
 * GraphQL resolvers (Apollo on Express, Mercurius on Fastify): the credentials of the HTTP
 * request that carries the operation. Read without importing `@nestjs/graphql`, which
 * stays an optional peer.
 */
export const graphqlContext: TransportContext = {
  type: 'graphql',
  readCredentials(host): ContextCredentials {
    return { kind: 'request', request: toCredentialRequest(requestOf(host)) };
  },
  attachPrincipal(host, principal): void {
    requestOf(host).user = principal;
  },
  readPrincipal(host): BearerPrincipal | undefined {
    return contextValue(host)?.req?.user as BearerPrincipal | undefined;
  },
  setHeader(host, name, value): void {
    // A challenge speaks for the whole response: only when this field is all of it.
    if (name.toLowerCase() === 'www-authenticate' && !isSoleRootField(host)) {
      return;
    }
    setResponseHeader(responseOf(host), name, value);
  },
  varyOnCredentials(host): void {
    // An @OptionalAuth() field's answer differs by caller, whatever the other fields.
    appendVary(responseOf(host), 'Authorization');
  },
};

/**
 * Gives the HTTP response of an operation whose only root field is refused the status
 * and challenge of the REST route with the same protection. An operation with several
 * root fields keeps 200, with the refusal in its field's error.
 */
export function answerGraphqlRefusal(
  host: ArgumentsHost,
  status: number,
  challenge: string | undefined,
): void {
  if (!isSoleRootField(host)) return;
  if (challenge !== undefined) {
    graphqlContext.setHeader(host, 'WWW-Authenticate', challenge);
  }
  const response = nodeResponseOf(contextValue(host));
  if (response !== undefined) holdResponseStatus(response, status);
}
