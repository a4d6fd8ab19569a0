/**
 * What a client does next after a resource server's error, per the "Client Action" column
 * of the Azure AD page "Errors from Secured Resources" (RFC 6750 section 3.1 codes plus
 * Azure AD's). Pure data and one pure function, no Nest dependency.
 */
import type { BearerChallenge } from './challenge-verifier.js';

/** The actions a client can take after an error response. */
export type ClientAction =
  /** Get a token and send it: the request carried none the server could use. */
  | 'authenticate'
  /** Fix the request; retrying it unchanged cannot help. */
  | 'fix_request'
  /** Get a new token once; if that fails too, report and retry after random delays. */
  | 'refresh_token_once'
  /** Authorize again asking for the challenge's `scope`. */
  | 'reauthorize_with_scope'
  /** Authorize again with the challenge's `claims` (Azure AD claims challenge). */
  | 'reauthorize_with_claims'
  /** Authenticate the user again as `acr_values` / `max_age` say (RFC 9470). */
  | 'step_up'
  /** Send the request again with a DPoP proof carrying the response's `DPoP-Nonce`. */
  | 'retry_with_dpop_nonce'
  /** Use another account or ask for access to the resource. */
  | 'switch_account_or_request_access'
  /** The service failed; retry the request later. */
  | 'retry_later';

/** The cases of {@link CLIENT_ACTIONS}: the error codes, a 401 without one, and a 500. */
export type ClientActionKey =
  | 'invalid_request'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'insufficient_access'
  | 'insufficient_claims'
  | 'insufficient_user_authentication'
  /** RFC 9449 section 9: the DPoP proof must carry the server's nonce. */
  | 'use_dpop_nonce'
  /** 401 whose challenge has no `error` (RFC 6750 section 3.1: no credentials seen). */
  | 'authentication_required'
  /** 500: "An internal error has occurred at the service. Retry the request." */
  | 'server_error';

/** One row of {@link CLIENT_ACTIONS}. */
export interface ClientActionEntry {
  /** The status that carries this case. */
  readonly status: number;
  /** What the client does. */
  readonly action: ClientAction;
  /** The client action in one sentence. */
  readonly description: string;
}

/**
 * The client action for each error, as data. The rows for `invalid_request`,
 * `invalid_token`, `insufficient_scope`, `insufficient_access` and 500 follow the seed's
 * table; `insufficient_claims` is Azure AD's claims challenge (continuous access
 * evaluation); `insufficient_user_authentication` is RFC 9470 section 3; `use_dpop_nonce`
 * is RFC 9449 section 9.
 */
export const CLIENT_ACTIONS: Readonly<
  Record<ClientActionKey, ClientActionEntry>
> = Object.freeze({
  invalid_request: {
    status: 400,
    action: 'fix_request',
    description:
      'Fix the error and retry the request; this should occur only during development.',
  },
  invalid_token: {
    status: 401,
    action: 'refresh_token_once',
    description:
      'Request a new token from the authorization server. If the new token fails, report the error to the user and retry after random delays.',
  },
  insufficient_scope: {
    status: 403,
    action: 'reauthorize_with_scope',
    description:
      'Send a new authorization request asking for the scope of the challenge, then use the new token.',
  },
  insufficient_access: {
    status: 403,
    action: 'switch_account_or_request_access',
    description:
      'Prompt the user to use a different account or to request permissions to the resource.',
  },
  insufficient_claims: {
    status: 401,
    action: 'reauthorize_with_claims',
    description:
      'Request a new token passing the claims of the challenge, then use the new token.',
  },
  insufficient_user_authentication: {
    status: 401,
    action: 'step_up',
    description:
      'Authenticate the user again as acr_values and max_age require, then use the new token.',
  },
  use_dpop_nonce: {
    status: 401,
    action: 'retry_with_dpop_nonce',
    description:
      'Send the request again, once, with a new DPoP proof carrying the DPoP-Nonce of the response.',
  },
  authentication_required: {
    status: 401,
    action: 'authenticate',
    description: 'Get an access token and send it with the request.',
  },
  server_error: {
    status: 500,
    action: 'retry_later',
    description:
      'An internal error occurred at the service; retry the request after a delay.',
  },
});

/** What to ask the token provider for. */
export interface AccessTokenRequest {
  /** Scopes to request instead of the provider's default ones. */
  scopes?: string[];
  /** Whether a cached token must not be used. */
  forceRefresh: boolean;
  /** Claims to request, as JSON text (Azure AD claims challenge). */
  claims?: string;
  /** Authentication context classes to request (RFC 9470). */
  acrValues?: string[];
  /** Maximum authentication age in seconds (RFC 9470). */
  maxAge?: number;
}

/** The outcome of {@link decideClientAction}. */
export interface ClientDecision {
  /** The row of {@link CLIENT_ACTIONS} that applies, or `undefined` for none. */
  key: ClientActionKey | undefined;
  /** The action of that row, or `'none'` when the response is not a covered error. */
  action: ClientAction | 'none';
  /** Retry at once, after a jittered delay, or not at all. */
  retry: 'now' | 'after_delay' | 'no';
  /** The token to get for the retry; `undefined` keeps the current one. */
  token?: AccessTokenRequest;
  /** Whether to tell the user: the seed's "send an error message to the user". */
  report: boolean;
}

const KNOWN_CODES: ReadonlySet<string> = new Set<ClientActionKey>([
  'invalid_request',
  'invalid_token',
  'insufficient_scope',
  'insufficient_access',
  'insufficient_claims',
  'insufficient_user_authentication',
  'use_dpop_nonce',
]);

function keyFor(
  status: number,
  challenge: BearerChallenge | undefined,
): ClientActionKey | undefined {
  if (status === 500) return 'server_error';
  const code = challenge?.error;
  if (code !== undefined && KNOWN_CODES.has(code)) {
    return code as ClientActionKey;
  }
  // A 401 without a code, or with an extension code, asks for credentials.
  return status === 401 ? 'authentication_required' : undefined;
}

function decide(
  key: ClientActionKey,
  retry: ClientDecision['retry'],
  token?: AccessTokenRequest,
  report = false,
): ClientDecision {
  const decision: ClientDecision = {
    key,
    action: CLIENT_ACTIONS[key].action,
    retry,
    report,
  };
  if (token !== undefined) decision.token = token;
  return decision;
}

/**
 * Decides what a client does after a response, from its status and its verified Bearer
 * challenge (see `verifyChallenge`; never pass an unverified one). `attempt` counts the
 * retries already made for this request, 0 after the first response.
 *
 * - `invalid_token`: get a new token and retry at once; from the second failure on, report
 *   to the user and retry after random delays.
 * - `insufficient_scope`: retry once with a token for the challenge's `scope`; without a
 *   `scope` there is nothing better to ask for, so no retry.
 * - `insufficient_claims` and `insufficient_user_authentication`: retry once with a token
 *   that carries the challenge's `claims`, or `acr_values` / `max_age`.
 * - `use_dpop_nonce`: retry at once with the same token and a proof carrying the
 *   response's `DPoP-Nonce`, whatever `attempt` is; the caller does so once per request.
 * - A 401 without an error code: retry once with a fresh token.
 * - 500: retry after a delay with the same token.
 * - `invalid_request`, `insufficient_access` and anything else: no retry.
 *
 * The caller bounds the number of retries and computes the delays.
 */
export function decideClientAction(
  status: number,
  challenge: BearerChallenge | undefined,
  attempt: number,
): ClientDecision {
  const key = keyFor(status, challenge);
  const first = attempt === 0;
  switch (key) {
    case undefined:
      return { key, action: 'none', retry: 'no', report: false };
    case 'invalid_request':
    case 'insufficient_access':
      return decide(key, 'no');
    case 'server_error':
      return decide(key, 'after_delay');
    case 'use_dpop_nonce':
      return decide(key, 'now');
    case 'invalid_token':
      return first
        ? decide(key, 'now', { forceRefresh: true })
        : decide(key, 'after_delay', { forceRefresh: false }, true);
    case 'authentication_required':
      return first
        ? decide(key, 'now', { forceRefresh: true })
        : decide(key, 'no');
    case 'insufficient_scope': {
      const scopes = challenge?.scope;
      if (!first || scopes === undefined) return decide(key, 'no');
      return decide(key, 'now', { scopes: [...scopes], forceRefresh: true });
    }
    case 'insufficient_claims': {
      const claims = challenge?.claims;
      if (!first || claims === undefined) return decide(key, 'no');
      return decide(key, 'now', { claims, forceRefresh: true });
    }
    case 'insufficient_user_authentication': {
      const acrValues = challenge?.acrValues;
      const maxAge = challenge?.maxAge;
      if (!first || (acrValues === undefined && maxAge === undefined)) {
        return decide(key, 'no');
      }
      const token: AccessTokenRequest = { forceRefresh: true };
      if (acrValues !== undefined) token.acrValues = [...acrValues];
      if (maxAge !== undefined) token.maxAge = maxAge;
      return decide(key, 'now', token);
    }
  }
}
