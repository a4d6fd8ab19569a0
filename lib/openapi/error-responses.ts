/**
 * The refusals of a route as OpenAPI responses: 400, 401 and 403 with the schema of the
 * body the module really sends (`BearerErrorResponseBody`, or the RFC 9457 problem) and
 * examples rendered by the module itself, so the document cannot drift from the wire.
 */
import type {
  ReferenceObject,
  ResponseObject,
  SchemaObject,
} from '@nestjs/swagger';
import type { ErrorFormat } from '../auth-options.js';
import type { BearerChallengesService } from '../bearer-challenges.service.js';
import {
  AuthenticationRequiredError,
  InsufficientAccessError,
  InsufficientScopeError,
  InsufficientUserAuthenticationError,
  InvalidRequestError,
  InvalidTokenError,
  type BearerError,
} from '../bearer.errors.js';
import type { RouteRequirements } from '../route-requirements.js';

/** The component schema of the JSON error body (`errorFormat: 'json'`). */
export const ERROR_SCHEMA_NAME = 'BearerErrorResponse';

/** The component schema of the problem body (`errorFormat: 'problem'`). */
export const PROBLEM_SCHEMA_NAME = 'BearerProblem';

/** A string that may be `null`, spelled as the document's OpenAPI version wants it. */
function nullableString(oas31: boolean, description: string): SchemaObject {
  return oas31
    ? { type: ['string', 'null'], description }
    : { type: 'string', nullable: true, description };
}

/** The body members that only some refusals carry. */
function extraProperties(): Record<string, SchemaObject> {
  return {
    scope: {
      type: 'string',
      description:
        '`insufficient_scope`: every scope the route requires, space-separated (RFC 6750 section 3).',
    },
    acr_values: {
      type: 'string',
      description:
        '`insufficient_user_authentication`: acceptable `acr` values, space-separated (RFC 9470).',
    },
    max_age: {
      type: 'string',
      description:
        '`insufficient_user_authentication`: the longest time since the user authenticated, in seconds (RFC 9470).',
    },
    claims: {
      type: 'string',
      description:
        '`insufficient_claims`: the claims request, base64-encoded (Azure AD claims challenge).',
    },
  };
}

/** The schema of the body the module sends with a refusal, in the configured format. */
export function buildErrorSchema(
  format: ErrorFormat,
  oas31: boolean,
): SchemaObject {
  const error = nullableString(
    oas31,
    'The error code of the challenge (RFC 6750 section 3.1); `null` when the request carried no credentials.',
  );
  const description = nullableString(
    oas31,
    'A fixed human-readable sentence; `null` when the request carried no credentials.',
  );
  if (format === 'problem') {
    return {
      type: 'object',
      description:
        'An RFC 9457 problem document (`application/problem+json`) that mirrors the `WWW-Authenticate` challenge.',
      required: [
        'type',
        'title',
        'status',
        'detail',
        'error',
        'error_description',
      ],
      properties: {
        type: { type: 'string', example: 'about:blank' },
        title: { type: 'string', description: 'The HTTP status phrase.' },
        status: { type: 'integer', description: 'The HTTP status code.' },
        detail: { type: 'string', description: 'A human-readable sentence.' },
        error,
        error_description: description,
        ...extraProperties(),
      },
    };
  }
  return {
    type: 'object',
    description:
      'The body of every refusal; it mirrors the `WWW-Authenticate` challenge.',
    required: ['statusCode', 'error', 'error_description', 'message'],
    properties: {
      statusCode: { type: 'integer', description: 'The HTTP status code.' },
      error,
      error_description: description,
      message: {
        type: 'string',
        description: 'A human-readable sentence, always present.',
      },
      ...extraProperties(),
    },
  };
}

/** The `WWW-Authenticate` header every 400, 401 and 403 of the module carries. */
const CHALLENGE_HEADER = {
  'WWW-Authenticate': {
    description:
      'The `Bearer` challenge (RFC 6750 section 3), and the `DPoP` one (with `algs`, RFC 9449 section 7.1) when DPoP is on: `error`, `error_description`, `scope` and the configured `realm`, `authorization_uri`, `resource_id`, `resource_metadata`.',
    schema: { type: 'string' },
  },
};

/** What a response needs from the document and the module. */
export interface RefusalContext {
  readonly challenges: BearerChallengesService;
  readonly schema: ReferenceObject;
  readonly mediaType: string;
}

function response(
  context: RefusalContext,
  description: string,
  examples: Readonly<Record<string, BearerError>>,
): ResponseObject {
  return {
    description,
    headers: CHALLENGE_HEADER,
    content: {
      [context.mediaType]: {
        schema: context.schema,
        examples: Object.fromEntries(
          Object.entries(examples).map(([name, error]) => [
            name,
            { value: { ...context.challenges.render(error).body } },
          ]),
        ),
      },
    },
  };
}

function quoted(names: readonly string[]): string {
  return names.map((name) => `\`${name}\``).join(', ');
}

/**
 * The refusals a route can answer, by status. A public route has none; an optional one
 * refuses only a token that was sent and is bad; 403 exists only where scopes, roles or
 * app roles apply. Refusals by the app's own code (an ownership rule, say) are the app's
 * to document.
 */
export function buildRefusalResponses(
  requirements: RouteRequirements,
  context: RefusalContext,
): Record<string, ResponseObject> {
  if (requirements.access === 'public') return {};
  const responses: Record<string, ResponseObject> = {
    '400': response(
      context,
      'Bad Request (`invalid_request`): the credentials are malformed, for example a token sent in more than one place (RFC 6750 section 3.1).',
      { invalid_request: new InvalidRequestError() },
    ),
  };
  if (requirements.access === 'optional') {
    responses['401'] = response(
      context,
      'Unauthorized (`invalid_token`): a token was sent and it is invalid, expired or not meant for this API. Without a token the route answers as usual.',
      { invalid_token: new InvalidTokenError('expired') },
    );
    return responses;
  }
  const unauthorized: Record<string, BearerError> = {
    missing_token: new AuthenticationRequiredError(),
    invalid_token: new InvalidTokenError('expired'),
  };
  let description =
    'Unauthorized: no access token (no `error`), or one that is invalid, expired or not meant for this API (`invalid_token`, RFC 6750 section 3.1).';
  if (requirements.stepUp !== undefined) {
    unauthorized.insufficient_user_authentication =
      new InsufficientUserAuthenticationError(requirements.stepUp);
    description +=
      ' `insufficient_user_authentication` (RFC 9470) when the user authenticated too weakly or too long ago; the challenge names the `acr_values` or `max_age` required.';
  }
  responses['401'] = response(context, description, unauthorized);
  const forbidden: Record<string, BearerError> = {};
  const reasons: string[] = [];
  if (requirements.scopes.length > 0) {
    forbidden.insufficient_scope = new InsufficientScopeError(
      requirements.scopes,
    );
    reasons.push(
      `the token does not grant every scope of ${quoted(requirements.scopes)} (\`insufficient_scope\`; \`scope\` lists them)`,
    );
  }
  if (requirements.roles.length > 0) {
    forbidden.insufficient_access = new InsufficientAccessError();
    reasons.push(
      `the token does not carry every app role of ${quoted(requirements.roles)} (\`insufficient_access\`)`,
    );
  }
  if (requirements.appRoles.length > 0) {
    forbidden.insufficient_access = new InsufficientAccessError();
    reasons.push(
      `the token is not an application token (client credentials) carrying every app role of ${quoted(requirements.appRoles)} (\`insufficient_access\`)`,
    );
  }
  if (reasons.length > 0) {
    responses['403'] = response(
      context,
      `Forbidden: ${reasons.join('; or ')}.`,
      forbidden,
    );
  }
  return responses;
}
