/**
 * The decoders `requestText` stacks for a compressed answer are released however the
 * exchange ends: a decoder left alive goes on inflating what it holds into chunks nobody
 * reads (a gzip bomb's first kilobytes are megabytes). node:zlib's factories are wrapped
 * so that the test sees each decoder the module creates; they stay the real ones.
 */
import { jest } from '@jest/globals';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Transform } from 'node:stream';
import * as zlib from 'node:zlib';

const created: Transform[] = [];
jest.unstable_mockModule('node:zlib', () => ({
  ...zlib,
  createGunzip: () => {
    const decoder = zlib.createGunzip();
    created.push(decoder);
    return decoder;
  },
}));
const { fetchJson } = await import('./fetch-json.js');

// 64 MiB of zeros gzip to about 64 KiB; a few KiB of it already decode to megabytes.
const BOMB = zlib.gzipSync(Buffer.alloc(64 << 20));

describe('requestText releases its decoders', () => {
  let server: Server;
  const sockets = new Set<Socket>();
  let answer: (res: ServerResponse) => void;

  beforeAll(async () => {
    server = createServer((_req, res) => answer(res));
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) =>
      server.listen(0, '127.0.0.1', resolve),
    );
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  beforeEach(() => {
    created.length = 0;
  });

  function url(): string {
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/keys`;
  }

  /** The start of the bomb, then nothing more: the body never ends. */
  function stall(res: ServerResponse): void {
    res.writeHead(200, {
      'content-encoding': 'gzip',
      'content-length': String(BOMB.length + 100),
    });
    res.write(BOMB.subarray(0, 16 * 1024));
  }

  it('after the timeout', async () => {
    answer = stall;
    await expect(
      fetchJson(url(), { timeout: 100, maxBytes: 256 << 20 }),
    ).rejects.toThrow('timed out after 100 ms');
    expect(created).toHaveLength(1);
    expect(created[0].destroyed).toBe(true);
  });

  it('after the connection drops mid-body', async () => {
    answer = (res) => {
      stall(res);
      setTimeout(() => res.socket?.destroy(), 50);
    };
    await expect(
      fetchJson(url(), { timeout: 5000, maxBytes: 256 << 20 }),
    ).rejects.toThrow('network error');
    expect(created).toHaveLength(1);
    expect(created[0].destroyed).toBe(true);
  });

  it('after the decoded body passes the cap', async () => {
    // Chunked: a declared length over the cap would be refused before any decoding.
    answer = (res) => {
      res.writeHead(200, { 'content-encoding': 'gzip' });
      res.write(BOMB.subarray(0, 16 * 1024));
    };
    await expect(
      fetchJson(url(), { timeout: 5000, maxBytes: 1024 }),
    ).rejects.toThrow('response larger than 1024 bytes');
    expect(created[0].destroyed).toBe(true);
  });
});
