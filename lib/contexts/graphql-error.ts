/**
 * Refusals as GraphQL errors. `graphql` is an optional peer: it is loaded once, when the
 * module starts, only if the app has it (a GraphQL app always does).
 */
import { createRequire } from 'node:module';
import type { BearerErrorResponse } from '../bearer-challenges.service.js';

/** The code of a refusal without credentials (the challenge then has no `error`). */
export const UNAUTHENTICATED_CODE = 'unauthenticated';

type GraphqlErrorClass = new (
  message: string,
  options: { extensions: Record<string, unknown> },
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
 * and `www_authenticate`. Its stack holds no frame, so a driver in debug mode shows none.
 */
export function toGraphqlError(response: BearerErrorResponse): Error {
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
  const GraphQLError = loadGraphqlError();
  const saved = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    const error =
      GraphQLError === null
        ? Object.assign(new Error(message), { extensions })
        : new GraphQLError(message, { extensions });
    error.stack = `${error.name}: ${message}`;
    return error;
  } finally {
    Error.stackTraceLimit = saved;
  }
}
