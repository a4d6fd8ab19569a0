import { jest } from '@jest/globals';
import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { resolveAuthOptions } from './auth-options.js';
import {
  BearerGuard,
  fingerprintToken,
  toBearerError,
} from './bearer.guard.js';
import { AuthServerError, InvalidTokenError } from './bearer.errors.js';
import { IssuerKeysService } from './keys/issuer-keys.service.js';

function createGuard(): BearerGuard {
  const options = resolveAuthOptions({
    issuer: 'https://issuer.example/',
    audience: 'api',
    jwksUri: 'https://issuer.example/jwks.json',
  });
  return new BearerGuard(
    new Reflector(),
    options,
    new IssuerKeysService(options),
  );
}

function contextOf(type: string): ExecutionContext {
  return { getType: () => type } as unknown as ExecutionContext;
}

describe('BearerGuard outside HTTP', () => {
  it('lets a non-HTTP context through and warns once per kind', () => {
    const guard = createGuard();
    const warn = jest
      .spyOn(
        (guard as unknown as { logger: { warn: (m: string) => void } }).logger,
        'warn',
      )
      .mockImplementation(() => undefined);
    expect(guard.canActivate(contextOf('rpc'))).toBe(true);
    expect(guard.canActivate(contextOf('rpc'))).toBe(true);
    expect(guard.canActivate(contextOf('ws'))).toBe(true);
    expect(warn).toHaveBeenCalledTimes(2);
    expect(warn.mock.calls[0]?.[0]).toContain('"rpc"');
  });
});

describe('toBearerError', () => {
  it('maps jsonwebtoken failures to fixed reasons, never their text', () => {
    const jwtError = (message: string) =>
      Object.assign(new Error(message), { name: 'JsonWebTokenError' });
    const cases: [Error, string][] = [
      [jwtError('invalid signature'), 'signature'],
      [jwtError('jwt audience invalid. expected: x'), 'audience'],
      [jwtError('jwt issuer invalid. expected: y'), 'issuer'],
      [jwtError('invalid algorithm'), 'algorithm'],
      [jwtError('jwt malformed'), 'malformed'],
      [jwtError('something new'), 'invalid'],
      [
        Object.assign(new Error('jwt expired'), { name: 'TokenExpiredError' }),
        'expired',
      ],
      [
        Object.assign(new Error('jwt not active'), { name: 'NotBeforeError' }),
        'not_yet_valid',
      ],
    ];
    for (const [error, reason] of cases) {
      const mapped = toBearerError(error, false);
      expect(mapped).toBeInstanceOf(InvalidTokenError);
      expect((mapped as InvalidTokenError).reason).toBe(reason);
      expect(JSON.stringify(mapped.getResponse())).not.toContain(error.message);
    }
  });

  it('turns an unknown fault into a 500 when it is a server fault, 401 otherwise', () => {
    expect(toBearerError(new Error('boom'), true)).toBeInstanceOf(
      AuthServerError,
    );
    expect(toBearerError(new Error('boom'), false)).toBeInstanceOf(
      InvalidTokenError,
    );
    expect(toBearerError(undefined, false)).toBeInstanceOf(InvalidTokenError);
  });
});

describe('fingerprintToken', () => {
  it('is short, stable and does not contain the token', () => {
    const token = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln';
    const print = fingerprintToken(token);
    expect(print).toHaveLength(16);
    expect(fingerprintToken(token)).toBe(print);
    expect(token).not.toContain(print);
  });
});
