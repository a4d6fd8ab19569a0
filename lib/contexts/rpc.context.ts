import type { BearerPrincipal } from '../claims.js';
import { readPrincipal, writePrincipal } from '../request-state.js';
import type {
  ContextCredentials,
  TransportContext,
} from './transport-context.js';

type Values = string | string[] | undefined;

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return undefined;
}

function fromRecord(record: unknown): Values {
  if (typeof record !== 'object' || record === null) return undefined;
  for (const [name, value] of Object.entries(record)) {
    if (name.toLowerCase() !== 'authorization') continue;
    if (Array.isArray(value)) {
      const values = value.map(text).filter((v) => v !== undefined);
      return values.length === 1 ? values[0] : values;
    }
    return text(value);
  }
  return undefined;
}

/**
 * The `authorization` metadata or header of a message, from the transports that carry
 * them: gRPC metadata, NATS headers, Kafka headers, RabbitMQ message headers, MQTT 5 user
 * properties. TCP and Redis messages carry none. Several values are returned as a list,
 * which extraction refuses as a repeated credential.
 */
export function readRpcAuthorization(rpcContext: unknown): Values {
  if (typeof rpcContext !== 'object' || rpcContext === null) return undefined;
  const context = rpcContext as Record<string, unknown>;
  // gRPC: the context is the call's Metadata.
  if (
    typeof context.get === 'function' &&
    typeof context.getMap === 'function'
  ) {
    const values = (context.get as (key: string) => unknown[])('authorization')
      .map(text)
      .filter((v) => v !== undefined);
    return values.length === 0
      ? undefined
      : values.length === 1
        ? values[0]
        : values;
  }
  // NATS: NatsContext.getHeaders() (a MsgHdrs, or undefined).
  if (typeof context.getHeaders === 'function') {
    const headers = (context.getHeaders as () => unknown)() as
      | { values?: (key: string) => string[]; get?: (key: string) => string }
      | undefined;
    if (headers === undefined || headers === null) return undefined;
    if (typeof headers.values === 'function') {
      const values = headers.values('authorization');
      return values.length === 0
        ? undefined
        : values.length === 1
          ? values[0]
          : values;
    }
    return fromRecord(headers);
  }
  // MQTT 5: user properties of the packet.
  if (typeof context.getPacket === 'function') {
    const packet = (context.getPacket as () => unknown)() as
      { properties?: { userProperties?: unknown } } | undefined;
    return fromRecord(packet?.properties?.userProperties);
  }
  // Kafka (message.headers) and RabbitMQ (message.properties.headers).
  if (typeof context.getMessage === 'function') {
    const message = (context.getMessage as () => unknown)() as
      { headers?: unknown; properties?: { headers?: unknown } } | undefined;
    return (
      fromRecord(message?.headers) ?? fromRecord(message?.properties?.headers)
    );
  }
  return undefined;
}

/**
 * Message handlers (`@MessagePattern`, `@EventPattern`): the token travels in the
 * message's `authorization` metadata or header, as `Bearer <token>`. A message without
 * one has no credentials, so a protected handler refuses it.
 */
export const rpcContext: TransportContext = {
  type: 'rpc',
  readCredentials(host): ContextCredentials {
    const authorization = readRpcAuthorization(host.switchToRpc().getContext());
    if (authorization === undefined) return { kind: 'none' };
    return { kind: 'request', request: { headers: { authorization } } };
  },
  attachPrincipal(host, principal): void {
    // The handler's parameter decorators see the same argument list as the guard.
    writePrincipal(host.getArgs(), principal);
  },
  readPrincipal(host): BearerPrincipal | undefined {
    return readPrincipal(host.getArgs());
  },
  setHeader(): void {
    // Replies carry no headers on these transports.
  },
};
