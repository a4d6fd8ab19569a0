import {
  type AgentOptions,
  createServer,
  globalAgent as httpGlobalAgent,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { makeCertificate } from '../../test/support/certificates.js';
import {
  fetchJson,
  KeySourceFetchError,
  requestText,
  type FetchLimits,
} from './fetch-json.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A loopback server whose answer each test sets; it records the requests it gets. */
class TestServer {
  handler: Handler = (_req, res) => res.end('{}');
  readonly requests: IncomingMessage[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(private readonly server: Server) {
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    server.on('request', (req, res) => {
      this.requests.push(req);
      this.handler(req, res);
    });
  }

  static async start(): Promise<TestServer> {
    const server = createServer();
    await new Promise<void>((resolve) =>
      server.listen(0, '127.0.0.1', resolve),
    );
    return new TestServer(server);
  }

  url(path = '/doc'): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}${path}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
  }
}

const LIMITS: FetchLimits = { timeout: 1000, maxBytes: 1024 };

async function failure(
  url: string,
  limits: FetchLimits = LIMITS,
): Promise<KeySourceFetchError> {
  try {
    await fetchJson(url, limits);
  } catch (error) {
    if (error instanceof KeySourceFetchError) return error;
    throw error;
  }
  throw new Error('expected fetchJson to fail');
}

function json(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** Answers each path with 200, its `Content-Encoding` and its bytes; `*` answers any other. */
function encoded(
  answers: Readonly<Record<string, readonly [string, string | Buffer]>>,
): Handler {
  return (req, res) => {
    const [coding, bytes] = answers[req.url ?? ''] ?? answers['*'];
    res.writeHead(200, { 'content-encoding': coding });
    res.end(bytes);
  };
}

describe('fetchJson', () => {
  let server: TestServer;

  beforeEach(async () => {
    server = await TestServer.start();
  });

  afterEach(() => server.close());

  it('GETs the URL asking for JSON and returns the object', async () => {
    server.handler = (_req, res) => json(res, 200, '{"keys":[{"kid":"a"}]}');
    await expect(fetchJson(server.url(), LIMITS)).resolves.toEqual({
      keys: [{ kid: 'a' }],
    });
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]?.method).toBe('GET');
    expect(server.requests[0]?.headers.accept).toBe('application/json');
    // A key set is fetched every few minutes at most: the connection is not kept idle.
    expect(server.requests[0]?.headers.connection).toBe('close');
  });

  it('reads a chunked body without content-length', async () => {
    server.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"a":');
      res.end('1}');
    };
    await expect(fetchJson(server.url(), LIMITS)).resolves.toEqual({ a: 1 });
  });

  it('accepts a body of exactly maxBytes', async () => {
    const body = JSON.stringify({ p: 'x'.repeat(LIMITS.maxBytes - 8) });
    expect(Buffer.byteLength(body)).toBe(LIMITS.maxBytes);
    server.handler = (_req, res) => json(res, 200, body);
    await expect(fetchJson(server.url(), LIMITS)).resolves.toHaveProperty('p');
  });

  it('refuses a declared content-length over the cap without reading the body', async () => {
    server.handler = (_req, res) => {
      // Declares a huge body, then stalls: only the declared size can end this quickly.
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': String(10 * 1024 * 1024),
      });
      res.write('{"keys":');
    };
    const started = Date.now();
    const error = await failure(server.url(), {
      timeout: 5000,
      maxBytes: 1024,
    });
    expect(error.message).toBe('response larger than 1024 bytes');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('refuses a streamed body that grows over the cap', async () => {
    let written = 0;
    server.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"p":"');
      // Keeps streaming without end: only the streamed-size check can stop it.
      const timer = setInterval(() => {
        if (res.destroyed || written > 1024 * 1024) {
          clearInterval(timer);
          res.destroy();
          return;
        }
        written += 512;
        res.write('x'.repeat(512));
      }, 1);
    };
    const error = await failure(server.url(), {
      timeout: 5000,
      maxBytes: 2048,
    });
    expect(error.message).toBe('response larger than 2048 bytes');
    expect(written).toBeLessThan(1024 * 1024);
  });

  it('times out when the server never answers', async () => {
    server.handler = () => undefined;
    const started = Date.now();
    const error = await failure(server.url(), { timeout: 150, maxBytes: 1024 });
    expect(error.message).toBe('timed out after 150 ms');
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('times out when the body stalls after the headers', async () => {
    server.handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"keys":');
    };
    const error = await failure(server.url(), { timeout: 150, maxBytes: 1024 });
    expect(error.message).toBe('timed out after 150 ms');
  });

  it('refuses a redirect without following it', async () => {
    server.handler = (req, res) => {
      if (req.url === '/moved') return json(res, 200, '{"keys":[]}');
      res.writeHead(302, { location: server.url('/moved') });
      res.end();
    };
    const error = await failure(server.url());
    expect(error.message).toBe('HTTP status 302');
    expect(server.requests.map((req) => req.url)).toEqual(['/doc']);
  });

  it.each([201, 204, 304, 404, 500, 503])(
    'refuses HTTP status %i',
    async (status) => {
      server.handler = (_req, res) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(status === 204 || status === 304 ? undefined : '{"keys":[]}');
      };
      expect((await failure(server.url())).message).toBe(
        `HTTP status ${status}`,
      );
    },
  );

  it.each([
    ['HTML', '<html>not json</html>'],
    ['truncated JSON', '{"keys":['],
    ['an empty body', ''],
  ])('refuses a body that is %s', async (_what, body) => {
    server.handler = (_req, res) => json(res, 200, body);
    const error = await failure(server.url());
    expect(error.message).toBe('response is not JSON');
    expect(error.cause).toBeInstanceOf(SyntaxError);
  });

  it.each([
    ['an array', '[{"kid":"a"}]'],
    ['a number', '42'],
    ['null', 'null'],
    ['a string', '"keys"'],
  ])('refuses JSON that is %s', async (_what, body) => {
    server.handler = (_req, res) => json(res, 200, body);
    expect((await failure(server.url())).message).toBe(
      'response is not a JSON object',
    );
  });

  it('reports a dropped connection as a network error', async () => {
    server.handler = (req) => req.socket.destroy();
    const error = await failure(server.url());
    expect(error.message).toBe('network error');
    expect(error.name).toBe('KeySourceFetchError');
  });

  it('reports a connection dropped mid-body as a network error, without waiting for the timeout', async () => {
    server.handler = (req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"keys":', () => req.socket.destroy());
    };
    const started = Date.now();
    const error = await failure(server.url(), {
      timeout: 5000,
      maxBytes: 1024,
    });
    expect(error.message).toBe('network error');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('reports a refused connection as a network error', async () => {
    const url = server.url();
    await server.close();
    expect((await failure(url)).message).toBe('network error');
    server = await TestServer.start();
  });

  it('never calls the global fetch (undici parses with WebAssembly, whose tier-up costs ~20 MB)', async () => {
    const original = globalThis.fetch;
    globalThis.fetch = () => Promise.reject(new Error('the global fetch'));
    try {
      server.handler = (_req, res) => json(res, 200, '{"keys":[]}');
      await expect(fetchJson(server.url(), LIMITS)).resolves.toEqual({
        keys: [],
      });
    } finally {
      globalThis.fetch = original;
    }
  });

  it('asks for no content coding', async () => {
    await fetchJson(server.url(), LIMITS);
    expect(server.requests[0]?.headers['accept-encoding']).toBe('identity');
  });

  it.each([
    ['gzip', gzipSync],
    ['x-gzip', gzipSync],
    ['deflate', deflateSync],
    ['br', brotliCompressSync],
  ])('decodes a body the server sent as %s anyway', async (coding, encode) => {
    server.handler = encoded({
      '*': [coding, encode(Buffer.from('{"keys":[{"kid":"z"}]}'))],
    });
    await expect(fetchJson(server.url(), LIMITS)).resolves.toEqual({
      keys: [{ kid: 'z' }],
    });
  });

  it('caps the decoded size, not the compressed one', async () => {
    const body = JSON.stringify({ p: 'x'.repeat(64 * 1024) });
    const compressed = gzipSync(Buffer.from(body));
    expect(compressed.byteLength).toBeLessThan(LIMITS.maxBytes);
    server.handler = encoded({ '*': ['gzip', compressed] });
    expect((await failure(server.url())).message).toBe(
      'response larger than 1024 bytes',
    );
  });

  it('refuses a body that does not decode, and a coding it does not know', async () => {
    server.handler = encoded({
      '/bad': ['gzip', '{"keys":[]}'],
      '/odd': ['compress', '{"keys":[]}'],
    });
    expect((await failure(server.url('/bad'))).message).toBe(
      'the body does not decode',
    );
    expect((await failure(server.url('/odd'))).message).toBe(
      'unsupported content coding compress',
    );
  });

  it('refuses a URL that is not http: or https:, or not a URL', async () => {
    for (const url of [
      'ftp://127.0.0.1/jwks',
      'data:,{}',
      'file:///etc/hosts',
    ]) {
      expect((await failure(url)).message).toBe('not an http: or https: URL');
    }
    expect((await failure('not a url')).message).toBe('not a URL');
  });

  it('refuses a URL with credentials instead of sending them as Basic', async () => {
    const url = server.url().replace('http://', 'http://user:secret@');
    expect((await failure(url)).message).toBe('the URL carries credentials');
    expect(server.requests).toHaveLength(0);
  });

  it.each(['constructor', '__proto__', 'toString', 'compress', 'zstd'])(
    'refuses the content coding %s without a crash',
    async (coding) => {
      server.handler = encoded({ '*': [coding, '{"keys":[]}'] });
      expect((await failure(server.url())).message).toBe(
        `unsupported content coding ${coding.toLowerCase()}`,
      );
    },
  );

  it('decodes stacked codings in reverse order, and ignores identity and empty ones', async () => {
    const body = Buffer.from('{"keys":[{"kid":"s"}]}');
    const answers: Record<string, [string, Buffer]> = {
      '/stacked': ['gzip, br', brotliCompressSync(gzipSync(body))],
      '/identity': ['identity, , Identity', body],
      '/empty': ['', body],
    };
    server.handler = encoded(answers);
    for (const path of Object.keys(answers)) {
      await expect(fetchJson(server.url(path), LIMITS)).resolves.toEqual({
        keys: [{ kid: 's' }],
      });
    }
  });

  it('refuses more than three stacked codings, and a list with an unknown one', async () => {
    server.handler = encoded({
      '/deep': ['gzip, gzip, gzip, gzip', '{}'],
      '/mixed': ['gzip, zstd', '{}'],
    });
    expect((await failure(server.url('/deep'))).message).toBe(
      'unsupported content coding gzip, gzip, gzip, gzip',
    );
    expect((await failure(server.url('/mixed'))).message).toBe(
      'unsupported content coding zstd',
    );
  });

  it('answers a 101 Switching Protocols at once as a refused status, not at the timeout', async () => {
    server.handler = (_req, res) => {
      res.socket?.write(
        'HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n{}',
      );
    };
    const started = Date.now();
    const error = await failure(server.url(), {
      timeout: 5000,
      maxBytes: 1024,
    });
    expect(error.message).toBe('HTTP status 101');
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("goes through the global agent's proxy (NODE_USE_ENV_PROXY) while closing its connection", async () => {
    const { options } = httpGlobalAgent as unknown as { options: AgentOptions };
    const saved = options.proxyEnv;
    // A proxy that answers for any target: the target's name does not resolve.
    const proxied: { url?: string; connection?: string }[] = [];
    const proxy = createServer((req, res) => {
      proxied.push({ url: req.url, connection: req.headers.connection });
      json(res, 200, '{"via":"proxy"}');
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const { port } = proxy.address() as AddressInfo;
    options.proxyEnv = { HTTP_PROXY: `http://127.0.0.1:${port}` };
    try {
      await expect(
        fetchJson('http://jwks.invalid/keys', LIMITS),
      ).resolves.toEqual({ via: 'proxy' });
      expect(proxied).toEqual([
        { url: 'http://jwks.invalid/keys', connection: 'close' },
      ]);
    } finally {
      options.proxyEnv = saved;
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  describe('requestText', () => {
    it('POSTs a body with its length and returns the media type and text', async () => {
      let received = '';
      server.handler = (req, res) => {
        req.setEncoding('utf8');
        req.on('data', (chunk: string) => (received += chunk));
        req.on('end', () => {
          res.writeHead(200, {
            'content-type': 'Application/JWT; charset=utf-8',
          });
          res.end('a.b.c');
        });
      };
      const answer = await requestText(
        server.url(),
        {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: 'token=é',
        },
        LIMITS,
      );
      expect(answer).toEqual({ contentType: 'application/jwt', text: 'a.b.c' });
      expect(server.requests[0]?.method).toBe('POST');
      expect(server.requests[0]?.headers.connection).toBe('keep-alive');
      expect(server.requests[0]?.headers['content-length']).toBe('8');
      expect(received).toBe('token=é');
    });

    it('speaks TLS to an https: URL (an untrusted certificate is a network error)', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'fetch-json-'));
      const { key, cert } = makeCertificate(dir, 'jwks');
      const tlsServer = createHttpsServer({ key, cert }, (_req, res) =>
        json(res, 200, '{}'),
      );
      const handshakes: string[] = [];
      tlsServer.on('tlsClientError', (error: Error) =>
        handshakes.push(error.message),
      );
      await new Promise<void>((resolve) =>
        tlsServer.listen(0, '127.0.0.1', resolve),
      );
      try {
        const { port } = tlsServer.address() as AddressInfo;
        const error = await failure(`https://127.0.0.1:${port}/jwks`);
        expect(error.message).toBe('network error');
        expect((error.cause as { code?: string }).code).toBe(
          'DEPTH_ZERO_SELF_SIGNED_CERT',
        );
      } finally {
        await new Promise((resolve) => tlsServer.close(resolve));
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
