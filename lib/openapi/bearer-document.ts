/**
 * The OpenAPI document of an app with the module's security in it: the schemes from the
 * options, and per operation the `security` and refusals its decorators imply.
 *
 * How operations are matched to handlers: @nestjs/swagger computes every operation's path
 * (global prefix, versions, aliases, `@All()`), and redoing that here would drift from it.
 * So while `SwaggerModule.createDocument()` runs, each route handler carries one extra
 * `x-` extension naming it; swagger copies it onto the operations it builds, this module
 * reads it back, replaces it with the security it implies, and restores the handler's
 * metadata as it was, even when the scan throws.
 */
import type { INestApplication, Type } from '@nestjs/common';
import { MetadataScanner, ModulesContainer, Reflector } from '@nestjs/core';
import {
  DECORATORS,
  SwaggerModule,
  type OpenAPIObject,
  type OperationObject,
  type SecurityRequirementObject,
  type SwaggerDocumentOptions,
} from '@nestjs/swagger';
import { RESOLVED_AUTH_OPTIONS } from '../auth.constants.js';
import type { ResolvedAuthOptions } from '../auth-options.js';
import { BearerChallengesService } from '../bearer-challenges.service.js';
import { BearerGuard } from '../bearer.guard.js';
import { IssuerKeysService } from '../keys/issuer-keys.service.js';
import {
  resolveRouteRequirements,
  type RouteRequirements,
} from '../route-requirements.js';
import {
  buildErrorSchema,
  buildRefusalResponses,
  ERROR_SCHEMA_NAME,
  PROBLEM_SCHEMA_NAME,
} from './error-responses.js';
import {
  buildSecurityRequirement,
  buildTokenSchemes,
  type BearerSchemeOptions,
} from './security-schemes.js';

/** Options of {@link createBearerDocument}: swagger's own, plus the schemes'. */
export interface BearerDocumentOptions
  extends SwaggerDocumentOptions, BearerSchemeOptions {
  /**
   * {@link loadBearerDocument} only: how long to wait for the issuer's discovery document
   * (the `oauth2` URLs), in milliseconds; the document is then built without them.
   * @default 1000
   */
  discoveryTimeout?: number;
}

/** The extension that names a handler during the scan; it never stays in a document. */
const HANDLER_EXTENSION = 'x-nestjs-bearer-handler';

// Nest's metadata keys (`@nestjs/common/constants`), spelled out like the module does.
const PATH_METADATA = 'path';
const GUARDS_METADATA = '__guards__';

const METHODS = [
  'get',
  'put',
  'post',
  'delete',
  'options',
  'head',
  'patch',
  'trace',
  'query',
] as const;

/** A route handler, as seen from one controller class. */
interface RouteEntry {
  readonly type: Type;
  readonly requirements: RouteRequirements;
}

/** What the module of an app says about its routes. */
interface AppSecurity {
  readonly options: ResolvedAuthOptions;
  readonly keys: IssuerKeysService;
  readonly challenges: BearerChallengesService;
}

function readAppSecurity(app: INestApplication): AppSecurity {
  try {
    return {
      options: app.get<ResolvedAuthOptions>(RESOLVED_AUTH_OPTIONS, {
        strict: false,
      }),
      keys: app.get(IssuerKeysService, { strict: false }),
      challenges: app.get(BearerChallengesService, { strict: false }),
    };
  } catch (cause) {
    throw new Error(
      'nestjs-bearer/openapi: the app does not import AuthModule (AuthModule.forRoot() or forRootAsync()).',
      { cause },
    );
  }
}

function isBearerGuard(guard: unknown): boolean {
  return (
    guard instanceof BearerGuard ||
    (typeof guard === 'function' &&
      (guard === BearerGuard || guard.prototype instanceof BearerGuard))
  );
}

/**
 * Whether the module's guard runs for a handler. With `globalGuard: false` a route that
 * no `BearerGuard` covers takes no token at all, so its operation must not ask for one.
 */
function createGuardCheck(
  modules: ModulesContainer,
  options: ResolvedAuthOptions,
): (type: Type, handler: object) => boolean {
  // `acceptContexts: ['http']` lets every HTTP handler through unauthenticated.
  if (options.acceptContexts.includes('http')) return () => false;
  if (options.globalGuard) return () => true;
  const appGuard = [...modules.values()].some((module) =>
    [...module.providers.entries()].some(
      ([token, wrapper]) =>
        typeof token === 'string' &&
        token.startsWith('APP_GUARD') &&
        isBearerGuard(wrapper.instance),
    ),
  );
  if (appGuard) return () => true;
  return (type, handler) =>
    [
      ...((Reflect.getMetadata(GUARDS_METADATA, handler) as unknown[]) ?? []),
      ...((Reflect.getMetadata(GUARDS_METADATA, type) as unknown[]) ?? []),
    ].some(isBearerGuard);
}

/** Every route handler of every controller, with what its decorators require. */
function collectRoutes(
  app: INestApplication,
  options: ResolvedAuthOptions,
): Map<object, RouteEntry[]> {
  const modules = app.get(ModulesContainer);
  const reflector = new Reflector();
  const scanner = new MetadataScanner();
  const isGuarded = createGuardCheck(modules, options);
  const routes = new Map<object, RouteEntry[]>();
  const seen = new Set<Type>();
  for (const module of modules.values()) {
    for (const wrapper of module.controllers.values()) {
      const type = wrapper.metatype as Type | undefined;
      if (typeof type !== 'function' || seen.has(type)) continue;
      seen.add(type);
      const prototype = type.prototype as Record<string, unknown>;
      for (const name of scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name];
        if (
          typeof handler !== 'function' ||
          Reflect.getMetadata(PATH_METADATA, handler) === undefined
        ) {
          continue;
        }
        const resolved = resolveRouteRequirements(reflector, handler, type);
        const requirements: RouteRequirements = isGuarded(type, handler)
          ? resolved
          : { ...resolved, access: 'public' };
        const entries = routes.get(handler) ?? [];
        entries.push({ type, requirements });
        routes.set(handler, entries);
      }
    }
  }
  return routes;
}

/**
 * Runs `scan` while each handler carries its marker, then puts every handler's extension
 * metadata back as it was.
 */
function withMarkers<T>(handlers: readonly object[], scan: () => T): T {
  const saved = handlers.map(
    (handler) =>
      Reflect.getOwnMetadata(DECORATORS.API_EXTENSION, handler) as
        Record<string, unknown> | undefined,
  );
  try {
    handlers.forEach((handler, index) => {
      Reflect.defineMetadata(
        DECORATORS.API_EXTENSION,
        { ...saved[index], [HANDLER_EXTENSION]: index },
        handler,
      );
    });
    return scan();
  } finally {
    handlers.forEach((handler, index) => {
      const previous = saved[index];
      if (previous === undefined) {
        Reflect.deleteMetadata(DECORATORS.API_EXTENSION, handler);
      } else {
        Reflect.defineMetadata(DECORATORS.API_EXTENSION, previous, handler);
      }
    });
  }
}

/**
 * The entry for an operation. A method inherited by two controllers is one function, so
 * swagger's operation id (`<Class>_<method>` unless the app changes the factory) tells
 * which class an operation belongs to.
 */
function pickEntry(
  entries: readonly RouteEntry[],
  operationId: string | undefined,
): RouteEntry {
  if (entries.length === 1 || operationId === undefined) return entries[0];
  return (
    entries.find((entry) => operationId.startsWith(`${entry.type.name}_`)) ??
    entries[0]
  );
}

/** Whether an entry of an operation's `security` names one of the module's schemes. */
function namesAny(
  requirement: SecurityRequirementObject,
  names: ReadonlySet<string>,
): boolean {
  return Object.keys(requirement).some((name) => names.has(name));
}

/**
 * The OpenAPI document of `app`, as `SwaggerModule.createDocument(app, config, options)`
 * builds it, plus the module's security:
 *
 * - `components.securitySchemes`: `bearer` (`http`, `bearerFormat: 'JWT'`) and, when the
 *   issuer's discovery document is known, `oauth2` with its authorization and token URLs;
 * - per operation, from `@Scopes()`, `@Roles()`, `@AppRoles()`, `@StepUp()`, `@Public()`
 *   and `@OptionalAuth()` of handler and class combined: `security` (with the scopes),
 *   and the 400, 401 and 403 responses with the module's error body
 *   (`components.schemas.BearerErrorResponse`, or `BearerProblem` for
 *   `errorFormat: 'problem'`). `@Public()` routes get neither; 403 only where scopes or
 *   roles apply. Responses the app documented itself for those statuses are kept.
 *
 * The discovery document is read once the app listens; {@link loadBearerDocument} waits
 * for it.
 */
export function createBearerDocument(
  app: INestApplication,
  config: Omit<OpenAPIObject, 'paths'>,
  options: BearerDocumentOptions = {},
): OpenAPIObject {
  const security = readAppSecurity(app);
  const {
    bearerSchemeName,
    oauth2SchemeName,
    dpopSchemeName,
    oauth2Flows,
    scopeDescriptions,
    discoveryTimeout: _timeout,
    ...swaggerOptions
  } = options;
  const routes = collectRoutes(app, security.options);
  const handlers = [...routes.keys()];
  const document = withMarkers(handlers, () =>
    SwaggerModule.createDocument(app, config, swaggerOptions),
  );

  const oas31 = !document.openapi.startsWith('3.0');
  const scopes = new Set<string>(
    security.options.protectedResourceMetadata?.scopesSupported ?? [],
  );
  for (const entries of routes.values()) {
    for (const { requirements } of entries) {
      requirements.scopes.forEach((scope) => scopes.add(scope));
    }
  }
  const schemes = buildTokenSchemes(
    security.options,
    security.keys.discoveryOf(security.options.issuers[0])?.known,
    [...scopes].sort(),
    {
      bearerSchemeName,
      oauth2SchemeName,
      dpopSchemeName,
      oauth2Flows,
      scopeDescriptions,
    },
  );
  const ourNames = new Set(schemes.map((scheme) => scheme.name));
  const problem = security.options.errorFormat === 'problem';
  const schemaName = problem ? PROBLEM_SCHEMA_NAME : ERROR_SCHEMA_NAME;
  const refusal = {
    challenges: security.challenges,
    schema: { $ref: `#/components/schemas/${schemaName}` },
    mediaType: problem ? 'application/problem+json' : 'application/json',
  };

  for (const pathItem of Object.values(document.paths)) {
    for (const method of METHODS) {
      const operation = pathItem[method] as
        (OperationObject & Record<string, unknown>) | undefined;
      const index = operation?.[HANDLER_EXTENSION];
      if (operation === undefined || typeof index !== 'number') continue;
      delete operation[HANDLER_EXTENSION];
      const entries = routes.get(handlers[index]);
      if (entries === undefined) continue;
      const { requirements } = pickEntry(entries, operation.operationId);
      // Requirements the app declared for schemes of its own are kept as they are.
      const others = (operation.security ?? []).filter(
        (requirement) =>
          Object.keys(requirement).length > 0 &&
          !namesAny(requirement, ourNames),
      );
      if (requirements.access === 'public') {
        if (others.length > 0) operation.security = others;
        // An empty list overrides a document-wide requirement (OpenAPI 3, Operation Object).
        else if ((document.security?.length ?? 0) > 0) operation.security = [];
        else delete operation.security;
        continue;
      }
      operation.security = [
        ...buildSecurityRequirement(
          requirements.access,
          requirements.scopes,
          schemes,
          oas31,
        ),
        ...others,
      ];
      const refusals = buildRefusalResponses(requirements, refusal);
      for (const [status, response] of Object.entries(refusals)) {
        operation.responses[status] ??= response;
      }
    }
  }

  const components = (document.components ??= {});
  components.securitySchemes = {
    ...components.securitySchemes,
    ...Object.fromEntries(schemes.map(({ name, scheme }) => [name, scheme])),
  };
  components.schemas = {
    ...components.schemas,
    [schemaName]: buildErrorSchema(security.options.errorFormat, oas31),
  };
  return document;
}

/**
 * {@link createBearerDocument}, after waiting (at most `discoveryTimeout`) for the first
 * issuer's discovery document, so that the `oauth2` scheme has its URLs. Suits
 * `patchDocumentOnRequest` of `SwaggerModule.setup()`, which may be asked before the
 * app has read the discovery document.
 */
export async function loadBearerDocument(
  app: INestApplication,
  config: Omit<OpenAPIObject, 'paths'>,
  options: BearerDocumentOptions = {},
): Promise<OpenAPIObject> {
  const { options: resolved, keys } = readAppSecurity(app);
  const discovery = keys.discoveryOf(resolved.issuers[0]);
  if (
    (options.oauth2Flows ?? 'discovery') === 'discovery' &&
    discovery !== undefined &&
    discovery.known === undefined
  ) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      discovery.resolve().catch(() => undefined),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, options.discoveryTimeout ?? 1000);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }
  return createBearerDocument(app, config, options);
}
