/**
 * The client side of nestjs-bearer (`nestjs-bearer/client`): read a resource server's
 * `WWW-Authenticate` challenges safely and act on them, as the Azure AD page "Errors from
 * Secured Resources" asks of clients, and send DPoP-bound tokens (RFC 9449). No Nest
 * dependency.
 */
export {
  AZURE_AUTHORITY_HOSTS,
  verifyChallenge,
} from './challenge-verifier.js';
export type {
  BearerChallenge,
  ChallengeErrorCode,
  ChallengeScheme,
  HeadersLike,
  ResponseLike,
  UntrustedChallengeReason,
  VerifyOptions,
  VerifyResult,
} from './challenge-verifier.js';
export { CLIENT_ACTIONS, decideClientAction } from './client-actions.js';
export type {
  AccessTokenRequest,
  ClientAction,
  ClientActionEntry,
  ClientActionKey,
  ClientDecision,
} from './client-actions.js';
export { createBearerFetch, UntrustedChallengeError } from './bearer-fetch.js';
export type {
  BearerFetch,
  BearerFetchOptions,
  GetTokenRequest,
  RetryEvent,
} from './bearer-fetch.js';
export { computeJwkThumbprint, generateDpopKeyPair } from './dpop-signer.js';
export type {
  DpopAlgorithm,
  DpopClientOptions,
  DpopKeyInfo,
} from './dpop-signer.js';
export {
  ChallengeParseError,
  formatChallenge,
  parseChallenges,
} from '../www-authenticate.js';
export type { ChallengeParams, ParsedChallenge } from '../www-authenticate.js';
