import {
  Catch,
  HttpException,
  Logger,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { STATUS_CODES } from 'node:http';
import { BearerError } from '../lib/index.js';

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

/** The app's own error body: a status and its fixed text, nothing from the request. */
export interface AppErrorBody {
  statusCode: number;
  message: string;
}

/**
 * The body for an error with no message of the app's own: the status text for a 4xx, the
 * fixed internal-error sentence for anything else.
 */
export function statusBody(status: number): AppErrorBody {
  if (Number.isInteger(status) && status >= 400 && status < 500) {
    return { statusCode: status, message: STATUS_CODES[status] ?? 'Error' };
  }
  return { statusCode: 500, message: INTERNAL_ERROR_MESSAGE };
}

/**
 * Answers every error that is not a bearer error.
 *
 * The app's own errors keep their fixed messages. Everything else (body parser errors,
 * unknown routes, bugs) gets only its status text, so no library message or stack trace
 * reaches a client, on Express and Fastify alike.
 *
 * Bearer errors belong to the module's `BearerExceptionFilter`: Nest asks global filters
 * in the reverse order of registration, and `AppModule` registers this one before it
 * imports `AuthModule`, so the module's filter is asked first.
 */
@Catch()
export class AppExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('sample-app');

  constructor(private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const response: unknown = host.switchToHttp().getResponse();
    const adapter = this.adapterHost.httpAdapter;
    if (exception instanceof BearerError) {
      // Only if the filter order above ever changes; the e2e specs would then fail on
      // the missing challenge, which only the module's filter can build.
      this.logger.error('a bearer error reached the app filter');
      adapter.reply(response, exception.toBody(), exception.getStatus());
      return;
    }
    if (
      exception instanceof ClientError ||
      exception instanceof TokenEndpointError
    ) {
      adapter.reply(response, exception.getResponse(), exception.getStatus());
      return;
    }
    if (exception instanceof HttpException && exception.getStatus() < 500) {
      const body = statusBody(exception.getStatus());
      adapter.reply(response, body, body.statusCode);
      return;
    }
    this.logger.error(
      exception instanceof Error
        ? (exception.stack ?? exception.message)
        : String(exception),
    );
    adapter.reply(response, statusBody(500), 500);
  }
}
