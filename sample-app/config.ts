import { isIP } from 'node:net';
import {
  ASYMMETRIC_ALGORITHMS,
  AuthConfigurationError,
  resolveAuthOptions,
  TOKEN_LOCATIONS,
  type AuthModuleOptions,
  type DpopMode,
  type StoreUnavailableMode,
  type JwsAlgorithm,
  type TokenLocation,
} from '../lib/index.js';

/** The HTTP platforms the sample app runs on. */
export type HttpAdapterName = 'express' | 'fastify';

/** How much the app logs, from least to most. */
export const LOG_LEVELS = ['error', 'warn', 'log', 'debug', 'verbose'] as const;

/** A `LOG_LEVEL` value: that level and every level before it in {@link LOG_LEVELS}. */
export type LogLevelName = (typeof LOG_LEVELS)[number];

/** The audience of tokens minted by the embedded development issuer. */
export const DEV_AUDIENCE = 'api://nestjs-bearer-sample';

/**
 * The Nest execution context types `AUTH_ACCEPT_CONTEXTS` may name: HTTP routes, GraphQL
 * resolvers, WebSocket gateways and microservice message handlers.
 */
export const CONTEXT_TYPES = ['http', 'graphql', 'ws', 'rpc'] as const;

/** A context type that `AUTH_ACCEPT_CONTEXTS` may list. */
export type ContextTypeName = (typeof CONTEXT_TYPES)[number];

/** The largest `AUTH_CLOCK_TOLERANCE`, in seconds (the module's own bound). */
export const MAX_CLOCK_TOLERANCE = 600;

/** The host the app listens on unless `HOST` says otherwise. */
export const DEFAULT_HOST = '127.0.0.1';

/** The sample app's configuration, read from the environment by {@link loadConfig}. */
export interface AppConfig {
  /** `PORT`. */
  readonly port: number;
  /** `HOST` (an extension of the contract). */
  readonly host: string;
  /** `HTTP_ADAPTER`. */
  readonly httpAdapter: HttpAdapterName;
  /** `LOG_LEVEL` (an extension of the contract). */
  readonly logLevel: LogLevelName;
  /**
   * `external` when `AUTH_ISSUER` is set; `development` when it is not, and the
   * embedded development issuer is the only issuer trusted.
   */
  readonly mode: 'external' | 'development';
  /** `AUTH_ISSUER`, or the development issuer's own URL. */
  readonly issuer: string;
  /** `AUTH_AUDIENCE`; in development mode it defaults to {@link DEV_AUDIENCE}. */
  readonly audiences: readonly string[];
  /** `AUTH_JWKS_URI`. */
  readonly jwksUri: string | undefined;
  /** `AUTH_AUTHORIZATION_URI`. */
  readonly authorizationUri: string | undefined;
  /** `AUTH_RESOURCE_ID`. */
  readonly resourceId: string | undefined;
  /** `AUTH_REALM`. */
  readonly realm: string | undefined;
  /** `AUTH_TOKEN_LOCATIONS`. */
  readonly tokenLocations: readonly TokenLocation[];
  /** `AUTH_ALGORITHMS`. */
  readonly algorithms: readonly JwsAlgorithm[];
  /** `AUTH_JWKS_COOLDOWN_MS` (an extension of the contract): the module's `jwks.cooldown`. */
  readonly jwksCooldownMs: number | undefined;
  /**
   * `AUTH_ACCEPT_CONTEXTS`: the module's `acceptContexts`, context types whose handlers
   * run without authentication. Empty (unset or set to nothing) lets none through.
   */
  readonly acceptContexts: readonly ContextTypeName[];
  /** `AUTH_CLOCK_TOLERANCE`, in seconds: the module's `clockTolerance`; unset keeps its default. */
  readonly clockTolerance: number | undefined;
  /**
   * `AUTH_ROLES_CLAIM`: the module's `roleClaim`, where app roles are read (a claim name
   * or a dotted path such as `realm_access.roles`); unset keeps its default, `roles`.
   */
  readonly rolesClaim: string | undefined;
  /** `AUTH_REVOCATION_STORE`: `memory`, or a `redis://host:port` URL shared by every instance. */
  readonly revocationStore: string;
  /**
   * `AUTH_REVOCATION_ON_STORE_UNAVAILABLE` (an extension of the contract): `fail-closed`
   * (500 while Redis cannot vouch for the revocations) or `fail-open`.
   */
  readonly revocationOnStoreUnavailable: StoreUnavailableMode;
  /**
   * `AUTH_INTROSPECTION_URI`, `AUTH_INTROSPECTION_CLIENT_ID`, `AUTH_INTROSPECTION_CLIENT_SECRET`
   * and `AUTH_INTROSPECTION_CACHE_MAX_AGE` (seconds, an extension of the contract); unset
   * without `AUTH_INTROSPECTION_URI`.
   */
  readonly introspection: IntrospectionConfig | undefined;
  /**
   * `AUTH_REPORTS_AUDIENCE`: the audience of the second resource, `GET /reports`
   * (`@Resource()`); unset, the route is not mounted.
   */
  readonly reportsAudience: string | undefined;
  /** `AUTH_DPOP`: `off`, `allowed` (Bearer and DPoP) or `required` (DPoP only). */
  readonly dpop: DpopMode;
  /**
   * `AUTH_DPOP_NONCE` (`true`/`false`): DPoP nonces; with `AUTH_DPOP_NONCE_SECRET` (an
   * extension of the contract, 32 characters or more) shared by every instance.
   */
  readonly dpopNonce: { readonly secret: string | undefined } | undefined;
}

/** RFC 7662 introspection of opaque tokens, from the `AUTH_INTROSPECTION_*` variables. */
export interface IntrospectionConfig {
  readonly uri: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly cacheMaxAge: number | undefined;
}

/** A wrong environment variable; the message is one line that starts with its name. */
export class ConfigError extends Error {
  /** The environment variable at fault. */
  readonly variable: string;

  constructor(variable: string, problem: string) {
    super(`${variable} ${problem}`);
    this.name = 'ConfigError';
    this.variable = variable;
  }
}

/** The environment variable behind each module option the sample app sets. */
const VARIABLE_OF_OPTION: Readonly<Record<string, string>> = {
  issuer: 'AUTH_ISSUER',
  audience: 'AUTH_AUDIENCE',
  jwksUri: 'AUTH_JWKS_URI',
  authorizationUri: 'AUTH_AUTHORIZATION_URI',
  resourceId: 'AUTH_RESOURCE_ID',
  realm: 'AUTH_REALM',
  tokenLocations: 'AUTH_TOKEN_LOCATIONS',
  algorithms: 'AUTH_ALGORITHMS',
  'jwks.cooldown': 'AUTH_JWKS_COOLDOWN_MS',
  acceptContexts: 'AUTH_ACCEPT_CONTEXTS',
  clockTolerance: 'AUTH_CLOCK_TOLERANCE',
  roleClaim: 'AUTH_ROLES_CLAIM',
  revocation: 'AUTH_REVOCATION_STORE',
  'revocation.onStoreUnavailable': 'AUTH_REVOCATION_ON_STORE_UNAVAILABLE',
  introspection: 'AUTH_INTROSPECTION_URI',
  'introspection.clientId': 'AUTH_INTROSPECTION_CLIENT_ID',
  'introspection.clientSecret': 'AUTH_INTROSPECTION_CLIENT_SECRET',
  'introspection.cacheMaxAge': 'AUTH_INTROSPECTION_CACHE_MAX_AGE',
  dpop: 'AUTH_DPOP',
  'dpop.mode': 'AUTH_DPOP',
  'dpop.nonce': 'AUTH_DPOP_NONCE',
  'dpop.nonce.secret': 'AUTH_DPOP_NONCE_SECRET',
};

type Env = Readonly<Record<string, string | undefined>>;

/** Shows a value in a message: short, quoted, and unable to break the line. */
function show(value: string): string {
  const printable = value.replace(/[^\x20-\x7E]/g, '?');
  return JSON.stringify(
    printable.length > 60 ? `${printable.slice(0, 60)}...` : printable,
  );
}

/** The trimmed value, or `undefined` when unset. Set-but-empty is an error, never "unset". */
function read(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined) return undefined;
  const value = raw.trim();
  if (value === '') {
    throw new ConfigError(
      name,
      'is set but empty; give it a value or unset it.',
    );
  }
  return value;
}

function readList(env: Env, name: string): string[] | undefined {
  const value = read(env, name);
  if (value === undefined) return undefined;
  const items = value.split(',').map((item) => item.trim());
  if (items.includes('')) {
    throw new ConfigError(name, `has an empty entry in ${show(value)}.`);
  }
  return [...new Set(items)];
}

function readUrl(env: Env, name: string): string | undefined {
  const value = read(env, name);
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(name, `must be an absolute URL, got ${show(value)}.`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(
      name,
      `must be an http:// or https:// URL, got ${show(value)}.`,
    );
  }
  return value;
}

function readPort(env: Env): number {
  const value = read(env, 'PORT') ?? '3000';
  const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw new ConfigError(
      'PORT',
      `must be a whole number from 1 to 65535, got ${show(value)}.`,
    );
  }
  return port;
}

function readCooldown(env: Env): number | undefined {
  const value = read(env, 'AUTH_JWKS_COOLDOWN_MS');
  if (value === undefined) return undefined;
  if (!/^\d{1,7}$/.test(value)) {
    throw new ConfigError(
      'AUTH_JWKS_COOLDOWN_MS',
      `must be a whole number of milliseconds, got ${show(value)}.`,
    );
  }
  return Number(value);
}

/** Unlike other lists, an empty value is allowed: the contract reads it as "none". */
function readAcceptContexts(env: Env): ContextTypeName[] {
  const name = 'AUTH_ACCEPT_CONTEXTS';
  if ((env[name] ?? '').trim() === '') return [];
  const list = readList(env, name) ?? [];
  const known: readonly string[] = CONTEXT_TYPES;
  for (const item of list) {
    if (!known.includes(item.toLowerCase())) {
      throw new ConfigError(
        name,
        `contains ${show(item)}, which is not a Nest context type; use ${CONTEXT_TYPES.join(', ')}.`,
      );
    }
  }
  const wanted = new Set(list.map((item) => item.toLowerCase()));
  return CONTEXT_TYPES.filter((type) => wanted.has(type));
}

function readClockTolerance(env: Env): number | undefined {
  const value = read(env, 'AUTH_CLOCK_TOLERANCE');
  if (value === undefined) return undefined;
  const seconds = /^\d{1,4}$/.test(value) ? Number(value) : NaN;
  if (!(seconds <= MAX_CLOCK_TOLERANCE)) {
    throw new ConfigError(
      'AUTH_CLOCK_TOLERANCE',
      `must be a whole number of seconds from 0 to ${MAX_CLOCK_TOLERANCE}, got ${show(value)}.`,
    );
  }
  return seconds;
}

function readRevocationStore(env: Env): string {
  const name = 'AUTH_REVOCATION_STORE';
  const value = read(env, name) ?? 'memory';
  if (value.toLowerCase() === 'memory') return 'memory';
  if (!/^rediss?:\/\/[^\s]+$/i.test(value)) {
    throw new ConfigError(
      name,
      `must be "memory" or a redis://host:port URL, got ${show(value.replace(/\/\/[^@/]*@/, '//***@'))}.`,
    );
  }
  return value;
}

function readStoreUnavailable(env: Env): StoreUnavailableMode {
  const name = 'AUTH_REVOCATION_ON_STORE_UNAVAILABLE';
  const value = read(env, name)?.toLowerCase() ?? 'fail-closed';
  if (value !== 'fail-closed' && value !== 'fail-open') {
    throw new ConfigError(
      name,
      `must be "fail-closed" or "fail-open", got ${show(value)}.`,
    );
  }
  return value;
}

function readIntrospection(env: Env): IntrospectionConfig | undefined {
  const uri = readUrl(env, 'AUTH_INTROSPECTION_URI');
  const clientId = read(env, 'AUTH_INTROSPECTION_CLIENT_ID');
  // The secret is never shown in a message, and surrounding spaces may be part of it.
  const clientSecret = env.AUTH_INTROSPECTION_CLIENT_SECRET;
  const maxAge = read(env, 'AUTH_INTROSPECTION_CACHE_MAX_AGE');
  if (uri === undefined) {
    for (const name of [
      'AUTH_INTROSPECTION_CLIENT_ID',
      'AUTH_INTROSPECTION_CLIENT_SECRET',
      'AUTH_INTROSPECTION_CACHE_MAX_AGE',
    ]) {
      if (env[name] !== undefined) {
        throw new ConfigError(name, 'needs AUTH_INTROSPECTION_URI.');
      }
    }
    return undefined;
  }
  if (clientId === undefined) {
    throw new ConfigError(
      'AUTH_INTROSPECTION_CLIENT_ID',
      'is required when AUTH_INTROSPECTION_URI is set.',
    );
  }
  if (clientSecret === undefined || clientSecret === '') {
    throw new ConfigError(
      'AUTH_INTROSPECTION_CLIENT_SECRET',
      'is required when AUTH_INTROSPECTION_URI is set.',
    );
  }
  let cacheMaxAge: number | undefined;
  if (maxAge !== undefined) {
    cacheMaxAge = /^\d{1,3}$/.test(maxAge) ? Number(maxAge) : NaN;
    if (!(cacheMaxAge <= 300)) {
      throw new ConfigError(
        'AUTH_INTROSPECTION_CACHE_MAX_AGE',
        `must be a whole number of seconds from 0 to 300, got ${show(maxAge)}.`,
      );
    }
  }
  return { uri, clientId, clientSecret, cacheMaxAge };
}

function readReportsAudience(env: Env): string | undefined {
  const value = read(env, 'AUTH_REPORTS_AUDIENCE');
  if (value !== undefined && !/^[\x21-\x7E]{1,512}$/.test(value)) {
    throw new ConfigError(
      'AUTH_REPORTS_AUDIENCE',
      `must be one audience without spaces or control characters, got ${show(value)}.`,
    );
  }
  return value;
}

function readDpop(env: Env): DpopMode {
  const value = read(env, 'AUTH_DPOP')?.toLowerCase() ?? 'off';
  if (value !== 'off' && value !== 'allowed' && value !== 'required') {
    throw new ConfigError(
      'AUTH_DPOP',
      `must be "off", "allowed" or "required", got ${show(value)}.`,
    );
  }
  return value;
}

function readDpopNonce(env: Env, mode: DpopMode): AppConfig['dpopNonce'] {
  const value = read(env, 'AUTH_DPOP_NONCE')?.toLowerCase() ?? 'false';
  if (value !== 'true' && value !== 'false') {
    throw new ConfigError(
      'AUTH_DPOP_NONCE',
      `must be "true" or "false", got ${show(value)}.`,
    );
  }
  // The secret is never shown in a message.
  const secret = env.AUTH_DPOP_NONCE_SECRET;
  if (value === 'false') {
    if (secret !== undefined) {
      throw new ConfigError(
        'AUTH_DPOP_NONCE_SECRET',
        'needs AUTH_DPOP_NONCE=true.',
      );
    }
    return undefined;
  }
  if (mode === 'off') {
    throw new ConfigError(
      'AUTH_DPOP_NONCE',
      'needs AUTH_DPOP=allowed or AUTH_DPOP=required.',
    );
  }
  if (secret !== undefined && secret.length < 32) {
    throw new ConfigError(
      'AUTH_DPOP_NONCE_SECRET',
      'must be at least 32 characters long.',
    );
  }
  return { secret };
}

function readHost(env: Env): string {
  const value = read(env, 'HOST') ?? DEFAULT_HOST;
  if (
    isIP(value) === 0 &&
    !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(value)
  ) {
    throw new ConfigError(
      'HOST',
      `must be an IP address or a host name, got ${show(value)}.`,
    );
  }
  return value;
}

function readAdapter(env: Env): HttpAdapterName {
  const value = read(env, 'HTTP_ADAPTER')?.toLowerCase() ?? 'express';
  if (value !== 'express' && value !== 'fastify') {
    throw new ConfigError(
      'HTTP_ADAPTER',
      `must be "express" or "fastify", got ${show(value)}.`,
    );
  }
  return value;
}

function readLogLevel(env: Env): LogLevelName {
  const value = read(env, 'LOG_LEVEL')?.toLowerCase() ?? 'warn';
  const level = LOG_LEVELS.find((name) => name === value);
  if (level === undefined) {
    throw new ConfigError(
      'LOG_LEVEL',
      `must be one of ${LOG_LEVELS.join(', ')}, got ${show(value)}.`,
    );
  }
  return level;
}

function readIssuer(env: Env): string | undefined {
  const issuer = readUrl(env, 'AUTH_ISSUER');
  if (issuer !== undefined) {
    const url = new URL(issuer);
    // RFC 8414 section 2: an issuer identifier has no query and no fragment.
    if (
      url.search !== '' ||
      url.hash !== '' ||
      issuer.includes('?') ||
      issuer.includes('#')
    ) {
      throw new ConfigError(
        'AUTH_ISSUER',
        'must not contain a query or a fragment.',
      );
    }
  }
  return issuer;
}

function readTokenLocations(env: Env): TokenLocation[] {
  const list = readList(env, 'AUTH_TOKEN_LOCATIONS') ?? ['header'];
  const known: readonly string[] = TOKEN_LOCATIONS;
  for (const item of list) {
    if (!known.includes(item.toLowerCase())) {
      throw new ConfigError(
        'AUTH_TOKEN_LOCATIONS',
        `contains ${show(item)}, which is not a token location; use ${TOKEN_LOCATIONS.join(', ')}.`,
      );
    }
  }
  const wanted = new Set(list.map((item) => item.toLowerCase()));
  return TOKEN_LOCATIONS.filter((location) => wanted.has(location));
}

function readAlgorithms(env: Env): JwsAlgorithm[] {
  const list = readList(env, 'AUTH_ALGORITHMS') ?? ['RS256'];
  const known: readonly string[] = ASYMMETRIC_ALGORITHMS;
  for (const alg of list) {
    if (alg.toLowerCase() === 'none') {
      throw new ConfigError(
        'AUTH_ALGORITHMS',
        'must not contain "none": unsigned tokens are never accepted.',
      );
    }
    if (/^HS/i.test(alg)) {
      throw new ConfigError(
        'AUTH_ALGORITHMS',
        `must not contain ${show(alg)}: HMAC cannot be verified with the issuer's public keys.`,
      );
    }
    if (!known.includes(alg)) {
      throw new ConfigError(
        'AUTH_ALGORITHMS',
        `contains ${show(alg)}, which is not accepted; use ${ASYMMETRIC_ALGORITHMS.join(', ')}.`,
      );
    }
  }
  return list as JwsAlgorithm[];
}

/**
 * Reads and checks the sample app's environment (see `SAMPLE_APP_CONTRACT.md`).
 *
 * Every rule names its variable. The module options built from the result are also
 * checked by the library here, so a problem it finds is reported under the variable
 * too, before Nest starts.
 *
 * @throws ConfigError naming the first wrong variable.
 */
export function loadConfig(env: Env): AppConfig {
  const port = readPort(env);
  const host = readHost(env);
  const httpAdapter = readAdapter(env);
  const logLevel = readLogLevel(env);
  const externalIssuer = readIssuer(env);
  const audiences = readList(env, 'AUTH_AUDIENCE');
  const jwksUri = readUrl(env, 'AUTH_JWKS_URI');
  const authorizationUri = readUrl(env, 'AUTH_AUTHORIZATION_URI');
  const resourceId = read(env, 'AUTH_RESOURCE_ID');
  const realm = read(env, 'AUTH_REALM');
  const tokenLocations = readTokenLocations(env);
  const algorithms = readAlgorithms(env);
  const jwksCooldownMs = readCooldown(env);
  const acceptContexts = readAcceptContexts(env);
  const clockTolerance = readClockTolerance(env);
  // The module checks the path (see toConfigError); a wrong one is reported under this name.
  const rolesClaim = read(env, 'AUTH_ROLES_CLAIM');
  const revocationStore = readRevocationStore(env);
  const revocationOnStoreUnavailable = readStoreUnavailable(env);
  const introspection = readIntrospection(env);
  const dpop = readDpop(env);
  const reportsAudience = readReportsAudience(env);
  const dpopNonce = readDpopNonce(env, dpop);

  let config: AppConfig;
  if (externalIssuer !== undefined) {
    if (audiences === undefined) {
      throw new ConfigError(
        'AUTH_AUDIENCE',
        'is required when AUTH_ISSUER is set.',
      );
    }
    config = {
      port,
      host,
      httpAdapter,
      logLevel,
      mode: 'external',
      issuer: externalIssuer,
      audiences,
      jwksUri,
      authorizationUri,
      resourceId,
      realm,
      tokenLocations,
      algorithms,
      jwksCooldownMs,
      acceptContexts,
      clockTolerance,
      rolesClaim,
      revocationStore,
      revocationOnStoreUnavailable,
      introspection,
      dpop,
      dpopNonce,
      reportsAudience,
    };
  } else {
    if (jwksUri !== undefined) {
      throw new ConfigError(
        'AUTH_JWKS_URI',
        'needs AUTH_ISSUER: the development issuer serves its own JWKS.',
      );
    }
    if (!algorithms.includes('RS256')) {
      throw new ConfigError(
        'AUTH_ALGORITHMS',
        'must include RS256 when AUTH_ISSUER is unset: the development issuer signs with RS256.',
      );
    }
    // Anyone who reaches the development issuer can mint tokens, so it stays on loopback.
    if (host !== DEFAULT_HOST) {
      throw new ConfigError(
        'HOST',
        `must be ${DEFAULT_HOST} when AUTH_ISSUER is unset: the development issuer mints tokens for anyone who can reach it.`,
      );
    }
    config = {
      port,
      host,
      httpAdapter,
      logLevel,
      mode: 'development',
      issuer: `http://127.0.0.1:${port}`,
      audiences: audiences ?? [DEV_AUDIENCE],
      jwksUri: undefined,
      authorizationUri,
      resourceId,
      realm,
      tokenLocations,
      algorithms,
      jwksCooldownMs,
      acceptContexts,
      clockTolerance,
      rolesClaim,
      revocationStore,
      revocationOnStoreUnavailable,
      introspection,
      dpop,
      dpopNonce,
      reportsAudience,
    };
  }

  try {
    resolveAuthOptions(toAuthOptions(config));
  } catch (error) {
    throw toConfigError(error) ?? error;
  }
  return Object.freeze(config);
}

/** The `AuthModule` options for a configuration. */
export function toAuthOptions(config: AppConfig): AuthModuleOptions {
  const options: AuthModuleOptions = {
    issuer: config.issuer,
    audience: config.audiences,
    algorithms: config.algorithms,
    tokenLocations: config.tokenLocations,
  };
  if (config.jwksUri !== undefined) options.jwksUri = config.jwksUri;
  if (config.authorizationUri !== undefined)
    options.authorizationUri = config.authorizationUri;
  if (config.resourceId !== undefined) options.resourceId = config.resourceId;
  if (config.realm !== undefined) options.realm = config.realm;
  if (config.jwksCooldownMs !== undefined) {
    options.jwks = { cooldown: config.jwksCooldownMs };
  }
  if (config.acceptContexts.length > 0) {
    options.acceptContexts = config.acceptContexts;
  }
  if (config.clockTolerance !== undefined) {
    options.clockTolerance = config.clockTolerance;
  }
  if (config.rolesClaim !== undefined) options.roleClaim = config.rolesClaim;
  // Always on, so POST /admin/revocations works with the memory store too.
  options.revocation = {
    store: config.revocationStore,
    onStoreUnavailable: config.revocationOnStoreUnavailable,
  };
  if (config.introspection !== undefined) {
    const { uri, clientId, clientSecret, cacheMaxAge } = config.introspection;
    options.introspection = { uri, clientId, clientSecret };
    if (cacheMaxAge !== undefined)
      options.introspection.cacheMaxAge = cacheMaxAge;
  }
  if (config.dpop !== 'off') {
    const nonce = config.dpopNonce;
    options.dpop = {
      mode: config.dpop,
      nonce:
        nonce === undefined
          ? false
          : nonce.secret === undefined
            ? true
            : { secret: nonce.secret },
    };
  }
  return options;
}

/**
 * Names the environment variable behind a configuration failure: a {@link ConfigError}
 * as it is, an `AuthConfigurationError` under the variable that fed its option.
 * Returns `undefined` for anything else.
 */
export function toConfigError(error: unknown): ConfigError | undefined {
  if (error instanceof ConfigError) return error;
  if (!(error instanceof AuthConfigurationError)) return undefined;
  const variable =
    VARIABLE_OF_OPTION[error.option] ??
    VARIABLE_OF_OPTION[error.option.split('.')[0] ?? error.option];
  // The library writes `nestjs-bearer: option "<name>" <problem>`; keep the problem.
  const problem = error.message.replace(/^nestjs-bearer: option "[^"]*" /, '');
  return variable === undefined
    ? new ConfigError(`option "${error.option}"`, problem)
    : new ConfigError(variable, `(option "${error.option}") ${problem}`);
}

/** DI token of the {@link AppConfig}. */
export const APP_CONFIG = Symbol('sample-app:config');
