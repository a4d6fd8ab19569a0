import {
  Catch,
  HttpException,
  Logger,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { STATUS_CODES } from 'node:http';
import { BearerError, BearerExceptionFilter } from '../lib/index.js';

/** An error the sample app answers with its own fixed message (400, 404). */
export class ClientError extends HttpException {
  constructor(status: number, message: string) {
    // No `error` field: it would read like an RFC 6750 error code, and this is not one.
    super({ statusCode: status, message }, status);
  }
}

/** An error of the development issuer's token endpoint (RFC 6749 section 5.2). */
export class TokenEndpointError extends HttpException {
  constructor(description: string) {
    super(
      {
        statusCode: 400,
        error: 'invalid_request',
        error_description: description,
      },
      400,
    );
  }
}

const INTERNAL_ERROR_MESSAGE =
  'An internal error occurred. The request may be retried.';

/**
 * The last word on every response that is not a success.
 *
 * Bearer errors are rendered by the module's own filter, whichever of the two global
 * filters Nest asks first. The app's own errors keep their fixed messages. Everything
 * else (body parser errors, unknown routes, bugs) gets only its status text, so no
 * library message or stack trace reaches a client, on Express and Fastify alike.
 */
@Catch()
export class AppExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('sample-app');

  constructor(
    private readonly bearerFilter: BearerExceptionFilter,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    if (exception instanceof BearerError) {
      this.bearerFilter.catch(exception, host);
      return;
    }
    const response: unknown = host.switchToHttp().getResponse();
    const adapter = this.adapterHost.httpAdapter;
    if (
      exception instanceof ClientError ||
      exception instanceof TokenEndpointError
    ) {
      adapter.reply(response, exception.getResponse(), exception.getStatus());
      return;
    }
    if (exception instanceof HttpException && exception.getStatus() < 500) {
      const status = exception.getStatus();
      adapter.reply(
        response,
        { statusCode: status, message: STATUS_CODES[status] ?? 'Error' },
        status,
      );
      return;
    }
    this.logger.error(
      exception instanceof Error
        ? (exception.stack ?? exception.message)
        : String(exception),
    );
    adapter.reply(
      response,
      { statusCode: 500, message: INTERNAL_ERROR_MESSAGE },
      500,
    );
  }
}
