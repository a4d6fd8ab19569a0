/** A bounded JSON fetch for the key source: timeout, size cap, no redirects. */

/** Limits of one fetch. */
export interface FetchLimits {
  /** Milliseconds for the whole exchange, body included. */
  timeout: number;
  /** The largest body accepted, in bytes. */
  maxBytes: number;
}

/** Why a fetch failed; the text is for logs only, never for clients. */
export class KeySourceFetchError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KeySourceFetchError';
  }
}

/** The body as text, refused past `maxBytes` (declared or streamed); also used by introspection. */
export async function readCapped(
  response: Response,
  maxBytes: number,
): Promise<string> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > maxBytes) {
    throw new KeySourceFetchError(`response larger than ${maxBytes} bytes`);
  }
  if (response.body === null) return '';
  const reader: ReadableStreamDefaultReader<Uint8Array> =
    response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new KeySourceFetchError(`response larger than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * GETs `url` and parses a JSON object. Redirects are refused (a JWKS location is
 * configuration, not something a server may move), and the timeout covers the body.
 *
 * @throws KeySourceFetchError on any failure.
 */
export async function fetchJson(
  url: string,
  limits: FetchLimits,
): Promise<Record<string, unknown>> {
  const signal = AbortSignal.timeout(limits.timeout);
  let text: string;
  try {
    const response = await fetch(url, {
      redirect: 'manual',
      signal,
      headers: { accept: 'application/json' },
    });
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => undefined);
      throw new KeySourceFetchError(`HTTP status ${response.status}`);
    }
    text = await readCapped(response, limits.maxBytes);
  } catch (error) {
    if (error instanceof KeySourceFetchError) throw error;
    const reason = signal.aborted
      ? `timed out after ${limits.timeout} ms`
      : 'network error';
    throw new KeySourceFetchError(reason, { cause: error });
  }
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
