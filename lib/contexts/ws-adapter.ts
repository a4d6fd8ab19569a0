/**
 * `nestjs-bearer/ws`: the WebSocket adapter. It is its own entry point because it extends
 * `@nestjs/platform-ws`'s `WsAdapter`, an optional peer dependency that only an app
 * serving `ws` gateways installs; the main entry never loads it.
 */
import {
  Logger,
  type INestApplicationContext,
  type Type,
} from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { WsAdapter } from '@nestjs/platform-ws';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { RESOLVED_AUTH_OPTIONS } from '../auth.constants.js';
import type { ResolvedAuthOptions } from '../auth-options.js';
import {
  BearerAuthenticator,
  toBearerError,
  type Authentication,
} from '../bearer-authenticator.service.js';
import { BearerChallengesService } from '../bearer-challenges.service.js';
import { AuthenticationRequiredError } from '../bearer.errors.js';
import type { BearerPrincipal } from '../claims.js';
import { writePrincipal } from '../request-state.js';
import type { RouteAccess } from '../route-requirements.js';
import {
  closeAtExpiry,
  gatewayAddressOf,
  isGatewayClass,
  normalizeGatewayPath,
  resolveGatewayAccess,
  SocketStandings,
  strictestAccess,
  toUpgradeCredentialRequest,
  writeUpgradeRefusal,
  type ClosableSocket,
} from './ws-upgrade.js';

export { WS_EXPIRED_REASON, WS_POLICY_VIOLATION } from './ws-upgrade.js';

/** The options of `@nestjs/platform-ws`'s `WsAdapter`, passed through. */
export type BearerWsAdapterOptions = NonNullable<
  ConstructorParameters<typeof WsAdapter>[1]
>;

type UpgradeCallback = (
  client: ClosableSocket,
  request: IncomingMessage,
) => void;

/** The part of a `ws` server the adapter wraps. */
interface UpgradingServer {
  handleUpgrade(
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    callback: UpgradeCallback,
  ): void;
}

/** What the adapter takes from the app once, when it creates its first server. */
interface Services {
  readonly authenticator: BearerAuthenticator;
  readonly challenges: BearerChallengesService;
  readonly options: ResolvedAuthOptions;
  readonly gateways: readonly Type[];
  readonly reflector: Reflector;
  readonly scanner: MetadataScanner;
  /** The open sockets with a principal, closed when it is revoked. */
  readonly standings: SocketStandings;
  /** Stops following revocations (on dispose). */
  readonly unwatch: () => void;
}

/**
 * Nest's `ws` adapter, with bearer authentication at connection time.
 *
 * - The credentials are those of the upgrade request, read by the module's rules
 *   (`tokenLocations`, RFC 6750 section 2). The token is verified before the socket is
 *   opened: a refused upgrade gets the status, `WWW-Authenticate` challenge and JSON body
 *   that a REST route would send, and no WebSocket.
 * - Which upgrades need a token is decided per path, from the gateways served there: a
 *   valid token is required unless every `@SubscribeMessage()` handler of every gateway
 *   at that path is `@Public()` or `@OptionalAuth()`. With `@OptionalAuth()` among them, an
 *   upgrade without credentials opens a socket with no principal, and an invalid token is
 *   still refused; when all are `@Public()`, the upgrade is not checked. A path no gateway
 *   declares requires a token.
 * - The principal is kept on the socket, so that `BearerGuard` authorizes every message
 *   (`@Scopes()`, `@Roles()`, `@StepUp()`) and `@Principal()` reads it. A refused message
 *   gets `{"event":"error","data":{...}}` and the socket stays open.
 * - When the token expires (`exp` plus `clockTolerance`), or is revoked (the revocation
 *   store's event, on every instance that shares it), the server closes the socket with
 *   code 1008, the refusal's description as the reason.
 *
 * Install it with `app.useWebSocketAdapter(new BearerWsAdapter(app))`; the app must import
 * `AuthModule`.
 */
export class BearerWsAdapter extends WsAdapter {
  private readonly bearerLogger = new Logger('nestjs-bearer');
  private readonly app: INestApplicationContext;
  private services: Services | undefined;

  /**
   * @param app the Nest app, whose `AuthModule` verifies the tokens.
   * @param options passed to `WsAdapter` (`messageParser`).
   */
  constructor(app: INestApplicationContext, options?: BearerWsAdapterOptions) {
    if (typeof (app as { get?: unknown } | undefined)?.get !== 'function') {
      throw new TypeError(
        'nestjs-bearer: BearerWsAdapter needs the Nest app: new BearerWsAdapter(app).',
      );
    }
    super(app, options);
    this.app = app;
  }

  /** Creates the `ws` server for a gateway path, with its upgrades authenticated. */
  override create(
    port: number,
    options?: Record<string, unknown> & {
      namespace?: string;
      server?: unknown;
      path?: string;
    },
  ): unknown {
    const server: unknown = super.create(port, options);
    const services = this.resolveServices();
    const path = normalizeGatewayPath(options?.path);
    const access = services.options.acceptContexts.includes('ws')
      ? 'public'
      : this.accessAt(services, port, path);
    if (access !== 'required') {
      this.bearerLogger.log(
        `WebSocket upgrades at ${path}${port === 0 ? '' : ` (port ${port})`} are ${access === 'public' ? 'not authenticated (every handler is public)' : 'authenticated when they carry credentials (@OptionalAuth)'}.`,
      );
    }
    if (access !== 'public') {
      if (
        typeof (server as Partial<UpgradingServer>).handleUpgrade !== 'function'
      ) {
        // Fail closed: a server whose upgrades cannot be checked is not served.
        throw new Error(
          `nestjs-bearer: BearerWsAdapter cannot authenticate the upgrades of the WebSocket server at ${path}.`,
        );
      }
      this.authenticateUpgrades(server as UpgradingServer, access, services);
    }
    return server;
  }

  /** The strictest access among the gateways served at this port and path. */
  private accessAt(
    services: Services,
    port: number,
    path: string,
  ): RouteAccess {
    const { reflector, scanner } = services;
    return strictestAccess(
      services.gateways
        .filter((type) => {
          const address = gatewayAddressOf(type);
          return address.port === port && address.path === path;
        })
        .map((type) => resolveGatewayAccess(reflector, scanner, type)),
    );
  }

  /** Wraps the server's `handleUpgrade`, which every upgrade of this path goes through. */
  private authenticateUpgrades(
    server: UpgradingServer,
    access: RouteAccess,
    services: Services,
  ): void {
    const handleUpgrade = server.handleUpgrade.bind(server);
    server.handleUpgrade = (request, socket, head, callback): void => {
      // Node hands an upgraded socket over without an error listener; a reset while the
      // token is verified must not become an uncaught exception.
      const onError = (): void => {
        socket.destroy();
      };
      socket.on('error', onError);
      const open = (principal: BearerPrincipal | undefined): void => {
        socket.off('error', onError);
        if (socket.destroyed) return;
        handleUpgrade(request, socket, head, (client, upgraded) => {
          if (principal !== undefined) {
            writePrincipal(client, principal);
            services.standings.watch(client, principal);
            closeAtExpiry(
              client,
              principal.claims.exp,
              services.options.clockTolerance,
            );
          }
          callback(client, upgraded);
        });
      };
      const refuse = (error: unknown): void => {
        if (
          access === 'optional' &&
          error instanceof AuthenticationRequiredError
        ) {
          open(undefined);
          return;
        }
        // The error listener stays: a client may reset while it reads the refusal.
        this.refuseUpgrade(socket, error, services).catch(() =>
          socket.destroy(),
        );
      };
      let outcome: Authentication | Promise<Authentication>;
      try {
        outcome = services.authenticator.authenticate(
          toUpgradeCredentialRequest(request),
        );
      } catch (error) {
        refuse(error);
        return;
      }
      // A gateway has no @Resource() of its own: the token must be for the module's audience.
      const admit = (authentication: Authentication): void => {
        try {
          services.authenticator.assertAudience(
            authentication.principal,
            undefined,
          );
        } catch (error) {
          refuse(error);
          return;
        }
        open(authentication.principal);
      };
      if (outcome instanceof Promise) {
        outcome
          .then(admit, refuse)
          // A failure past the verdict (say, in ws itself) loses this upgrade only.
          .catch(() => socket.destroy());
      } else {
        admit(outcome);
      }
    };
  }

  /**
   * Writes the refusal, once a discovery in flight has had its short chance to supply
   * `authorization_uri`, as the guard does for HTTP.
   */
  private async refuseUpgrade(
    socket: Duplex,
    error: unknown,
    services: Services,
  ): Promise<void> {
    const bearerError = toBearerError(error);
    const { challenges } = services;
    if (bearerError.getStatus() >= 500) {
      const reason = (bearerError as { internalReason?: unknown })
        .internalReason;
      this.bearerLogger.error(
        `Authentication of a WebSocket upgrade could not be decided${typeof reason === 'string' ? ` (${reason})` : ''}.`,
      );
    } else if (!challenges.isSettled()) {
      await challenges.settle();
    }
    writeUpgradeRefusal(
      socket,
      challenges.render(bearerError),
      bearerError.responseHeaders,
    );
  }

  /** Stops following revocations, then disposes of the servers as `WsAdapter` does. */
  override async dispose(): Promise<void> {
    this.services?.unwatch();
    await super.dispose();
  }

  private resolveServices(): Services {
    if (this.services !== undefined) return this.services;
    let authenticator: BearerAuthenticator;
    try {
      authenticator = this.app.get(BearerAuthenticator, { strict: false });
    } catch {
      throw new Error(
        'nestjs-bearer: BearerWsAdapter needs AuthModule (AuthModule.forRoot() or forRootAsync()) in the app.',
      );
    }
    const discovery = this.app.get(DiscoveryService, { strict: false });
    const gateways = new Set<Type>();
    for (const wrapper of discovery.getProviders()) {
      const type = wrapper.metatype as Type | undefined | null;
      if (typeof type === 'function' && isGatewayClass(type)) {
        gateways.add(type);
      }
    }
    const standings = new SocketStandings((principal) =>
      authenticator.checkStanding(principal),
    );
    this.services = {
      authenticator,
      standings,
      unwatch: authenticator.onStandingChange(() => standings.recheck()),
      challenges: this.app.get(BearerChallengesService, { strict: false }),
      options: this.app.get<symbol, ResolvedAuthOptions>(
        RESOLVED_AUTH_OPTIONS,
        { strict: false },
      ),
      gateways: [...gateways],
      reflector: this.app.get(Reflector, { strict: false }),
      scanner: new MetadataScanner(),
    };
    return this.services;
  }
}
