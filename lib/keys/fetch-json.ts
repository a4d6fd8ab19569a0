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
  type ClientRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  request as httpRequest,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
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

/** The decoders of the content codings a server may use even though we ask for none. */
const DECODERS: Readonly<Record<string, (() => Transform) | undefined>> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

/**
 * One exchange with `url` (http: or https:), settled once: the 200 answer's text, or a
 * {@link KeySourceFetchError} for any other status (a redirect is not followed: a key or
 * introspection location is configuration), a body past `maxBytes` (declared or streamed),
 * the timeout (which covers the body), or a network failure.
 */
export function requestText(
  url: string,
  exchange: HttpExchange,
  limits: FetchLimits,
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    let send: typeof httpRequest;
    try {
      send = SENDERS[new URL(url).protocol] ?? refuseScheme;
    } catch {
      send = refuseScheme;
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
      request = send(url, {
        method: exchange.method ?? 'GET',
        headers,
        ...(exchange.keepAlive === false && { agent: false }),
      });
    } catch (error) {
      reject(
        new KeySourceFetchError('not an http: or https: URL', { cause: error }),
      );
      return;
    }
    let settled = false;
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
    };
    const failFrom = (cause: unknown): void =>
      fail(new KeySourceFetchError('network error', { cause }));
    request.on('error', failFrom);
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
      const coding = (response.headers['content-encoding'] ?? 'identity')
        .trim()
        .toLowerCase();
      let body: Readable = response;
      if (coding !== 'identity') {
        const decoder = DECODERS[coding];
        if (decoder === undefined) {
          fail(new KeySourceFetchError(`unsupported content coding ${coding}`));
          return;
        }
        body = response.pipe(decoder());
        body.on('error', (cause) =>
          fail(new KeySourceFetchError('the body does not decode', { cause })),
        );
      }
      readCapped(body, response, limits.maxBytes).then(
        (text) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ contentType: mediaTypeOf(response), text });
        },
        (error: unknown) =>
          error instanceof KeySourceFetchError ? fail(error) : failFrom(error),
      );
    });
    request.end(exchange.body);
  });
}

const SENDERS: Readonly<Record<string, typeof httpRequest | undefined>> = {
  'http:': httpRequest,
  'https:': httpsRequest,
};

/** Stands in for a sender when the URL has another scheme: `requestText` reports it. */
const refuseScheme: typeof httpRequest = () => {
  throw new TypeError('not an http: or https: URL');
};

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
        // A decoder would go on inflating what it holds into chunks nobody keeps.
        body.destroy();
        response.destroy();
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
