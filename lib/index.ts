export { AuthModule } from './auth.module.js';
export { AUTH_MODULE_OPTIONS } from './auth.module-definition.js';
export {
  ASYMMETRIC_ALGORITHMS,
  AuthConfigurationError,
  resolveAuthOptions,
} from './auth-options.js';
export type {
  AuthModuleOptions,
  IssuerConfig,
  IssuerResolver,
  ResolvedIssuerConfig,
  DpopMode,
  DpopNonceOptions,
  DpopOptions,
  ErrorFormat,
  IntrospectionOptions,
  JwksOptions,
  JwsAlgorithm,
  ProtectedResourceMetadataOptions,
  ResolvedAuthOptions,
  RevocationOptions,
  StoreUnavailableMode,
  TokenCacheOptions,
} from './auth-options.js';
export { azureAd, AZURE_PUBLIC_AUTHORITY } from './azure-ad.js';
export { AUTH_PROFILES } from './profiles.js';
export type { AuthProfile } from './profiles.js';
export type { AzureAdOptions } from './azure-ad.js';
export { RESOLVED_AUTH_OPTIONS } from './auth.constants.js';
export { BearerGuard } from './bearer.guard.js';
export type { RouteRequirements } from './bearer.guard.js';
export {
  BearerAuthenticator,
  fingerprintToken,
} from './bearer-authenticator.service.js';
export type {
  Authentication,
  CredentialRequest,
  OpaqueTokenVerifier,
  VerificationDetails,
  VerificationHook,
} from './bearer-authenticator.service.js';
export {
  BearerChallengesService,
  CHALLENGE_DISCOVERY_WAIT_MS,
} from './bearer-challenges.service.js';
export type {
  BearerErrorResponse,
  BearerErrorResponseBody,
  BearerProblemBody,
} from './bearer-challenges.service.js';
export { AuthCoverageError } from './bearer-coverage.service.js';
export {
  BearerExceptionFilter,
  WS_ERROR_EVENT,
} from './bearer-exception.filter.js';
export { JwtBearerStrategy } from './jwt-bearer.strategy.js';
export { BearerAuthGuard } from './bearer-auth.guard.js';
export { BearerRevocations } from './revocation/bearer-revocations.service.js';
export { TokenIntrospectionService } from './revocation/token-introspection.service.js';
export { MemoryRevocationStore } from './revocation/memory-revocation.store.js';
export type { MemoryRevocationStoreOptions } from './revocation/memory-revocation.store.js';
export {
  RevocationStoreFullError,
  RevocationStoreUnavailableError,
} from './revocation/revocation-store.js';
export type {
  Revocation,
  RevocationCandidate,
  RevocationKind,
  RevocationListener,
  RevocationStore,
} from './revocation/revocation-store.js';
export { BEARER_CHANNELS } from './diagnostics.js';
export type {
  AuthenticatedMessage,
  FetchTraceContext,
  RefusedMessage,
  VerifyTraceContext,
} from './diagnostics.js';
export { IssuerKeysService } from './keys/issuer-keys.service.js';
export type { KeySourceStats } from './keys/issuer-keys.service.js';
export { IssuerRegistry } from './issuer-registry.service.js';
export type { IssuerStats } from './issuer-registry.service.js';
export type { RouteAccess } from './route-requirements.js';
export { UNAUTHENTICATED_CODE } from './contexts/graphql-error.js';
export { readRpcAuthorization } from './contexts/rpc.context.js';
export {
  AuthenticationRequiredError,
  AuthServerError,
  BearerError,
  InsufficientAccessError,
  InsufficientClaimsError,
  InsufficientScopeError,
  InsufficientUserAuthenticationError,
  InvalidDpopProofError,
  InvalidRequestError,
  InvalidTokenError,
  UseDpopNonceError,
} from './bearer.errors.js';
export type {
  AuthenticationRequirement,
  AuthScheme,
  BearerErrorBody,
  BearerErrorCode,
  DpopProofFault,
  InvalidTokenReason,
} from './bearer.errors.js';
export { SenderConstraints } from './sender-constraints/sender-constraints.service.js';
export { Public } from './decorators/public.decorator.js';
export { Resource } from './decorators/resource.decorator.js';
export { OptionalAuth } from './decorators/optional-auth.decorator.js';
export { Scopes } from './decorators/scopes.decorator.js';
export { Roles } from './decorators/roles.decorator.js';
export { AppRoles } from './decorators/app-roles.decorator.js';
export { StepUp } from './decorators/step-up.decorator.js';
export {
  locateProtectedResourceMetadata,
  ProtectedResourceMetadataService,
} from './protected-resource-metadata.service.js';
export type { ProtectedResourceMetadata } from './protected-resource-metadata.service.js';
export { Claims, Principal } from './decorators/claims.decorator.js';
export { isApplicationToken, readClaimPath } from './claims.js';
export type { BearerPrincipal, JwtClaims } from './claims.js';
export { extractToken, TOKEN_LOCATIONS } from './token-extractor.js';
export type {
  ExtractOptions,
  ExtractResult,
  TokenLocation,
  TokenRequest,
} from './token-extractor.js';
export {
  ChallengeParseError,
  formatChallenge,
  parseChallenges,
} from './www-authenticate.js';
export type { ChallengeParams, ParsedChallenge } from './www-authenticate.js';
