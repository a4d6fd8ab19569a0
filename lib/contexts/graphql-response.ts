/**
 * The HTTP status of a refused GraphQL operation. Both drivers choose the status after
 * execution: Nest's Apollo driver resets it to 200 for any operation that executed (its
 * `preserveHttpStatusForExecutionErrors` plugin), and Mercurius answers 200 whenever
 * `data` is present. So the refusal's status is applied when the response head is
 * written, after either driver has chosen its own, as the `on-headers` package does.
 */

/** The part of Node's `ServerResponse` used here. */
interface NodeResponse {
  headersSent?: boolean;
  writeHead: (statusCode: number, ...rest: unknown[]) => unknown;
}

const HELD_STATUS = new WeakMap<object, number>();

function isNodeResponse(value: unknown): value is NodeResponse {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { writeHead?: unknown }).writeHead === 'function'
  );
}

/**
 * The Node response under a GraphQL context: Fastify's `reply.raw` (Mercurius), or the
 * Express response linked from the request as `req.res` (Apollo).
 */
export function nodeResponseOf(context: unknown): NodeResponse | undefined {
  if (typeof context !== 'object' || context === null) return undefined;
  const { reply, req } = context as {
    reply?: { raw?: unknown };
    req?: { res?: unknown };
  };
  const candidate = reply?.raw ?? req?.res;
  return isNodeResponse(candidate) ? candidate : undefined;
}

/**
 * Makes the response go out with `status` where the driver would answer 200. A status
 * the driver chose for its own reasons (a 400 for a bad request) is left as it is.
 */
export function holdResponseStatus(
  response: NodeResponse,
  status: number,
): void {
  if (response.headersSent === true) return;
  if (!HELD_STATUS.has(response)) {
    const writeHead = response.writeHead;
    response.writeHead = function (
      this: unknown,
      statusCode: number,
      ...rest: unknown[]
    ): unknown {
      const held = HELD_STATUS.get(response);
      return writeHead.call(
        this,
        statusCode === 200 && held !== undefined ? held : statusCode,
        ...rest,
      );
    };
  }
  HELD_STATUS.set(response, status);
}
