/**
 * The small part of `oidc-provider` (which ships no types) that the specs use.
 * Configuration is passed through as the package documents it.
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  /** Provider configuration; see the package's documentation. */
  export type Configuration = Record<string, unknown>;

  /** An OpenID Provider / OAuth 2.0 authorization server. */
  export default class Provider {
    constructor(issuer: string, configuration?: Configuration);
    /** The request listener for `node:http`. */
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
  }
}
