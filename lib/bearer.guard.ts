import {
  Inject,
  Injectable,
  Logger,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { RESOLVED_AUTH_OPTIONS } from './auth.constants.js';
import type { ResolvedAuthOptions } from './auth-options.js';
import {
  BearerAuthenticator,
  fingerprintToken,
  toBearerError,
  type Authentication,
} from './bearer-authenticator.service.js';
import { BearerChallengesService } from './bearer-challenges.service.js';
import {
  AuthenticationRequiredError,
  AuthServerError,
  BearerError,
  InsufficientAccessError,
  InsufficientScopeError,
  InsufficientUserAuthenticationError,
  InvalidTokenError,
} from './bearer.errors.js';
import { isApplicationToken, type BearerPrincipal } from './claims.js';
import { transportContextOf, type TransportContext } from './contexts/index.js';
import { meetsAuthenticationRequirement } from './decorators/step-up.decorator.js';
import { publishAuthenticated, publishRefused } from './diagnostics.js';
import { isAuthenticated, markAuthenticated } from './request-state.js';
import {
  resolveRouteRequirements,
  type RouteRequirements,
} from './route-requirements.js';

export type { RouteRequirements } from './route-requirements.js';

/**
 * Authenticates the caller of every handler, whatever its transport, and enforces
 * `@StepUp()`, `@Scopes()`, `@Roles()` and `@AppRoles()`.
 *
 * Registered for every handler by default (`globalGuard: true`); `@Public()` opts out and
 * `@OptionalAuth()` lets a call without credentials through. The context's transport
 * adapter finds the credentials, {@link BearerAuthenticator} verifies them, and every
 * failure is a typed `BearerError`, rendered by `BearerExceptionFilter`. A context type
 * the module does not know is refused, unless `acceptContexts` lists it.
 */
@Injectable()
export class BearerGuard implements CanActivate {
  protected readonly logger = new Logger('nestjs-bearer');
  private readonly requirements = new WeakMap<
    object,
    WeakMap<object, RouteRequirements>
  >();
  private readonly refusedContexts = new Set<string>();

  constructor(
    protected readonly reflector: Reflector,
    @Inject(RESOLVED_AUTH_OPTIONS)
    protected readonly authOptions: ResolvedAuthOptions,
    protected readonly authenticator: BearerAuthenticator,
    protected readonly challenges: BearerChallengesService,
  ) {}

  /**
   * A cached token is admitted synchronously (no promise); anything else is verified
   * asynchronously. Failures are thrown as `BearerError`s, after the challenge header is
   * set on the response where the transport has one.
   */
  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const type = context.getType<string>();
    if (this.authOptions.acceptContexts.includes(type)) return true;
    const route = this.requirementsOf(context);
    if (route.access === 'public') return true;
    const transport = transportContextOf(type);
    try {
      if (transport === undefined) {
        this.logRefusedContext(type);
        throw new AuthServerError(`no transport adapter for "${type}"`);
      }
      // Nest runs a guard twice for one call when it is both global and on the class.
      if (isAuthenticated(context.getArgs())) return true;
      if (route.access === 'optional') transport.varyOnCredentials?.(context);
      const credentials = transport.readCredentials(context);
      if (credentials.kind === 'none') {
        if (route.access === 'optional') return true;
        throw new AuthenticationRequiredError();
      }
      if (credentials.kind === 'principal') {
        this.checkStillValid(credentials.principal);
        this.authenticator.checkStanding(credentials.principal);
        this.admit(context, transport, route, credentials.principal);
        return true;
      }
      const outcome = this.authenticator.authenticate(credentials.request);
      if (outcome instanceof Promise) {
        // Authorization failures after an asynchronous verification are refused the same way.
        return outcome
          .then((authentication) =>
            this.admitAuthentication(context, transport, route, authentication),
          )
          .catch((error: unknown) =>
            this.refuse(context, transport, error, route),
          );
      }
      return this.admitAuthentication(context, transport, route, outcome);
    } catch (error) {
      // @OptionalAuth(): a request without credentials reaches the handler.
      if (
        route.access === 'optional' &&
        error instanceof AuthenticationRequiredError
      ) {
        return true;
      }
      return this.refuse(context, transport, error, route);
    }
  }

  /**
   * The handler's decorators, read once per handler and class: metadata is fixed after
   * start, while authorization itself is still evaluated on every call.
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
      found = resolveRouteRequirements(this.reflector, handler, type);
      byClass.set(type, found);
    }
    return found;
  }

  /**
   * Checks the route's `@StepUp()` (401 `insufficient_user_authentication`), then
   * `@Scopes()` (403 `insufficient_scope`), `@Roles()` and `@AppRoles()` (403
   * `insufficient_access`); handler and class lists combine, and every one listed is
   * required. `@AppRoles()` also requires an application token (`isApplicationToken()`),
   * so a delegated token that carries the roles is refused.
   */
  protected authorize(
    route: RouteRequirements,
    principal: BearerPrincipal,
  ): void {
    const { stepUp, scopes, roles, appRoles } = route;
    this.checkAudience(route, principal);
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
    if (
      appRoles.length > 0 &&
      (!isApplicationToken(principal.claims) ||
        !appRoles.every((role) => principal.roles.includes(role)))
    ) {
      throw new InsufficientAccessError();
    }
  }

  /**
   * With `@Resource()` routes in the app, the token policy admits their audiences too, so
   * each route checks its own: the route's resource, else the module's `audience`.
   */
  private checkAudience(
    route: RouteRequirements,
    principal: BearerPrincipal,
  ): void {
    this.authenticator.assertAudience(principal, route.resource);
  }

  private admitAuthentication(
    context: ExecutionContext,
    transport: TransportContext,
    route: RouteRequirements,
    authentication: Authentication,
  ): true {
    try {
      this.admit(context, transport, route, authentication.principal);
    } catch (error) {
      if (error instanceof BearerError) {
        // The challenge of the scheme the token came with carries the refusal.
        error.scheme = authentication.scheme;
        if (Logger.isLevelEnabled('debug')) {
          this.logger.debug(
            `${error.constructor.name} token=${fingerprintToken(authentication.token)}`,
          );
        }
      }
      throw error;
    }
    if (authentication.location === 'query') {
      // RFC 6750 section 2.3: a response to a query-token request must not be shared.
      transport.setHeader(context, 'Cache-Control', 'private');
    }
    for (const name in authentication.responseHeaders) {
      transport.setHeader(context, name, authentication.responseHeaders[name]);
    }
    return true;
  }

  /** Hands the principal to the handler and checks the route's requirements. */
  private admit(
    context: ExecutionContext,
    transport: TransportContext,
    route: RouteRequirements,
    principal: BearerPrincipal,
  ): void {
    transport.attachPrincipal(context, principal);
    this.authorize(route, principal);
    markAuthenticated(context.getArgs());
    publishAuthenticated(transport.type);
  }

  /**
   * A principal authenticated earlier (a WebSocket's) must still be within its `exp`; the
   * caller then runs the standing checks (not revoked since).
   */
  private checkStillValid(principal: BearerPrincipal): void {
    const exp = principal.claims.exp;
    if (
      typeof exp !== 'number' ||
      Date.now() / 1000 >= exp + this.authOptions.clockTolerance
    ) {
      throw new InvalidTokenError('expired');
    }
  }

  /**
   * Throws the failure as a typed error once its challenge is set on the response (where
   * the transport has one), so that an app's own catch-all filter still sends it. Waits
   * briefly for a discovery in flight when the challenge needs `authorization_uri`.
   */
  private refuse(
    context: ExecutionContext,
    transport: TransportContext | undefined,
    error: unknown,
    route?: RouteRequirements,
  ): never | Promise<never> {
    const bearerError = toBearerError(error);
    // The route's own resource names itself in the challenge (resource_id, resource_metadata).
    if (route?.resource !== undefined) bearerError.resource = route.resource;
    publishRefused(context.getType(), bearerError);
    const send = (): never => {
      const { challenge } = this.challenges.render(bearerError);
      if (transport !== undefined) {
        if (challenge !== undefined) {
          transport.setHeader(context, 'WWW-Authenticate', challenge);
        }
        for (const name in bearerError.responseHeaders) {
          transport.setHeader(context, name, bearerError.responseHeaders[name]);
        }
      }
      throw bearerError;
    };
    if (bearerError.getStatus() >= 500 || this.challenges.isSettled()) {
      return send();
    }
    return this.challenges.settle().then(send);
  }

  private logRefusedContext(type: string): void {
    if (this.refusedContexts.has(type)) return;
    this.refusedContexts.add(type);
    this.logger.error(
      `BearerGuard refuses "${type}" handlers: nestjs-bearer cannot authenticate this context. Mark them @Public(), or list "${type}" in the acceptContexts option.`,
    );
  }
}
