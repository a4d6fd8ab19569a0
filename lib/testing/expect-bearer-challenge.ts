/**
 * One assertion for a refused request: its status, its Bearer challenge (RFC 6750 section 3)
 * and a JSON body that says the same as the challenge. No test framework needed.
 */
import { parseChallenges, type ParsedChallenge } from '../www-authenticate.js';

/** What {@link expectBearerChallenge} checks. */
export interface ExpectedBearerChallenge {
  /** The HTTP status. */
  status: number;
  /**
   * The challenge's `error`. Left out, the challenge must carry no `error` at all: the
   * answer to a request without credentials (RFC 6750 section 3.1).
   */
  error?: string;
  /** The challenge's `error_description`; not checked when left out. */
  errorDescription?: string;
  /**
   * The challenge's `scope`, as a space-separated string or a list; compared as a set.
   * Not checked when left out.
   */
  scope?: string | readonly string[];
  /**
   * Other challenge parameters by name (`realm`, `authorization_uri`, `resource_id`, ...);
   * `undefined` means the parameter must be absent.
   */
  params?: Record<string, string | undefined>;
  /**
   * Check that the JSON body carries the same `error`, `error_description` and `scope`.
   * @default true
   */
  body?: boolean;
}

/** A supertest (superagent) response: headers as a plain object, the body already read. */
export interface SupertestLikeResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body?: unknown;
  text?: string;
}

/** A WHATWG `fetch` response: headers through `get()`, the body still to be read. */
export interface FetchLikeResponse {
  status: number;
  headers: { get(name: string): string | null };
  bodyUsed: boolean;
  clone(): { text(): Promise<string> };
}

/** A response {@link expectBearerChallenge} can check. */
export type ChallengedResponse = SupertestLikeResponse | FetchLikeResponse;

/** Thrown by {@link expectBearerChallenge}; the message lists every mismatch. */
export class BearerChallengeAssertionError extends Error {
  /** One sentence per mismatch. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[], context: string) {
    super(
      `expectBearerChallenge: ${problems.length} mismatch${problems.length === 1 ? '' : 'es'}\n` +
        problems.map((problem) => `  - ${problem}`).join('\n') +
        `\n${context}`,
    );
    this.name = 'BearerChallengeAssertionError';
    this.problems = problems;
  }
}

function isFetchResponse(
  response: ChallengedResponse,
): response is FetchLikeResponse {
  return typeof (response.headers as { get?: unknown }).get === 'function';
}

interface ReadResponse {
  status: number;
  challengeHeader: string | undefined;
  /** The body text, or `undefined` when it could not be read. */
  text: string | undefined;
  /** The body as parsed JSON, when supertest already parsed it. */
  parsed?: unknown;
}

async function readResponse(
  response: ChallengedResponse,
): Promise<ReadResponse> {
  if (isFetchResponse(response)) {
    return {
      status: response.status,
      challengeHeader: response.headers.get('www-authenticate') ?? undefined,
      // A clone, so the caller can still read the body afterwards.
      text: response.bodyUsed ? undefined : await response.clone().text(),
    };
  }
  const raw = response.headers['www-authenticate'];
  const read: ReadResponse = {
    status: response.status,
    challengeHeader: Array.isArray(raw) ? raw.join(', ') : raw,
    text: response.text,
  };
  // supertest leaves `body` as {} for a type it does not parse, so the text comes first.
  if (
    response.text === undefined &&
    typeof response.body === 'object' &&
    response.body !== null &&
    !Buffer.isBuffer(response.body)
  ) {
    read.parsed = response.body;
  }
  return read;
}

function show(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

function scopeSet(scope: string | readonly string[]): string[] {
  const list = typeof scope === 'string' ? scope.split(' ') : [...scope];
  return [...new Set(list.filter((item) => item !== ''))].sort();
}

function sameScopes(
  actual: string | undefined,
  expected: string | readonly string[],
): boolean {
  return (
    actual !== undefined &&
    scopeSet(actual).join(' ') === scopeSet(expected).join(' ')
  );
}

/**
 * Checks that `response` is a refusal with a Bearer challenge, and throws a
 * {@link BearerChallengeAssertionError} naming every mismatch otherwise.
 *
 * It checks the status; that a `WWW-Authenticate` field holds a Bearer challenge; its
 * `error` (none when `expected.error` is left out), `error_description`, `scope` and any
 * `params` given; and that the JSON body carries the same `error`, `error_description`
 * and `scope` as the challenge. It takes a supertest response or a `fetch` `Response`
 * (whose body it reads from a clone), and resolves to the parsed challenge.
 *
 * @example
 * await expectBearerChallenge(await request(server).get('/documents'), { status: 401 });
 * await expectBearerChallenge(await fetch(url, { headers }), {
 *   status: 403,
 *   error: 'insufficient_scope',
 *   scope: 'documents.read',
 * });
 */
export async function expectBearerChallenge(
  response: ChallengedResponse,
  expected: ExpectedBearerChallenge,
): Promise<ParsedChallenge> {
  const read = await readResponse(response);
  const problems: string[] = [];
  const context = [
    `  status: ${read.status}`,
    `  WWW-Authenticate: ${read.challengeHeader ?? '(absent)'}`,
    `  body: ${(read.text ?? show(read.parsed)).slice(0, 500)}`,
  ].join('\n');

  if (read.status !== expected.status) {
    problems.push(`status: expected ${expected.status}, got ${read.status}`);
  }

  let challenge: ParsedChallenge | undefined;
  if (read.challengeHeader === undefined) {
    problems.push('no WWW-Authenticate field');
  } else {
    try {
      challenge = parseChallenges(read.challengeHeader).find(
        (candidate) => candidate.scheme.toLowerCase() === 'bearer',
      );
      if (challenge === undefined) {
        problems.push('WWW-Authenticate holds no Bearer challenge');
      }
    } catch (error) {
      problems.push(
        `WWW-Authenticate does not parse (${(error as Error).message})`,
      );
    }
  }
  if (challenge === undefined) {
    throw new BearerChallengeAssertionError(problems, context);
  }

  const params = challenge.params;
  if (params.error !== expected.error) {
    problems.push(
      expected.error === undefined
        ? `error: expected none (no credentials), got ${show(params.error)}`
        : `error: expected ${show(expected.error)}, got ${show(params.error)}`,
    );
  }
  if (
    expected.errorDescription !== undefined &&
    params.error_description !== expected.errorDescription
  ) {
    problems.push(
      `error_description: expected ${show(expected.errorDescription)}, got ${show(params.error_description)}`,
    );
  }
  if (
    expected.scope !== undefined &&
    !sameScopes(params.scope, expected.scope)
  ) {
    problems.push(
      `scope: expected ${show(scopeSet(expected.scope).join(' '))}, got ${show(params.scope)}`,
    );
  }
  for (const [name, value] of Object.entries(expected.params ?? {})) {
    const actual = Object.hasOwn(params, name.toLowerCase())
      ? params[name.toLowerCase()]
      : undefined;
    if (actual !== value) {
      problems.push(`${name}: expected ${show(value)}, got ${show(actual)}`);
    }
  }
  if (challenge.repeated !== undefined) {
    problems.push(
      `parameters given more than once: ${challenge.repeated.join(', ')}`,
    );
  }

  if (expected.body !== false) {
    problems.push(...checkBody(read, params));
  }
  if (problems.length > 0) {
    throw new BearerChallengeAssertionError(problems, context);
  }
  return challenge;
}

/** The body must be JSON and mirror the challenge's `error`, `error_description` and `scope`. */
function checkBody(
  read: ReadResponse,
  params: Record<string, string>,
): string[] {
  let body = read.parsed;
  if (body === undefined) {
    if (read.text === undefined) {
      return ['body: already read; pass a fresh response or { body: false }'];
    }
    try {
      body = JSON.parse(read.text);
    } catch {
      return ['body: not JSON'];
    }
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    return ['body: not a JSON object'];
  }
  const fields = body as Record<string, unknown>;
  const problems: string[] = [];
  for (const name of ['error', 'error_description', 'scope']) {
    const inHeader = Object.hasOwn(params, name) ? params[name] : undefined;
    // JSON has no undefined: a null field says "none" as well as a missing one.
    const inBody =
      Object.hasOwn(fields, name) && fields[name] !== null
        ? fields[name]
        : undefined;
    if (inBody !== inHeader) {
      problems.push(
        `body.${name}: ${show(inBody)}, but the challenge says ${show(inHeader)}`,
      );
    }
  }
  return problems;
}
