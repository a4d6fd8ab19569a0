import { HttpException, HttpStatus } from '@nestjs/common';

/**
 * The error codes: RFC 6750 section 3.1, Azure AD's `insufficient_access` and
 * `insufficient_claims`, and RFC 9470's `insufficient_user_authentication`.
 */
export type BearerErrorCode =
  | 'invalid_request'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'insufficient_access'
  | 'insufficient_user_authentication'
  | 'insufficient_claims'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce';

/** The authentication schemes of RFC 6750 (`Bearer`) and RFC 9449 (`DPoP`). */
export type AuthScheme = 'Bearer' | 'DPoP';

/** The JSON body of a bearer error response; it mirrors the challenge. */
export interface BearerErrorBody {
  statusCode: number;
  error?: BearerErrorCode;
  error_description?: string;
  scope?: string;
  acr_values?: string;
  max_age?: string;
  claims?: string;
  message?: string;
}

/** The empty record of an error without extra headers or challenge parameters. */
const EMPTY: Readonly<Record<string, string>> = Object.freeze({});
/** {@link BearerError.initMessage}'s words per error class. */
const CLASS_MESSAGES = new WeakMap<object, string>();

// A client error's stack trace is never used, and capturing one costs more than the rest
// of a 401; these two bracket `super()` so that 4xx errors are built without one.
let savedStackTraceLimit: number | undefined;
function suspendStackTrace<T>(value: T, keep: boolean): T {
  if (!keep) {
    savedStackTraceLimit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
  }
  return value;
}
function resumeStackTrace(): void {
  if (savedStackTraceLimit !== undefined) {
    Error.stackTraceLimit = savedStackTraceLimit;
    savedStackTraceLimit = undefined;
  }
}

/**
 * Base class of every authentication and authorization failure the module answers.
 *
 * It extends Nest's `HttpException`, so the status is right even where the module's
 * exception filter is not in play. The filter adds the `WWW-Authenticate` challenge.
 */
export abstract class BearerError extends HttpException {
  /** The RFC 6750 error code, or `undefined` when the challenge carries none. */
  readonly code: BearerErrorCode | undefined;
  /** A fixed human sentence written by this module; never a library's message. */
  readonly description: string | undefined;
  /**
   * Challenge parameters beyond `error` and `error_description`, such as `scope`
   * (RFC 6750) or `acr_values` and `max_age` (RFC 9470); the body mirrors them.
   */
  readonly challengeExtras: Readonly<Record<string, string>>;
  /**
   * The scheme whose challenge carries the error: the one the client used (the
   * authenticator sets it), or `DPoP` for a proof's faults. With DPoP off, always `Bearer`.
   */
  scheme: AuthScheme = 'Bearer';
  /** The route's own resource (`@Resource()`), whose challenge parameters it gets. */
  resource: string | undefined = undefined;
  /** Response headers the refusal needs besides the challenge (`DPoP-Nonce`). */
  readonly responseHeaders: Readonly<Record<string, string>> = EMPTY;

  protected constructor(
    status: number,
    code: BearerErrorCode | undefined,
    description: string | undefined,
    extra?: Partial<BearerErrorBody>,
  ) {
    const body: BearerErrorBody = { statusCode: status };
    if (code !== undefined) body.error = code;
    if (description !== undefined) body.error_description = description;
    let extras = EMPTY;
    if (extra !== undefined) {
      Object.assign(body, extra);
      const own: Record<string, string> = {};
      for (const [name, value] of Object.entries(extra)) {
        if (name !== 'message' && typeof value === 'string') own[name] = value;
      }
      extras = Object.freeze(own);
    }
    super(suspendStackTrace(body, status >= 500), status);
    resumeStackTrace();
    this.code = code;
    this.description = description;
    this.challengeExtras = extras;
  }

  /**
   * Nest's message (the body's `message`, else the class name in words, "Invalid Token
   * Error"), with the words worked out once per class instead of by a regex per error.
   */
  override initMessage(): void {
    const { message } = this.getResponse() as BearerErrorBody;
    if (typeof message === 'string') {
      this.message = message;
      return;
    }
    const type = this.constructor;
    let words = CLASS_MESSAGES.get(type);
    if (words === undefined) {
      words = type.name.match(/[A-Z][a-z]+|[0-9]+/g)?.join(' ') ?? 'Error';
      CLASS_MESSAGES.set(type, words);
    }
    this.message = words;
  }

  /** The JSON body sent to the client. */
  toBody(): BearerErrorBody {
    return { ...(this.getResponse() as BearerErrorBody) };
  }
}

/**
 * No credentials at all: 401 with a challenge that carries no `error` (RFC 6750 section 3.1).
 */
export class AuthenticationRequiredError extends BearerError {
  constructor() {
    super(HttpStatus.UNAUTHORIZED, undefined, undefined, {
      message: 'Authentication is required.',
    });
  }
}

/** 400 `invalid_request`: the request is not well-formed. */
export class InvalidRequestError extends BearerError {
  constructor(description = 'The request is not well-formed.') {
    super(HttpStatus.BAD_REQUEST, 'invalid_request', description);
  }
}

/** Why a token was refused; each reason has one fixed description. */
export type InvalidTokenReason =
  | 'missing'
  | 'expired'
  | 'malformed'
  | 'too_long'
  | 'algorithm'
  | 'type'
  | 'unsupported_header'
  | 'unknown_key'
  | 'signature'
  | 'issuer'
  | 'audience'
  | 'not_yet_valid'
  | 'issued_in_future'
  | 'claims'
  | 'revoked'
  | 'dpop_bound'
  | 'not_dpop_bound'
  | 'certificate_bound'
  | 'not_sender_constrained'
  | 'unsupported_binding'
  | 'invalid';

const INVALID_TOKEN_DESCRIPTIONS: Record<InvalidTokenReason, string> = {
  missing: 'The access token is missing.',
  expired: 'The access token is expired.',
  malformed: 'The access token is malformed.',
  too_long: 'The access token is too long.',
  algorithm:
    'The access token is signed with an algorithm that is not accepted.',
  type: 'The access token has a type that is not accepted.',
  unsupported_header:
    'The access token uses a header parameter that is not supported.',
  unknown_key: 'The access token is signed with an unknown key.',
  signature: 'The access token signature is invalid.',
  issuer: 'The access token was issued by an untrusted issuer.',
  audience: 'The access token is not intended for this resource.',
  not_yet_valid: 'The access token is not yet valid.',
  issued_in_future: 'The access token was issued in the future.',
  claims: 'The access token claims are invalid.',
  revoked: 'The access token is revoked.',
  dpop_bound:
    'The access token is bound to a DPoP key and must be sent with the DPoP scheme.',
  not_dpop_bound:
    'The access token is not bound to a DPoP key and cannot be sent with the DPoP scheme.',
  certificate_bound:
    'The access token is bound to a client certificate the request does not present.',
  not_sender_constrained:
    'The access token is not sender-constrained; this resource accepts only DPoP-bound or certificate-bound tokens.',
  unsupported_binding:
    'The access token is bound to a key by a confirmation method this resource does not support.',
  invalid: 'The access token is invalid.',
};

/** 401 `invalid_token`: the token is missing, malformed, expired, revoked or otherwise invalid. */
export class InvalidTokenError extends BearerError {
  /** The machine-readable reason; it is logged, and its fixed sentence is the description. */
  readonly reason: InvalidTokenReason;

  constructor(reason: InvalidTokenReason = 'invalid') {
    super(
      HttpStatus.UNAUTHORIZED,
      'invalid_token',
      INVALID_TOKEN_DESCRIPTIONS[reason],
    );
    this.reason = reason;
  }
}

/**
 * 403 `insufficient_scope`: the token lacks a scope the route requires.
 * The challenge carries the required scopes in `scope` (RFC 6750 section 3.1).
 */
export class InsufficientScopeError extends BearerError {
  /** The scopes the route requires (all of them). */
  readonly scopes: readonly string[];

  constructor(
    scopes: readonly string[],
    description = 'The access token does not grant the scope this resource requires.',
  ) {
    super(HttpStatus.FORBIDDEN, 'insufficient_scope', description, {
      scope: scopes.join(' '),
    });
    this.scopes = [...scopes];
  }
}

/**
 * 403 `insufficient_access` (Azure AD): the token's subject lacks the permission,
 * for example an app role or an ownership rule checked by the application.
 */
export class InsufficientAccessError extends BearerError {
  constructor(
    description = 'The subject of the access token does not have the permission this resource requires.',
  ) {
    super(HttpStatus.FORBIDDEN, 'insufficient_access', description);
  }
}

/**
 * 500: the module could not decide, for example because the issuer's keys cannot be fetched.
 * The client's token may be fine, so this is never a 401; the body claims no RFC 6750 code.
 */
export class AuthServerError extends BearerError {
  /** What failed, for the logs only; never sent to the client. */
  readonly internalReason: string;

  constructor(internalReason: string, options?: { cause?: unknown }) {
    super(HttpStatus.INTERNAL_SERVER_ERROR, undefined, undefined, {
      message: 'An internal error occurred. The request may be retried.',
    });
    this.internalReason = internalReason;
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

/** What a route requires of the user's authentication event (RFC 9470). */
export interface AuthenticationRequirement {
  /** Acceptable authentication context class references; any one of them satisfies. */
  readonly acrValues?: readonly string[];
  /** The longest time since the user authenticated, in seconds (`auth_time`). */
  readonly maxAge?: number;
}

/**
 * 401 `insufficient_user_authentication` (RFC 9470 step-up): the token is valid but the
 * user's authentication is too weak or too old. The challenge carries `acr_values`
 * and/or `max_age`, so the client can ask the authorization server for a stronger one.
 */
export class InsufficientUserAuthenticationError extends BearerError {
  readonly requirement: AuthenticationRequirement;

  constructor(
    requirement: AuthenticationRequirement,
    description = 'The authentication event of the access token does not meet the requirements of this resource.',
  ) {
    const extra: Partial<BearerErrorBody> = {};
    if (
      requirement.acrValues !== undefined &&
      requirement.acrValues.length > 0
    ) {
      extra.acr_values = requirement.acrValues.join(' ');
    }
    if (requirement.maxAge !== undefined)
      extra.max_age = String(requirement.maxAge);
    super(
      HttpStatus.UNAUTHORIZED,
      'insufficient_user_authentication',
      description,
      extra,
    );
    this.requirement = requirement;
  }
}

/**
 * 401 `insufficient_claims` (Azure AD claims challenge, continuous access evaluation): the
 * token must be renewed with the given claims. `claims` is the claims request (a JSON
 * object or its JSON text); the challenge carries it base64-encoded, as Azure AD does.
 */
export class InsufficientClaimsError extends BearerError {
  /** The claims request as JSON text. */
  readonly claimsRequest: string;

  constructor(
    claims: Readonly<Record<string, unknown>> | string,
    description = 'The access token must be renewed with additional claims.',
  ) {
    const json = typeof claims === 'string' ? claims : JSON.stringify(claims);
    super(HttpStatus.UNAUTHORIZED, 'insufficient_claims', description, {
      claims: Buffer.from(json, 'utf8').toString('base64'),
    });
    this.claimsRequest = json;
  }
}

/** Why a DPoP proof was refused (RFC 9449 section 4.3); each has one fixed description. */
export type DpopProofFault =
  | 'missing'
  | 'multiple'
  | 'malformed'
  | 'type'
  | 'algorithm'
  | 'key'
  | 'signature'
  | 'method'
  | 'uri'
  | 'issued_at'
  | 'token_hash'
  | 'key_binding'
  | 'replayed';

const DPOP_PROOF_DESCRIPTIONS: Record<DpopProofFault, string> = {
  missing: 'The request carries no DPoP proof.',
  multiple: 'The request carries more than one DPoP proof.',
  malformed: 'The DPoP proof is malformed.',
  type: 'The DPoP proof does not have the type dpop+jwt.',
  algorithm: 'The DPoP proof is signed with an algorithm that is not accepted.',
  key: 'The DPoP proof does not carry an acceptable public key.',
  signature: 'The DPoP proof signature is invalid.',
  method: 'The DPoP proof was made for another HTTP method.',
  uri: 'The DPoP proof was made for another URI.',
  issued_at: 'The DPoP proof was not issued within the acceptable time window.',
  token_hash: 'The DPoP proof was made for another access token.',
  key_binding:
    'The DPoP proof key does not match the key the access token is bound to.',
  replayed: 'The DPoP proof has already been used.',
};

/**
 * 401 `invalid_dpop_proof` (RFC 9449 section 7.1): the `DPoP` proof is missing, malformed,
 * replayed, or made for another request, token or key. Its challenge is the DPoP scheme's.
 */
export class InvalidDpopProofError extends BearerError {
  /** The machine-readable fault; it is logged, and its fixed sentence is the description. */
  readonly fault: DpopProofFault;

  constructor(fault: DpopProofFault) {
    super(
      HttpStatus.UNAUTHORIZED,
      'invalid_dpop_proof',
      DPOP_PROOF_DESCRIPTIONS[fault],
    );
    this.fault = fault;
    this.scheme = 'DPoP';
  }
}

/**
 * 401 `use_dpop_nonce` (RFC 9449 section 9): the proof lacks the server's current nonce.
 * The response carries the nonce to use in the `DPoP-Nonce` header.
 */
export class UseDpopNonceError extends BearerError {
  override readonly responseHeaders: Readonly<Record<string, string>>;

  constructor(nonce: string) {
    super(
      HttpStatus.UNAUTHORIZED,
      'use_dpop_nonce',
      'The resource server requires a nonce in the DPoP proof.',
    );
    this.scheme = 'DPoP';
    this.responseHeaders = Object.freeze({ 'DPoP-Nonce': nonce });
  }
}
