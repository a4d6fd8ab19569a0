import { jest } from '@jest/globals';
import { MetadataScanner, Reflector } from '@nestjs/core';
import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import type { BearerErrorResponse } from '../bearer-challenges.service.js';
import {
  AuthServerError,
  InsufficientAccessError,
  InvalidTokenError,
} from '../bearer.errors.js';
import { createPrincipal, type BearerPrincipal } from '../claims.js';
import { OptionalAuth } from '../decorators/optional-auth.decorator.js';
import { Public } from '../decorators/public.decorator.js';
import { Scopes } from '../decorators/scopes.decorator.js';
import {
  closeAtExpiry,
  gatewayAddressOf,
  isGatewayClass,
  normalizeGatewayPath,
  resolveGatewayAccess,
  SocketStandings,
  strictestAccess,
  toUpgradeCredentialRequest,
  WS_EXPIRED_REASON,
  WS_POLICY_VIOLATION,
  writeUpgradeRefusal,
} from './ws-upgrade.js';

class FakeSocket extends EventEmitter {
  readonly closes: Array<[number, string]> = [];
  close(code: number, reason: string): void {
    this.closes.push([code, reason]);
  }
}

describe('toUpgradeCredentialRequest', () => {
  it('takes the method, URL and headers of the upgrade, and no body', () => {
    const request = {
      method: 'GET',
      url: '/ws?access_token=abc',
      headers: { authorization: 'Bearer abc', host: 'x' },
      rawHeaders: ['Authorization', 'Bearer abc', 'Host', 'x'],
      body: { access_token: 'not this one' },
    } as unknown as IncomingMessage;
    expect(toUpgradeCredentialRequest(request)).toEqual({
      method: 'GET',
      url: '/ws?access_token=abc',
      headers: { authorization: 'Bearer abc', host: 'x' },
      rawHeaders: ['Authorization', 'Bearer abc', 'Host', 'x'],
    });
  });
});

describe('writeUpgradeRefusal', () => {
  const response: BearerErrorResponse = {
    status: 401,
    challenge: 'Bearer realm="r", error="invalid_token"',
    contentType: 'application/json; charset=utf-8',
    json: '', // not read: the body object is
    body: {
      statusCode: 401,
      error: 'invalid_token',
      error_description: 'The access token is expired.',
      message: 'The access token is expired.',
    },
  };

  it('writes the status, challenge and JSON body, then closes the socket', async () => {
    const socket = new PassThrough();
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    writeUpgradeRefusal(socket, response);
    await closed;
    const body = JSON.stringify(response.body);
    expect(Buffer.concat(chunks).toString('utf8')).toBe(
      [
        'HTTP/1.1 401 Unauthorized',
        'Connection: close',
        'Content-Type: application/json; charset=utf-8',
        `Content-Length: ${Buffer.byteLength(body)}`,
        'WWW-Authenticate: Bearer realm="r", error="invalid_token"',
        '',
        body,
      ].join('\r\n'),
    );
    expect(socket.destroyed).toBe(true);
  });

  it('sends no challenge for a 500', () => {
    const socket = new PassThrough();
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    writeUpgradeRefusal(socket, {
      ...response,
      status: 500,
      challenge: undefined,
    });
    const text = Buffer.concat(chunks).toString('utf8');
    expect(text.startsWith('HTTP/1.1 500 Internal Server Error\r\n')).toBe(
      true,
    );
    expect(text).not.toContain('WWW-Authenticate');
  });

  it('only destroys a socket that can no longer be written', () => {
    const socket = new PassThrough();
    socket.destroy();
    expect(() => writeUpgradeRefusal(socket, response)).not.toThrow();
  });
});

describe('closeAtExpiry', () => {
  beforeEach(() => {
    jest.useFakeTimers({ now: 1_000_000 });
  });

  afterEach(() => {
    jest.useRealTimers();
  });

  it('closes with 1008 at exp plus the clock tolerance, not before', () => {
    const socket = new FakeSocket();
    closeAtExpiry(socket, 1_000 + 10, 5);
    jest.advanceTimersByTime(14_999);
    expect(socket.closes).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(socket.closes).toEqual([[WS_POLICY_VIOLATION, WS_EXPIRED_REASON]]);
    expect(WS_POLICY_VIOLATION).toBe(1008);
    expect(WS_EXPIRED_REASON).toBe('The access token is expired.');
    expect(jest.getTimerCount()).toBe(0);
  });

  it('keeps no timer once the socket closed, and never holds the process open', () => {
    const setTimeoutSpy = jest.spyOn(globalThis, 'setTimeout');
    const socket = new FakeSocket();
    closeAtExpiry(socket, 1_000 + 60, 0);
    expect(jest.getTimerCount()).toBe(1);
    const timer = setTimeoutSpy.mock.results[0]?.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    socket.emit('close');
    expect(jest.getTimerCount()).toBe(0);
    jest.advanceTimersByTime(120_000);
    expect(socket.closes).toEqual([]);
    setTimeoutSpy.mockRestore();
  });

  it('waits in steps for a deadline past the longest timer', () => {
    const socket = new FakeSocket();
    const days = 40;
    closeAtExpiry(socket, 1_000 + days * 86_400, 0);
    jest.advanceTimersByTime((days * 86_400 - 1) * 1000);
    expect(socket.closes).toEqual([]);
    jest.advanceTimersByTime(1000);
    expect(socket.closes).toHaveLength(1);
  });

  it('closes at once when the principal has no numeric exp', () => {
    const socket = new FakeSocket();
    closeAtExpiry(socket, undefined, 30);
    expect(socket.closes).toEqual([[1008, WS_EXPIRED_REASON]]);
  });
});

@WebSocketGateway({ path: 'ws/' })
class MixedGateway {
  @Public()
  @SubscribeMessage('ping')
  ping(): void {}

  @Scopes('documents.read')
  @SubscribeMessage('documents')
  documents(): void {}

  /** Not a message handler: it counts for nothing. */
  @Public()
  helper(): void {}
}

@WebSocketGateway(8081, { path: '/optional' })
class OptionalGateway {
  @Public()
  @SubscribeMessage('ping')
  ping(): void {}

  @OptionalAuth()
  @SubscribeMessage('feed')
  feed(): void {}
}

@Public()
@WebSocketGateway()
class PublicClassGateway {
  @SubscribeMessage('ping')
  ping(): void {}
}

@WebSocketGateway()
class HandlerlessGateway {}

@Public()
@WebSocketGateway()
class PublicHandlerlessGateway {}

class NotAGateway {}

describe('SocketStandings', () => {
  const of = (sub: string): BearerPrincipal =>
    createPrincipal({ sub }, { scopeClaims: ['scp'], roleClaim: 'roles' });

  it('closes with 1008 and the description the sockets whose principal a check refuses, once', () => {
    const refused = new Set<string>();
    const standings = new SocketStandings((principal) => {
      if (refused.has(principal.sub ?? '')) {
        throw new InvalidTokenError('revoked');
      }
    });
    const alice = new FakeSocket();
    const bob = new FakeSocket();
    standings.watch(alice, of('alice'));
    standings.watch(bob, of('bob'));
    standings.recheck();
    expect([alice.closes, bob.closes]).toEqual([[], []]);
    refused.add('alice');
    standings.recheck();
    standings.recheck();
    expect(alice.closes).toEqual([
      [WS_POLICY_VIOLATION, 'The access token is revoked.'],
    ]);
    expect(bob.closes).toEqual([]);
    expect(standings.size).toBe(1);
  });

  it('closes at once a socket whose principal is refused when it starts being followed', () => {
    const standings = new SocketStandings(() => {
      throw new InvalidTokenError('revoked');
    });
    const socket = new FakeSocket();
    standings.watch(socket, of('alice'));
    expect(socket.closes).toEqual([
      [WS_POLICY_VIOLATION, 'The access token is revoked.'],
    ]);
    expect(standings.size).toBe(0);
  });

  it('forgets a socket once it closes', () => {
    let revoked = false;
    const standings = new SocketStandings(() => {
      if (revoked) throw new InvalidTokenError('revoked');
    });
    const socket = new FakeSocket();
    standings.watch(socket, of('alice'));
    socket.emit('close');
    revoked = true;
    expect(standings.size).toBe(0);
    standings.recheck();
    expect(socket.closes).toEqual([]);
  });

  it('closes nothing when a check cannot answer (5xx, say a store outage)', () => {
    const standings = new SocketStandings(() => {
      throw new AuthServerError('the revocation store is unavailable');
    });
    const socket = new FakeSocket();
    standings.watch(socket, of('alice'));
    standings.recheck();
    expect(socket.closes).toEqual([]);
    expect(standings.size).toBe(1);
  });

  it('keeps the close reason within the 123 bytes a close frame allows', () => {
    const closeWith = (description: string) => {
      const socket = new FakeSocket();
      new SocketStandings(() => {
        throw new InsufficientAccessError(description);
      }).watch(socket, of('alice'));
      return socket.closes;
    };
    // 123 bytes is kept; 124 (a two-byte character more) is not.
    const longest = `${'é'.repeat(61)}a`;
    expect(closeWith(longest)).toEqual([[WS_POLICY_VIOLATION, longest]]);
    expect(closeWith('é'.repeat(62))).toEqual([
      [WS_POLICY_VIOLATION, 'The access token is no longer accepted.'],
    ]);
  });
});

describe('gateway access', () => {
  const reflector = new Reflector();
  const scanner = new MetadataScanner();
  const access = (type: new () => object) =>
    resolveGatewayAccess(reflector, scanner, type);

  it('is the strictest access of the gateway message handlers', () => {
    expect(access(MixedGateway)).toBe('required');
    expect(access(OptionalGateway)).toBe('optional');
    expect(access(PublicClassGateway)).toBe('public');
  });

  it('follows the class for a gateway without message handlers, required by default', () => {
    expect(access(HandlerlessGateway)).toBe('required');
    expect(access(PublicHandlerlessGateway)).toBe('public');
  });

  it('is required when no gateway vouches for a path', () => {
    expect(strictestAccess([])).toBe('required');
    expect(strictestAccess(['public', 'optional'])).toBe('optional');
    expect(strictestAccess(['public', 'public'])).toBe('public');
    expect(strictestAccess(['optional', 'required', 'public'])).toBe(
      'required',
    );
  });

  it('reads the port and the path as Nest matches them', () => {
    expect(isGatewayClass(MixedGateway)).toBe(true);
    expect(isGatewayClass(NotAGateway)).toBe(false);
    expect(gatewayAddressOf(MixedGateway)).toEqual({ port: 0, path: '/ws' });
    expect(gatewayAddressOf(OptionalGateway)).toEqual({
      port: 8081,
      path: '/optional',
    });
    expect(gatewayAddressOf(HandlerlessGateway)).toEqual({
      port: 0,
      path: '/',
    });
    expect(normalizeGatewayPath('//a/b//')).toBe('/a/b');
    expect(normalizeGatewayPath(undefined)).toBe('/');
  });
});
