import type { ArgumentsHost } from '@nestjs/common';
import type { BearerPrincipal } from '../claims.js';
import { graphqlContext } from './graphql.context.js';
import { httpContext } from './http.context.js';
import { rpcContext } from './rpc.context.js';
import type { TransportContext } from './transport-context.js';
import { wsContext } from './ws.context.js';

export type {
  ContextCredentials,
  TransportContext,
} from './transport-context.js';

const CONTEXTS: ReadonlyMap<string, TransportContext> = new Map(
  [httpContext, graphqlContext, wsContext, rpcContext].map((c) => [c.type, c]),
);

/** The context types the module can authenticate. */
export const KNOWN_CONTEXT_TYPES: readonly string[] = [...CONTEXTS.keys()];

/** The adapter for a context type; `undefined` for a type the module cannot vouch for. */
export function transportContextOf(type: string): TransportContext | undefined {
  return CONTEXTS.get(type);
}

/** The principal of the current call, whatever its transport. */
export function principalOf(host: ArgumentsHost): BearerPrincipal | undefined {
  return transportContextOf(host.getType())?.readPrincipal(host);
}
