import { UseFilters } from '@nestjs/common';
import { Query, Resolver } from '@nestjs/graphql';
import { Public } from '../../lib/index.js';
import { GraphqlExceptionFilter } from './graphql-exception.filter.js';

/** `query { health }`: answers without a token. */
@UseFilters(GraphqlExceptionFilter)
@Resolver()
export class HealthResolver {
  @Public()
  @Query(() => String, { description: 'Liveness; no token needed.' })
  health(): string {
    return 'ok';
  }
}
