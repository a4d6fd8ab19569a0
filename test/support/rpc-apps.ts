/**
 * Hybrid apps for the microservices e2e specs: HTTP plus a real TCP, gRPC or MQTT 5
 * microservice on 127.0.0.1, with the auth module guarding both, and real clients for
 * them.
 */
import { fileURLToPath } from 'node:url';
import type { Metadata } from '@grpc/grpc-js';
import {
  Controller,
  Get,
  Module,
  type DynamicModule,
  type INestApplication,
  type LoggerService,
  type Type,
} from '@nestjs/common';
import {
  ClientProxyFactory,
  EventPattern,
  GrpcMethod,
  MessagePattern,
  MqttRecordBuilder,
  Payload,
  Transport,
  type ClientGrpc,
  type ClientProxy,
  type MicroserviceOptions,
} from '@nestjs/microservices';
import { ExpressAdapter } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import type { AddressInfo, Server } from 'node:net';
import type { Observable } from 'rxjs';
import {
  Principal,
  Public,
  Scopes,
  type BearerPrincipal,
} from '../../lib/index.js';
import { findFreePort } from './sample-app-process.js';

/** How often each message handler ran; the specs reset it before every case. */
export const handlerCalls = { list: 0, me: 0, health: 0 };

/** How often each event handler ran, with {@link handlerCalls}. */
export const eventCalls = { created: 0 };

/** Sets every counter of {@link handlerCalls} back to 0. */
export function resetHandlerCalls(): void {
  handlerCalls.list = 0;
  handlerCalls.me = 0;
  handlerCalls.health = 0;
  eventCalls.created = 0;
}

/** A document as the handlers answer it. */
export interface DocumentReply {
  id: number;
  title: string;
  owner: string;
}

/** The caller as the `me` handlers answer it; `sub` is empty without a principal. */
export interface MeReply {
  sub: string;
  scopes: string[];
}

function documentsOf(
  caller: BearerPrincipal | undefined,
  title: string | undefined,
): DocumentReply[] {
  return [{ id: 1, title: title || 'Plan', owner: caller?.sub ?? '' }];
}

function meOf(caller: BearerPrincipal | undefined): MeReply {
  return { sub: caller?.sub ?? '', scopes: [...(caller?.scopes ?? [])] };
}

/** Message handlers (TCP, MQTT), next to HTTP routes (the app is hybrid). */
@Controller()
export class DocumentsMessagesController {
  @Public()
  @Get('health')
  httpHealth(): { status: string } {
    return { status: 'ok' };
  }

  @Get('me')
  httpMe(@Principal() caller: BearerPrincipal): MeReply {
    return meOf(caller);
  }

  @Scopes('documents.read')
  @MessagePattern('documents.list')
  list(
    @Payload() data: { title?: string } | undefined,
    @Principal() caller: BearerPrincipal | undefined,
  ): DocumentReply[] {
    handlerCalls.list++;
    return documentsOf(caller, data?.title);
  }

  @MessagePattern('me')
  me(@Principal() caller: BearerPrincipal | undefined): MeReply {
    handlerCalls.me++;
    return meOf(caller);
  }

  @Public()
  @MessagePattern('health')
  health(): { status: string } {
    handlerCalls.health++;
    return { status: 'ok' };
  }

  @Scopes('documents.write')
  @EventPattern('documents.created')
  created(@Payload() _event: unknown): void {
    eventCalls.created++;
  }
}

/** The `bearer.test.Documents` service of `rpc-documents.proto`. */
@Controller()
export class GrpcDocumentsController {
  @Scopes('documents.read')
  @GrpcMethod('Documents', 'List')
  list(
    @Payload() request: { title?: string },
    @Principal() caller: BearerPrincipal | undefined,
  ): { documents: DocumentReply[] } {
    handlerCalls.list++;
    return { documents: documentsOf(caller, request.title) };
  }

  @GrpcMethod('Documents', 'Me')
  me(
    @Payload() _request: unknown,
    @Principal() caller: BearerPrincipal | undefined,
  ): MeReply {
    handlerCalls.me++;
    return meOf(caller);
  }

  @Public()
  @GrpcMethod('Documents', 'Health')
  health(): { status: string } {
    handlerCalls.health++;
    return { status: 'ok' };
  }
}

/** The client side of `bearer.test.Documents`, as `ClientGrpc.getService()` gives it. */
export interface DocumentsGrpcService {
  list(
    request: { title?: string },
    metadata?: Metadata,
  ): Observable<{ documents?: DocumentReply[] }>;
  me(request: object, metadata?: Metadata): Observable<MeReply>;
  health(request: object, metadata?: Metadata): Observable<{ status: string }>;
}

/** The proto file of the gRPC service. */
export const DOCUMENTS_PROTO = fileURLToPath(
  new URL('./rpc-documents.proto', import.meta.url),
);
const GRPC_PACKAGE = 'bearer.test';

/** The RPC transports the specs run on. */
export type RpcTransportName = 'tcp' | 'grpc' | 'mqtt';

/** How to build a hybrid app. */
export interface HybridAppOptions {
  transport: RpcTransportName;
  /** `connectMicroservice(options, { inheritAppConfig })`. */
  inheritAppConfig: boolean;
  /** @default false */
  logger?: LoggerService | false;
  /** @default the transport's documents controller */
  controllers?: Type[];
  /** The broker of the `mqtt` transport (`mqtt://127.0.0.1:PORT`). */
  brokerUrl?: string;
}

/** A running hybrid app. */
export interface HybridApp {
  app: INestApplication;
  /** `http://127.0.0.1:PORT` of the HTTP side. */
  url: string;
  /** The port of the microservice on 127.0.0.1 (none for MQTT, a client of its broker). */
  rpcPort: number;
}

function microserviceOptions(
  options: HybridAppOptions,
  port: number,
): MicroserviceOptions {
  switch (options.transport) {
    case 'tcp':
      return { transport: Transport.TCP, options: { host: '127.0.0.1', port } };
    case 'grpc':
      return {
        transport: Transport.GRPC,
        options: {
          package: GRPC_PACKAGE,
          protoPath: DOCUMENTS_PROTO,
          url: `127.0.0.1:${port}`,
        },
      };
    case 'mqtt':
      if (options.brokerUrl === undefined) {
        throw new Error('the mqtt transport needs brokerUrl');
      }
      return {
        transport: Transport.MQTT,
        options: { url: options.brokerUrl, protocolVersion: 5 },
      };
  }
}

/**
 * Starts a hybrid app on 127.0.0.1: `auth` plus the documents controller, HTTP on an
 * ephemeral port and the microservice on its own (TCP on port 0; gRPC, whose bound port
 * Nest does not report, on a port that was free a moment ago).
 */
export async function startHybridApp(
  auth: DynamicModule,
  options: HybridAppOptions,
): Promise<HybridApp> {
  @Module({
    imports: [auth],
    controllers: options.controllers ?? [
      options.transport === 'grpc'
        ? GrpcDocumentsController
        : DocumentsMessagesController,
    ],
  })
  class HybridModule {}

  const moduleRef = await Test.createTestingModule({
    imports: [HybridModule],
  }).compile();
  const app = moduleRef.createNestApplication(new ExpressAdapter(), {
    logger: options.logger ?? false,
  });
  const port = options.transport === 'grpc' ? await findFreePort() : 0;
  const microservice = app.connectMicroservice<MicroserviceOptions>(
    microserviceOptions(options, port),
    { inheritAppConfig: options.inheritAppConfig },
  );
  try {
    await app.startAllMicroservices();
    await app.listen(0, '127.0.0.1');
  } catch (error) {
    await app.close();
    throw error;
  }
  const rpcPort =
    options.transport === 'tcp'
      ? (microservice.unwrap<Server>().address() as AddressInfo).port
      : port;
  return { app, url: await app.getUrl(), rpcPort };
}

/** A real TCP client of the hybrid app's microservice. */
export async function connectTcpClient(port: number): Promise<ClientProxy> {
  const client = ClientProxyFactory.create({
    transport: Transport.TCP,
    options: { host: '127.0.0.1', port },
  });
  await client.connect();
  return client;
}

/** A real gRPC client of the hybrid app's `Documents` service, and a way to close it. */
export function connectGrpcClient(port: number): {
  documents: DocumentsGrpcService;
  close: () => void;
} {
  const client = ClientProxyFactory.create({
    transport: Transport.GRPC,
    options: {
      package: GRPC_PACKAGE,
      protoPath: DOCUMENTS_PROTO,
      url: `127.0.0.1:${port}`,
    },
  }) as unknown as ClientGrpc & { close: () => void };
  return {
    documents: client.getService<DocumentsGrpcService>('Documents'),
    close: () => client.close(),
  };
}

/** A real MQTT 5 client of the hybrid app's message handlers, through `brokerUrl`. */
export async function connectMqttClient(
  brokerUrl: string,
): Promise<ClientProxy> {
  const client = ClientProxyFactory.create({
    transport: Transport.MQTT,
    options: { url: brokerUrl, protocolVersion: 5 },
  });
  await client.connect();
  return client;
}

/** An MQTT message with `authorization` user properties (one per value, repeats kept). */
export function withAuthorization(data: unknown, ...values: string[]): unknown {
  return new MqttRecordBuilder(data)
    .setProperties({
      userProperties: {
        authorization: values.length === 1 ? values[0] : values,
      },
    })
    .build();
}
