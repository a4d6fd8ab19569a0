import { jest } from '@jest/globals';
import type { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ExecutionContextHost } from '@nestjs/core/internal';
import { resolveAuthOptions, type AuthModuleOptions } from './auth-options.js';
import type {
  Authentication,
  BearerAuthenticator,
  CredentialRequest,
} from './bearer-authenticator.service.js';
import type { BearerChallengesService } from './bearer-challenges.service.js';
import {
  AuthenticationRequiredError,
  AuthServerError,
  InsufficientAccessError,
  InsufficientScopeError,
  InvalidTokenError,
} from './bearer.errors.js';
import { BearerGuard } from './bearer.guard.js';
import { createPrincipal, type BearerPrincipal } from './claims.js';
import { OptionalAuth } from './decorators/optional-auth.decorator.js';
import { Public } from './decorators/public.decorator.js';
import { Roles } from './decorators/roles.decorator.js';
import { Scopes } from './decorators/scopes.decorator.js';
import { writePrincipal } from './request-state.js';

@Scopes('class.scope')
class ScopedController {
  @Scopes('handler.scope')
  both(): void {}
}

class PlainController {
  @Roles('A', 'B')
  roles(): void {}

  open(): void {}
  @Public()
  publicOne(): void {}
  @OptionalAuth()
  optional(): void {}
}

@Public()
class PublicController {
  @Scopes('needed')
  scoped(): void {}
}

const principal = (claims: Record<string, unknown>) =>
  createPrincipal(
    { exp: Date.now() / 1000 + 60, ...claims },
    { scopeClaims: ['scp'], roleClaim: 'roles' },
  );

/** An authenticator that answers from a table of tokens. */
function fakeAuthenticator(
  tokens: Record<string, Record<string, unknown>>,
): BearerAuthenticator {
  return {
    // No @Resource() routes here: every audience the (fake) policy admitted is fine.
    assertAudience(): void {},
    // A principal whose claims say "revoked" no longer stands.
    checkStanding(held: BearerPrincipal): void {
      if (held.claims.revoked === true) throw new InvalidTokenError('revoked');
    },
    authenticate(request: CredentialRequest): Authentication {
      const header = request.headers.authorization;
      if (header === undefined) throw new AuthenticationRequiredError();
      const token = String(header).replace(/^Bearer /, '');
      const claims = tokens[token];
      if (claims === undefined) throw new InvalidTokenError('signature');
      return {
        principal: principal(claims),
        token,
        location: 'header',
        scheme: 'Bearer',
        responseHeaders: {},
      };
    },
  } as unknown as BearerAuthenticator;
}

const challenges = {
  render: () => ({ challenge: 'Bearer error="x"' }),
  isSettled: () => true,
} as unknown as BearerChallengesService;

interface Call {
  context: ExecutionContext;
  request: { headers: Record<string, string>; user?: unknown };
  headers: Record<string, string>;
}

function httpCall(
  type: 'http' | 'graphql' | 'ws' | 'rpc' | 'kafka-custom',
  target: object,
  method: string,
  authorization?: string,
  client: object = {},
): Call {
  const headers: Record<string, string> = {};
  const request = {
    method: 'GET',
    url: '/',
    headers: authorization === undefined ? {} : { authorization },
  };
  const response = { setHeader: (n: string, v: string) => (headers[n] = v) };
  const args =
    type === 'graphql'
      ? [{}, {}, { req: { ...request, res: response } }, {}]
      : type === 'ws'
        ? [client, {}]
        : type === 'rpc'
          ? [{}, undefined]
          : [request, response];
  const handler = (target as { prototype: Record<string, object> }).prototype[
    method
  ];
  const context = {
    getType: () => type,
    getHandler: () => handler,
    getClass: () => target,
    getArgs: () => args,
    getArgByIndex: (i: number) => args[i],
    switchToHttp: () => ({
      getRequest: () => args[0],
      getResponse: () => args[1],
    }),
    switchToWs: () => ({ getClient: () => args[0] }),
    switchToRpc: () => ({ getContext: () => args[1], getData: () => args[0] }),
  } as unknown as ExecutionContext;
  return { context, request: args[0] as Call['request'], headers };
}

function createGuard(
  extra: Partial<AuthModuleOptions> = {},
  tokens: Record<string, Record<string, unknown>> = {},
): BearerGuard {
  const options = resolveAuthOptions({
    issuer: 'https://issuer.example/',
    audience: 'api',
    jwksUri: 'https://issuer.example/jwks.json',
    ...extra,
  });
  return new BearerGuard(
    new Reflector(),
    options,
    fakeAuthenticator(tokens),
    challenges,
  );
}

const run = (guard: BearerGuard, call: Call) => () =>
  guard.canActivate(call.context);

describe('BearerGuard', () => {
  const tokens = {
    both: { scp: 'class.scope handler.scope', roles: ['A', 'B'] },
    handlerOnly: { scp: 'handler.scope' },
    roleA: { roles: ['A'] },
  };

  it('requires the class and the handler scopes together (all of them)', () => {
    const guard = createGuard({}, tokens);
    expect(
      guard.canActivate(
        httpCall('http', ScopedController, 'both', 'Bearer both').context,
      ),
    ).toBe(true);
    const call = httpCall(
      'http',
      ScopedController,
      'both',
      'Bearer handlerOnly',
    );
    expect(run(guard, call)).toThrow(InsufficientScopeError);
    try {
      void guard.canActivate(call.context);
    } catch (error) {
      expect((error as InsufficientScopeError).scopes).toEqual([
        'handler.scope',
        'class.scope',
      ]);
    }
  });

  it('requires every role listed', () => {
    const guard = createGuard({}, tokens);
    expect(
      run(guard, httpCall('http', PlainController, 'roles', 'Bearer roleA')),
    ).toThrow(InsufficientAccessError);
  });

  it('sets the challenge on the response before it throws', () => {
    const guard = createGuard({}, tokens);
    const call = httpCall('http', PlainController, 'open', 'Bearer wrong');
    expect(run(guard, call)).toThrow(InvalidTokenError);
    expect(call.headers['WWW-Authenticate']).toBe('Bearer error="x"');
  });

  it('sets the challenge for an authorization failure after an asynchronous verification', async () => {
    const asynchronous = fakeAuthenticator(tokens);
    const authenticate = asynchronous.authenticate.bind(asynchronous);
    asynchronous.authenticate = (request) =>
      Promise.resolve().then(() => authenticate(request));
    const guard = new BearerGuard(
      new Reflector(),
      resolveAuthOptions({
        issuer: 'https://i.example/',
        audience: 'a',
        jwksUri: 'https://i.example/k',
      }),
      asynchronous,
      challenges,
    );
    const call = httpCall('http', PlainController, 'roles', 'Bearer roleA');
    await expect(guard.canActivate(call.context)).rejects.toBeInstanceOf(
      InsufficientAccessError,
    );
    expect(call.headers['WWW-Authenticate']).toBe('Bearer error="x"');
  });

  it('puts the principal on the request', () => {
    const guard = createGuard({}, tokens);
    const call = httpCall('http', PlainController, 'open', 'Bearer roleA');
    expect(guard.canActivate(call.context)).toBe(true);
    expect(call.request.user).toMatchObject({ roles: ['A'] });
  });

  it("leaves Nest's execution context as it was, admitted or refused (switchToHttp() would assign to it)", () => {
    const guard = createGuard({}, tokens);
    const callWith = (authorization: string) => {
      const headers: Record<string, string> = {};
      const request: Call['request'] = { headers: { authorization } };
      const response = {
        setHeader: (name: string, value: string) => (headers[name] = value),
      };
      const context = new ExecutionContextHost(
        [request, response, () => undefined],
        PlainController,
        PlainController.prototype.open,
      );
      return { context, request, headers, keys: Object.keys(context) };
    };
    const admitted = callWith('Bearer roleA');
    expect(guard.canActivate(admitted.context)).toBe(true);
    expect(admitted.request.user).toMatchObject({ roles: ['A'] });
    expect(Object.keys(admitted.context)).toEqual(admitted.keys);
    const refused = callWith('Bearer wrong');
    expect(() => guard.canActivate(refused.context)).toThrow(InvalidTokenError);
    expect(refused.headers['WWW-Authenticate']).toBe('Bearer error="x"');
    expect(Object.keys(refused.context)).toEqual(refused.keys);
  });

  it('lets @Public() through, and @OptionalAuth() only without credentials', () => {
    const guard = createGuard({}, tokens);
    expect(
      guard.canActivate(httpCall('http', PlainController, 'publicOne').context),
    ).toBe(true);
    expect(
      guard.canActivate(httpCall('http', PlainController, 'optional').context),
    ).toBe(true);
    expect(
      run(guard, httpCall('http', PlainController, 'optional', 'Bearer wrong')),
    ).toThrow(InvalidTokenError);
    expect(run(guard, httpCall('http', PlainController, 'open'))).toThrow(
      AuthenticationRequiredError,
    );
  });

  it('lets a requirement win over a @Public() class', () => {
    const guard = createGuard({}, tokens);
    expect(run(guard, httpCall('http', PublicController, 'scoped'))).toThrow(
      AuthenticationRequiredError,
    );
  });

  it('authenticates GraphQL from the context request', () => {
    const guard = createGuard({}, tokens);
    expect(run(guard, httpCall('graphql', ScopedController, 'both'))).toThrow(
      AuthenticationRequiredError,
    );
    expect(
      guard.canActivate(
        httpCall('graphql', ScopedController, 'both', 'Bearer both').context,
      ),
    ).toBe(true);
  });

  it('refuses an RPC message without credentials, unless acceptContexts lists rpc', () => {
    expect(
      run(createGuard({}, tokens), httpCall('rpc', PlainController, 'open')),
    ).toThrow(AuthenticationRequiredError);
    const accepting = createGuard({ acceptContexts: ['rpc'] }, tokens);
    expect(
      accepting.canActivate(httpCall('rpc', ScopedController, 'both').context),
    ).toBe(true);
  });

  it('refuses a context type it does not know, as a server fault', () => {
    const guard = createGuard({}, tokens);
    expect(
      run(guard, httpCall('kafka-custom', PlainController, 'open')),
    ).toThrow(AuthServerError);
    expect(
      createGuard({ acceptContexts: ['kafka-custom'] }).canActivate(
        httpCall('kafka-custom', PlainController, 'open').context,
      ),
    ).toBe(true);
  });

  it('authorizes a WebSocket message with the principal of its socket, while it is valid', () => {
    const guard = createGuard({ clockTolerance: 0 }, tokens);
    expect(
      run(guard, httpCall('ws', PlainController, 'open', undefined, {})),
    ).toThrow(AuthenticationRequiredError);
    const socket = {};
    writePrincipal(socket, principal({ scp: 'class.scope' }));
    expect(
      run(guard, httpCall('ws', ScopedController, 'both', undefined, socket)),
    ).toThrow(InsufficientScopeError);
    const expired = {};
    writePrincipal(expired, principal({ exp: Date.now() / 1000 - 1 }));
    expect(
      run(guard, httpCall('ws', PlainController, 'open', undefined, expired)),
    ).toThrow(expect.objectContaining({ reason: 'expired' }) as Error);
    const revoked = {};
    writePrincipal(revoked, principal({ revoked: true }));
    expect(
      run(guard, httpCall('ws', PlainController, 'open', undefined, revoked)),
    ).toThrow(expect.objectContaining({ reason: 'revoked' }) as Error);
  });

  it('refuses a WebSocket principal from the instant exp plus the tolerance is reached', () => {
    const now = 1_800_000_000_000;
    const clock = jest.spyOn(Date, 'now').mockReturnValue(now);
    try {
      const guard = createGuard({ clockTolerance: 5 }, tokens);
      const socketAt = (exp: number) => {
        const socket = {};
        writePrincipal(socket, principal({ exp }));
        return httpCall('ws', PlainController, 'open', undefined, socket);
      };
      expect(run(guard, socketAt(now / 1000 - 5))).toThrow(
        expect.objectContaining({ reason: 'expired' }) as Error,
      );
      expect(guard.canActivate(socketAt(now / 1000 - 4.999).context)).toBe(
        true,
      );
    } finally {
      clock.mockRestore();
    }
  });

  it('does the work once when Nest runs it twice for one call', () => {
    let calls = 0;
    const counting = fakeAuthenticator(tokens);
    const authenticate = counting.authenticate.bind(counting);
    counting.authenticate = (request) => {
      calls++;
      return authenticate(request);
    };
    const guard = new BearerGuard(
      new Reflector(),
      resolveAuthOptions({
        issuer: 'https://i.example/',
        audience: 'a',
        jwksUri: 'https://i.example/k',
      }),
      counting,
      challenges,
    );
    const call = httpCall('http', PlainController, 'open', 'Bearer roleA');
    expect(guard.canActivate(call.context)).toBe(true);
    expect(guard.canActivate(call.context)).toBe(true);
    expect(calls).toBe(1);
    // The mark is out of sight: nothing that copies or lists the arguments sees it.
    const args = call.context.getArgs();
    expect(Object.keys({ ...args })).toEqual(['0', '1']);
    expect(Object.getOwnPropertySymbols({ ...args })).toEqual([]);
    expect(
      guard.canActivate(
        httpCall('http', PlainController, 'open', 'Bearer roleA').context,
      ),
    ).toBe(true);
    expect(calls).toBe(2);
    // An argument list that cannot take the mark (frozen) is remembered all the same.
    const frozen = httpCall('http', PlainController, 'open', 'Bearer roleA');
    Object.freeze(frozen.context.getArgs());
    expect(guard.canActivate(frozen.context)).toBe(true);
    expect(guard.canActivate(frozen.context)).toBe(true);
    expect(calls).toBe(3);
  });

  it('marks only an admitted call: a refused one is refused again when run twice', () => {
    const guard = createGuard({}, tokens);
    const invalid = httpCall('http', PlainController, 'open', 'Bearer none');
    expect(run(guard, invalid)).toThrow(InvalidTokenError);
    expect(run(guard, invalid)).toThrow(InvalidTokenError);
    // Authenticated, then refused by authorization: the second run must refuse too.
    const lacksRole = httpCall(
      'http',
      PlainController,
      'roles',
      'Bearer roleA',
    );
    expect(run(guard, lacksRole)).toThrow(InsufficientAccessError);
    expect(run(guard, lacksRole)).toThrow(InsufficientAccessError);
  });
});
