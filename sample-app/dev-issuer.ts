/**
 * The embedded development issuer: it makes its own RS256 key at start, publishes
 * discovery and a JWKS, and mints access tokens at `POST /dev/token`.
 *
 * This file is loaded only when `AUTH_ISSUER` is unset (see `AppModule.register`), and
 * the module refuses to build for any other configuration.
 */
import {
  Body,
  Controller,
  Get,
  Header,
  HttpCode,
  Inject,
  Injectable,
  Module,
  Post,
  UseGuards,
  type CanActivate,
  type DynamicModule,
  type ExecutionContext,
} from '@nestjs/common';
import {
  createHash,
  generateKeyPair,
  randomUUID,
  sign,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { promisify } from 'node:util';
import { Public } from '../lib/index.js';
import { ClientError, TokenEndpointError } from './app-exception.filter.js';
import { APP_CONFIG, type AppConfig } from './config.js';

/** The longest lifetime `POST /dev/token` grants, in seconds. */
export const MAX_EXPIRES_IN = 86_400;

/** The lifetime of a token when `expires_in` is not given, in seconds. */
export const DEFAULT_EXPIRES_IN = 3600;

/** The `client_id` claim of development tokens (RFC 9068 section 2.2). */
export const DEV_CLIENT_ID = 'nestjs-bearer-dev';

/** The body of `POST /dev/token`, after validation. */
export interface DevTokenRequest {
  sub: string;
  /** Space-separated scopes; empty for none. */
  scope: string;
  roles: string[];
  expires_in: number;
  /** RFC 9449 section 10: the JWK thumbprint the token is bound to (`cnf.jkt`). */
  dpop_jkt?: string;
  /** The `aud`: one of the app's audiences (`AUTH_AUDIENCE`, `AUTH_REPORTS_AUDIENCE`). */
  audience?: string;
}

/** The answer of `POST /dev/token` (RFC 6749 section 5.1). */
export interface DevTokenResponse {
  access_token: string;
  /** `DPoP` for a token bound to a key (RFC 9449 section 5). */
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
}

/** A public signing key as published in the JWKS. */
export interface DevJwk extends JsonWebKey {
  kid: string;
  alg: 'RS256';
  use: 'sig';
}

// RFC 6750 section 3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
const SCOPE_LIST = /^[\x21\x23-\x5B\x5D-\x7E]+(?: [\x21\x23-\x5B\x5D-\x7E]+)*$/;
const FIELDS = ['sub', 'scope', 'roles', 'expires_in', 'dpop_jkt', 'audience'];
// RFC 7638 SHA-256 thumbprint: 32 bytes in base64url.
const JKT = /^[A-Za-z0-9_-]{43}$/;

function base64url(value: string | Buffer): string {
  return Buffer.from(value).toString('base64url');
}

/** Checks the body of `POST /dev/token`; every rule answers 400 with a sentence that names the field. */
export function readDevTokenRequest(body: unknown): DevTokenRequest {
  const request: DevTokenRequest = {
    sub: 'dev-user',
    scope: '',
    roles: [],
    expires_in: DEFAULT_EXPIRES_IN,
  };
  if (body === undefined || body === null) return request;
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw new TokenEndpointError('The body must be a JSON object.');
  }
  const fields = body as Record<string, unknown>;
  for (const name of Object.keys(fields)) {
    if (!FIELDS.includes(name)) {
      throw new TokenEndpointError(
        `Unknown field ${JSON.stringify(name).slice(0, 60)}; the fields are ${FIELDS.join(', ')}.`,
      );
    }
  }
  const {
    sub,
    scope,
    roles,
    expires_in: expiresIn,
    dpop_jkt: dpopJkt,
    audience,
  } = fields;
  if (audience !== undefined) {
    if (
      typeof audience !== 'string' ||
      audience === '' ||
      audience.length > 512
    ) {
      throw new TokenEndpointError(
        "audience must be a string naming one of the API's audiences.",
      );
    }
    request.audience = audience;
  }
  if (dpopJkt !== undefined) {
    if (typeof dpopJkt !== 'string' || !JKT.test(dpopJkt)) {
      throw new TokenEndpointError(
        'dpop_jkt must be the base64url SHA-256 JWK thumbprint (RFC 7638) of the client key.',
      );
    }
    request.dpop_jkt = dpopJkt;
  }
  if (sub !== undefined) {
    if (typeof sub !== 'string' || sub === '' || sub.length > 256) {
      throw new TokenEndpointError(
        'sub must be a string of 1 to 256 characters.',
      );
    }
    request.sub = sub;
  }
  if (scope !== undefined) {
    if (
      typeof scope !== 'string' ||
      scope.length > 2048 ||
      (scope !== '' && !SCOPE_LIST.test(scope))
    ) {
      throw new TokenEndpointError(
        'scope must be a string of space-separated scopes, such as "documents.read documents.write".',
      );
    }
    request.scope = scope;
  }
  if (roles !== undefined) {
    if (
      !Array.isArray(roles) ||
      roles.length > 50 ||
      !roles.every(
        (role) => typeof role === 'string' && role !== '' && role.length <= 100,
      )
    ) {
      throw new TokenEndpointError(
        'roles must be an array of up to 50 non-empty strings, such as ["Admin"].',
      );
    }
    request.roles = roles as string[];
  }
  if (expiresIn !== undefined) {
    if (
      typeof expiresIn !== 'number' ||
      !Number.isInteger(expiresIn) ||
      expiresIn < 1 ||
      expiresIn > MAX_EXPIRES_IN
    ) {
      throw new TokenEndpointError(
        `expires_in must be a whole number of seconds from 1 to ${MAX_EXPIRES_IN}.`,
      );
    }
    request.expires_in = expiresIn;
  }
  return request;
}

/** The development issuer's key and the documents it publishes. */
export class DevIssuer {
  private constructor(
    /** The issuer identifier, `http://127.0.0.1:PORT`. */
    readonly issuer: string,
    /** The `aud` of every token it mints. */
    readonly audience: string,
    private readonly privateKey: KeyObject,
    /** The public half, as published in the JWKS. */
    readonly publicJwk: DevJwk,
    /**
     * The claim that carries the roles (`AUTH_ROLES_CLAIM`), written as one claim of that
     * exact name, which the module reads first whatever dots it contains.
     */
    readonly rolesClaim: string,
    /** Every `aud` a request may ask for: `audience` and the other resources. */
    private readonly audiences: readonly string[],
  ) {}

  /** Makes a fresh RS256 key for `issuer`; nothing is written to disk. */
  static async create(
    issuer: string,
    audience: string,
    rolesClaim = 'roles',
    otherAudiences: readonly string[] = [],
  ): Promise<DevIssuer> {
    const { privateKey, publicKey } = await promisify(generateKeyPair)('rsa', {
      modulusLength: 2048,
    });
    const jwk = publicKey.export({ format: 'jwk' });
    // RFC 7638 thumbprint: the required members in lexicographic order, no spaces.
    const thumbprint = createHash('sha256')
      .update(JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n }))
      .digest('base64url');
    return new DevIssuer(
      issuer,
      audience,
      privateKey,
      {
        kty: jwk.kty,
        n: jwk.n,
        e: jwk.e,
        kid: thumbprint,
        alg: 'RS256',
        use: 'sig',
      },
      rolesClaim,
      [audience, ...otherAudiences],
    );
  }

  /** The OpenID Provider metadata document (OpenID Connect Discovery 1.0 section 3). */
  discovery(): Record<string, unknown> {
    return {
      issuer: this.issuer,
      jwks_uri: `${this.issuer}/.well-known/jwks.json`,
      token_endpoint: `${this.issuer}/dev/token`,
      response_types_supported: ['token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
      token_endpoint_auth_methods_supported: ['none'],
      scopes_supported: ['documents.read', 'documents.write'],
    };
  }

  /** The JWKS (RFC 7517 section 5). */
  jwks(): { keys: DevJwk[] } {
    return { keys: [this.publicJwk] };
  }

  /** The requested `aud`, which must be one the API accepts. */
  private audienceOf(request: DevTokenRequest): string {
    const wanted = request.audience ?? this.audience;
    if (!this.audiences.includes(wanted)) {
      throw new TokenEndpointError(
        `audience must be one of the API's audiences: ${this.audiences.join(', ')}.`,
      );
    }
    return wanted;
  }

  /** Signs an RFC 9068 access token for the request. */
  mint(request: DevTokenRequest): DevTokenResponse {
    const now = Math.floor(Date.now() / 1000);
    const header = { alg: 'RS256', typ: 'at+jwt', kid: this.publicJwk.kid };
    const payload: Record<string, unknown> = {
      iss: this.issuer,
      sub: request.sub,
      aud: this.audienceOf(request),
      iat: now,
      exp: now + request.expires_in,
      jti: randomUUID(),
      client_id: DEV_CLIENT_ID,
    };
    if (request.scope !== '') payload.scope = request.scope;
    // Never over a registered claim, whatever AUTH_ROLES_CLAIM names.
    if (request.roles.length > 0 && !Object.hasOwn(payload, this.rolesClaim)) {
      payload[this.rolesClaim] = request.roles;
    }
    if (request.dpop_jkt !== undefined) {
      payload.cnf = { jkt: request.dpop_jkt };
    }
    const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(payload))}`;
    const signature = sign('sha256', Buffer.from(input), this.privateKey);
    return {
      access_token: `${input}.${base64url(signature)}`,
      token_type: request.dpop_jkt === undefined ? 'Bearer' : 'DPoP',
      expires_in: request.expires_in,
    };
  }
}

/** The answer to a request addressed to any other host; it never repeats the `Host` sent. */
export const FOREIGN_HOST_MESSAGE =
  'The development issuer answers only requests addressed to 127.0.0.1 or localhost on its own port.';

/** The `Host` values the development issuer answers for an app on `port`. */
export function loopbackHosts(port: number): readonly string[] {
  return [`127.0.0.1:${port}`, `localhost:${port}`];
}

/**
 * Refuses (403) every request whose `Host` is not the app's own loopback address and port.
 *
 * A web page can point a name it controls at 127.0.0.1 (DNS rebinding) and then read the
 * answers of `POST /dev/token` as same-origin: an Admin token for anyone who visits. Such a
 * request still carries the page's host name in `Host`, so checking it closes the hole.
 */
@Injectable()
export class LoopbackHostGuard implements CanActivate {
  private readonly allowed: ReadonlySet<string>;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.allowed = new Set(loopbackHosts(config.port));
  }

  canActivate(context: ExecutionContext): boolean {
    const { host } = context
      .switchToHttp()
      .getRequest<{ headers: IncomingHttpHeaders }>().headers;
    // Host names are case-insensitive (RFC 9110 section 4.2.3); nothing else may differ.
    if (host !== undefined && this.allowed.has(host.toLowerCase())) return true;
    throw new ClientError(403, FOREIGN_HOST_MESSAGE);
  }
}

/** Discovery, JWKS and the token endpoint of the development issuer; public, loopback only. */
@Public()
@UseGuards(LoopbackHostGuard)
@Controller()
export class DevIssuerController {
  constructor(private readonly devIssuer: DevIssuer) {}

  /** `GET /.well-known/openid-configuration`. */
  @Get('.well-known/openid-configuration')
  discovery(): Record<string, unknown> {
    return this.devIssuer.discovery();
  }

  /** `GET /.well-known/jwks.json`. */
  @Get('.well-known/jwks.json')
  jwks(): { keys: DevJwk[] } {
    return this.devIssuer.jwks();
  }

  /**
   * `POST /dev/token` with `{"sub","scope","roles","expires_in"}` (all optional) →
   * `201 {"access_token","token_type":"Bearer","expires_in"}`.
   */
  @Post('dev/token')
  @HttpCode(201)
  // RFC 6749 section 5.1: token responses must not be cached.
  @Header('Cache-Control', 'no-store')
  @Header('Pragma', 'no-cache')
  token(@Body() body: unknown): DevTokenResponse {
    return this.devIssuer.mint(readDevTokenRequest(body));
  }
}

/** Throws unless `config` is the development mode this issuer was made for. */
export function assertDevelopmentMode(config: AppConfig): void {
  if (
    config.mode !== 'development' ||
    config.issuer !== `http://127.0.0.1:${config.port}`
  ) {
    throw new Error(
      'The development issuer must never be mounted when AUTH_ISSUER is set.',
    );
  }
}

/** Mounts the development issuer. Only for a configuration without `AUTH_ISSUER`. */
@Module({})
export class DevIssuerModule {
  /** The module for `config`; throws when `config` has an external issuer. */
  static forRoot(config: AppConfig): DynamicModule {
    assertDevelopmentMode(config);
    return {
      module: DevIssuerModule,
      controllers: [DevIssuerController],
      providers: [
        LoopbackHostGuard,
        {
          provide: DevIssuer,
          inject: [APP_CONFIG],
          useFactory: (current: AppConfig): Promise<DevIssuer> => {
            // Checked again against the configuration the app really runs with.
            assertDevelopmentMode(current);
            return DevIssuer.create(
              current.issuer,
              current.audiences[0] ?? '',
              current.rolesClaim,
              [
                ...current.audiences.slice(1),
                ...(current.reportsAudience === undefined
                  ? []
                  : [current.reportsAudience]),
              ],
            );
          },
        },
      ],
    };
  }
}
