/**
 * A `fetch` wrapper for calling a protected API: it sends a bearer token (RFC 6750 section
 * 2.1) and follows the resource server's challenges as the Azure AD page "Errors from
 * Secured Resources" says, after checking them with {@link verifyChallenge}. No Nest
 * dependency.
 */
import { setTimeout as delay } from 'node:timers/promises';
import {
  verifyChallenge,
  type BearerChallenge,
  type UntrustedChallengeReason,
  type VerifyOptions,
} from './challenge-verifier.js';
import {
  decideClientAction,
  type AccessTokenRequest,
  type ClientDecision,
} from './client-actions.js';

/** What the token provider is asked for. */
export interface GetTokenRequest extends AccessTokenRequest {
  /** The verified challenge that caused this request; absent for the first token. */
  challenge?: BearerChallenge;
}

/** Reported before each retry, for logging and for telling the user. */
export interface RetryEvent {
  /** The retry about to be made: 1 for the first retry. */
  attempt: number;
  /** The status of the response that caused it. */
  status: number;
  /** The verified challenge of that response, if it had one. */
  challenge: BearerChallenge | undefined;
  /** What was decided; `decision.report` is the seed's "send an error message to the user". */
  decision: ClientDecision;
  /** The back-off before the retry, 0 for an immediate retry. */
  delayMs: number;
}

/** Options of {@link createBearerFetch}. */
export interface BearerFetchOptions {
  /**
   * Returns an access token. It is called with `forceRefresh: false` before the first
   * attempt, and with the scopes, claims or step-up parameters of a verified challenge
   * before a retry. Only verified challenges ever reach it.
   */
  getToken: (request: GetTokenRequest) => Promise<string>;
  /** How challenges are checked; `requestUrl` is the URL of each request. */
  verify: Omit<VerifyOptions, 'requestUrl'>;
  /**
   * The most retries of one request.
   * @default 2
   */
  maxRetries?: number;
  /**
   * The first back-off in milliseconds; it doubles with each delayed retry.
   * @default 500
   */
  baseDelayMs?: number;
  /**
   * The largest back-off in milliseconds; at least `baseDelayMs`.
   * @default 8000, or `baseDelayMs` when that is larger
   */
  maxDelayMs?: number;
  /**
   * The `fetch` to call.
   * @default globalThis.fetch
   */
  fetch?: typeof fetch;
  /**
   * A source of numbers in [0, 1) for the jitter.
   * @default Math.random
   */
  random?: () => number;
  /**
   * Waits `ms` milliseconds; should reject when `signal` aborts.
   * @default setTimeout of node:timers/promises
   */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Called before each retry. */
  onRetry?: (event: RetryEvent) => void;
}

/** A `fetch`-compatible function. */
export type BearerFetch = (
  input: string | URL | Request,
  init?: RequestInit,
) => Promise<Response>;

/**
 * Thrown by a {@link createBearerFetch} function when a response carries a challenge that
 * {@link verifyChallenge} does not trust. Nothing in that challenge was used: no token
 * was requested for its authority, resource or scopes.
 */
export class UntrustedChallengeError extends Error {
  /** Why the challenge is not trusted. */
  readonly reason: UntrustedChallengeReason;
  /** The status of the response that carried it. */
  readonly status: number;
  /** The URL that was called. */
  readonly url: string;

  constructor(
    reason: UntrustedChallengeReason,
    message: string,
    status: number,
    url: string,
  ) {
    super(message);
    this.name = 'UntrustedChallengeError';
    this.reason = reason;
    this.status = status;
    this.url = url;
  }
}

// The statuses whose challenges the seed gives a client action for, besides 400 (fix the
// request), which no retry can help.
const CHALLENGE_STATUSES = new Set([401, 403, 500]);
// RFC 6750 section 2.1 b64token: a token with other characters would corrupt the header.
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

function requireInteger(name: string, value: number, min: number): number {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new TypeError(`${name} must be an integer of at least ${min}.`);
  }
  return value;
}

/** Whether the request can be sent again: its body can be read more than once. */
function isReplayable(
  input: string | URL | Request,
  init?: RequestInit,
): boolean {
  const body = init?.body;
  if (body === undefined)
    return !(input instanceof Request) || input.body === null;
  return (
    body === null ||
    typeof body === 'string' ||
    body instanceof URLSearchParams ||
    body instanceof ArrayBuffer ||
    ArrayBuffer.isView(body) ||
    body instanceof Blob
  );
}

function withAuthorization(
  input: string | URL | Request,
  init: RequestInit | undefined,
  token: string,
): RequestInit {
  // fetch() lets init.headers replace a Request's headers, so start from the Request's.
  const headers = new Headers(
    init?.headers ?? (input instanceof Request ? input.headers : undefined),
  );
  headers.set('authorization', `Bearer ${token}`);
  return { ...init, headers };
}

async function discard(response: Response): Promise<void> {
  try {
    await response.body?.cancel();
  } catch {
    // The body is not needed; a failure to release it changes nothing for the caller.
  }
}

/**
 * Creates a `fetch`-compatible function that calls a protected API with a bearer token
 * from `getToken` and follows the API's challenges (Azure AD "Errors from Secured
 * Resources", RFC 6750 section 3):
 *
 * - Every 401, 403 or 500 response with a `WWW-Authenticate` header is checked with
 *   {@link verifyChallenge} against the URL called. An untrusted challenge (a foreign
 *   `authorization_uri`, a `resource_id` or scope of another resource, a malformed header)
 *   throws {@link UntrustedChallengeError}; it is never acted on.
 * - Otherwise {@link decideClientAction} decides: `invalid_token` gets a new token once,
 *   then retries after random delays; `insufficient_scope` asks `getToken` for the
 *   challenge's scopes; a 500 retries after a delay; `invalid_request` and
 *   `insufficient_access` are returned as they are.
 * - At most `maxRetries` retries. A delayed retry waits a jittered back-off: with
 *   `cap = min(maxDelayMs, baseDelayMs * 2 ** n)` for the n-th delayed retry (from 0), the
 *   wait is in `[cap / 2, cap)`.
 * - Only requests whose body can be sent again are retried: no body, or a `string`,
 *   `URLSearchParams`, `ArrayBuffer`, typed array (`Buffer`), or `Blob` body. A stream,
 *   `FormData` or iterable body, or a `Request` with a body, is sent once and its
 *   response returned.
 *
 * Any other response, and the last one when no retry is left, is returned as it is. The
 * `Authorization` header of the request is replaced by the bearer token.
 */
export function createBearerFetch(options: BearerFetchOptions): BearerFetch {
  const {
    getToken,
    verify,
    fetch: doFetch = globalThis.fetch,
    random = Math.random,
    sleep = (ms: number, signal?: AbortSignal) =>
      delay(ms, undefined, { signal }),
    onRetry,
  } = options;
  const maxRetries = requireInteger('maxRetries', options.maxRetries ?? 2, 0);
  const baseDelayMs = requireInteger(
    'baseDelayMs',
    options.baseDelayMs ?? 500,
    1,
  );
  const maxDelayMs = requireInteger(
    'maxDelayMs',
    options.maxDelayMs ?? Math.max(8000, baseDelayMs),
    baseDelayMs,
  );

  const backoff = (n: number): number => {
    const cap = Math.min(maxDelayMs, baseDelayMs * 2 ** n);
    // "Equal jitter": clients that failed together spread out, yet none retries at once.
    // A random source outside [0, 1) is clamped so that the bound holds regardless.
    // The min() also keeps floating-point rounding from reaching the cap itself.
    const r = Math.min(Math.max(random(), 0), 1);
    return Math.min(cap - 1, Math.floor(cap / 2 + (cap / 2) * r));
  };

  return async function bearerFetch(input, init) {
    const url = input instanceof Request ? input.url : String(input);
    const requestUrl = new URL(url);
    const replayable = isReplayable(input, init);
    let tokenRequest: GetTokenRequest = { forceRefresh: false };
    let delayed = 0;

    for (let attempt = 0; ; attempt++) {
      const token = await getToken({ ...tokenRequest });
      if (typeof token !== 'string' || !B64TOKEN.test(token)) {
        throw new TypeError('getToken did not return an RFC 6750 b64token.');
      }
      const response = await doFetch(
        input,
        withAuthorization(input, init, token),
      );
      if (!CHALLENGE_STATUSES.has(response.status)) return response;

      let challenge: BearerChallenge | undefined;
      if (response.headers.has('www-authenticate')) {
        const result = verifyChallenge(response, { ...verify, requestUrl });
        if (result.trusted) {
          challenge = result.challenge;
        } else if (result.reason !== 'no_bearer_challenge') {
          await discard(response);
          throw new UntrustedChallengeError(
            result.reason,
            result.message,
            response.status,
            url,
          );
        }
      }

      const decision = decideClientAction(response.status, challenge, attempt);
      if (decision.retry === 'no' || attempt >= maxRetries || !replayable) {
        return response;
      }
      await discard(response);
      const delayMs = decision.retry === 'after_delay' ? backoff(delayed++) : 0;
      onRetry?.({
        attempt: attempt + 1,
        status: response.status,
        challenge,
        decision,
        delayMs,
      });
      if (decision.retry === 'after_delay') {
        await sleep(delayMs, init?.signal ?? undefined);
      }
      // A retry without a new token request reuses the scopes asked for so far, cached;
      // the challenge passed on is always the one of the response just received.
      const { challenge: _previous, ...kept } = tokenRequest;
      tokenRequest = { ...kept, forceRefresh: false, ...decision.token };
      if (challenge !== undefined) tokenRequest.challenge = challenge;
    }
  };
}
