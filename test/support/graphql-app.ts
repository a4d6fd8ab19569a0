/**
 * In-process GraphQL apps for the e2e specs: Apollo on Express and Mercurius on Fastify,
 * code-first with the schema in memory, behind `AuthModule` with its default global
 * guard, next to the REST scenario routes with the same protection.
 */
import {
  Module,
  type DynamicModule,
  type INestApplication,
  type Type,
} from '@nestjs/common';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import {
  Args,
  Field,
  GraphQLModule,
  ID,
  Mutation,
  ObjectType,
  Query,
  Resolver,
} from '@nestjs/graphql';
import { MercuriusDriver, type MercuriusDriverConfig } from '@nestjs/mercurius';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import {
  AuthModule,
  Claims,
  InsufficientAccessError,
  OptionalAuth,
  Principal,
  Public,
  Roles,
  Scopes,
  type AuthModuleOptions,
  type BearerPrincipal,
} from '../../lib/index.js';
import { ScenarioController } from '../scenario/scenario.controllers.js';
import { send, type HttpResult } from './http.js';

/** A GraphQL driver and the HTTP platform it runs on. */
export interface GraphqlDriverCase {
  readonly driver: 'apollo' | 'mercurius';
  readonly adapter: 'express' | 'fastify';
}

/** Both drivers, for `describe.each(GRAPHQL_DRIVERS)`. */
export const GRAPHQL_DRIVERS: readonly GraphqlDriverCase[] = [
  { driver: 'apollo', adapter: 'express' },
  { driver: 'mercurius', adapter: 'fastify' },
];

/** How often each scenario resolver ran; the specs reset it. */
export const resolverCalls: Record<string, number> = {};

function count(field: string): void {
  resolverCalls[field] = (resolverCalls[field] ?? 0) + 1;
}

/** Resets {@link resolverCalls}. */
export function resetResolverCalls(): void {
  for (const field of Object.keys(resolverCalls)) delete resolverCalls[field];
}

@ObjectType('ScenarioDocument')
class ScenarioDocument {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { nullable: true })
  owner!: string | null;
}

@ObjectType('Caller')
class Caller {
  @Field(() => String, { nullable: true })
  sub!: string | null;

  @Field(() => [String])
  scopes!: readonly string[];

  @Field(() => [String])
  roles!: readonly string[];

  /** From `@Claims('tid')`. */
  @Field(() => String, { nullable: true })
  tid!: string | null;

  /** Whether `@Claims()` delivered the same claims as `@Principal()`. */
  @Field(() => Boolean)
  sameClaims!: boolean;
}

/** Root fields with every protection the guard knows; every protected field is nullable. */
@Resolver()
export class ScenarioResolver {
  @Public()
  @Query(() => String)
  health(): string {
    count('health');
    return 'ok';
  }

  @Query(() => Caller, { nullable: true })
  me(
    @Principal() principal: BearerPrincipal,
    @Claims('tid') tid: unknown,
    @Claims() claims: unknown,
  ): Caller {
    count('me');
    return {
      sub: principal.sub ?? null,
      scopes: principal.scopes,
      roles: principal.roles,
      tid: typeof tid === 'string' ? tid : null,
      sameClaims: claims === principal.claims,
    };
  }

  @Scopes('documents.read')
  @Query(() => [ScenarioDocument], { nullable: true })
  documents(@Principal() principal: BearerPrincipal): ScenarioDocument[] {
    count('documents');
    return [{ id: '1', owner: principal.sub ?? null }];
  }

  /** A non-null protected field: its refusal nulls `data` itself. */
  @Scopes('documents.read')
  @Query(() => [ScenarioDocument])
  requiredDocuments(): ScenarioDocument[] {
    count('requiredDocuments');
    return [];
  }

  @Scopes('documents.write')
  @Mutation(() => ScenarioDocument, { nullable: true })
  createDocument(
    @Principal() principal: BearerPrincipal,
    @Args('title', { type: () => String }) title: string,
  ): ScenarioDocument {
    count('createDocument');
    return { id: title, owner: principal.sub ?? null };
  }

  @Roles('Admin')
  @Query(() => String, { nullable: true })
  admin(): string {
    count('admin');
    return 'welcome';
  }

  @OptionalAuth()
  @Query(() => String, { nullable: true })
  feed(@Principal() principal: BearerPrincipal | undefined): string {
    count('feed');
    return principal?.sub ?? 'anonymous';
  }

  /** An ownership rule thrown by the resolver itself. */
  @Query(() => String, { nullable: true })
  owned(@Principal() principal: BearerPrincipal): string {
    count('owned');
    if (principal.sub !== 'alice') throw new InsufficientAccessError();
    return 'yours';
  }
}

/** How to build a GraphQL app. */
export interface GraphqlAppOptions {
  readonly driver: GraphqlDriverCase['driver'];
  readonly auth: AuthModuleOptions;
  /** The driver's most revealing error output (Apollo's stack traces). @default false */
  readonly debug?: boolean;
  /** @default [ScenarioResolver] */
  readonly resolvers?: Type[];
  /** The GraphQL module's `fieldResolverEnhancers`. @default [] */
  readonly fieldResolverEnhancers?: ('guards' | 'interceptors' | 'filters')[];
}

/** What a GraphQL request sends. */
export interface GraphqlRequest {
  readonly query: string;
  readonly variables?: Record<string, unknown>;
  readonly headers?: Record<string, string>;
  /** `GET` sends the operation in the query string. @default 'POST' */
  readonly method?: 'GET' | 'POST';
}

/** A GraphQL error as it is answered. */
export interface GraphqlErrorAnswer {
  message: string;
  path?: (string | number)[];
  extensions?: Record<string, unknown>;
}

/** A GraphQL answer: the HTTP exchange and its parsed body. */
export interface GraphqlAnswer {
  readonly res: HttpResult;
  readonly status: number;
  readonly challenge: string | undefined;
  readonly data: Record<string, unknown> | null | undefined;
  readonly errors: readonly GraphqlErrorAnswer[];
}

/** A running GraphQL app. */
export interface GraphqlApp {
  readonly app: INestApplication;
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  /** Sends an operation to `/graphql`. */
  request(request: GraphqlRequest): Promise<GraphqlAnswer>;
}

function graphqlModule(options: GraphqlAppOptions): DynamicModule {
  if (options.driver === 'mercurius') {
    return GraphQLModule.forRoot<MercuriusDriverConfig>({
      driver: MercuriusDriver,
      autoSchemaFile: true,
      fieldResolverEnhancers: options.fieldResolverEnhancers,
    });
  }
  return GraphQLModule.forRoot<ApolloDriverConfig>({
    driver: ApolloDriver,
    autoSchemaFile: true,
    fieldResolverEnhancers: options.fieldResolverEnhancers,
    ...(options.debug === true && { includeStacktraceInErrorResponses: true }),
  });
}

/** Sends one operation to `url/graphql` and parses the answer. */
export async function requestGraphql(
  url: string,
  request: GraphqlRequest,
): Promise<GraphqlAnswer> {
  const headers: Record<string, string> = { ...request.headers };
  let res: HttpResult;
  if (request.method === 'GET') {
    const search = new URLSearchParams({ query: request.query });
    if (request.variables !== undefined) {
      search.set('variables', JSON.stringify(request.variables));
    }
    // Apollo's CSRF prevention answers a GET only with a preflight header.
    headers['apollo-require-preflight'] ??= 'true';
    res = await send(`${url}/graphql?${search.toString()}`, { headers });
  } else {
    headers['content-type'] ??= 'application/json';
    res = await send(`${url}/graphql`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        query: request.query,
        variables: request.variables,
      }),
    });
  }
  const body = JSON.parse(res.text) as {
    data?: Record<string, unknown> | null;
    errors?: GraphqlErrorAnswer[];
  };
  return {
    res,
    status: res.status,
    challenge: res.headers['www-authenticate'],
    data: body.data,
    errors: body.errors ?? [],
  };
}

/** Starts an app's own root module on the driver's HTTP platform. */
export async function startGraphqlModule(
  module: Type | DynamicModule,
  driver: GraphqlDriverCase['driver'],
): Promise<GraphqlApp> {
  const moduleRef = await Test.createTestingModule({
    imports: [module],
  }).compile();
  const app = moduleRef.createNestApplication(
    driver === 'mercurius' ? new FastifyAdapter() : new ExpressAdapter(),
    { logger: false },
  );
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  return { app, url, request: (request) => requestGraphql(url, request) };
}

/**
 * Starts the scenario app: `AuthModule.forRoot(auth)`, the driver's GraphQL module, the
 * scenario resolvers and the REST scenario routes.
 */
export function startGraphqlApp(
  options: GraphqlAppOptions,
): Promise<GraphqlApp> {
  @Module({
    imports: [AuthModule.forRoot(options.auth), graphqlModule(options)],
    providers: options.resolvers ?? [ScenarioResolver],
    controllers: [ScenarioController],
  })
  class GraphqlScenarioModule {}
  return startGraphqlModule(GraphqlScenarioModule, options.driver);
}
