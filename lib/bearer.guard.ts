import {
  Inject,
  Injectable,
  Logger,
  Optional,
  type ExecutionContext,
} from '@nestjs/common';
import { HttpAdapterHost, Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { createHash, type KeyObject } from 'node:crypto';
import {
  BEARER_STRATEGY,
  IS_PUBLIC_KEY,
  RESOLVED_AUTH_OPTIONS,
  ROLES_KEY,
  SCOPES_KEY,
  STEP_UP_KEY,
} from './auth.constants.js';
import type { ResolvedAuthOptions } from './auth-options.js';
import {
  AuthServerError,
  BearerError,
  InsufficientAccessError,
  InsufficientScopeError,
  InsufficientUserAuthenticationError,
  InvalidTokenError,
  type AuthenticationRequirement,
  type InvalidTokenReason,
} from './bearer.errors.js';
import {
  createPrincipal,
  type BearerPrincipal,
  type JwtClaims,
} from './claims.js';
import { IssuerKeysService } from './keys/issuer-keys.service.js';
import { writeBearerState } from './jwt-bearer.strategy.js';
import { TokenCache } from './token-cache.js';
import {
  extractToken,
  type ExtractOptions,
  type TokenLocation,
  type TokenRequest,
} from './token-extractor.js';
import { meetsAuthenticationRequirement } from './decorators/step-up.decorator.js';
import { inspectToken, type InspectedToken } from './token-policy.js';

/** A cached verification: the principal and what must still hold for it to be reused. */
interface VerifiedToken {
  readonly principal: BearerPrincipal;
  readonly iss: string;
  readonly kid: string | undefined;
  readonly alg: string;
  readonly key: KeyObject;
}

/** What a route's decorators require, resolved once. */
export interface RouteRequirements {
  readonly isPublic: boolean;
  readonly stepUp: AuthenticationRequirement | undefined;
  /** Every scope required (`@Scopes()` of handler and class, combined). */
  readonly scopes: readonly string[];
  /** Every app role required (`@Roles()` of handler and class, combined). */
  readonly roles: readonly string[];
}

type HttpRequest = TokenRequest & {
  user?: unknown;
  rawHeaders?: string[];
  raw?: { rawHeaders?: string[] };
};

// jsonwebtoken reports failures as errors whose message is the only distinguishing mark.
const JWT_MESSAGES: [RegExp, InvalidTokenReason][] = [
  [/signature/i, 'signature'],
  [/audience/i, 'audience'],
  [/issuer/i, 'issuer'],
  [/algorithm|"alg"|key type|asymmetric/i, 'algorithm'],
  [/malformed|invalid token|unexpected token/i, 'malformed'],
];

/** Turns whatever passport reported into one of our typed errors; never reflects its text. */
export function toBearerError(
  error: unknown,
  isServerFault: boolean,
): BearerError {
  if (error instanceof BearerError) return error;
  const name = error instanceof Error ? error.name : '';
  if (name === 'TokenExpiredError') return new InvalidTokenError('expired');
  if (name === 'NotBeforeError') return new InvalidTokenError('not_yet_valid');
  if (name === 'JsonWebTokenError' && error instanceof Error) {
    const match = JWT_MESSAGES.find(([pattern]) => pattern.test(error.message));
    return new InvalidTokenError(match?.[1] ?? 'invalid');
  }
  return isServerFault
    ? new AuthServerError('verification failed unexpectedly', { cause: error })
    : new InvalidTokenError('invalid');
}

/** A short, irreversible fingerprint of a token for logs; the token itself is never logged. */
export function fingerprintToken(token: string): string {
  return createHash('sha256').update(token).digest('base64url').slice(0, 16);
}

/**
 * Authenticates bearer tokens and enforces `@StepUp()`, `@Scopes()` and `@Roles()`.
 *
 * Registered for every route by default (`globalGuard: true`); `@Public()` opts out.
 * Every failure becomes a typed {@link BearerError}, rendered by `BearerExceptionFilter`.
 */
@Injectable()
export class BearerGuard extends AuthGuard(BEARER_STRATEGY) {
  protected readonly logger = new Logger('nestjs-bearer');
  private readonly extractOptions: ExtractOptions;
  private readonly cache: TokenCache<VerifiedToken> | undefined;
  private readonly cacheMaxAgeMs: number;
  private readonly warnedContexts = new Set<string>();
  private readonly requirements = new WeakMap<
    object,
    WeakMap<object, RouteRequirements>
  >();

  constructor(
    protected readonly reflector: Reflector,
    @Inject(RESOLVED_AUTH_OPTIONS)
    protected readonly authOptions: ResolvedAuthOptions,
    protected readonly keys: IssuerKeysService,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
  ) {
    super();
    this.extractOptions = {
      locations: authOptions.tokenLocations,
      maxTokenLength: authOptions.maxTokenLength,
    };
    const { tokenCache } = authOptions;
    this.cache =
      tokenCache === false
        ? undefined
        : new TokenCache<VerifiedToken>(tokenCache.maxEntries);
    this.cacheMaxAgeMs = tokenCache === false ? 0 : tokenCache.maxAge * 1000;
  }

  /**
   * A cached token is admitted synchronously (no promise, no passport); anything else is
   * verified asynchronously through passport-jwt.
   */
  override canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (context.getType() !== 'http')
      return this.passNonHttp(context.getType());
    if (this.isPublic(context)) return true;
    const request = this.getRequest(context) as HttpRequest;
    let token: string | undefined;
    try {
      const extracted = extractToken(
        this.toTokenRequest(request),
        this.extractOptions,
      );
      if (!extracted.ok) throw extracted.error;
      token = extracted.token;
      const cached = this.readCache(token);
      if (cached === undefined) {
        // The key-free checks run here, so a bad token is refused without a promise.
        const inspected = inspectToken(token, this.authOptions);
        return this.verify(
          context,
          request,
          token,
          inspected,
          extracted.location,
        );
      }
      this.admit(context, request, cached, extracted.location);
      return true;
    } catch (error) {
      return this.reject(error, token);
    }
  }

  /**
   * Bearer tokens are an HTTP matter: other contexts (microservices, WebSockets, GraphQL)
   * pass, and the first of each kind is logged so that nobody mistakes them for protected.
   */
  protected passNonHttp(type: string): boolean {
    if (!this.warnedContexts.has(type)) {
      this.warnedContexts.add(type);
      this.logger.warn(
        `BearerGuard lets "${type}" handlers through: nestjs-bearer protects HTTP routes only.`,
      );
    }
    return true;
  }

  /** Whether the route or its controller is marked `@Public()`. */
  protected isPublic(context: ExecutionContext): boolean {
    return this.requirementsOf(context).isPublic;
  }

  /**
   * The route's decorators, read once per handler and class: metadata is fixed after
   * start, while authorization itself is still evaluated on every request.
   */
  protected requirementsOf(context: ExecutionContext): RouteRequirements {
    const handler = context.getHandler();
    const type = context.getClass();
    let byClass = this.requirements.get(handler);
    if (byClass === undefined) {
      byClass = new WeakMap();
      this.requirements.set(handler, byClass);
    }
    let found = byClass.get(type);
    if (found === undefined) {
      const targets = [handler, type];
      found = {
        isPublic:
          this.reflector.getAllAndOverride<boolean | undefined>(
            IS_PUBLIC_KEY,
            targets,
          ) === true,
        stepUp: this.reflector.getAllAndOverride<
          AuthenticationRequirement | undefined
        >(STEP_UP_KEY, targets),
        scopes: [
          ...new Set(
            this.reflector.getAllAndMerge<string[]>(SCOPES_KEY, targets),
          ),
        ],
        roles: [
          ...new Set(
            this.reflector.getAllAndMerge<string[]>(ROLES_KEY, targets),
          ),
        ],
      };
      byClass.set(type, found);
    }
    return found;
  }

  /**
   * Checks the route's `@StepUp()` (401 `insufficient_user_authentication`), then
   * `@Scopes()` (403 `insufficient_scope`) and `@Roles()` (403 `insufficient_access`);
   * handler and class scopes and roles combine.
   */
  protected authorize(
    context: ExecutionContext,
    principal: BearerPrincipal,
  ): void {
    const { stepUp, scopes, roles } = this.requirementsOf(context);
    if (
      stepUp !== undefined &&
      !meetsAuthenticationRequirement(
        principal.claims,
        stepUp,
        this.authOptions.clockTolerance,
      )
    ) {
      throw new InsufficientUserAuthenticationError(stepUp);
    }
    if (!scopes.every((scope) => principal.scopes.includes(scope))) {
      throw new InsufficientScopeError(scopes);
    }
    if (!roles.every((role) => principal.roles.includes(role))) {
      throw new InsufficientAccessError();
    }
  }

  /** passport's verdict: the verified claims become a principal, any failure a typed error. */
  override handleRequest<TUser = BearerPrincipal>(
    err: unknown,
    user: unknown,
    info: unknown,
  ): TUser {
    if (err) throw toBearerError(err, true);
    if (!user) throw toBearerError(info, false);
    return createPrincipal(user as JwtClaims, this.authOptions) as TUser;
  }

  /** The cached principal of a token, while the key that verified it is still current. */
  private readCache(token: string): BearerPrincipal | undefined {
    const cached = this.cache?.get(token);
    if (cached === undefined) return undefined;
    const { iss, kid, alg, key, principal } = cached.value;
    if (this.keys.sourceFor(iss).isCurrent(kid, key, alg)) return principal;
    this.cache?.delete(token);
    return undefined;
  }

  /** Verifies a token that is not cached: policy, key, then passport-jwt. */
  private async verify(
    context: ExecutionContext,
    request: HttpRequest,
    token: string,
    inspected: InspectedToken,
    location: TokenLocation,
  ): Promise<boolean> {
    try {
      // The key first: an unknown kid is answered here, without a trip through passport.
      const key = await this.keys.getKey(
        inspected.issuer,
        inspected.kid,
        inspected.alg,
      );
      writeBearerState(request, { token, inspected, key });
      await super.canActivate(context);
      const principal = request.user as BearerPrincipal;
      if (this.cache !== undefined) {
        const expiresAt = Math.min(
          inspected.exp * 1000,
          Date.now() + this.cacheMaxAgeMs,
        );
        this.cache.set(
          token,
          {
            principal,
            iss: inspected.issuer,
            kid: inspected.kid,
            alg: inspected.alg,
            key,
          },
          expiresAt,
        );
      }
      this.admit(context, request, principal, location);
      return true;
    } catch (error) {
      return this.reject(error, token);
    }
  }

  /** Hands the principal to the request and checks the route's requirements. */
  private admit(
    context: ExecutionContext,
    request: HttpRequest,
    principal: BearerPrincipal,
    location: TokenLocation,
  ): void {
    request.user = principal;
    this.authorize(context, principal);
    if (location === 'query') {
      // RFC 6750 section 2.3: a response to a query-token request must not be shared.
      this.setHeader(context, 'Cache-Control', 'private');
    }
  }

  /**
   * Logs a failure and throws it as a typed error, once any challenge parameter is known;
   * synchronously when nothing is left to wait for.
   */
  private reject(error: unknown, token: string | undefined): Promise<never> {
    const bearerError = toBearerError(error, true);
    this.logFailure(bearerError, token);
    // A challenge may carry the discovered authorization_uri; wait for it if in flight.
    // A 500 carries no challenge, so it never waits for discovery.
    if (bearerError.getStatus() >= 500 || this.keys.isChallengeSettled()) {
      throw bearerError;
    }
    return this.keys.settleChallenge().then(() => {
      throw bearerError;
    });
  }

  private toTokenRequest(request: HttpRequest): TokenRequest {
    return {
      method: request.method,
      url: request.url,
      headers: request.headers,
      // Fastify wraps Node's request; Express extends it.
      rawHeaders: request.rawHeaders ?? request.raw?.rawHeaders,
      body: request.body,
    };
  }

  private setHeader(
    context: ExecutionContext,
    name: string,
    value: string,
  ): void {
    const response: unknown = context.switchToHttp().getResponse();
    const adapter = this.adapterHost?.httpAdapter;
    if (adapter !== undefined) adapter.setHeader(response, name, value);
  }

  private logFailure(error: BearerError, token: string | undefined): void {
    // Under a flood of bad tokens, the fingerprint and message cost more than the 401.
    if (!Logger.isLevelEnabled('debug')) return;
    const what =
      error instanceof InvalidTokenError
        ? `${error.constructor.name} (${error.reason})`
        : error instanceof AuthServerError
          ? `${error.constructor.name} (${error.internalReason})`
          : error.constructor.name;
    const print = token === undefined ? 'none' : fingerprintToken(token);
    this.logger.debug(`${what} token=${print}`);
  }
}
