/**
 * A `ws` client for e2e specs, with every wait bounded: an upgrade either opens a socket
 * or is refused with an HTTP response, and messages and closes are awaited with a timeout.
 */
import type { IncomingHttpHeaders } from 'node:http';
import WebSocket from 'ws';

/** How long a wait lasts unless told otherwise. */
export const WS_WAIT_MS = 5000;

/** An upgrade refused with a plain HTTP response. */
export interface RefusedUpgrade {
  readonly kind: 'refused';
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** The body, parsed when it is JSON. */
  readonly body: unknown;
}

/** An opened WebSocket, with the messages it received kept in order. */
export class OpenSocket {
  readonly kind = 'open';
  private readonly received: unknown[] = [];
  private readonly waiters: Array<(message: unknown) => void> = [];
  private closeInfo: { code: number; reason: string } | undefined;
  private readonly closeWaiters: Array<
    (info: { code: number; reason: string }) => void
  > = [];

  constructor(readonly socket: WebSocket) {
    socket.on('message', (data: WebSocket.RawData) => {
      let message: unknown;
      try {
        message = JSON.parse(rawText(data));
      } catch {
        message = rawText(data);
      }
      const waiter = this.waiters.shift();
      if (waiter === undefined) this.received.push(message);
      else waiter(message);
    });
    socket.on('close', (code: number, reason: Buffer) => {
      this.closeInfo = { code, reason: reason.toString('utf8') };
      for (const waiter of this.closeWaiters.splice(0)) waiter(this.closeInfo);
    });
  }

  /** Whether the socket is still open. */
  get isOpen(): boolean {
    return this.socket.readyState === WebSocket.OPEN;
  }

  /** Sends `{"event": event, "data": data}`. */
  emit(event: string, data?: unknown): void {
    this.socket.send(JSON.stringify({ event, data }));
  }

  /** The next message, or a failure after `timeoutMs`. */
  nextMessage(timeoutMs = WS_WAIT_MS): Promise<unknown> {
    const queued = this.received.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(new Error(`no message within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (message: unknown): void => {
        clearTimeout(timer);
        resolve(message);
      };
      this.waiters.push(waiter);
    });
  }

  /** Sends one message and waits for the next message received. */
  async request(
    event: string,
    data?: unknown,
    timeoutMs = WS_WAIT_MS,
  ): Promise<unknown> {
    const reply = this.nextMessage(timeoutMs);
    this.emit(event, data);
    return reply;
  }

  /** Every message received and not yet read, after waiting `ms` for stragglers. */
  async drain(ms: number): Promise<unknown[]> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.received.splice(0);
  }

  /** The close code and reason, once the socket closes; a failure after `timeoutMs`. */
  waitForClose(
    timeoutMs = WS_WAIT_MS,
  ): Promise<{ code: number; reason: string }> {
    if (this.closeInfo !== undefined) return Promise.resolve(this.closeInfo);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`the socket did not close within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.closeWaiters.push((info) => {
        clearTimeout(timer);
        resolve(info);
      });
    });
  }

  /** Closes the socket and waits, at most `timeoutMs`, until it is closed. */
  async close(timeoutMs = WS_WAIT_MS): Promise<void> {
    if (this.closeInfo !== undefined) return;
    const closed = this.waitForClose(timeoutMs);
    this.socket.close();
    await closed.catch(() => this.socket.terminate());
  }
}

function rawText(data: WebSocket.RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

/**
 * Opens `url` with these upgrade headers: the open socket, or the HTTP response that
 * refused the upgrade. Fails after `timeoutMs`.
 */
export function connect(
  url: string,
  headers: Record<string, string> = {},
  timeoutMs = WS_WAIT_MS,
): Promise<OpenSocket | RefusedUpgrade> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers, handshakeTimeout: timeoutMs });
    // Messages may follow the upgrade at once: listen before 'open' is reported.
    const open = new OpenSocket(socket);
    const timer = setTimeout(() => {
      socket.terminate();
      reject(new Error(`no answer to the upgrade within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('open', () => {
      clearTimeout(timer);
      resolve(open);
    });
    socket.once('unexpected-response', (request, response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        clearTimeout(timer);
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // Not JSON: compared as text.
        }
        request.destroy();
        resolve({
          kind: 'refused',
          status: response.statusCode ?? 0,
          headers: response.headers,
          body,
        });
      });
    });
    // `on`, not `once`: destroying a refused upgrade's request may report a second error.
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** {@link connect}, expecting the socket to open. */
export async function open(
  url: string,
  headers: Record<string, string> = {},
): Promise<OpenSocket> {
  const result = await connect(url, headers);
  if (result.kind !== 'open') {
    throw new Error(
      `the upgrade was refused: ${result.status} ${JSON.stringify(result.body)}`,
    );
  }
  return result;
}

/** {@link connect}, expecting the upgrade to be refused. */
export async function refused(
  url: string,
  headers: Record<string, string> = {},
): Promise<RefusedUpgrade> {
  const result = await connect(url, headers);
  if (result.kind === 'open') {
    await result.close();
    throw new Error('the upgrade was accepted');
  }
  return result;
}
