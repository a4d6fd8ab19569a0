/**
 * A loopback OpenID issuer for tests: discovery, a JWKS with real keys, and a token minter
 * whose defaults match the options it hands to `AuthModule.forRoot()`.
 */
import { randomUUID } from 'node:crypto';
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AuthModuleOptions } from '../auth-options.js';
import {
  createSigningKey,
  signCompactJws,
  type TestPublicJwk,
  type TestSigningAlgorithm,
  type TestSigningKey,
} from './test-keys.js';

/** Options of {@link createTestIssuer}. */
export interface TestIssuerOptions {
  /**
   * The `aud` of minted tokens, and the `audience` of {@link TestIssuer.authModuleOptions}.
   * @default 'api://test'
   */
  audience?: string;
  /**
   * The signing algorithm: RS256 with an RSA 2048 key, or ES256 with a P-256 key.
   * @default 'RS256'
   */
  algorithm?: TestSigningAlgorithm;
  /**
   * The `sub` of minted tokens.
   * @default 'test-user'
   */
  subject?: string;
  /**
   * The lifetime of minted tokens, in seconds.
   * @default 300
   */
  expiresIn?: number;
  /**
   * The `kid` of the first key.
   * @default the key's RFC 7638 thumbprint
   */
  kid?: string;
}

/** What a test wants of one token beyond its claims; each override wins over the claims. */
export interface MintOverrides {
  /** Scopes, written as the space-separated `scope` claim. */
  scope?: string | readonly string[];
  /** App roles, written as the `roles` claim. */
  roles?: readonly string[];
  /** The lifetime in seconds, from now. @default the issuer's `expiresIn` */
  expiresIn?: number;
  /** Issued two hours ago, expired an hour ago: past any allowed clock tolerance. */
  expired?: boolean;
  /** `nbf` an hour from now, and `exp` a lifetime after that. */
  notYetValid?: boolean;
  /** `aud` is {@link WRONG_AUDIENCE} instead of the issuer's audience. */
  wrongAudience?: boolean;
  /** `iss` is {@link WRONG_ISSUER} instead of this issuer. */
  wrongIssuer?: boolean;
  /**
   * Signs with a key the JWKS does not publish: `'unknown-kid'` names that key's own
   * `kid` (the resource server finds no key), `'same-kid'` names the current key's `kid`
   * (the signature does not verify).
   */
  otherKey?: 'unknown-kid' | 'same-kid';
  /**
   * Header fields merged over the defaults (`alg`, `typ: 'JWT'`, `kid`); `undefined`
   * removes one. For example `{ typ: 'at+jwt' }` or `{ jku: 'https://evil.example' }`.
   */
  header?: Record<string, unknown>;
  /** The `cnf` claim (RFC 7800), such as `{ jkt }` for a DPoP-bound token (RFC 9449 section 6). */
  cnf?: Record<string, unknown>;
}

/** Options of {@link TestIssuer.rotateKey}. */
export interface RotateKeyOptions {
  /**
   * Keep publishing the previous keys, so tokens signed before the rotation still verify.
   * @default true
   */
  keepPrevious?: boolean;
  /** The new key's `kid`. @default its RFC 7638 thumbprint */
  kid?: string;
}

/** How often the issuer was asked for each document, since it started. */
export interface TestIssuerRequestCounts {
  /** Requests for `/.well-known/openid-configuration`. */
  readonly discovery: number;
  /** Requests for the JWKS. */
  readonly jwks: number;
}

/** A running test issuer; see {@link createTestIssuer}. */
export interface TestIssuer {
  /** The issuer identifier, `http://127.0.0.1:PORT`: the `iss` of minted tokens. */
  readonly issuer: string;
  /** Where the JWKS is served. */
  readonly jwksUri: string;
  /** The `aud` of minted tokens. */
  readonly audience: string;
  /** The algorithm tokens are signed with. */
  readonly algorithm: TestSigningAlgorithm;
  /** The `kid` of the key that signs now. */
  readonly kid: string;
  /** The requests served so far. */
  readonly requests: TestIssuerRequestCounts;
  /**
   * Signs a token. Claims are merged over the defaults (`iss`, `aud`, `sub`, `iat`, `exp`
   * five minutes on, `jti`); a claim given as `undefined` is left out, so
   * `mint({ sub: undefined })` has no `sub`. Overrides are applied last.
   */
  mint(claims?: Record<string, unknown>, overrides?: MintOverrides): string;
  /**
   * Makes a new key and signs with it from now on. The JWKS publishes it at once, and
   * keeps the previous keys unless `keepPrevious` is false. Resolves to the new `kid`.
   */
  rotateKey(options?: RotateKeyOptions): Promise<string>;
  /** Stops publishing the key `kid` (not the one that signs now). */
  removeKey(kid: string): void;
  /** The JWKS as served now. */
  jwks(): { keys: TestPublicJwk[] };
  /** The discovery document as served now. */
  discovery(): Record<string, unknown>;
  /**
   * Options for `AuthModule.forRoot()` that trust this issuer: `issuer`, `audience`,
   * `jwksUri`, `algorithms`, and `jwks.cooldown: 0` so that a rotated key is fetched on
   * first sight. `extra` is merged over them.
   */
  authModuleOptions(extra?: Partial<AuthModuleOptions>): AuthModuleOptions;
  /** Stops the server and drops its open connections. */
  close(): Promise<void>;
}

/** The `aud` of a token minted with `wrongAudience`. */
export const WRONG_AUDIENCE = 'urn:nestjs-bearer:testing:other-audience';

/** The `iss` of a token minted with `wrongIssuer` (`.invalid` never resolves, RFC 2606). */
export const WRONG_ISSUER = 'https://issuer.invalid';

const DISCOVERY_PATH = '/.well-known/openid-configuration';
const JWKS_PATH = '/.well-known/jwks.json';

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/**
 * Starts a test issuer on 127.0.0.1, on a free port. It serves
 * `/.well-known/openid-configuration` (OpenID Connect Discovery 1.0 section 4) and the JWKS
 * with a fresh key, and mints tokens for it. Call `close()` when done.
 *
 * @example
 * const issuer = await createTestIssuer();
 * const app = AuthModule.forRoot(issuer.authModuleOptions());
 * const token = issuer.mint({}, { scope: 'documents.read' });
 */
export async function createTestIssuer(
  options: TestIssuerOptions = {},
): Promise<TestIssuer> {
  const algorithm = options.algorithm ?? 'RS256';
  const audience = options.audience ?? 'api://test';
  const subject = options.subject ?? 'test-user';
  const lifetime = options.expiresIn ?? 300;
  if (!Number.isInteger(lifetime) || lifetime < 1) {
    throw new RangeError('expiresIn must be a whole number of seconds above 0');
  }

  // The foreign key signs `otherKey` tokens; it is never published.
  const [first, foreign] = await Promise.all([
    createSigningKey(algorithm, options.kid),
    createSigningKey(algorithm),
  ]);
  let current = first;
  const published = new Map<string, TestSigningKey>([[current.kid, current]]);
  const counts = { discovery: 0, jwks: 0 };

  let issuer = '';
  const discovery = (): Record<string, unknown> => ({
    issuer,
    jwks_uri: `${issuer}${JWKS_PATH}`,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    response_types_supported: ['code'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: [algorithm],
  });
  const jwks = (): { keys: TestPublicJwk[] } => ({
    keys: [...published.values()].map((key) => ({ ...key.publicJwk })),
  });

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { error: 'method_not_allowed' });
    } else if (path === DISCOVERY_PATH) {
      counts.discovery++;
      sendJson(res, 200, discovery());
    } else if (path === JWKS_PATH) {
      counts.jwks++;
      sendJson(res, 200, jwks());
    } else {
      sendJson(res, 404, { error: 'not_found' });
    }
  });
  const port = await listen(server);
  issuer = `http://127.0.0.1:${port}`;

  const mint = (
    claims: Record<string, unknown> = {},
    overrides: MintOverrides = {},
  ): string => {
    const now = Math.floor(Date.now() / 1000);
    const expiresIn = overrides.expiresIn ?? lifetime;
    const payload: Record<string, unknown> = {
      iss: issuer,
      aud: audience,
      sub: subject,
      iat: now,
      exp: now + expiresIn,
      jti: randomUUID(),
      ...claims,
    };
    if (overrides.scope !== undefined) {
      payload.scope =
        typeof overrides.scope === 'string'
          ? overrides.scope
          : overrides.scope.join(' ');
    }
    if (overrides.roles !== undefined) payload.roles = [...overrides.roles];
    if (overrides.expired) {
      payload.iat = now - 7200;
      payload.exp = now - 3600;
    }
    if (overrides.notYetValid) {
      payload.nbf = now + 3600;
      payload.exp = now + 3600 + expiresIn;
    }
    if (overrides.wrongAudience) payload.aud = WRONG_AUDIENCE;
    if (overrides.wrongIssuer) payload.iss = WRONG_ISSUER;
    if (overrides.cnf !== undefined) payload.cnf = { ...overrides.cnf };

    let key = current;
    let kid = current.kid;
    if (overrides.otherKey !== undefined) {
      key = foreign;
      kid = overrides.otherKey === 'same-kid' ? current.kid : foreign.kid;
    }
    const header: Record<string, unknown> = {
      alg: key.alg,
      typ: 'JWT',
      kid,
      ...overrides.header,
    };
    return signCompactJws(dropUndefined(header), dropUndefined(payload), key);
  };
  let closing: Promise<void> | undefined;

  return {
    issuer,
    jwksUri: `${issuer}${JWKS_PATH}`,
    audience,
    algorithm,
    get kid() {
      return current.kid;
    },
    get requests() {
      return { ...counts };
    },
    mint,
    async rotateKey(rotate: RotateKeyOptions = {}): Promise<string> {
      const next = await createSigningKey(algorithm, rotate.kid);
      if (rotate.keepPrevious === false) published.clear();
      published.set(next.kid, next);
      current = next;
      return next.kid;
    },
    removeKey(kid: string): void {
      if (kid === current.kid) {
        throw new Error(
          `key ${kid} signs new tokens; rotate before removing it`,
        );
      }
      published.delete(kid);
    },
    jwks,
    discovery,
    authModuleOptions(
      extra: Partial<AuthModuleOptions> = {},
    ): AuthModuleOptions {
      return {
        issuer,
        audience,
        jwksUri: `${issuer}${JWKS_PATH}`,
        algorithms: [algorithm],
        ...extra,
        jwks: { cooldown: 0, ...extra.jwks },
      };
    },
    close(): Promise<void> {
      closing ??= new Promise((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Keep-alive sockets of the resource server would hold close() open.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

function dropUndefined(
  record: Record<string, unknown>,
): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(record).filter(([, value]) => value !== undefined),
  );
}
