import { Metadata } from '@grpc/grpc-js';
import { ExecutionContextHost } from '@nestjs/core/internal';
import {
  KafkaContext,
  MqttContext,
  NatsContext,
  RedisContext,
  RmqContext,
  TcpContext,
} from '@nestjs/microservices';
import type { BearerErrorResponse } from '../bearer-challenges.service.js';
import { createPrincipal } from '../claims.js';
import { readRpcAuthorization, rpcContext, toRpcError } from './rpc.context.js';

const TOKEN = 'Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln';
const OTHER = 'Bearer eyJhbGciOiJSUzI1NiJ9.e30.b3RoZXI';

/** A NATS `MsgHdrs` as `@nats-io/nats-core` has it: names kept as set, matched exactly. */
class FakeMsgHdrs {
  private readonly map = new Map<string, string[]>();

  append(name: string, value: string): this {
    this.map.set(name, [...(this.map.get(name) ?? []), value]);
    return this;
  }

  keys(): string[] {
    return [...this.map.keys()];
  }

  values(name: string): string[] {
    return this.map.get(name) ?? [];
  }

  get(name: string): string {
    return this.values(name)[0] ?? '';
  }
}

function grpc(...values: string[]): Metadata {
  const metadata = new Metadata();
  for (const value of values) {
    metadata.add('authorization', value);
  }
  return metadata;
}

function nats(headers: FakeMsgHdrs | undefined): NatsContext {
  return new NatsContext(['documents.list', headers as never]);
}

function kafka(headers: Record<string, unknown> | undefined): KafkaContext {
  const message = {
    key: null,
    value: null,
    timestamp: '0',
    offset: '0',
    attributes: 0,
    headers,
  };
  return new KafkaContext([
    message as never,
    0,
    'documents',
    {} as never,
    () => Promise.resolve(),
    {} as never,
  ]);
}

function rmq(headers: Record<string, unknown> | undefined): RmqContext {
  const message = {
    content: Buffer.from('{}'),
    fields: {},
    properties: { headers },
  };
  return new RmqContext([message, {}, 'documents.list']);
}

function mqtt(
  userProperties: Record<string, unknown> | undefined,
): MqttContext {
  const packet = {
    cmd: 'publish',
    topic: 'documents',
    properties: { userProperties },
  };
  return new MqttContext(['documents', packet as never]);
}

describe('readRpcAuthorization', () => {
  describe('gRPC (a real @grpc/grpc-js Metadata)', () => {
    it('reads the authorization metadata, whatever case it was set in', () => {
      const metadata = new Metadata();
      metadata.set('Authorization', TOKEN);
      expect(readRpcAuthorization(metadata)).toBe(TOKEN);
    });

    it('returns every value of a repeated authorization entry', () => {
      expect(readRpcAuthorization(grpc(TOKEN, OTHER))).toEqual([TOKEN, OTHER]);
    });

    it('has no credentials without the entry, whatever else the metadata carries', () => {
      const metadata = new Metadata();
      metadata.set('x-request-id', '42');
      expect(readRpcAuthorization(metadata)).toBeUndefined();
    });
  });

  describe('NATS (NatsContext.getHeaders())', () => {
    it('reads a header set in any case, as one value', () => {
      expect(
        readRpcAuthorization(
          nats(new FakeMsgHdrs().append('Authorization', TOKEN)),
        ),
      ).toBe(TOKEN);
      expect(
        readRpcAuthorization(
          nats(new FakeMsgHdrs().append('authorization', TOKEN)),
        ),
      ).toBe(TOKEN);
    });

    it('returns every value, across spellings of the name', () => {
      const appended = new FakeMsgHdrs()
        .append('authorization', TOKEN)
        .append('authorization', OTHER);
      expect(readRpcAuthorization(nats(appended))).toEqual([TOKEN, OTHER]);
      const spelled = new FakeMsgHdrs()
        .append('Authorization', TOKEN)
        .append('AUTHORIZATION', OTHER);
      expect(readRpcAuthorization(nats(spelled))).toEqual([TOKEN, OTHER]);
    });

    it('has no credentials for a message without headers, or without the header', () => {
      expect(readRpcAuthorization(nats(undefined))).toBeUndefined();
      expect(
        readRpcAuthorization(nats(new FakeMsgHdrs().append('x-trace', '1'))),
      ).toBeUndefined();
    });
  });

  describe('Kafka (message.headers)', () => {
    it('reads a Buffer or string header, in any case', () => {
      expect(
        readRpcAuthorization(kafka({ authorization: Buffer.from(TOKEN) })),
      ).toBe(TOKEN);
      expect(readRpcAuthorization(kafka({ Authorization: TOKEN }))).toBe(TOKEN);
    });

    it('returns every value of an array header, or of two spellings', () => {
      expect(
        readRpcAuthorization(
          kafka({ authorization: [Buffer.from(TOKEN), OTHER] }),
        ),
      ).toEqual([TOKEN, OTHER]);
      expect(
        readRpcAuthorization(
          kafka({ authorization: TOKEN, Authorization: OTHER }),
        ),
      ).toEqual([TOKEN, OTHER]);
    });

    it('has no credentials without headers, or with an unset header', () => {
      expect(readRpcAuthorization(kafka(undefined))).toBeUndefined();
      expect(
        readRpcAuthorization(kafka({ authorization: undefined })),
      ).toBeUndefined();
    });
  });

  describe('RabbitMQ (message.properties.headers)', () => {
    it('reads the header', () => {
      expect(readRpcAuthorization(rmq({ authorization: TOKEN }))).toBe(TOKEN);
    });

    it('returns every value of an array header', () => {
      expect(
        readRpcAuthorization(rmq({ authorization: [TOKEN, OTHER] })),
      ).toEqual([TOKEN, OTHER]);
    });

    it('has no credentials without headers', () => {
      expect(readRpcAuthorization(rmq(undefined))).toBeUndefined();
    });
  });

  describe('MQTT 5 (user properties of the packet)', () => {
    it('reads the user property', () => {
      expect(readRpcAuthorization(mqtt({ authorization: TOKEN }))).toBe(TOKEN);
    });

    it('returns every value of a repeated user property', () => {
      expect(
        readRpcAuthorization(mqtt({ authorization: [TOKEN, OTHER] })),
      ).toEqual([TOKEN, OTHER]);
    });

    it('has no credentials for an MQTT 3 packet (no properties)', () => {
      const packet = { cmd: 'publish', topic: 'documents' };
      expect(
        readRpcAuthorization(new MqttContext(['documents', packet as never])),
      ).toBeUndefined();
      expect(readRpcAuthorization(mqtt(undefined))).toBeUndefined();
    });
  });

  it('has no credentials on TCP and Redis, which carry no headers', () => {
    expect(
      readRpcAuthorization(new TcpContext([{} as never, 'documents.list'])),
    ).toBeUndefined();
    expect(
      readRpcAuthorization(new RedisContext(['documents.list'])),
    ).toBeUndefined();
  });

  it('has no credentials for no context, or a context of another shape', () => {
    expect(readRpcAuthorization(undefined)).toBeUndefined();
    expect(readRpcAuthorization(null)).toBeUndefined();
    expect(readRpcAuthorization('Bearer abc')).toBeUndefined();
    expect(readRpcAuthorization({ authorization: TOKEN })).toBeUndefined();
  });

  it('ignores values that are neither strings nor Buffers', () => {
    expect(readRpcAuthorization(kafka({ authorization: 42 }))).toBeUndefined();
    expect(readRpcAuthorization(mqtt({ authorization: [{}, TOKEN] }))).toBe(
      TOKEN,
    );
  });
});

function rpcHost(args: unknown[]): ExecutionContextHost {
  const host = new ExecutionContextHost(args);
  host.setType('rpc');
  return host;
}

describe('rpcContext', () => {
  const principal = createPrincipal(
    { sub: 'alice', scp: 'documents.read' },
    { scopeClaims: ['scp'], roleClaim: 'roles' },
  );

  it('asks for a token when the message carries one, and has no credentials otherwise', () => {
    expect(rpcContext.readCredentials(rpcHost([{}, grpc(TOKEN)]))).toEqual({
      kind: 'request',
      request: { headers: { authorization: TOKEN } },
    });
    expect(
      rpcContext.readCredentials(rpcHost([{}, grpc(TOKEN, OTHER)])),
    ).toEqual({
      kind: 'request',
      request: { headers: { authorization: [TOKEN, OTHER] } },
    });
    expect(
      rpcContext.readCredentials(
        rpcHost([{}, new TcpContext([{} as never, 'p'])]),
      ),
    ).toEqual({ kind: 'none' });
  });

  it('hands the principal to parameter decorators, which get a copy of the argument list', () => {
    const args = [{ id: 1 }, new TcpContext([{} as never, 'p'])];
    rpcContext.attachPrincipal(rpcHost(args), principal);
    // Nest builds the decorators' context from `(...args) => factory(data, ctx(args))`.
    expect(rpcContext.readPrincipal(rpcHost([...args]))).toBe(principal);
  });

  it('keeps a message with a primitive payload apart from others', () => {
    const context = new TcpContext([{} as never, 'p']);
    rpcContext.attachPrincipal(rpcHost(['hello', context]), principal);
    expect(rpcContext.readPrincipal(rpcHost(['hello', context]))).toBe(
      principal,
    );
    expect(
      rpcContext.readPrincipal(
        rpcHost(['hello', new TcpContext([{} as never, 'p'])]),
      ),
    ).toBeUndefined();
  });

  it('does not hand a principal to another message that reuses the context object', () => {
    const shared = { reused: true };
    rpcContext.attachPrincipal(rpcHost([{ id: 1 }, shared]), principal);
    expect(
      rpcContext.readPrincipal(rpcHost([{ id: 2 }, shared])),
    ).toBeUndefined();
  });

  it('has no principal where the guard did not run', () => {
    expect(
      rpcContext.readPrincipal(
        rpcHost([{}, new TcpContext([{} as never, 'p'])]),
      ),
    ).toBeUndefined();
    expect(
      rpcContext.readPrincipal(rpcHost(['text', undefined])),
    ).toBeUndefined();
  });
});

describe('toRpcError', () => {
  const challenge = 'Bearer error="insufficient_scope", scope="documents.read"';
  const sentence =
    'The request requires higher privileges than provided by the access token.';
  const refusal: BearerErrorResponse = {
    status: 403,
    challenge,
    contentType: 'application/json; charset=utf-8',
    json: '', // not read: the body object is
    body: {
      statusCode: 403,
      error: 'insufficient_scope',
      error_description: sentence,
      message: sentence,
      scope: 'documents.read',
    },
  };

  it('is a copy of the body on transports without status codes or trailers', () => {
    const error = toRpcError(
      rpcHost([{}, new TcpContext([{} as never, 'p'])]),
      refusal,
    );
    expect(error).toEqual(refusal.body);
    expect(error).not.toBe(refusal.body);
  });

  it.each([
    [400, 3],
    [401, 16],
    [403, 7],
    [500, 14],
    [429, 2],
  ])('gives a gRPC reply for HTTP %i the status code %i', (status, code) => {
    const error = toRpcError(rpcHost([{}, grpc(TOKEN)]), {
      ...refusal,
      status,
    });
    expect(error).toMatchObject({
      code,
      details: sentence,
      error: 'insufficient_scope',
    });
  });

  it('sends the challenge as gRPC trailing metadata, never the request metadata', () => {
    const error = toRpcError(rpcHost([{}, grpc(TOKEN)]), refusal);
    const trailers = error.metadata as Metadata;
    expect(trailers).toBeInstanceOf(Metadata);
    expect(trailers.getMap()).toEqual({ 'www-authenticate': challenge });
  });

  it('sends no trailers without a challenge (a 500), and uses a problem body detail', () => {
    const error = toRpcError(rpcHost([{}, grpc()]), {
      status: 500,
      challenge: undefined,
      contentType: 'application/problem+json; charset=utf-8',
      json: '', // not read: the body object is
      body: {
        type: 'about:blank',
        title: 'Internal Server Error',
        status: 500,
        detail: 'retry',
        error: null,
        error_description: null,
      },
    });
    expect(error).toMatchObject({ code: 14, details: 'retry' });
    expect(error.metadata).toBeUndefined();
  });
});
