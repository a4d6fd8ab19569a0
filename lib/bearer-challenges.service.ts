import { Inject, Injectable } from '@nestjs/common';
import { RESOLVED_AUTH_OPTIONS } from './auth.constants.js';
import type { ResolvedAuthOptions } from './auth-options.js';
import { BearerError, type AuthScheme } from './bearer.errors.js';
import { IssuerKeysService } from './keys/issuer-keys.service.js';
import { ProtectedResourceMetadataService } from './protected-resource-metadata.service.js';
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

/** The parameters every challenge of a response carries, whatever its scheme. */
const SHARED_PARAMETERS = [
  'realm',
  'authorization_uri',
  'resource_id',
  'resource_metadata',
] as const;

/**
 * The DPoP challenge: the error first, as RFC 9449 sections 7.1 and 9 show it
 * (`DPoP error="use_dpop_nonce", ...`), then the shared parameters, then `algs`.
 */
function formatDpopChallenge(params: ChallengeParams, algs: string): string {
  const errorParams: ChallengeParams = {};
  const rest: ChallengeParams = {};
  for (const [name, value] of Object.entries(params)) {
    const shared = (SHARED_PARAMETERS as readonly string[]).includes(name);
    (shared ? rest : errorParams)[name] = value;
  }
  rest.algs = algs;
  const head = formatChallenge(errorParams, 'DPoP');
  // The scheme is one token, so what follows its space is the parameter list.
  const tail = formatChallenge(rest, 'DPoP').slice('DPoP '.length);
  return head === 'DPoP' ? `DPoP ${tail}` : `${head}, ${tail}`;
}

/** The sentence of a 500; it claims no RFC 6750 error code. */
export const INTERNAL_ERROR_MESSAGE =
  'An internal error occurred. The request may be retried.';

/** The sentence of a refusal whose own description could not be sent. */
export const REFUSED_MESSAGE = 'The request was refused.';

/** The sentence of a 401 without credentials, which has no `error` (RFC 6750 section 3.1). */
export const AUTHENTICATION_REQUIRED_MESSAGE = 'Authentication is required.';

/**
 * The JSON body of every error the module answers. The keys are always the same:
 * `error` and `error_description` are `null` where the challenge carries none (no
 * credentials, or a 500), and `message` is always a human sentence.
 */
export interface BearerErrorResponseBody {
  statusCode: number;
  error: string | null;
  error_description: string | null;
  message: string;
  /** `insufficient_scope`: the required scopes (space-separated). */
  scope?: string;
  /** RFC 9470 step-up parameters, and Azure AD's `claims`. */
  acr_values?: string;
  max_age?: string;
  claims?: string;
}

/** An RFC 9457 problem document that mirrors the challenge (`errorFormat: 'problem'`). */
export interface BearerProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  error: string | null;
  error_description: string | null;
  scope?: string;
  acr_values?: string;
  max_age?: string;
  claims?: string;
}

/** A rendered refusal: status, challenge, body and its media type. */
export interface BearerErrorResponse {
  readonly status: number;
  /** The `WWW-Authenticate` value; `undefined` for a 500. */
  readonly challenge: string | undefined;
  readonly contentType: string;
  readonly body: Readonly<BearerErrorResponseBody | BearerProblemBody>;
  /** The body serialized once, for transports that write bytes. */
  readonly json: string;
}

/** How long a challenge waits for the issuer's discovery (for `authorization_uri`). */
export const CHALLENGE_DISCOVERY_WAIT_MS = 100;

/** How many of the latest responses {@link BearerChallengesService.render} compares first. */
const RECENT_RESPONSES = 8;

/** A rendered response and what it depended on. */
interface RecentResponse {
  readonly code: string | undefined;
  readonly description: string | undefined;
  readonly status: number;
  readonly scheme: AuthScheme;
  readonly resource: string | undefined;
  readonly extras: Readonly<Record<string, string>>;
  readonly authorizationUri: string | undefined;
  readonly response: BearerErrorResponse;
}

const TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  500: 'Internal Server Error',
};

/**
 * Builds the response to a {@link BearerError}: the `WWW-Authenticate: Bearer` challenge
 * (RFC 6750 section 3) from the module options, and a body that mirrors it. Used by the
 * guard (which sets the header before it throws) and by every transport's renderer.
 */
@Injectable()
export class BearerChallengesService {
  private readonly rendered = new Map<string, BearerErrorResponse>();
  /**
   * The latest responses and everything each depended on, compared by value without
   * building a key: a flood of a few kinds of bad tokens (garbage, unknown key, expired)
   * takes a few comparisons per refusal, and the guard's render and the filter's of one
   * exception hit the same entry.
   */
  private readonly recent: RecentResponse[] = [];
  private nextRecent = 0;

  constructor(
    @Inject(RESOLVED_AUTH_OPTIONS)
    private readonly options: ResolvedAuthOptions,
    private readonly keys: IssuerKeysService,
    private readonly resourceMetadata: ProtectedResourceMetadataService,
  ) {}

  /**
   * The `authorization_uri` for challenges: the option, else the first issuer's
   * discovered `authorization_endpoint` once known.
   */
  authorizationUri(): string | undefined {
    return (
      this.options.authorizationUri ??
      this.keys.discoveryOf(this.options.issuers[0])?.known
        ?.authorization_endpoint
    );
  }

  /** Whether a challenge can be written now, with nothing left to discover. */
  isSettled(): boolean {
    if (this.options.authorizationUri !== undefined) return true;
    const discovery = this.keys.discoveryOf(this.options.issuers[0]);
    return discovery === undefined || discovery.known !== undefined;
  }

  /**
   * Waits for a discovery that a challenge needs, for at most
   * {@link CHALLENGE_DISCOVERY_WAIT_MS}; the challenge then goes out without it.
   */
  async settle(): Promise<void> {
    if (this.isSettled()) return;
    const discovery = this.keys.discoveryOf(this.options.issuers[0]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      discovery?.resolve().catch(() => undefined),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, CHALLENGE_DISCOVERY_WAIT_MS);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }

  /** The challenge parameters for an error; unsafe texts are dropped, never reflected. */
  challengeParams(exception: BearerError): ChallengeParams {
    const { resource } = exception;
    const params: ChallengeParams = {
      realm: this.options.realm,
      authorization_uri: this.authorizationUri(),
      resource_id: resource ?? this.options.resourceId,
      resource_metadata:
        resource === undefined
          ? this.resourceMetadata.metadataUrl
          : this.resourceMetadata.metadataUrlOf(resource),
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

  /**
   * The whole response to an error. Responses are built once per distinct error and
   * configuration state and then reused: one of the latest few is found by comparing what
   * it depended on, any other by its key in the bounded map.
   */
  render(exception: BearerError): BearerErrorResponse {
    const authorizationUri = this.authorizationUri();
    const status = exception.getStatus();
    for (const entry of this.recent) {
      if (
        entry.code === exception.code &&
        entry.description === exception.description &&
        entry.status === status &&
        entry.scheme === exception.scheme &&
        entry.resource === exception.resource &&
        // The errors without extras share one empty record; others match by their key.
        entry.extras === exception.challengeExtras &&
        entry.authorizationUri === authorizationUri
      ) {
        return entry.response;
      }
    }
    const response = this.renderAnew(exception, authorizationUri);
    this.recent[this.nextRecent] = {
      code: exception.code,
      description: exception.description,
      status,
      scheme: exception.scheme,
      resource: exception.resource,
      extras: exception.challengeExtras,
      authorizationUri,
      response,
    };
    this.nextRecent = (this.nextRecent + 1) % RECENT_RESPONSES;
    return response;
  }

  private renderAnew(
    exception: BearerError,
    authorizationUri: string | undefined,
  ): BearerErrorResponse {
    const status = exception.getStatus();
    // Most errors carry no extras: their key needs no serialization.
    const extras =
      Object.keys(exception.challengeExtras).length === 0
        ? ''
        : JSON.stringify(exception.challengeExtras);
    const key = `${status}\u0000${exception.scheme}\u0000${exception.resource ?? ''}\u0000${exception.code ?? ''}\u0000${exception.description ?? ''}\u0000${extras}\u0000${authorizationUri ?? ''}`;
    const cached = this.rendered.get(key);
    if (cached !== undefined) return cached;
    const response = this.build(exception, status);
    // Errors thrown by app code may carry any description: keep the map bounded.
    if (this.rendered.size >= 256) this.rendered.clear();
    this.rendered.set(key, response);
    return response;
  }

  private build(exception: BearerError, status: number): BearerErrorResponse {
    const problem = this.options.errorFormat === 'problem';
    const contentType = problem
      ? 'application/problem+json; charset=utf-8'
      : 'application/json; charset=utf-8';
    if (status >= 500) {
      const body = problem
        ? this.problem(status, null, null, INTERNAL_ERROR_MESSAGE, {})
        : {
            statusCode: status,
            error: null,
            error_description: null,
            message: INTERNAL_ERROR_MESSAGE,
          };
      return Object.freeze({
        status,
        challenge: undefined,
        contentType,
        body: Object.freeze(body),
        json: JSON.stringify(body),
      });
    }
    const params = this.challengeParams(exception);
    const extras: Record<string, string> = {};
    for (const [name, value] of Object.entries(params)) {
      if (
        value !== undefined &&
        !CONFIGURED_PARAMETERS.has(name) &&
        name !== 'error' &&
        name !== 'error_description'
      ) {
        extras[name] = value;
      }
    }
    const error = params.error ?? null;
    const description = params.error_description ?? null;
    // A description dropped as unsafe (app code's own text) leaves a sentence of ours.
    const message =
      description ??
      (error === null ? AUTHENTICATION_REQUIRED_MESSAGE : REFUSED_MESSAGE);
    const body = problem
      ? this.problem(status, error, description, message, extras)
      : {
          statusCode: status,
          error,
          error_description: description,
          message,
          ...extras,
        };
    return Object.freeze({
      status,
      challenge: this.formatChallenges(params, exception.scheme),
      contentType,
      body: Object.freeze(body),
      json: JSON.stringify(body),
    });
  }

  /**
   * The `WWW-Authenticate` value: the Bearer challenge; with DPoP `required`, the DPoP
   * challenge; with DPoP `allowed`, both (Bearer first, as RFC 9449 section 7.2 shows),
   * the error on the one of the scheme the client used. The DPoP challenge lists the
   * accepted proof algorithms in `algs` (RFC 9449 section 7.1).
   */
  private formatChallenges(
    params: ChallengeParams,
    scheme: AuthScheme,
  ): string {
    const { mode, algorithms } = this.options.dpop;
    if (mode === 'off') return formatChallenge(params);
    const algs = algorithms.join(' ');
    if (mode === 'required') return formatDpopChallenge(params, algs);
    const shared: ChallengeParams = {};
    for (const name of SHARED_PARAMETERS) shared[name] = params[name];
    return scheme === 'DPoP'
      ? `${formatChallenge(shared)}, ${formatDpopChallenge(params, algs)}`
      : `${formatChallenge(params)}, ${formatDpopChallenge(shared, algs)}`;
  }

  private problem(
    status: number,
    error: string | null,
    description: string | null,
    detail: string,
    extras: Record<string, string>,
  ): BearerProblemBody {
    return {
      // RFC 9457 section 4.2.1: with about:blank the title is the status phrase.
      type: 'about:blank',
      title: TITLES[status] ?? 'Error',
      status,
      detail,
      error,
      error_description: description,
      ...extras,
    };
  }
}
