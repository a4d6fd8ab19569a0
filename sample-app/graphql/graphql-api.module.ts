import { Module, type DynamicModule } from '@nestjs/common';
import { GraphQLModule } from '@nestjs/graphql';
import type { AppConfig } from '../config.js';
import { AdminResolver } from './admin.resolver.js';
import { DocumentsResolver } from './documents.resolver.js';
import { FastifyRouteErrors } from './fastify-route-errors.js';
import { HealthResolver } from './health.resolver.js';
import { MeResolver } from './me.resolver.js';

/** Where the GraphQL endpoint answers, `POST` and `GET` (queries only). */
export const GRAPHQL_PATH = '/graphql';

/** The GraphQL driver of the app's HTTP platform: Apollo on Express, Mercurius on Fastify. */
async function graphqlModuleFor(
  adapter: AppConfig['httpAdapter'],
): Promise<DynamicModule> {
  // Loaded only when asked for, as the HTTP platform is: an Express app never loads Mercurius.
  if (adapter === 'fastify') {
    const { MercuriusDriver } = await import('@nestjs/mercurius');
    return GraphQLModule.forRoot({
      driver: MercuriusDriver,
      path: GRAPHQL_PATH,
      autoSchemaFile: true,
    });
  }
  const { ApolloDriver } = await import('@nestjs/apollo');
  return GraphQLModule.forRoot({
    driver: ApolloDriver,
    path: GRAPHQL_PATH,
    autoSchemaFile: true,
    // Bugs are answered with a fixed sentence (GraphqlExceptionFilter); no stack either.
    includeStacktraceInErrorResponses: false,
    // Apollo's CSRF prevention refuses a GET without a preflight header. It protects
    // cookie sessions; this API reads only bearer tokens, which a browser never adds
    // to a cross-site request by itself. So GET queries work as they do on Mercurius.
    // Keep it on in an app where a cookie authenticates anything.
    csrfPrevention: false,
  });
}

/**
 * The sample app's GraphQL API (code-first, the schema kept in memory): the fields of
 * the REST routes with the same protection, served on the app's HTTP platform.
 */
@Module({})
export class GraphqlApiModule {
  /** The module for `config.httpAdapter`. */
  static async forRoot(config: AppConfig): Promise<DynamicModule> {
    return {
      module: GraphqlApiModule,
      imports: [await graphqlModuleFor(config.httpAdapter)],
      providers: [
        HealthResolver,
        MeResolver,
        DocumentsResolver,
        AdminResolver,
        // Mercurius would otherwise take Nest's error handling from the REST routes.
        ...(config.httpAdapter === 'fastify' ? [FastifyRouteErrors] : []),
      ],
    };
  }
}
