/**
 * IssuerDiscovery against a loopback server whose answer each test sets: the checks of
 * OpenID Connect Discovery section 4.3 (same issuer, usable jwks_uri), one fetch for
 * concurrent callers, and the back-off after a failure. The clock of the back-off is
 * injected; the network runs in real time.
 */
import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { KeySourceFetchError } from './fetch-json.js';
import { IssuerDiscovery } from './issuer-discovery.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A loopback issuer: it counts the discovery requests and answers as `handler` says. */
class DiscoveryServer {
  handler: Handler = (_req, res) => res.end('{}');
  requests = 0;
  /** Requests that arrived for another path than the discovery document. */
  readonly strayPaths: string[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server) {
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
      if (path.endsWith('/.well-known/openid-configuration')) {
        this.requests++;
        this.handler(req, res);
      } else {
        this.strayPaths.push(path);
        res.writeHead(404).end();
      }
    });
  }

  static async start(): Promise<DiscoveryServer> {
    const server = createServer();
    await new Promise<void>((resolve) =>
      server.listen(0, '127.0.0.1', resolve),
    );
    return new DiscoveryServer(server);
  }

  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** Answers every discovery request with this JSON document. */
  serve(document: Record<string, unknown>): void {
    this.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(document));
    };
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
  }
}

class Log {
  readonly warnings: string[] = [];
  readonly debugs: string[] = [];
  warn(message: string): void {
    this.warnings.push(message);
  }
  debug(message: string): void {
    this.debugs.push(message);
  }
}

/** A clock the test moves by hand. */
class Clock {
  now = 2_000_000_000_000;
  advance(ms: number): void {
    this.now += ms;
  }
}

const COOLDOWN = 30_000;

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof Error) return error;
    throw new Error('rejected with a non-Error', { cause: error });
  }
  throw new Error('expected a rejection');
}

describe('IssuerDiscovery', () => {
  let server: DiscoveryServer;
  let clock: Clock;
  let log: Log;

  const createDiscovery = (issuer = server.url, cooldown = COOLDOWN) =>
    new IssuerDiscovery(
      issuer,
      { timeout: 1000, maxBytes: 64 * 1024, cooldown },
      log,
      () => clock.now,
    );
  /** After a failure: nothing is fetched until `ms` have passed, then one fetch (failing). */
  const expectWait = async (
    discovery: IssuerDiscovery,
    ms: number,
  ): Promise<void> => {
    const before = server.requests;
    clock.advance(ms - 1);
    await expect(discovery.resolve()).rejects.toThrow(/recently/);
    expect(server.requests).toBe(before);
    clock.advance(1);
    await expect(discovery.resolve()).rejects.toThrow(/HTTP status/);
    expect(server.requests).toBe(before + 1);
  };
  const documentFor = (
    issuer: string,
    extra: Record<string, unknown> = {},
  ) => ({
    issuer,
    jwks_uri: `${issuer}/jwks.json`,
    authorization_endpoint: `${issuer}/authorize`,
    ...extra,
  });

  beforeEach(async () => {
    server = await DiscoveryServer.start();
    clock = new Clock();
    log = new Log();
  });

  afterEach(async () => {
    await server.close();
  });

  it('reads the metadata of the configured issuer', async () => {
    server.serve(documentFor(server.url));
    const discovery = createDiscovery();
    expect(discovery.known).toBeUndefined();
    const metadata = await discovery.resolve();
    expect(metadata).toEqual({
      issuer: server.url,
      jwks_uri: `${server.url}/jwks.json`,
      authorization_endpoint: `${server.url}/authorize`,
    });
    expect(discovery.known).toEqual(metadata);
    expect(server.strayPaths).toEqual([]);
  });

  it('reads <issuer>/.well-known/openid-configuration for an issuer with a path and a trailing slash', async () => {
    const issuer = `${server.url}/tenant/v2.0/`;
    let path = '';
    server.handler = (req, res) => {
      path = req.url ?? '';
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(documentFor(issuer)));
    };
    await createDiscovery(issuer).resolve();
    expect(path).toBe('/tenant/v2.0/.well-known/openid-configuration');
  });

  describe('refuses a document', () => {
    it('that names another issuer, with both values in the message', async () => {
      const other = 'https://impostor.example.com';
      server.serve(documentFor(other));
      const discovery = createDiscovery();
      const error = await rejection(discovery.resolve());
      expect(error).toBeInstanceOf(KeySourceFetchError);
      expect(error.message).toContain(JSON.stringify(other));
      expect(error.message).toContain(JSON.stringify(server.url));
      expect(discovery.known).toBeUndefined();
      // The warning names both too: it is the only clue an operator gets.
      expect(log.warnings).toHaveLength(1);
      expect(log.warnings[0]).toContain(other);
      expect(log.warnings[0]).toContain(server.url);
    });

    it.each([
      ['a trailing slash', (issuer: string) => `${issuer}/`],
      ['another case', (issuer: string) => issuer.toUpperCase()],
      ['another port', (issuer: string) => issuer.replace(/:\d+$/, ':1')],
    ])(
      'whose issuer differs only by %s (exact match, no normalisation)',
      async (_what, variant) => {
        server.serve(documentFor(variant(server.url)));
        await expect(createDiscovery().resolve()).rejects.toThrow(
          KeySourceFetchError,
        );
      },
    );

    it('without an issuer, and says so', async () => {
      server.serve({ jwks_uri: `${server.url}/jwks.json` });
      const error = await rejection(createDiscovery().resolve());
      expect(error).toBeInstanceOf(KeySourceFetchError);
      expect(error.message).toContain('(none)');
    });

    it('whose issuer is not a string', async () => {
      server.serve({ issuer: 42, jwks_uri: `${server.url}/jwks.json` });
      await expect(createDiscovery().resolve()).rejects.toThrow(
        KeySourceFetchError,
      );
    });

    it('with a long impostor issuer, quoting at most 200 characters of it', async () => {
      const other = `https://impostor.example.com/${'x'.repeat(5000)}`;
      server.serve(documentFor(other));
      const error = await rejection(createDiscovery().resolve());
      expect(error.message.length).toBeLessThan(600);
      expect(error.message).toContain(JSON.stringify(server.url));
    });

    it.each([
      ['missing', undefined],
      ['not a string', 17],
      ['not a URL', 'jwks.json'],
      ['a file: URL', 'file:///etc/passwd'],
      ['a javascript: URL', 'javascript:alert(1)'],
      ['empty', ''],
    ])('whose jwks_uri is %s', async (_what, jwksUri) => {
      server.serve({ issuer: server.url, jwks_uri: jwksUri });
      const discovery = createDiscovery();
      const error = await rejection(discovery.resolve());
      expect(error).toBeInstanceOf(KeySourceFetchError);
      expect(error.message).toMatch(/jwks_uri/);
      expect(discovery.known).toBeUndefined();
    });

    it.each([
      ['an HTTP 500', 500, '{"error":"server_error"}'],
      ['an HTTP 404', 404, '{}'],
      ['not JSON', 200, '<html>'],
      ['a JSON array', 200, '[]'],
    ])('that is %s', async (_what, status, body) => {
      server.handler = (_req, res) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(body);
      };
      await expect(createDiscovery().resolve()).rejects.toThrow(
        KeySourceFetchError,
      );
    });
  });

  it('drops an authorization_endpoint that is not an http(s) URL', async () => {
    server.serve(
      documentFor(server.url, { authorization_endpoint: 'javascript:x' }),
    );
    const metadata = await createDiscovery().resolve();
    expect(metadata.authorization_endpoint).toBeUndefined();
    expect(metadata.jwks_uri).toBe(`${server.url}/jwks.json`);
  });

  it('keeps only the fields it reads', async () => {
    server.serve(documentFor(server.url, { token_endpoint: 'x', extra: 1 }));
    const metadata = await createDiscovery().resolve();
    expect(Object.keys(metadata).sort()).toEqual([
      'authorization_endpoint',
      'issuer',
      'jwks_uri',
    ]);
  });

  describe('single flight', () => {
    it('shares one fetch among concurrent callers', async () => {
      let answer: (() => void) | undefined;
      server.handler = (_req, res) => {
        answer = () => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(documentFor(server.url)));
        };
      };
      const discovery = createDiscovery();
      const calls = Array.from({ length: 10 }, () => discovery.resolve());
      expect(new Set(calls).size).toBe(1);
      await waitFor(() => answer !== undefined);
      answer?.();
      const results = await Promise.all(calls);
      expect(server.requests).toBe(1);
      for (const result of results) expect(result).toBe(results[0]);
    });

    it('shares one failed fetch too: every caller gets the one rejection', async () => {
      server.handler = (_req, res) => {
        setTimeout(() => res.writeHead(500).end(), 50);
      };
      const discovery = createDiscovery();
      const settled = await Promise.allSettled(
        Array.from({ length: 5 }, () => discovery.resolve()),
      );
      expect(settled.every((s) => s.status === 'rejected')).toBe(true);
      expect(server.requests).toBe(1);
      expect(log.warnings).toHaveLength(1);
    });

    it('never fetches again once the metadata is known', async () => {
      server.serve(documentFor(server.url));
      const discovery = createDiscovery();
      const first = await discovery.resolve();
      clock.advance(365 * 86_400_000);
      expect(await discovery.resolve()).toBe(first);
      expect(server.requests).toBe(1);
    });
  });

  describe('back-off after a failure', () => {
    it('fetches nothing for 1 s after the first failure, then tries again', async () => {
      server.handler = (_req, res) => res.writeHead(500).end();
      const discovery = createDiscovery();
      await expect(discovery.resolve()).rejects.toThrow(KeySourceFetchError);
      expect(server.requests).toBe(1);

      clock.advance(999);
      const early = await rejection(discovery.resolve());
      expect(early).toBeInstanceOf(KeySourceFetchError);
      expect(early.message).toMatch(/recently/);
      expect(server.requests).toBe(1);

      clock.advance(1);
      await expect(discovery.resolve()).rejects.toThrow(KeySourceFetchError);
      expect(server.requests).toBe(2);
    });

    it('doubles the wait with each failure in a row, up to 30 s', async () => {
      server.handler = (_req, res) => res.writeHead(503).end();
      const discovery = createDiscovery();
      await expect(discovery.resolve()).rejects.toThrow(KeySourceFetchError);
      for (const wait of [1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]) {
        await expectWait(discovery, wait);
      }
      expect(server.requests).toBe(8);
    });

    it('waits at most the cooldown when it is shorter than 30 s', async () => {
      server.handler = (_req, res) => res.writeHead(503).end();
      const discovery = createDiscovery(server.url, 3000);
      await expect(discovery.resolve()).rejects.toThrow(KeySourceFetchError);
      for (const wait of [1000, 2000, 3000, 3000]) {
        await expectWait(discovery, wait);
      }
    });

    it('warns on the first failure in a row only; the retries go to debug', async () => {
      server.handler = (_req, res) => res.writeHead(500).end();
      const discovery = createDiscovery();
      for (let i = 0; i < 3; i++) {
        await discovery.resolve().catch(() => undefined);
        clock.advance(60_000);
      }
      expect(server.requests).toBe(3);
      expect(log.warnings).toHaveLength(1);
      expect(log.debugs).toHaveLength(2);
      expect(log.warnings[0]).toContain(server.url);
    });

    it('succeeds once the server recovers, and keeps the result', async () => {
      server.handler = (_req, res) => res.writeHead(500).end();
      const discovery = createDiscovery();
      await discovery.resolve().catch(() => undefined);
      clock.advance(1000);
      await discovery.resolve().catch(() => undefined);
      expect(server.requests).toBe(2);

      server.serve(documentFor(server.url));
      // Second failure in a row: 2 s.
      clock.advance(1999);
      await expect(discovery.resolve()).rejects.toThrow(/recently/);
      clock.advance(1);
      const metadata = await discovery.resolve();
      expect(metadata.issuer).toBe(server.url);
      expect(discovery.known).toBe(metadata);
      expect(server.requests).toBe(3);
    });
  });

  it('a success ends the back-off: the metadata is then served from memory, with no fetch or log', async () => {
    server.handler = (_req, res) => res.writeHead(500).end();
    const discovery = createDiscovery();
    await discovery.resolve().catch(() => undefined);
    clock.advance(1000);
    await discovery.resolve().catch(() => undefined);
    clock.advance(2000);
    server.serve(documentFor(server.url));
    await discovery.resolve();
    const logged = log.warnings.length + log.debugs.length;
    // Within what would have been the next back-off window, and long after it.
    clock.advance(1);
    await discovery.resolve();
    clock.advance(86_400_000);
    await discovery.resolve();
    expect(server.requests).toBe(3);
    expect(log.warnings.length + log.debugs.length).toBe(logged);
  });

  it('times out a discovery that never answers, as a KeySourceFetchError', async () => {
    server.handler = () => undefined;
    const discovery = new IssuerDiscovery(
      server.url,
      { timeout: 150, maxBytes: 1024, cooldown: COOLDOWN },
      log,
      () => clock.now,
    );
    const started = Date.now();
    const error = await rejection(discovery.resolve());
    expect(error).toBeInstanceOf(KeySourceFetchError);
    expect(error.message).toMatch(/timed out/);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});

/** Waits up to 2 s for a condition that a server callback makes true. */
async function waitFor(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 2000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
