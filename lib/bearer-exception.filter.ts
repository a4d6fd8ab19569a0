import {
  Catch,
  Inject,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { RESOLVED_AUTH_OPTIONS } from './auth.constants.js';
import type { ResolvedAuthOptions } from './auth-options.js';
import { BearerError, type BearerErrorBody } from './bearer.errors.js';
import { ProtectedResourceMetadataService } from './protected-resource-metadata.service.js';
import { IssuerKeysService } from './keys/issuer-keys.service.js';
import {
  formatChallenge,
  isSafeChallengeValue,
  type ChallengeParams,
} from './www-authenticate.js';

/** Challenge parameters that come from the options, not from the error. */
const CONFIGURED_PARAMETERS = new Set([
  'realm',
  'authorization_uri',
  'resource_id',
  'resource_metadata',
  'error_uri',
]);

const INTERNAL_ERROR_MESSAGE =
  'An internal error occurred. The request may be retried.';

/**
 * Renders every {@link BearerError}: the status, one `WWW-Authenticate: Bearer` challenge
 * (RFC 6750 section 3) built from the module options, and a JSON body that mirrors it.
 * A 500 carries no challenge and says only that the request may be retried.
 * Registered globally by `AuthModule`; other exceptions pass through to Nest.
 */
@Catch(BearerError)
export class BearerExceptionFilter implements ExceptionFilter<BearerError> {
  constructor(
    @Inject(RESOLVED_AUTH_OPTIONS)
    private readonly options: ResolvedAuthOptions,
    private readonly keys: IssuerKeysService,
    private readonly adapterHost: HttpAdapterHost,
    private readonly resourceMetadata: ProtectedResourceMetadataService,
  ) {}

  catch(exception: BearerError, host: ArgumentsHost): void {
    const response: unknown = host.switchToHttp().getResponse();
    const adapter = this.adapterHost.httpAdapter;
    const status = exception.getStatus();
    if (status >= 500) {
      adapter.reply(
        response,
        { statusCode: status, message: INTERNAL_ERROR_MESSAGE },
        status,
      );
      return;
    }
    const params = this.challengeParams(exception);
    adapter.setHeader(response, 'WWW-Authenticate', formatChallenge(params));
    adapter.reply(response, this.body(status, params), status);
  }

  /** The challenge parameters for an error; unsafe texts are dropped, never reflected. */
  challengeParams(exception: BearerError): ChallengeParams {
    const params: ChallengeParams = {
      realm: this.options.realm,
      authorization_uri: this.keys.authorizationUri(),
      resource_id: this.options.resourceId,
      resource_metadata: this.resourceMetadata.metadataUrl,
    };
    if (exception.code === undefined) return params;
    params.error = exception.code;
    params.error_description = exception.description;
    params.error_uri = this.options.errorUri;
    Object.assign(params, exception.challengeExtras);
    for (const [name, value] of Object.entries(params)) {
      if (value !== undefined && !isSafeChallengeValue(name, value)) {
        params[name] = undefined;
      }
    }
    return params;
  }

  /** The body mirrors the error parameters of the challenge (configuration stays in the header). */
  private body(status: number, params: ChallengeParams): BearerErrorBody {
    const body: Record<string, string | number> = { statusCode: status };
    if (params.error === undefined) {
      body.message = 'Authentication is required.';
      return body as unknown as BearerErrorBody;
    }
    for (const [name, value] of Object.entries(params)) {
      if (value !== undefined && !CONFIGURED_PARAMETERS.has(name))
        body[name] = value;
    }
    return body as unknown as BearerErrorBody;
  }
}
