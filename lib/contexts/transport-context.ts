/**
 * What the guard needs from each kind of Nest execution context: where the credentials
 * are, where the principal goes, and how to set a response header where there is a
 * response. One adapter per transport; no adapter for a context type means the module
 * cannot vouch for it, and the guard refuses it.
 */
import type { ArgumentsHost } from '@nestjs/common';
import type { CredentialRequest } from '../bearer-authenticator.service.js';
import type { BearerPrincipal } from '../claims.js';

/** What a context offers to authenticate with. */
export type ContextCredentials =
  /** A request to extract a token from (HTTP, GraphQL, RPC headers). */
  | { readonly kind: 'request'; readonly request: CredentialRequest }
  /** A principal authenticated earlier (a WebSocket, at its upgrade request). */
  | { readonly kind: 'principal'; readonly principal: BearerPrincipal }
  /** Nothing to authenticate with. */
  | { readonly kind: 'none' };

/** One transport's view of an execution context. */
export interface TransportContext {
  /** The context type (`context.getType()`) this adapter serves. */
  readonly type: string;
  /**
   * The credentials of this call.
   * @throws AuthServerError when the context is not shaped as the transport promises.
   */
  readCredentials(host: ArgumentsHost): ContextCredentials;
  /** Hands the principal to the handler's parameter decorators. */
  attachPrincipal(host: ArgumentsHost, principal: BearerPrincipal): void;
  /** The principal attached to this call, if any. */
  readPrincipal(host: ArgumentsHost): BearerPrincipal | undefined;
  /** Sets a response header where the transport has a response; otherwise does nothing. */
  setHeader(host: ArgumentsHost, name: string, value: string): void;
  /**
   * Adds `Authorization` to the response's `Vary` where the transport has cacheable
   * responses: an `@OptionalAuth()` answer differs by caller, and a shared cache must not
   * hand the anonymous one to a signed-in caller (RFC 9111 section 4.1).
   */
  varyOnCredentials?(host: ArgumentsHost): void;
}

/**
 * Adds `field` to a framework response's `Vary` header unless it (or `*`) is listed already;
 * Node's, Express's and Fastify's responses all have `getHeader`.
 */
export function appendVary(response: unknown, field: string): void {
  if (typeof response !== 'object' || response === null) return;
  const { getHeader } = response as { getHeader?: (name: string) => unknown };
  const current =
    typeof getHeader === 'function' ? getHeader.call(response, 'vary') : '';
  const listed = Array.isArray(current)
    ? current.join(', ')
    : typeof current === 'string'
      ? current
      : '';
  const wanted = field.toLowerCase();
  for (const item of listed.split(',')) {
    const name = item.trim().toLowerCase();
    if (name === wanted || name === '*') return;
  }
  setResponseHeader(
    response,
    'Vary',
    listed.trim() === '' ? field : `${listed}, ${field}`,
  );
}

/** A framework response: Node's and Express's `setHeader`, or Fastify's `header`. */
export function setResponseHeader(
  response: unknown,
  name: string,
  value: string,
): void {
  if (typeof response !== 'object' || response === null) return;
  const target = response as {
    setHeader?: (name: string, value: string) => unknown;
    header?: (name: string, value: string) => unknown;
    headersSent?: boolean;
    sent?: boolean;
  };
  if (target.headersSent === true || target.sent === true) return;
  if (
    typeof target.header === 'function' &&
    typeof target.setHeader !== 'function'
  ) {
    target.header(name, value);
  } else if (typeof target.setHeader === 'function') {
    target.setHeader(name, value);
  }
}
