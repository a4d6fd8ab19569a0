import {
  Catch,
  Logger,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import { GraphQLError } from 'graphql';
import { BearerError, BearerExceptionFilter } from '../../lib/index.js';

/** The message of any resolver failure that is not the app's own input error. */
export const GRAPHQL_INTERNAL_ERROR_MESSAGE =
  'An internal error occurred. The request may be retried.';

/** The `extensions.code` of the app's own input errors. */
export const BAD_USER_INPUT = 'BAD_USER_INPUT';

/** An input error of the app's own: its message is fixed and safe to show. */
export function badUserInput(message: string): GraphQLError {
  return new GraphQLError(message, { extensions: { code: BAD_USER_INPUT } });
}

/**
 * The sample app's resolvers' filter. Bearer errors go to the module's
 * `BearerExceptionFilter`, which renders them with their status and challenge; the app's
 * own input errors pass as they are; anything else (a bug) is logged and answered with
 * a fixed sentence, so no library text or stack reaches a client.
 *
 * It sits on the resolver classes: the app's global catch-all filter writes HTTP
 * responses, which a resolver has none of.
 */
@Catch()
export class GraphqlExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('sample-app');

  constructor(private readonly bearer: BearerExceptionFilter) {}

  catch(exception: unknown, host: ArgumentsHost): unknown {
    if (exception instanceof BearerError) {
      return this.bearer.catch(exception, host);
    }
    if (
      exception instanceof GraphQLError &&
      exception.extensions.code === BAD_USER_INPUT
    ) {
      return exception;
    }
    this.logger.error(
      exception instanceof Error
        ? (exception.stack ?? exception.message)
        : String(exception),
    );
    return new GraphQLError(GRAPHQL_INTERNAL_ERROR_MESSAGE, {
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    });
  }
}
