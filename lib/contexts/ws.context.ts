import type { BearerPrincipal } from '../claims.js';
import { readPrincipal, writePrincipal } from '../request-state.js';
import type {
  ContextCredentials,
  TransportContext,
} from './transport-context.js';

/**
 * WebSocket gateways: the token is checked once, on the upgrade request, by
 * `BearerWsAdapter` (`nestjs-bearer/ws`), which keeps the principal on the socket. A
 * socket without one (a gateway served by another adapter, or opened on an
 * `@OptionalAuth()` path without credentials) has no credentials, so a protected message
 * handler refuses it. The guard still checks the principal's `exp`, and the standing
 * checks (revocation), on every message.
 */
export const wsContext: TransportContext = {
  type: 'ws',
  readCredentials(host): ContextCredentials {
    const principal = readPrincipal(host.switchToWs().getClient());
    return principal === undefined
      ? { kind: 'none' }
      : { kind: 'principal', principal };
  },
  attachPrincipal(host, principal): void {
    const client: unknown = host.switchToWs().getClient();
    if (typeof client === 'object' && client !== null) {
      writePrincipal(client, principal);
    }
  },
  readPrincipal(host): BearerPrincipal | undefined {
    return readPrincipal(host.switchToWs().getClient());
  },
  setHeader(): void {
    // A message has no response headers.
  },
};
