import type { ArgumentsHost } from '@nestjs/common';
import type { BearerErrorResponse } from '../bearer-challenges.service.js';
import type { BearerPrincipal } from '../claims.js';
import type {
  ContextCredentials,
  TransportContext,
} from './transport-context.js';

/** One `authorization` value, several (a repeated credential), or none. */
type Values = string | string[] | undefined;

const AUTHORIZATION = 'authorization';

function text(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return undefined;
}

function toValues(found: readonly unknown[]): Values {
  const values: string[] = [];
  for (const item of found) {
    const value = text(item);
    if (value !== undefined) values.push(value);
  }
  if (values.length === 0) return undefined;
  return values.length === 1 ? values[0] : values;
}

function isAuthorization(name: string): boolean {
  return (
    name.length === AUTHORIZATION.length && name.toLowerCase() === AUTHORIZATION
  );
}

/** Every `authorization` entry of a plain record, whatever the case of its name. */
function fromRecord(record: unknown): Values {
  if (typeof record !== 'object' || record === null) return undefined;
  const found: unknown[] = [];
  for (const [name, value] of Object.entries(record)) {
    if (!isAuthorization(name)) continue;
    if (Array.isArray(value)) found.push(...(value as unknown[]));
    else found.push(value);
  }
  return toValues(found);
}

interface MsgHdrsLike {
  keys(): string[];
  values(key: string): string[];
}

function isMsgHdrs(value: unknown): value is MsgHdrsLike {
  const headers = value as Partial<MsgHdrsLike> | null | undefined;
  return (
    typeof headers?.keys === 'function' && typeof headers.values === 'function'
  );
}

/** NATS headers: names are matched exactly by `values()`, so every spelling is read. */
function fromMsgHdrs(headers: MsgHdrsLike): Values {
  const found: unknown[] = [];
  for (const name of new Set(headers.keys())) {
    if (isAuthorization(name)) found.push(...headers.values(name));
  }
  return toValues(found);
}

/** Whether an RPC context is a gRPC call's `Metadata` (`@grpc/grpc-js`). */
function isGrpcMetadata(
  context: unknown,
): context is { get(key: string): unknown[] } {
  const metadata = context as Record<string, unknown> | null | undefined;
  return (
    typeof metadata?.get === 'function' &&
    typeof metadata.getMap === 'function' &&
    typeof metadata.toHttp2Headers === 'function'
  );
}

/**
 * The `authorization` metadata or header of a message, from the transports that carry
 * them: gRPC metadata, NATS headers, Kafka headers, RabbitMQ message headers, MQTT 5 user
 * properties. Names match in any case. TCP and Redis messages carry none. Several values
 * are returned as a list, which extraction refuses as a repeated credential
 * (`invalid_request`).
 *
 * @param rpcContext what `host.switchToRpc().getContext()` returns.
 */
export function readRpcAuthorization(rpcContext: unknown): Values {
  if (typeof rpcContext !== 'object' || rpcContext === null) return undefined;
  // gRPC: the context is the call's Metadata, whose keys are lower case.
  if (isGrpcMetadata(rpcContext)) {
    return toValues(rpcContext.get(AUTHORIZATION));
  }
  const context = rpcContext as Record<string, unknown>;
  // NATS: NatsContext.getHeaders() is a MsgHdrs, or undefined without headers.
  if (typeof context.getHeaders === 'function') {
    const headers = (context.getHeaders as () => unknown).call(context);
    return isMsgHdrs(headers) ? fromMsgHdrs(headers) : fromRecord(headers);
  }
  // MQTT 5: the user properties of the PUBLISH packet.
  if (typeof context.getPacket === 'function') {
    const packet = (context.getPacket as () => unknown).call(context) as
      { properties?: { userProperties?: unknown } } | undefined;
    return fromRecord(packet?.properties?.userProperties);
  }
  // Kafka (message.headers) and RabbitMQ (message.properties.headers).
  if (typeof context.getMessage === 'function') {
    const message = (context.getMessage as () => unknown).call(context) as
      { headers?: unknown; properties?: { headers?: unknown } } | undefined;
    return (
      fromRecord(message?.headers) ?? fromRecord(message?.properties?.headers)
    );
  }
  return undefined;
}

/** The principal of one message, with the arguments it was attached for. */
interface Attached {
  readonly args: readonly unknown[];
  readonly principal: BearerPrincipal;
}

const ATTACHED = new WeakMap<object, Attached>();

/**
 * The object a message's principal is kept on: its RPC context (the gRPC `Metadata`, a
 * `TcpContext`, ...), else its payload. Nest hands parameter decorators a copy of the
 * argument list the guard saw, never the list itself, so the list cannot be the key; its
 * elements are the same objects.
 */
function holderOf(args: readonly unknown[]): object | undefined {
  for (const index of [1, 0]) {
    const value = args[index];
    if (typeof value === 'object' && value !== null) return value;
  }
  return undefined;
}

function sameArgs(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((value, index) => value === b[index]);
}

/** The gRPC status codes for the module's HTTP statuses (`@grpc/grpc-js` `status`). */
const GRPC_STATUS: Readonly<Record<number, number>> = {
  400: 3, // INVALID_ARGUMENT
  401: 16, // UNAUTHENTICATED
  403: 7, // PERMISSION_DENIED
  500: 14, // UNAVAILABLE: a key fetch that failed may succeed on a retry.
};
const GRPC_UNKNOWN = 2;

type MetadataClass = new () => { set(key: string, value: string): void };

/**
 * The error a refused message replies with: the body's keys (`statusCode`, `error`,
 * `error_description`, `message`, ...) on every RPC transport. A gRPC reply also gets
 * the gRPC status of the HTTP status (401 `UNAUTHENTICATED`, 403 `PERMISSION_DENIED`,
 * 400 `INVALID_ARGUMENT`, 500 `UNAVAILABLE`), the body's sentence as its details, and the
 * challenge as `www-authenticate` trailing metadata.
 */
export function toRpcError(
  host: ArgumentsHost,
  response: BearerErrorResponse,
): Record<string, unknown> {
  const body: Record<string, unknown> = { ...response.body };
  const context: unknown = host.switchToRpc().getContext();
  if (!isGrpcMetadata(context)) return body;
  const details = body.message ?? body.detail;
  const error: Record<string, unknown> = {
    ...body,
    code: GRPC_STATUS[response.status] ?? GRPC_UNKNOWN,
    details: typeof details === 'string' ? details : '',
  };
  if (response.challenge !== undefined) {
    // The request's own Metadata class builds the trailers, so that @grpc/grpc-js stays
    // the app's dependency; a fresh instance, never a clone, which would echo the token.
    const trailers = new (context.constructor as MetadataClass)();
    trailers.set('www-authenticate', response.challenge);
    error.metadata = trailers;
  }
  return error;
}

/**
 * Message handlers (`@MessagePattern`, `@EventPattern`, `@GrpcMethod`): the token travels
 * in the message's `authorization` metadata or header, as `Bearer <token>`. A message
 * without one has no credentials, so a protected handler refuses it.
 */
export const rpcContext: TransportContext = {
  type: 'rpc',
  readCredentials(host): ContextCredentials {
    const authorization = readRpcAuthorization(host.switchToRpc().getContext());
    if (authorization === undefined) return { kind: 'none' };
    return { kind: 'request', request: { headers: { authorization } } };
  },
  attachPrincipal(host, principal): void {
    const args = host.getArgs<unknown[]>();
    const holder = holderOf(args);
    if (holder !== undefined)
      ATTACHED.set(holder, { args: [...args], principal });
  },
  readPrincipal(host): BearerPrincipal | undefined {
    const args = host.getArgs<unknown[]>();
    const holder = holderOf(args);
    if (holder === undefined) return undefined;
    // A transport that reused its context object for another message has other arguments.
    const attached = ATTACHED.get(holder);
    return attached !== undefined && sameArgs(attached.args, args)
      ? attached.principal
      : undefined;
  },
  setHeader(): void {
    // Replies carry no headers on these transports; gRPC trailers are set by toRpcError.
  },
};
