import { UseFilters } from '@nestjs/common';
import { Query, Resolver } from '@nestjs/graphql';
import { Principal, type BearerPrincipal } from '../../lib/index.js';
import { GraphqlExceptionFilter } from './graphql-exception.filter.js';
import { MeModel } from './graphql.models.js';

/** `query { me }`: any valid token. */
@UseFilters(GraphqlExceptionFilter)
@Resolver()
export class MeResolver {
  // Nullable, as every protected field here: a refusal then nulls this field only, and
  // the other root fields of the operation keep their data.
  @Query(() => MeModel, {
    nullable: true,
    description: 'The caller; any valid token.',
  })
  me(@Principal() principal: BearerPrincipal): MeModel {
    return {
      sub: principal.sub ?? null,
      scopes: principal.scopes,
      roles: principal.roles,
    };
  }
}
