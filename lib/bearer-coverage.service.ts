import {
  Inject,
  Injectable,
  Logger,
  type OnModuleInit,
  type Type,
} from '@nestjs/common';
import {
  DiscoveryService,
  MetadataScanner,
  ModuleRef,
  Reflector,
} from '@nestjs/core';
import { RESOLVED_AUTH_OPTIONS, RESOURCE_KEY } from './auth.constants.js';
import type { ResolvedAuthOptions } from './auth-options.js';
import { BearerAuthenticator } from './bearer-authenticator.service.js';
import { BearerExceptionFilter } from './bearer-exception.filter.js';
import { BearerGuard } from './bearer.guard.js';
import { readMarks, type TargetMarks } from './route-requirements.js';

// Nest's metadata keys (`@nestjs/common`, `@nestjs/microservices`, `@nestjs/websockets`),
// spelled out so that neither optional package has to be installed.
const GUARDS_METADATA = '__guards__';
const EXCEPTION_FILTERS_METADATA = '__exceptionFilters__';
const PATTERN_METADATA = 'microservices:pattern';
const GATEWAY_METADATA = 'websockets:is_gateway';
const RESOLVE_FIELD_METADATA = 'graphql:resolve_property';
const GRAPHQL_MODULE_OPTIONS = 'GqlModuleOptions';

/** Thrown at start for a decorator combination that cannot be what the author meant. */
export class AuthCoverageError extends Error {
  constructor(message: string) {
    super(`nestjs-bearer: ${message}`);
    this.name = 'AuthCoverageError';
  }
}

interface HandlerClass {
  readonly type: Type;
  readonly methods: readonly string[];
}

/**
 * Makes every handler the module can reach covered, and reports at start what is not.
 *
 * - Nest applies global filters to HTTP, GraphQL and RPC handlers but never to WebSocket
 *   gateways, and a hybrid app's microservice runs no global guard unless it is connected
 *   with `inheritAppConfig: true`. So the module adds its filter to every gateway (with
 *   `globalGuard` off too: a gateway's own `@UseGuards(BearerGuard)` refusals would
 *   otherwise be Nest's "Internal server error"), and, with `globalGuard` on, its guard
 *   and filter to every class with message handlers, as `@UseGuards()` and `@UseFilters()`
 *   would. This happens when the module is built, before Nest binds gateways and message
 *   handlers.
 * - At module init it checks every handler: `@Public()` or `@OptionalAuth()` together with
 *   a requirement on the same handler or class is an error, across handler and class a
 *   warning (the requirement wins); with `globalGuard: false`, a requirement that no
 *   `BearerGuard` covers is an error.
 */
@Injectable()
export class BearerCoverageService implements OnModuleInit {
  private readonly logger = new Logger('nestjs-bearer');

  constructor(
    @Inject(RESOLVED_AUTH_OPTIONS)
    private readonly options: ResolvedAuthOptions,
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly guard: BearerGuard,
    private readonly filter: BearerExceptionFilter,
    private readonly moduleRef: ModuleRef,
    private readonly authenticator: BearerAuthenticator,
  ) {
    this.bindTransports();
  }

  onModuleInit(): void {
    for (const type of this.options.acceptContexts) {
      this.logger.warn(
        `acceptContexts: "${type}" handlers are let through without authentication.`,
      );
    }
    const problems: string[] = [];
    const appGuarded = this.options.globalGuard || this.hasGlobalBearerGuard();
    for (const { type, methods } of this.handlerClasses()) {
      const classMarks = readMarks(this.reflector, type);
      this.checkSameTarget(classMarks, type.name, problems);
      this.acceptResourceOf(type);
      for (const name of methods) {
        const handler = (type.prototype as Record<string, object>)[name];
        this.acceptResourceOf(handler);
        const marks = readMarks(this.reflector, handler);
        const where = `${type.name}.${name}()`;
        this.checkSameTarget(marks, where, problems);
        this.checkAcross(classMarks, marks, where);
        const needsGuard =
          marks.hasRequirement ||
          marks.isOptional ||
          classMarks.hasRequirement ||
          classMarks.isOptional;
        if (
          needsGuard &&
          Reflect.getMetadata(RESOLVE_FIELD_METADATA, handler) === true &&
          !this.fieldResolversGuarded()
        ) {
          problems.push(
            `${where} is a @ResolveField() with @Scopes(), @Roles(), @AppRoles(), @StepUp() or @OptionalAuth(), but Nest runs no guard on field resolvers: set fieldResolverEnhancers: ['guards', 'filters'] in the GraphQL module options, or move the requirement to a root field.`,
          );
        }
        if (needsGuard && !appGuarded && !this.isGuarded(type, handler)) {
          problems.push(
            `${where} has @Scopes(), @Roles(), @AppRoles(), @StepUp() or @OptionalAuth(), but no BearerGuard covers it (globalGuard is false): add @UseGuards(BearerGuard) to it or its class.`,
          );
        }
      }
    }
    if (problems.length > 0) throw new AuthCoverageError(problems.join('\n'));
  }

  /** A `@Resource()` target's audience is admitted by the token policy (see the guard). */
  private acceptResourceOf(target: object): void {
    const resource = this.reflector.get<string | undefined>(
      RESOURCE_KEY,
      target as never,
    );
    if (resource !== undefined) this.authenticator.acceptResource(resource);
  }

  /** Whether the app's GraphQL module runs guards on `@ResolveField()` handlers. */
  private fieldResolversGuarded(): boolean {
    let options: { fieldResolverEnhancers?: unknown } | undefined;
    try {
      options = this.moduleRef.get(GRAPHQL_MODULE_OPTIONS, { strict: false });
    } catch {
      return false;
    }
    const enhancers = options?.fieldResolverEnhancers;
    return Array.isArray(enhancers) && enhancers.includes('guards');
  }

  private checkSameTarget(
    marks: TargetMarks,
    where: string,
    problems: string[],
  ): void {
    if (marks.isPublic && marks.hasRequirement) {
      problems.push(
        `${where} is @Public() and also requires scopes, roles or step-up: remove one of them.`,
      );
    }
    if (marks.isOptional && marks.hasRequirement) {
      problems.push(
        `${where} is @OptionalAuth() and also requires scopes, roles or step-up: remove one of them.`,
      );
    }
    if (marks.isPublic && marks.isOptional) {
      problems.push(
        `${where} is both @Public() and @OptionalAuth(): keep one.`,
      );
    }
  }

  private checkAcross(
    classMarks: TargetMarks,
    marks: TargetMarks,
    where: string,
  ): void {
    if (
      (classMarks.isPublic || classMarks.isOptional) &&
      marks.hasRequirement
    ) {
      this.logger.warn(
        `${where} requires scopes, roles or step-up inside a @Public()/@OptionalAuth() class: the requirement wins, a valid token is required.`,
      );
    }
    if (classMarks.hasRequirement && (marks.isPublic || marks.isOptional)) {
      this.logger.warn(
        `${where} is @Public()/@OptionalAuth() inside a class with requirements: the class's requirement wins, a valid token is required.`,
      );
    }
  }

  /** Adds the guard (message handlers) and the filter (those and gateways) per class. */
  private bindTransports(): void {
    for (const wrapper of [
      ...this.discovery.getControllers(),
      ...this.discovery.getProviders(),
    ]) {
      const type = wrapper.metatype as Type | undefined;
      if (typeof type !== 'function' || wrapper.isAlias) continue;
      const isGateway = Reflect.getMetadata(GATEWAY_METADATA, type) === true;
      const hasMessageHandlers = this.methodsOf(type).some(
        (name) =>
          Reflect.getMetadata(
            PATTERN_METADATA,
            (type.prototype as Record<string, object>)[name],
          ) !== undefined,
      );
      const guarded = hasMessageHandlers && this.options.globalGuard;
      if (guarded) this.addOwn(GUARDS_METADATA, type, this.guard);
      if (guarded || isGateway) {
        this.addOwn(EXCEPTION_FILTERS_METADATA, type, this.filter);
      }
    }
  }

  /**
   * Adds `instance` to a class's enhancer list, replacing one added by an earlier app of
   * this process (tests build several apps from the same classes).
   */
  private addOwn(key: string, type: Type, instance: object): void {
    const current =
      (Reflect.getMetadata(key, type) as unknown[] | undefined) ?? [];
    const others = current.filter(
      (item) =>
        !(item instanceof (instance.constructor as Type)) || item === instance,
    );
    if (others.includes(instance)) return;
    Reflect.defineMetadata(key, [...others, instance], type);
  }

  private handlerClasses(): HandlerClass[] {
    const seen = new Set<Type>();
    const classes: HandlerClass[] = [];
    for (const wrapper of [
      ...this.discovery.getControllers(),
      ...this.discovery.getProviders(),
    ]) {
      const type = wrapper.metatype as Type | undefined;
      if (typeof type !== 'function' || seen.has(type) || wrapper.isAlias) {
        continue;
      }
      seen.add(type);
      classes.push({ type, methods: this.methodsOf(type) });
    }
    return classes;
  }

  private methodsOf(type: Type): string[] {
    const prototype = type.prototype as object | undefined;
    return prototype === undefined
      ? []
      : this.scanner.getAllMethodNames(prototype);
  }

  private isGuarded(type: Type, handler: object): boolean {
    const guards = [
      ...((Reflect.getMetadata(GUARDS_METADATA, handler) as unknown[]) ?? []),
      ...((Reflect.getMetadata(GUARDS_METADATA, type) as unknown[]) ?? []),
    ];
    return guards.some(
      (guard) =>
        guard instanceof BearerGuard ||
        (typeof guard === 'function' &&
          (guard === BearerGuard || guard.prototype instanceof BearerGuard)),
    );
  }

  /** Whether the app registered a `BearerGuard` as an `APP_GUARD` itself. */
  private hasGlobalBearerGuard(): boolean {
    return this.discovery
      .getProviders()
      .some(
        (wrapper) =>
          typeof wrapper.token === 'string' &&
          wrapper.token.startsWith('APP_GUARD') &&
          wrapper.instance instanceof BearerGuard,
      );
  }
}
