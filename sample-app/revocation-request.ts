import { ClientError } from './app-exception.filter.js';

/** The longest `jti`, `sub` or `clientId` accepted (the library's own bound). */
export const MAX_REVOCATION_VALUE_LENGTH = 1024;

/** What `POST /admin/revocations` asks for, once its body is read. */
export type RevocationRequest =
  | { readonly kind: 'jti'; readonly jti: string; readonly exp?: number }
  | {
      readonly kind: 'sub';
      readonly sub: string;
      readonly issuedBefore: number;
    }
  | {
      readonly kind: 'client';
      readonly clientId: string;
      readonly issuedBefore: number;
    };

const FIELDS = new Set(['jti', 'exp', 'sub', 'clientId', 'issuedBefore']);

function badRequest(message: string): ClientError {
  return new ClientError(400, message);
}

function readValue(fields: Record<string, unknown>, name: string): string {
  const value = fields[name];
  if (
    typeof value !== 'string' ||
    value === '' ||
    value.length > MAX_REVOCATION_VALUE_LENGTH
  ) {
    throw badRequest(
      `${name} must be a non-empty string of at most ${MAX_REVOCATION_VALUE_LENGTH} characters.`,
    );
  }
  return value;
}

function readTime(fields: Record<string, unknown>, name: string): number {
  const value = fields[name];
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw badRequest(`${name} must be a time in seconds since the epoch.`);
  }
  return value;
}

/**
 * Reads the body of `POST /admin/revocations`: `{"jti"}` (optionally with its `exp`),
 * `{"sub","issuedBefore"}` or `{"clientId","issuedBefore"}`. Anything else is a 400 with a
 * fixed message that never repeats the body.
 */
export function readRevocationRequest(body: unknown): RevocationRequest {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest('The body must be a JSON object.');
  }
  const fields = body as Record<string, unknown>;
  const names = Object.keys(fields);
  for (const name of names) {
    if (!FIELDS.has(name)) throw badRequest('The body has an unknown field.');
  }
  const subjects = ['jti', 'sub', 'clientId'].filter((name) =>
    Object.hasOwn(fields, name),
  );
  if (subjects.length !== 1) {
    throw badRequest('The body must name exactly one of jti, sub or clientId.');
  }
  if (subjects[0] === 'jti') {
    if (Object.hasOwn(fields, 'issuedBefore')) {
      throw badRequest('issuedBefore goes with sub or clientId, not jti.');
    }
    const jti = readValue(fields, 'jti');
    return Object.hasOwn(fields, 'exp')
      ? { kind: 'jti', jti, exp: readTime(fields, 'exp') }
      : { kind: 'jti', jti };
  }
  if (Object.hasOwn(fields, 'exp')) {
    throw badRequest('exp goes with jti only.');
  }
  const issuedBefore = readTime(fields, 'issuedBefore');
  return subjects[0] === 'sub'
    ? { kind: 'sub', sub: readValue(fields, 'sub'), issuedBefore }
    : { kind: 'client', clientId: readValue(fields, 'clientId'), issuedBefore };
}
