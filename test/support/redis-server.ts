/**
 * A real `redis-server` (Debian's package) for the tests, on a free loopback port, started
 * and stopped by PID. Missing: the test fails with a message that says how to install it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFreePort } from './sample-app-process.js';

/** The path of `redis-server`, or an error that says how to get it. */
export function findRedisServer(): string {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], {
    encoding: 'utf8',
  });
  const path = found.stdout.trim();
  if (found.status !== 0 || path === '') {
    throw new Error(
      'redis-server is not installed, and the Redis revocation tests need a real one: ' +
        'run `apt-get install -y redis-server` (.ci/run installs it when missing)',
    );
  }
  return path;
}

/** Sends one inline command on a fresh connection and returns the first reply line. */
export function redisCommand(port: number, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let reply = '';
    socket.setTimeout(2000, () => socket.destroy(new Error('timed out')));
    socket.once('error', reject);
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) {
        socket.end();
        resolve(reply.split('\r\n')[0]);
      }
    });
    socket.write(`${command}\r\n`);
  });
}

/** A `redis-server` child process; its data survives {@link RedisServer.restart} (AOF). */
export class RedisServer {
  private child: ChildProcess | undefined;
  private log = '';

  private constructor(
    private readonly binary: string,
    /** The port it listens on (127.0.0.1). */
    readonly port: number,
    private readonly dir: string,
  ) {}

  /** `redis://127.0.0.1:PORT`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The PID of the running server. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts a server on a free port with its own data folder. */
  static async start(): Promise<RedisServer> {
    const binary = findRedisServer();
    const dir = mkdtempSync(join(tmpdir(), 'nestjs-bearer-redis-'));
    const server = new RedisServer(binary, await findFreePort(), dir);
    await server.launch();
    return server;
  }

  /** Stops the server (SIGTERM to its PID) and waits for its exit. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGTERM');
    });
  }

  /** Starts it again on the same port and data, after {@link stop}. */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  /** Stops it and removes its data folder. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async launch(): Promise<void> {
    const child = spawn(
      this.binary,
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--daemonize',
        'no',
        '--loglevel',
        'warning',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout
      ?.setEncoding('utf8')
      .on('data', (c: string) => (this.log += c));
    child.stderr
      ?.setEncoding('utf8')
      .on('data', (c: string) => (this.log += c));
    this.child = child;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) {
        throw new Error(
          `redis-server exited (${child.exitCode}):\n${this.log}`,
        );
      }
      try {
        if ((await redisCommand(this.port, 'PING')) === '+PONG') return;
      } catch {
        // Not listening yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(
      `redis-server did not answer PING within 10 s:\n${this.log}`,
    );
  }
}

/**
 * A TCP relay in front of Redis, to cut one instance off (a network partition) while the
 * others still reach it.
 */
export class RedisProxy {
  private readonly sockets = new Set<Socket>();
  private cutOff = false;

  private constructor(
    private readonly server: Server,
    /** The port it listens on (127.0.0.1). */
    readonly port: number,
  ) {}

  /** `redis://127.0.0.1:PORT`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Relays 127.0.0.1:<free port> to 127.0.0.1:`targetPort`. */
  static async start(targetPort: number): Promise<RedisProxy> {
    const server = createServer();
    const proxy = new RedisProxy(server, await findFreePort());
    server.on('connection', (client) => {
      if (proxy.cutOff) {
        client.destroy();
        return;
      }
      const upstream = connect(targetPort, '127.0.0.1');
      for (const socket of [client, upstream]) {
        proxy.sockets.add(socket);
        socket.once('close', () => proxy.sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(proxy.port, '127.0.0.1', resolve);
    });
    return proxy;
  }

  /** Drops every relayed connection and refuses new ones until {@link restore}. */
  cut(): void {
    this.cutOff = true;
    for (const socket of this.sockets) socket.destroy();
  }

  /** Lets connections through again. */
  restore(): void {
    this.cutOff = false;
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
