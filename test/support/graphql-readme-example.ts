/**
 * README "GraphQL": the example as printed there, except that the issuer and audience
 * come from the spec's loopback issuer. The e2e spec runs it on both drivers.
 */
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { Module, type DynamicModule } from '@nestjs/common';
import {
  Field,
  GraphQLModule,
  ID,
  ObjectType,
  Query,
  Resolver,
} from '@nestjs/graphql';
import { MercuriusDriver, type MercuriusDriverConfig } from '@nestjs/mercurius';
import {
  AuthModule,
  Principal,
  Public,
  Scopes,
  type BearerPrincipal,
} from '../../lib/index.js';

@ObjectType()
class Document {
  @Field(() => ID)
  id!: string;

  @Field(() => String, { nullable: true })
  owner!: string | null;
}

@Resolver()
export class DocumentsResolver {
  @Public()
  @Query(() => String)
  health(): string {
    return 'ok';
  }

  // Nullable: a refusal nulls this field only, and other root fields keep their data.
  @Scopes('documents.read')
  @Query(() => [Document], { nullable: true })
  documents(@Principal() caller: BearerPrincipal): Document[] {
    return [{ id: '1', owner: caller.sub ?? null }];
  }
}

/** Apollo on Express (`@nestjs/apollo`, `@apollo/server`, `@as-integrations/express5`). */
export const apolloGraphql = GraphQLModule.forRoot<ApolloDriverConfig>({
  driver: ApolloDriver,
  autoSchemaFile: true,
});

/** Mercurius on Fastify (`@nestjs/mercurius`, `mercurius`). */
export const mercuriusGraphql = GraphQLModule.forRoot<MercuriusDriverConfig>({
  driver: MercuriusDriver,
  autoSchemaFile: true,
});

/** The README's `AppModule`, for an issuer and audience and one of the modules above. */
export function createReadmeAppModule(
  issuer: string,
  audience: string,
  graphql: DynamicModule,
): DynamicModule {
  @Module({
    imports: [AuthModule.forRoot({ issuer, audience }), graphql],
    providers: [DocumentsResolver],
  })
  class AppModule {}
  return { module: AppModule };
}
