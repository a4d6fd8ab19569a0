import type { KeyObject } from 'node:crypto';
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  type CryptoKey,
  type JWK,
} from 'jose';

/** Signing algorithms {@link createTestKey} can generate keys for. */
export type TestKeyAlgorithm =
  'RS256' | 'RS384' | 'RS512' | 'PS256' | 'ES256' | 'ES384';

/** A signing key pair for tests: the private half signs, the public JWK is served. */
export interface TestKey {
  /** Key ID, sent as `kid` in token headers and in the JWKS. */
  kid: string;
  /** JWS algorithm the key signs with. */
  alg: string;
  /** Private key for `SignJWT`. */
  privateKey: CryptoKey | KeyObject;
  /** Public key as served in the JWKS, with `kid`, `alg` and `use: "sig"`. */
  publicJwk: JWK;
}

/** Options for {@link createTestKey}. */
export interface CreateTestKeyOptions {
  /**
   * Key ID.
   * @default the key's RFC 7638 JWK thumbprint
   */
  kid?: string;
  /**
   * Signing algorithm.
   * @default 'RS256'
   */
  alg?: TestKeyAlgorithm;
  /**
   * RSA modulus length in bits; ignored for EC keys.
   * @default 2048
   */
  modulusLength?: number;
}

/** Generates a fresh signing key pair with its public JWK. */
export async function createTestKey(
  opts: CreateTestKeyOptions = {},
): Promise<TestKey> {
  const alg = opts.alg ?? 'RS256';
  const isRsa = alg.startsWith('RS') || alg.startsWith('PS');
  const { privateKey, publicKey } = await generateKeyPair(alg, {
    ...(isRsa && { modulusLength: opts.modulusLength ?? 2048 }),
  });
  const jwk = await exportJWK(publicKey);
  const kid = opts.kid ?? (await calculateJwkThumbprint(jwk));
  return { kid, alg, privateKey, publicJwk: { ...jwk, kid, alg, use: 'sig' } };
}

/**
 * How the JWKS endpoint answers.
 *
 * - `ok`: the current keys.
 * - `down`: destroys the socket without a response.
 * - `hang`: never responds (the socket is destroyed by {@link JwksServer.close}).
 * - `status500`: an HTTP 500 with a JSON error body.
 * - `garbage`: a 200 `application/json` response that is not JSON.
 * - `oversized`: a valid JWKS with the current keys, padded past 2 MiB.
 * - `redirect`: a 302 to another path that serves the current keys.
 * - `empty`: `{"keys":[]}`.
 * - `no-signing-keys`: the current keys, marked `use: "enc"`.
 */
export type JwksServerMode =
  | 'ok'
  | 'down'
  | 'hang'
  | 'status500'
  | 'garbage'
  | 'oversized'
  | 'redirect'
  | 'empty'
  | 'no-signing-keys';

/** Options for {@link JwksServer.start}. */
export interface JwksServerOptions {
  /**
   * Keys served in the JWKS.
   * @default one new RS256 key
   */
  keys?: TestKey[];
  /**
   * Path appended to the server URL to form the issuer, such as `/tenant-a/v2.0`.
   * @default '' (the issuer is the server URL)
   */
  issuerPath?: string;
}

const JWKS_PATH = '/jwks.json';
const REDIRECTED_JWKS_PATH = '/jwks-redirected.json';
const OVERSIZED_BYTES = 2 * 1024 * 1024 + 1024;

/**
 * A loopback OpenID Connect issuer for tests, listening on 127.0.0.1 on an
 * ephemeral port. It serves the discovery document at
 * `issuer + '/.well-known/openid-configuration'` and the JWKS at
 * {@link JwksServer.jwksUri}. Modes and delays apply to the JWKS endpoint only.
 */
export class JwksServer {
  /** Base URL, `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** Issuer identifier: {@link JwksServer.url} plus the issuer path. */
  readonly issuer: string;
  /** JWKS URL, `url + '/jwks.json'`. */
  readonly jwksUri: string;
  /** Number of requests received at {@link JwksServer.jwksUri}. */
  jwksRequests = 0;
  /** Number of requests received for the discovery document. */
  discoveryRequests = 0;

  private keys: TestKey[];
  private mode: JwksServerMode = 'ok';
  private jwksDelayMs = 0;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly discoveryPath: string;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    keys: TestKey[],
    issuerPath: string,
  ) {
    const { port } = server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}`;
    this.issuer = this.url + issuerPath;
    this.jwksUri = this.url + JWKS_PATH;
    this.discoveryPath = `${issuerPath}/.well-known/openid-configuration`;
    this.keys = keys;
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    server.on('request', (req, res) => this.handle(req, res));
  }

  /** Starts a server on 127.0.0.1 and an ephemeral port. */
  static async start(opts: JwksServerOptions = {}): Promise<JwksServer> {
    const keys = opts.keys ?? [await createTestKey()];
    const issuerPath = normalizeIssuerPath(opts.issuerPath ?? '');
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    return new JwksServer(server, keys, issuerPath);
  }

  /** Replaces the served keys, as an issuer does when it rotates keys. */
  setKeys(keys: TestKey[]): void {
    this.keys = [...keys];
  }

  /** Sets how the JWKS endpoint answers from the next request on. */
  setMode(mode: JwksServerMode): void {
    this.mode = mode;
  }

  /** Delays every JWKS answer by `ms` milliseconds; 0 answers at once. */
  setJwksDelay(ms: number): void {
    this.jwksDelayMs = ms;
  }

  /** Stops listening and destroys every open socket, pending requests included. */
  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      for (const timer of this.timers) clearTimeout(timer);
      this.timers.clear();
      // close() waits for open connections, so destroy them after asking.
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
      this.sockets.clear();
    });
    return this.closing;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', this.url).pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { error: 'method_not_allowed' }, { allow: 'GET' });
    } else if (path === this.discoveryPath) {
      this.discoveryRequests++;
      sendJson(res, 200, this.discoveryDocument());
    } else if (path === JWKS_PATH) {
      this.jwksRequests++;
      this.afterDelay(() => this.answerJwks(req, res));
    } else if (path === REDIRECTED_JWKS_PATH) {
      sendJson(res, 200, { keys: this.publicJwks() });
    } else {
      sendJson(res, 404, { error: 'not_found' });
    }
  }

  private afterDelay(answer: () => void): void {
    if (this.jwksDelayMs <= 0) return answer();
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      answer();
    }, this.jwksDelayMs);
    this.timers.add(timer);
  }

  private answerJwks(req: IncomingMessage, res: ServerResponse): void {
    switch (this.mode) {
      case 'ok':
        return sendJson(res, 200, { keys: this.publicJwks() });
      case 'down':
        req.socket.destroy();
        return;
      case 'hang':
        return;
      case 'status500':
        return sendJson(res, 500, { error: 'server_error' });
      case 'garbage':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('<html>this is not JSON');
        return;
      case 'oversized':
        return sendJson(res, 200, {
          keys: this.publicJwks(),
          padding: 'x'.repeat(OVERSIZED_BYTES),
        });
      case 'redirect':
        res.writeHead(302, { location: this.url + REDIRECTED_JWKS_PATH });
        res.end();
        return;
      case 'empty':
        return sendJson(res, 200, { keys: [] });
      case 'no-signing-keys':
        return sendJson(res, 200, {
          keys: this.publicJwks().map((jwk) => ({ ...jwk, use: 'enc' })),
        });
    }
  }

  private publicJwks(): JWK[] {
    return this.keys.map((key) => key.publicJwk);
  }

  private discoveryDocument(): Record<string, unknown> {
    return {
      issuer: this.issuer,
      jwks_uri: this.jwksUri,
      authorization_endpoint: `${this.issuer}/authorize`,
      token_endpoint: `${this.issuer}/token`,
      response_types_supported: ['code'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: [
        ...new Set(this.keys.map((key) => key.alg)),
      ],
    };
  }
}

function normalizeIssuerPath(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  if (trimmed === '' || trimmed.startsWith('/')) return trimmed;
  return `/${trimmed}`;
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
}
