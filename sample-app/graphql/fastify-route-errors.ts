import { Injectable } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type {
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  RouteOptions,
} from 'fastify';

/**
 * Keeps Nest's exception layer for the REST routes of a Fastify app that serves
 * Mercurius.
 *
 * Fastify gives a route the error handler its instance has when the route's
 * registration completes. Nest adds its routes, then runs the modules' init hooks, where
 * the GraphQL module registers Mercurius, which makes Fastify complete the pending
 * registrations; only then does Nest install its error handler. A failure Fastify raises
 * before a REST handler runs (a body that is not JSON) would then get Fastify's default
 * answer, with the parser's text. So every route of the root instance that brings no
 * handler of its own gets one that asks the instance for its handler when an error
 * occurs: Nest's, by then.
 */
@Injectable()
export class FastifyRouteErrors {
  constructor(adapterHost: HttpAdapterHost) {
    // Emitted once the app has its adapter (at once when it already has it).
    adapterHost.init$.subscribe(() => {
      const fastify = adapterHost.httpAdapter.getInstance<FastifyInstance>();
      fastify.addHook(
        'onRoute',
        function (this: FastifyInstance, route: RouteOptions) {
          // Plugins' own routes (Mercurius's /graphql) keep their own handlers.
          if (this !== fastify || route.errorHandler !== undefined) return;
          route.errorHandler = (
            error: FastifyError,
            request: FastifyRequest,
            reply: FastifyReply,
          ) => fastify.errorHandler.call(fastify, error, request, reply);
        },
      );
    });
  }
}
