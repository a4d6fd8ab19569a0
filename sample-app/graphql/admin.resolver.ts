import { UseFilters } from '@nestjs/common';
import { Query, Resolver } from '@nestjs/graphql';
import { Principal, Roles, type BearerPrincipal } from '../../lib/index.js';
import { GraphqlExceptionFilter } from './graphql-exception.filter.js';
import { AdminModel } from './graphql.models.js';

/** `query { admin }`: app role `Admin`, else 403 `insufficient_access`. */
@UseFilters(GraphqlExceptionFilter)
@Resolver()
export class AdminResolver {
  @Roles('Admin')
  @Query(() => AdminModel, {
    nullable: true,
    description: 'For the Admin app role.',
  })
  admin(@Principal() principal: BearerPrincipal): AdminModel {
    return {
      message: 'Welcome, administrator.',
      sub: principal.sub ?? null,
      roles: principal.roles,
    };
  }
}
