/**
 * Refusals as GraphQL errors. `graphql` is an optional peer: it is loaded once, when the
 * module starts, only if the app has it (a GraphQL app always does).
 */
import type { ArgumentsHost } from '@nestjs/common';
import { createRequire } from 'node:module';
import type { BearerErrorResponse } from '../bearer-challenges.service.js';
import { answerGraphqlRefusal } from './graphql.context.js';
import { pathToList, resolveInfoOf } from './graphql-operation.js';

/** The code of a refusal without credentials (the challenge then has no `error`). */
export const UNAUTHENTICATED_CODE = 'unauthenticated';

type GraphqlErrorClass = new (
  message: string,
  options: {
    extensions: Record<string, unknown>;
    nodes?: readonly unknown[];
    path?: readonly (string | number)[];
  },
) => Error;

let graphqlErrorClass: GraphqlErrorClass | null | undefined;

function loadGraphqlError(): GraphqlErrorClass | null {
  if (graphqlErrorClass === undefined) {
    try {
      // Resolved from this package up, as an optional peer is: the app's own copy.
      const require = createRequire(import.meta.url);
      graphqlErrorClass = (
        require('graphql') as { GraphQLError: GraphqlErrorClass }
      ).GraphQLError;
    } catch {
      graphqlErrorClass = null;
    }
  }
  return graphqlErrorClass;
}

/**
 * A `GraphQLError` for a refusal: `message` is the fixed description, and `extensions`
 * carry `code` (the RFC 6750 code, or `unauthenticated`), `status`, `error_description`
 * and `www_authenticate` (and `scope` for `insufficient_scope`).
 *
 * Given the resolver's `host`, the error is located at its field, and has no stack at
 * all, so a driver in debug mode (Apollo's `includeStacktraceInErrorResponses`) shows
 * none; and when the field is the operation's only root field, the HTTP response gets
 * the refusal's status and `WWW-Authenticate` header. Without `host`, the stack holds no
 * frame.
 */
export function toGraphqlError(
  response: BearerErrorResponse,
  host?: ArgumentsHost,
): Error {
  const body = response.body as {
    error?: unknown;
    error_description?: unknown;
    message?: unknown;
    detail?: unknown;
  };
  const code =
    typeof body.error === 'string'
      ? body.error
      : response.status >= 500
        ? 'internal_server_error'
        : UNAUTHENTICATED_CODE;
  const description =
    typeof body.error_description === 'string' ? body.error_description : null;
  const message =
    typeof body.message === 'string'
      ? body.message
      : typeof body.detail === 'string'
        ? body.detail
        : 'Authentication failed.';
  const extensions: Record<string, unknown> = {
    code,
    status: response.status,
    error_description: description,
  };
  if (response.challenge !== undefined) {
    extensions.www_authenticate = response.challenge;
  }
  for (const name of ['scope', 'acr_values', 'max_age', 'claims']) {
    const value = (body as Record<string, unknown>)[name];
    if (typeof value === 'string') extensions[name] = value;
  }
  const info = host === undefined ? undefined : resolveInfoOf(host);
  if (host !== undefined) {
    answerGraphqlRefusal(host, response.status, response.challenge);
  }
  const GraphQLError = loadGraphqlError();
  const saved = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    if (GraphQLError === null) {
      const error = Object.assign(new Error(message), { extensions });
      error.stack = `${error.name}: ${message}`;
      return error;
    }
    if (info === undefined) {
      const error = new GraphQLError(message, { extensions });
      error.stack = `${error.name}: ${message}`;
      return error;
    }
    // graphql-js wraps an error without a path in one of its own, which takes a new
    // stack when ours is empty; a located error is reported as it is.
    const error = new GraphQLError(message, {
      extensions,
      nodes: info.fieldNodes,
      path: pathToList(info.path),
    });
    Object.defineProperty(error, 'stack', {
      value: undefined,
      writable: true,
      configurable: true,
    });
    return error;
  } finally {
    Error.stackTraceLimit = saved;
  }
}
