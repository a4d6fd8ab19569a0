/**
 * Bounded HTTP exchanges for the key source and introspection: timeout, size cap, no
 * redirects.
 *
 * They go through `node:http` and `node:https`, not the global `fetch`. undici parses
 * answers with llhttp compiled to WebAssembly, and after a few fetches V8 recompiles that
 * module with its optimizing tier: a JWKS refetch on an unknown `kid` then raised a
 * server's peak RSS by 21 MB and kept 10 MB of it (Node 24). `node:http`'s parser is
 * native and already loaded by every HTTP server.
 */
import {
  Agent as HttpAgent,
  type AgentOptions,
  type ClientRequest,
  globalAgent as httpGlobalAgent,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  request as httpRequest,
} from 'node:http';
import {
  Agent as HttpsAgent,
  globalAgent as httpsGlobalAgent,
  request as httpsRequest,
} from 'node:https';
import type { Socket } from 'node:net';
import type { Readable, Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

/** Limits of one fetch. */
export interface FetchLimits {
  /** Milliseconds for the whole exchange, body included. */
  timeout: number;
  /** The largest body accepted, in bytes (decoded, when the server compressed it). */
  maxBytes: number;
}

/** Why a fetch failed; the text is for logs only, never for clients. */
export class KeySourceFetchError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KeySourceFetchError';
  }
}

/** What to send: a GET by default. */
export interface HttpExchange {
  method?: 'GET' | 'POST';
  headers: Readonly<Record<string, string>>;
  body?: string;
  /**
   * Whether the connection goes back to Node's global pool. Rare exchanges (a key set every
   * few minutes) close it: a pooled one would sit idle and race the server's idle close.
   * @default true
   */
  keepAlive?: boolean;
}

/** A 200 answer. */
export interface HttpAnswer {
  /** The media type, lowercased, without parameters; `''` when there is none. */
  contentType: string;
  /** The body as UTF-8 text. */
  text: string;
}

/**
 * The decoders of the content codings a server may use even though we ask for none. A
 * `Map`, so that a coding named `constructor` or `__proto__` finds nothing.
 */
const DECODERS: ReadonlyMap<string, () => Transform> = new Map([
  ['gzip', createGunzip],
  ['x-gzip', createGunzip],
  ['deflate', createInflate],
  ['br', createBrotliDecompress],
]);

/** More stacked codings than this is not a key set: it is refused (undici stops past 5). */
const MAX_CODINGS = 3;

/**
 * The decoders for a `Content-Encoding` value, in the order to apply them (the reverse of
 * the listed order, RFC 9110 section 8.4.1); a string names what cannot be decoded.
 */
function decodersFor(
  header: string | undefined,
): Array<() => Transform> | string {
  const codings = (header ?? '')
    .split(',')
    .map((coding) => coding.trim().toLowerCase())
    .filter((coding) => coding !== '' && coding !== 'identity');
  if (codings.length > MAX_CODINGS) return codings.join(', ');
  const decoders: Array<() => Transform> = [];
  for (const coding of codings.reverse()) {
    const decoder = DECODERS.get(coding);
    if (decoder === undefined) return coding;
    decoders.push(decoder);
  }
  return decoders;
}

/**
 * The agent of one exchange: the global one (pooled connections), or for a rare exchange a
 * fresh one that closes its connection, with the global agent's proxy settings (Node's
 * `NODE_USE_ENV_PROXY`), which `agent: false` would drop.
 */
function agentFor(https: boolean, keepAlive: boolean): HttpAgent {
  const global = https ? httpsGlobalAgent : httpGlobalAgent;
  if (keepAlive) return global;
  // Node 24.5+ keeps its proxy settings there; older Node has none to copy.
  const { proxyEnv } = (global as { options?: AgentOptions }).options ?? {};
  const options = { keepAlive: false, ...(proxyEnv && { proxyEnv }) };
  return https ? new HttpsAgent(options) : new HttpAgent(options);
}

/**
 * One exchange with `url` (http: or https:), settled once: the 200 answer's text, or a
 * {@link KeySourceFetchError} for any other status (a redirect is not followed: a key or
 * introspection location is configuration), a body past `maxBytes` (declared or streamed,
 * decoded when the server compressed it), the timeout (which covers the body), or a network
 * failure. However it settles, the connection and any decoder are released.
 */
export function requestText(
  url: string,
  exchange: HttpExchange,
  limits: FetchLimits,
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch (error) {
      reject(new KeySourceFetchError('not a URL', { cause: error }));
      return;
    }
    const https = target.protocol === 'https:';
    if (!https && target.protocol !== 'http:') {
      reject(new KeySourceFetchError('not an http: or https: URL'));
      return;
    }
    // fetch refuses them too; node:http would send them as a Basic Authorization header.
    if (target.username !== '' || target.password !== '') {
      reject(new KeySourceFetchError('the URL carries credentials'));
      return;
    }
    const headers: OutgoingHttpHeaders = {
      ...exchange.headers,
      // Any coding is acceptable without the header (RFC 9110 section 12.5.3).
      'accept-encoding': 'identity',
    };
    if (exchange.body !== undefined) {
      headers['content-length'] = Buffer.byteLength(exchange.body);
    }
    let request: ClientRequest;
    try {
      request = (https ? httpsRequest : httpRequest)(target, {
        method: exchange.method ?? 'GET',
        headers,
        agent: agentFor(https, exchange.keepAlive !== false),
      });
    } catch (error) {
      reject(
        new KeySourceFetchError('the request cannot be sent', { cause: error }),
      );
      return;
    }
    let settled = false;
    const decoders: Transform[] = [];
    const timer = setTimeout(
      () =>
        fail(new KeySourceFetchError(`timed out after ${limits.timeout} ms`)),
      limits.timeout,
    );
    const fail = (error: KeySourceFetchError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(error);
      request.destroy();
      // A decoder would go on inflating what it holds into chunks nobody reads.
      for (const decoder of decoders) decoder.destroy();
    };
    const failFrom = (cause: unknown): void =>
      fail(
        cause instanceof KeySourceFetchError
          ? cause
          : new KeySourceFetchError('network error', { cause }),
      );
    request.on('error', failFrom);
    // A 101 is no answer; without a listener Node drops the socket and nothing settles.
    request.on('upgrade', (response: IncomingMessage, socket: Socket) => {
      socket.destroy();
      fail(new KeySourceFetchError(`HTTP status ${response.statusCode}`));
    });
    request.on('response', (response) => {
      if (response.statusCode !== 200) {
        fail(new KeySourceFetchError(`HTTP status ${response.statusCode}`));
        return;
      }
      const declared = Number(response.headers['content-length']);
      if (Number.isFinite(declared) && declared > limits.maxBytes) {
        fail(tooLarge(limits.maxBytes));
        return;
      }
      const codings = decodersFor(response.headers['content-encoding']);
      if (typeof codings === 'string') {
        fail(new KeySourceFetchError(`unsupported content coding ${codings}`));
        return;
      }
      let body: Readable = response;
      for (const create of codings) {
        const decoder = create();
        decoders.push(decoder);
        decoder.on('error', (cause) =>
          fail(new KeySourceFetchError('the body does not decode', { cause })),
        );
        body = body.pipe(decoder);
      }
      readCapped(body, response, limits.maxBytes).then((text) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ contentType: mediaTypeOf(response), text });
      }, failFrom);
    });
    request.end(exchange.body);
  });
}

/** The body as text, refused once it grows past `maxBytes`. */
function readCapped(
  body: Readable,
  response: IncomingMessage,
  maxBytes: number,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    body.on('data', (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size > maxBytes) {
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    });
    body.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    // A connection dropped mid-body ends the response with an error or without its end.
    response.on('error', reject);
    response.on('close', () => {
      if (!response.complete) reject(new Error('the answer was cut short'));
    });
  });
}

function tooLarge(maxBytes: number): KeySourceFetchError {
  return new KeySourceFetchError(`response larger than ${maxBytes} bytes`);
}

function mediaTypeOf(response: IncomingMessage): string {
  return (response.headers['content-type'] ?? '')
    .split(';')[0]
    .trim()
    .toLowerCase();
}

/**
 * GETs `url` and parses a JSON object.
 *
 * @throws KeySourceFetchError on any failure.
 */
export async function fetchJson(
  url: string,
  limits: FetchLimits,
): Promise<Record<string, unknown>> {
  const { text } = await requestText(
    url,
    { headers: { accept: 'application/json' }, keepAlive: false },
    limits,
  );
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new KeySourceFetchError('response is not JSON', { cause: error });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new KeySourceFetchError('response is not a JSON object');
  }
  return value as Record<string, unknown>;
}
