/**
 * A `fetch` wrapper for calling a protected API: it sends a bearer token (RFC 6750 section
 * 2.1), or a DPoP-bound one with a proof per request (RFC 9449), and follows the resource
 * server's challenges as the Azure AD page "Errors from Secured Resources" says, after
 * checking them with {@link verifyChallenge}. No Nest dependency.
 */
import { setTimeout as delay } from 'node:timers/promises';
import {
  checkVerifyOptions,
  verifyChallenge,
  type BearerChallenge,
  type ChallengeScheme,
  type UntrustedChallengeReason,
  type VerifyOptions,
} from './challenge-verifier.js';
import {
  decideClientAction,
  type AccessTokenRequest,
  type ClientDecision,
} from './client-actions.js';
import {
  DpopSigner,
  type DpopClientOptions,
  type DpopKeyInfo,
} from './dpop-signer.js';

/** What the token provider is asked for. */
export interface GetTokenRequest extends AccessTokenRequest {
  /** The verified challenge that caused this request; absent for the first token. */
  challenge?: BearerChallenge;
  /**
   * With `dpop`: the key the token must be bound to. Ask the authorization server for a
   * token bound to `dpop.jkt` (`dpop_jkt`, RFC 9449 section 10), or send it a proof made
   * with `dpop.createProof` (section 5).
   */
  dpop?: DpopKeyInfo;
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
  /**
   * How challenges are checked; `requestUrl` is the URL of each request. Set `resource` to
   * the API's App ID URI when its challenges carry bare scopes.
   */
  verify: Omit<VerifyOptions, 'requestUrl' | 'schemes'>;
  /**
   * Send DPoP-bound tokens (RFC 9449): `true` for an ES256 key made with WebCrypto on the
   * first request, its private key not extractable; or the algorithm or key pair to use.
   * Each request then carries `Authorization: DPoP <token>` and a new `DPoP` proof, and
   * both `DPoP` and `Bearer` challenges are read.
   * @default false
   */
  dpop?: boolean | DpopClientOptions;
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

// RFC 9449 section 8.1: nonce = 1*NQCHAR.
const NONCE = /^[\x21\x23-\x5B\x5D-\x7E]+$/;

/** The `DPoP-Nonce` of a response, when it has a well-formed one. */
function readNonce(response: Response): string | undefined {
  const nonce = response.headers.get('dpop-nonce');
  return nonce !== null && NONCE.test(nonce) ? nonce : undefined;
}

function withAuthorization(
  input: string | URL | Request,
  init: RequestInit | undefined,
  authorization: string,
  proof?: { method: string; jwt: string },
): RequestInit {
  // fetch() lets init.headers replace a Request's headers, so start from the Request's.
  const headers = new Headers(
    init?.headers ?? (input instanceof Request ? input.headers : undefined),
  );
  headers.set('authorization', authorization);
  if (proof === undefined) return { ...init, headers };
  headers.set('dpop', proof.jwt);
  // The method is sent as the proof's htm names it: fetch() upper-cases only some methods.
  return { ...init, method: proof.method, headers };
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
 * - With `dpop`, every request carries `Authorization: DPoP <token>` and a new proof
 *   (RFC 9449 section 4.2: `typ` `dpop+jwt`, the public `jwk`; `jti`, `htm`, `htu`, `iat`,
 *   `ath`, and the last `DPoP-Nonce` this origin sent, if any). The method is sent
 *   upper-case, as `htm` says. A 401 whose DPoP challenge says `use_dpop_nonce`, with a
 *   `DPoP-Nonce` header, is sent again at once with that nonce, once per call and besides
 *   `maxRetries`. A DPoP challenge whose `algs` leaves out the key's algorithm is not
 *   retried: no new proof could satisfy it.
 *
 * Any other response, and the last one when no retry is left, is returned as it is. The
 * `Authorization` header of the request is replaced by the token.
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
  const dpop = options.dpop ?? false;
  const signer = dpop === false ? undefined : DpopSigner.create(dpop);
  const schemes: ChallengeScheme[] = signer ? ['DPoP', 'Bearer'] : ['Bearer'];
  checkVerifyOptions({ ...verify, schemes });
  // The last DPoP-Nonce of each origin (RFC 9449 section 8): the next proof carries it.
  const nonces = new Map<string, string>();

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
    const method = (
      init?.method ?? (input instanceof Request ? input.method : 'GET')
    ).toUpperCase();
    const replayable = isReplayable(input, init);
    let tokenRequest: GetTokenRequest = { forceRefresh: false };
    let token: string | undefined;
    let delayed = 0;
    // Retries bounded by maxRetries; the one nonce retry is not one of them.
    let retries = 0;
    let nonceRetried = false;

    for (let sent = 0; ; sent++) {
      if (token === undefined) {
        const request: GetTokenRequest = { ...tokenRequest };
        if (signer) request.dpop = await signer.info();
        token = await getToken(request);
        if (typeof token !== 'string' || !B64TOKEN.test(token)) {
          throw new TypeError('getToken did not return an RFC 6750 b64token.');
        }
      }
      const headers = signer
        ? withAuthorization(input, init, `DPoP ${token}`, {
            method,
            jwt: await signer.sign({
              method,
              url: requestUrl,
              accessToken: token,
              nonce: nonces.get(requestUrl.origin),
            }),
          })
        : withAuthorization(input, init, `Bearer ${token}`);
      const response = await doFetch(input, headers);
      const nonce = signer ? readNonce(response) : undefined;
      if (nonce !== undefined) nonces.set(requestUrl.origin, nonce);
      if (!CHALLENGE_STATUSES.has(response.status)) return response;

      let challenge: BearerChallenge | undefined;
      if (response.headers.has('www-authenticate')) {
        const result = verifyChallenge(response, {
          ...verify,
          requestUrl,
          schemes,
        });
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

      const decision = decideClientAction(response.status, challenge, retries);
      if (decision.key === 'use_dpop_nonce') {
        // RFC 9449 section 9: one more try with the nonce just received, same token.
        if (
          signer === undefined ||
          challenge?.scheme !== 'DPoP' ||
          response.status !== 401 ||
          nonce === undefined ||
          nonceRetried ||
          !replayable
        ) {
          return response;
        }
        nonceRetried = true;
        await discard(response);
        onRetry?.({
          attempt: sent + 1,
          status: response.status,
          challenge,
          decision,
          delayMs: 0,
        });
        continue;
      }
      if (
        signer &&
        challenge?.scheme === 'DPoP' &&
        challenge.algs !== undefined &&
        !challenge.algs.includes(signer.algorithm)
      ) {
        return response;
      }
      if (decision.retry === 'no' || retries >= maxRetries || !replayable) {
        return response;
      }
      retries++;
      await discard(response);
      const delayMs = decision.retry === 'after_delay' ? backoff(delayed++) : 0;
      onRetry?.({
        attempt: sent + 1,
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
      token = undefined;
    }
  };
}
