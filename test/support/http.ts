import {
  request as httpRequest,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http';

/** A raw HTTP exchange's outcome. */
export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body as received. */
  text: string;
}

/** What to send; headers may repeat (an array value sends one line per element). */
export interface HttpRequestOptions {
  method?: string;
  headers?: Record<string, string | string[]>;
  body?: string;
}

/**
 * Sends one request with `node:http`, on a fresh connection (no keep-alive, so closing the
 * app never waits for an idle socket). Unlike `fetch`, it can send a body with GET and
 * repeat a header.
 */
export function send(
  url: string,
  options: HttpRequestOptions = {},
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const headers: OutgoingHttpHeaders = { ...options.headers };
    if (options.body !== undefined) {
      headers['content-length'] = Buffer.byteLength(options.body);
    }
    const req = httpRequest(
      url,
      { method: options.method ?? 'GET', headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** `Authorization: Bearer <token>`. */
export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

/** What an e2e assertion compares: status, the exact challenge and the parsed body. */
export interface Outcome {
  status: number;
  challenge: string | undefined;
  body: unknown;
}

/** The comparable outcome of a response; a body that is not JSON stays text. */
export function outcome(res: HttpResult): Outcome {
  let body: unknown = res.text;
  try {
    body = JSON.parse(res.text);
  } catch {
    // Not JSON: compared as text.
  }
  return {
    status: res.status,
    challenge: res.headers['www-authenticate'],
    body,
  };
}
