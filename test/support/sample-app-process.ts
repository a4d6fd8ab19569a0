import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { send } from './http.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** Variables the sample app reads; the test's own environment never leaks into a child. */
const APP_VARIABLES =
  /^(PORT|HOST|HTTP_ADAPTER|LOG_LEVEL|NODE_OPTIONS|NO_COLOR|FORCE_COLOR|AUTH_.*)$/;

/** `node <script>` of the `start:prod` script, so the specs run what users run. */
function startProdScript(): string {
  const pkg = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as {
    scripts: Record<string, string>;
  };
  const match = /^node (\S+)$/.exec(pkg.scripts['start:prod'] ?? '');
  if (match === null) {
    throw new Error('the start:prod script is no longer `node <file>`');
  }
  return match[1];
}

function childEnv(env: Record<string, string>): NodeJS.ProcessEnv {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !APP_VARIABLES.test(name)),
  );
  return { ...base, ...env };
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** How a process that ran to its end finished. */
export interface ExitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function waitForExit(
  child: ChildProcess,
  timeoutMs: number,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`process ${child.pid} did not exit within ${timeoutMs} ms`),
      );
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

const running = new Set<SampleAppProcess>();

/** The compiled sample app running as a child process on 127.0.0.1. */
export class SampleAppProcess {
  private out = '';
  private err = '';

  private constructor(
    private readonly child: ChildProcess,
    /** `http://127.0.0.1:PORT`. */
    readonly url: string,
    /** The port it listens on. */
    readonly port: number,
  ) {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.out += chunk;
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.err += chunk;
    });
  }

  /** What the app printed to stdout so far. */
  get stdout(): string {
    return this.out;
  }

  /** What the app printed to stderr so far. */
  get stderr(): string {
    return this.err;
  }

  /**
   * Starts the app with `env` (plus a free `PORT` unless given) and waits, at most
   * `timeoutMs`, until `GET /health` answers 200.
   */
  static async start(
    env: Record<string, string>,
    timeoutMs = 20_000,
  ): Promise<SampleAppProcess> {
    for (let attempt = 1; ; attempt++) {
      const port =
        env.PORT === undefined ? await findFreePort() : Number(env.PORT);
      const child = spawn(process.execPath, [startProdScript()], {
        cwd: ROOT,
        env: childEnv({ ...env, PORT: String(port) }),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const app = new SampleAppProcess(child, `http://127.0.0.1:${port}`, port);
      running.add(app);
      try {
        await app.waitForHealth(timeoutMs);
        return app;
      } catch (error) {
        await app.stop();
        // Another process may have taken the free port between the probe and the start.
        if (
          attempt < 3 &&
          env.PORT === undefined &&
          /already in use/.test(app.stderr)
        ) {
          continue;
        }
        throw error;
      }
    }
  }

  /** Runs the app expecting it to stop on its own (a failed start), at most `timeoutMs`. */
  static async runToExit(
    env: Record<string, string>,
    timeoutMs = 15_000,
  ): Promise<ExitResult> {
    const child = spawn(process.execPath, [startProdScript()], {
      cwd: ROOT,
      env: childEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const app = new SampleAppProcess(child, '', 0);
    running.add(app);
    try {
      const { code, signal } = await waitForExit(child, timeoutMs);
      return { code, signal, stdout: app.stdout, stderr: app.stderr };
    } finally {
      running.delete(app);
    }
  }

  /** Stops every app this module started that is still running. */
  static async stopAll(): Promise<void> {
    await Promise.all([...running].map((app) => app.stop()));
  }

  /** Sends `signal` and waits, at most `timeoutMs`, for the process to end. */
  async stop(
    signal: NodeJS.Signals = 'SIGTERM',
    timeoutMs = 5000,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    running.delete(this);
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill(signal);
    }
    return waitForExit(this.child, timeoutMs);
  }

  private async waitForHealth(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(
          `the sample app exited (${this.child.exitCode ?? this.child.signalCode}) before answering /health:\n${this.stderr}`,
        );
      }
      try {
        const res = await send(`${this.url}/health`);
        if (res.status === 200) return;
      } catch {
        // Not listening yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(
      `the sample app did not answer /health within ${timeoutMs} ms:\n${this.stderr}`,
    );
  }
}
