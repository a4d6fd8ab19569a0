/**
 * The test kit (`nestjs-bearer/testing`): a loopback issuer with a token minter, an
 * assertion for Bearer challenges, and an override of the module's options for
 * `@nestjs/testing`. It loads node:crypto and node:http, and no Nest code.
 */
export {
  createTestIssuer,
  WRONG_AUDIENCE,
  WRONG_ISSUER,
} from './test-issuer.js';
export type {
  MintOverrides,
  RotateKeyOptions,
  TestIssuer,
  TestIssuerOptions,
  TestIssuerRequestCounts,
} from './test-issuer.js';
export type { TestPublicJwk, TestSigningAlgorithm } from './test-keys.js';
export {
  BearerChallengeAssertionError,
  expectBearerChallenge,
} from './expect-bearer-challenge.js';
export type {
  ChallengedResponse,
  ExpectedBearerChallenge,
  FetchLikeResponse,
  SupertestLikeResponse,
} from './expect-bearer-challenge.js';
export { overrideAuthModuleOptions } from './override-auth-module.js';
export type { ProviderOverridingBuilder } from './override-auth-module.js';
