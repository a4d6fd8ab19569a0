/**
 * The registered passport strategy, end to end on Express and Fastify:
 * `@UseGuards(AuthGuard('nestjs-bearer'))` from @nestjs/passport with `globalGuard: false`,
 * its composition with an app's own passport strategy, and a differential check: for a
 * corpus of good and hostile tokens, `BearerGuard` (node:crypto) and the strategy
 * (passport-jwt, jsonwebtoken) agree on accept or refuse and on the status.
 */
import {
  Controller,
  Get,
  Injectable,
  Module,
  Req,
  UseGuards,
} from '@nestjs/common';
import { AuthGuard, PassportStrategy } from '@nestjs/passport';
import { SignJWT } from 'jose';
import { KeyObject, sign } from 'node:crypto';
import passport from 'passport';
import {
  BearerAuthGuard,
  BearerGuard,
  Principal,
  Scopes,
  type BearerPrincipal,
} from '../lib/index.js';
import {
  ADAPTERS,
  startScenarioApp,
  type ScenarioAdapter,
  type ScenarioApp,
} from './scenario/scenario-app.js';
import { bearer, outcome, send, type Outcome } from './support/http.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { forgeUnsigned, mintToken, tamper } from './support/tokens.js';

const AUDIENCE = 'api://passport';
const AUTHORIZATION_URI = 'https://login.example.com/authorize';
const PREFIX = `Bearer realm="passport", authorization_uri="${AUTHORIZATION_URI}"`;
const GOOD_API_KEY = 'key-of-the-batch-job';

// ---------------------------------------------------------------------------------------
// The app's own strategy: a hand-written passport Strategy for an `x-api-key` header.

type Done = (error: unknown, user?: unknown) => void;

interface StrategyActions {
  success(user: unknown): void;
  fail(challenge: unknown, status?: number): void;
  error(error: unknown): void;
}

// passport's base class; the actions are added per request by passport.authenticate().
const PassportBase = passport.Strategy as unknown as new () => StrategyActions;

/** Reads `x-api-key` and hands it to the verify callback; no header is a failure. */
class HeaderApiKeyStrategy extends PassportBase {
  readonly name = 'api-key';

  constructor(private readonly verify: (key: string, done: Done) => void) {
    super();
  }

  authenticate(request: {
    headers: Record<string, string | string[] | undefined>;
  }): void {
    const key = request.headers['x-api-key'];
    if (typeof key !== 'string') {
      this.fail('ApiKey', 401);
      return;
    }
    this.verify(key, (error, user) => {
      if (error) this.error(error);
      else if (user) this.success(user);
      else this.fail('ApiKey', 401);
    });
  }
}

/** A service principal for the one good key. */
interface ApiKeyUser {
  readonly sub: string;
  readonly via: 'api-key';
}

@Injectable()
class ApiKeyStrategy extends PassportStrategy(HeaderApiKeyStrategy, 'api-key') {
  constructor() {
    super();
  }

  validate(key: string): ApiKeyUser | null {
    return key === GOOD_API_KEY ? { sub: 'batch-job', via: 'api-key' } : null;
  }
}

@Module({ providers: [ApiKeyStrategy] })
class ApiKeyModule {}

// ---------------------------------------------------------------------------------------
// Routes: the same handler behind BearerGuard and behind AuthGuard('nestjs-bearer').

type UserRequest = { user?: BearerPrincipal | ApiKeyUser };

const describeUser = (
  request: UserRequest,
  principal: BearerPrincipal | undefined,
) => {
  const user = request.user as Partial<BearerPrincipal & ApiKeyUser>;
  return {
    sub: user?.sub,
    scopes: user?.scopes ?? null,
    roles: user?.roles ?? null,
    via: user?.via ?? 'bearer',
    samePrincipal: principal === request.user,
  };
};

@Controller()
class PassportController {
  @UseGuards(AuthGuard('nestjs-bearer'))
  @Get('passport')
  viaPassport(
    @Req() request: UserRequest,
    @Principal() principal: BearerPrincipal,
  ) {
    return describeUser(request, principal);
  }

  @UseGuards(BearerGuard)
  @Get('guard')
  viaGuard(
    @Req() request: UserRequest,
    @Principal() principal: BearerPrincipal,
  ) {
    return describeUser(request, principal);
  }

  @UseGuards(AuthGuard(['nestjs-bearer', 'api-key']))
  @Get('either')
  either(@Req() request: UserRequest) {
    return describeUser(request, undefined);
  }

  @UseGuards(AuthGuard(['api-key', 'nestjs-bearer']))
  @Get('either-reversed')
  eitherReversed(@Req() request: UserRequest) {
    return describeUser(request, undefined);
  }

  @Scopes('documents.read')
  @UseGuards(BearerGuard)
  @Get('guard-scoped')
  guardScoped() {
    return { scoped: true };
  }

  @UseGuards(BearerAuthGuard())
  @Get('bearer-auth')
  viaBearerAuthGuard(@Req() request: UserRequest) {
    return describeUser(request, undefined);
  }

  @UseGuards(BearerAuthGuard('api-key'))
  @Get('bearer-auth-either')
  viaBearerAuthGuardEither(@Req() request: UserRequest) {
    return describeUser(request, undefined);
  }

  @Get('open')
  open() {
    return { open: true };
  }
}

const invalidToken = (description: string): Outcome => ({
  status: 401,
  challenge: `${PREFIX}, error="invalid_token", error_description="${description}"`,
  body: {
    statusCode: 401,
    error: 'invalid_token',
    error_description: description,
    message: description,
  },
});

/** A deterministic PRNG (mulberry32), so that the random mutations are the same each run. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const B64URL =
  'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** One character of the token replaced by another base64url character (dots kept). */
function mutate(token: string, random: () => number): string {
  for (;;) {
    const at = Math.floor(random() * token.length);
    if (token[at] === '.') continue;
    const replacement = B64URL[Math.floor(random() * B64URL.length)];
    if (replacement === token[at]) continue;
    return token.slice(0, at) + replacement + token.slice(at + 1);
  }
}

/**
 * The same signature bytes in a non-canonical encoding: the last character of the
 * signature with one of its unused low bits set (RFC 4648 section 3.5).
 */
function withNonCanonicalSignature(token: string): string {
  const last = token[token.length - 1];
  const index = B64URL.indexOf(last);
  // A 256-byte RS256 signature ends in 2 characters: the last has 4 unused bits.
  return token.slice(0, -1) + B64URL[index | 0x01];
}

/** A compact JWS signed RS256 over exactly these segments (jose refuses some headers). */
function signRs256(key: TestKey, header: string, payload: string): string {
  const input = `${header}.${payload}`;
  const privateKey =
    key.privateKey instanceof KeyObject
      ? key.privateKey
      : KeyObject.from(key.privateKey);
  return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}

const segment = (value: unknown) =>
  Buffer.from(JSON.stringify(value)).toString('base64url');

const nowSeconds = () => Math.floor(Date.now() / 1000);

describe.each(ADAPTERS)(
  "AuthGuard('nestjs-bearer') on %s",
  (adapter: ScenarioAdapter) => {
    let jwks: JwksServer;
    let key: TestKey;
    let es256: TestKey;
    let ps256: TestKey;
    let stranger: TestKey;
    let rs384: TestKey;
    let scenario: ScenarioApp;

    const claims = (extra: Record<string, unknown> = {}) => ({
      iss: jwks.issuer,
      aud: AUDIENCE,
      sub: 'alice',
      scp: 'documents.read',
      ...extra,
    });
    const call = async (
      path: string,
      headers: Record<string, string> = {},
    ): Promise<Outcome> =>
      outcome(await send(scenario.url + path, { headers }));

    beforeAll(async () => {
      [key, es256, ps256, stranger, rs384] = await Promise.all([
        createTestKey({ kid: 'key-rs' }),
        createTestKey({ kid: 'key-es', alg: 'ES256' }),
        createTestKey({ kid: 'key-ps', alg: 'PS256' }),
        createTestKey({ kid: 'key-stranger' }),
        createTestKey({ kid: 'key-rs384', alg: 'RS384' }),
      ]);
      jwks = await JwksServer.start({ keys: [key, es256, ps256] });
      scenario = await startScenarioApp(
        {
          issuer: jwks.issuer,
          audience: AUDIENCE,
          jwksUri: jwks.jwksUri,
          algorithms: ['RS256', 'ES256', 'PS256'],
          realm: 'passport',
          authorizationUri: AUTHORIZATION_URI,
          globalGuard: false,
          jwks: { cooldown: 0 },
        },
        {
          adapter,
          imports: [ApiKeyModule],
          controllers: [PassportController],
        },
      );
    });

    afterAll(async () => {
      await scenario?.app.close();
      await jwks?.close();
    });

    describe('alone', () => {
      it('answers 200 with the principal on request.user (and in @Principal())', async () => {
        const token = await mintToken(key, claims({ roles: ['Reader'] }));
        expect(await call('/passport', bearer(token))).toEqual({
          status: 200,
          challenge: undefined,
          body: {
            sub: 'alice',
            scopes: ['documents.read'],
            roles: ['Reader'],
            via: 'bearer',
            samePrincipal: true,
          },
        });
      });

      it('verifies ES256 and PS256 tokens too', async () => {
        for (const signer of [es256, ps256]) {
          const token = await mintToken(signer, claims());
          expect((await call('/passport', bearer(token))).status).toBe(200);
        }
      });

      it('answers an expired token with the module 401 and its challenge', async () => {
        const token = await mintToken(key, claims(), { expiresIn: -3600 });
        expect(await call('/passport', bearer(token))).toEqual(
          invalidToken('The access token is expired.'),
        );
      });

      it('answers a tampered token with the module 401 and its challenge', async () => {
        const token = tamper(await mintToken(key, claims()));
        expect(await call('/passport', bearer(token))).toEqual(
          invalidToken('The access token signature is invalid.'),
        );
      });

      it('answers a token of another audience with the module 401', async () => {
        const token = await mintToken(key, claims({ aud: 'api://other' }));
        expect(await call('/passport', bearer(token))).toEqual(
          invalidToken('The access token is not intended for this resource.'),
        );
      });

      it('answers a malformed request with the module 400', async () => {
        const token = await mintToken(key, claims());
        const result = await call(`/passport?access_token=${token}`, {
          ...bearer(token),
        });
        // The query is not an accepted location: the header alone counts.
        expect(result.status).toBe(200);
        const doubled = outcome(
          await send(`${scenario.url}/passport`, {
            headers: { authorization: [`Bearer ${token}`, `Bearer ${token}`] },
          }),
        );
        expect(doubled.status).toBe(400);
        expect(doubled.challenge).toBe(
          `${PREFIX}, error="invalid_request", error_description="The request carries more than one Authorization header."`,
        );
      });

      // @nestjs/passport's AuthGuard turns passport's failure into a bare
      // UnauthorizedException (its handleRequest drops the strategy's reason), so a request
      // without credentials gets Nest's 401 without a challenge; BearerGuard sends one.
      it('without credentials: a 401 (Nest AuthGuard), where BearerGuard adds the challenge', async () => {
        const viaPassport = await call('/passport');
        expect(viaPassport.status).toBe(401);
        expect(await call('/guard')).toEqual({
          status: 401,
          challenge: PREFIX,
          body: {
            statusCode: 401,
            error: null,
            error_description: null,
            message: 'Authentication is required.',
          },
        });
      });

      it('BearerAuthGuard(): the module 401 with its challenge when nothing authenticates', async () => {
        const noCredentials = {
          status: 401,
          challenge: PREFIX,
          body: {
            statusCode: 401,
            error: null,
            error_description: null,
            message: 'Authentication is required.',
          },
        };
        expect(await call('/bearer-auth')).toEqual(noCredentials);
        expect(
          await call('/bearer-auth-either', { 'x-api-key': 'wrong' }),
        ).toEqual(noCredentials);
        expect(
          await call('/bearer-auth-either', { 'x-api-key': GOOD_API_KEY }),
        ).toMatchObject({ status: 200, body: { via: 'api-key' } });
        const token = await mintToken(key, claims());
        expect(await call('/bearer-auth', bearer(token))).toMatchObject({
          status: 200,
          body: { sub: 'alice', via: 'bearer' },
        });
        const expired = await mintToken(key, claims(), { expiresIn: -3600 });
        expect(await call('/bearer-auth', bearer(expired))).toEqual(
          invalidToken('The access token is expired.'),
        );
      });

      it('leaves unguarded routes open (globalGuard: false)', async () => {
        expect((await call('/open')).status).toBe(200);
      });
    });

    describe("composed with the app's own strategy: AuthGuard(['nestjs-bearer', 'api-key'])", () => {
      it('no bearer credentials and a good api key: 200 as the api-key user', async () => {
        expect(
          await call('/either', { 'x-api-key': GOOD_API_KEY }),
        ).toMatchObject({
          status: 200,
          body: { sub: 'batch-job', via: 'api-key' },
        });
      });

      it('in the other order too', async () => {
        expect(
          await call('/either-reversed', { 'x-api-key': GOOD_API_KEY }),
        ).toMatchObject({
          status: 200,
          body: { sub: 'batch-job', via: 'api-key' },
        });
      });

      it('a good bearer token and no api key: 200 as the bearer principal', async () => {
        const token = await mintToken(key, claims());
        for (const path of ['/either', '/either-reversed']) {
          expect(await call(path, bearer(token))).toMatchObject({
            status: 200,
            body: { sub: 'alice', via: 'bearer', scopes: ['documents.read'] },
          });
        }
      });

      it('a bad api key and no token: 401', async () => {
        expect((await call('/either', { 'x-api-key': 'wrong' })).status).toBe(
          401,
        );
        expect((await call('/either')).status).toBe(401);
      });

      it('a bad bearer token is decisive: the module 401, even with a good api key', async () => {
        const token = await mintToken(key, claims(), { expiresIn: -3600 });
        expect(
          await call('/either', {
            ...bearer(token),
            'x-api-key': GOOD_API_KEY,
          }),
        ).toEqual(invalidToken('The access token is expired.'));
      });

      it('an api key never passes a BearerGuard route', async () => {
        expect(
          (await call('/guard', { 'x-api-key': GOOD_API_KEY })).status,
        ).toBe(401);
      });
    });

    describe('differential: BearerGuard and AuthGuard agree', () => {
      /** The corpus: name, then the token. */
      let corpus: [string, string][];

      beforeAll(async () => {
        const valid = await mintToken(key, claims());
        const now = nowSeconds();
        const fixed: [string, string][] = [
          ['valid RS256', valid],
          ['valid ES256', await mintToken(es256, claims())],
          ['valid PS256', await mintToken(ps256, claims())],
          [
            'expired within the tolerance (10 s ago)',
            await mintToken(key, claims({ exp: now - 10 })),
          ],
          [
            'expired (1 h ago)',
            await mintToken(key, claims(), { expiresIn: -3600 }),
          ],
          [
            'expired beyond the tolerance (40 s ago)',
            await mintToken(key, claims({ exp: now - 40 })),
          ],
          [
            'not yet valid (nbf in 1 h)',
            await mintToken(key, claims({ nbf: now + 3600 })),
          ],
          [
            'nbf within the tolerance (in 10 s)',
            await mintToken(key, claims({ nbf: now + 10 })),
          ],
          [
            'iat in 1 h',
            await mintToken(key, claims(), { issuedAt: now + 3600 }),
          ],
          ['without exp', await mintToken(key, claims(), { expiresIn: null })],
          [
            'exp as a string',
            await mintToken(key, claims({ exp: String(now + 300) })),
          ],
          [
            'wrong audience',
            await mintToken(key, claims({ aud: 'api://other' })),
          ],
          [
            'audience among others',
            await mintToken(key, claims({ aud: ['api://other', AUDIENCE] })),
          ],
          [
            'wrong issuer',
            await mintToken(key, claims({ iss: 'https://evil.example.com' })),
          ],
          [
            'issuer with a trailing slash',
            await mintToken(key, claims({ iss: `${jwks.issuer}/` })),
          ],
          ['tampered signature', tamper(valid)],
          [
            'tampered ES256 signature',
            tamper(await mintToken(es256, claims())),
          ],
          [
            'alg none',
            forgeUnsigned(
              { alg: 'none', typ: 'JWT', kid: 'key-rs' },
              claims({ exp: now + 300 }),
            ),
          ],
          [
            'alg none with a signature',
            `${segment({ alg: 'none', kid: 'key-rs' })}.${segment(claims({ exp: now + 300 }))}.${valid.split('.')[2]}`,
          ],
          [
            'unknown kid',
            await mintToken(stranger, claims(), { header: { kid: 'nope' } }),
          ],
          [
            'stranger key under a known kid',
            await mintToken(stranger, claims(), { header: { kid: 'key-rs' } }),
          ],
          [
            'no kid, several keys in the set',
            await mintToken(key, claims(), { header: { kid: undefined } }),
          ],
          [
            'HS256 with the public key as secret (algorithm confusion)',
            await new SignJWT(claims({ exp: now + 300 }))
              .setProtectedHeader({ alg: 'HS256', kid: 'key-rs' })
              .sign(Buffer.from(JSON.stringify(key.publicJwk))),
          ],
          [
            'RS384 (not accepted)',
            await mintToken(rs384, claims(), { header: { kid: 'key-rs' } }),
          ],
          [
            'ES256 kid under alg RS256',
            `${segment({ alg: 'RS256', kid: 'key-es' })}.${segment(claims({ exp: now + 300 }))}.${valid.split('.')[2]}`,
          ],
          [
            'typ application/jwt',
            await mintToken(key, claims(), {
              header: { typ: 'application/jwt' },
            }),
          ],
          [
            'typ JOSE+JSON (not a JWT type)',
            await mintToken(key, claims(), { header: { typ: 'JOSE+JSON' } }),
          ],
          [
            'crit header (validly signed)',
            signRs256(
              key,
              segment({ alg: 'RS256', kid: 'key-rs', crit: ['x'], x: 1 }),
              segment(claims({ exp: now + 300 })),
            ),
          ],
          [
            'claims not valid UTF-8 (validly signed)',
            signRs256(
              key,
              segment({ alg: 'RS256', kid: 'key-rs' }),
              Buffer.concat([
                Buffer.from(
                  JSON.stringify(claims({ exp: now + 300 })).slice(0, -1) +
                    ',"name":"',
                ),
                Buffer.from([0xff, 0xfe]),
                Buffer.from('"}'),
              ]).toString('base64url'),
            ),
          ],
          [
            'jku to another host (ignored)',
            await mintToken(key, claims(), {
              header: { jku: 'https://evil.example.com/jwks.json' },
            }),
          ],
          ['malformed: one segment', 'abcdef'],
          ['malformed: empty payload', `${valid.split('.')[0]}..abc`],
          [
            'payload not JSON',
            `${valid.split('.')[0]}.${Buffer.from('not json').toString('base64url')}.${valid.split('.')[2]}`,
          ],
          [
            'payload a JSON array',
            `${valid.split('.')[0]}.${segment([1, 2])}.${valid.split('.')[2]}`,
          ],
          [
            'signature of another token',
            `${valid.split('.').slice(0, 2).join('.')}.${(await mintToken(key, claims({ sub: 'bob' }))).split('.')[2]}`,
          ],
        ];
        const random = seededRandom(10);
        const mutations: [string, string][] = Array.from(
          { length: 40 },
          (_, i) => [`random mutation #${i + 1}`, mutate(valid, random)],
        );
        corpus = [...fixed, ...mutations];
      });

      /** Status, error code and description of one route's answer. */
      const verdict = async (path: string, token: string) => {
        const result = await call(path, bearer(token));
        const body = result.body as
          { error?: unknown; error_description?: unknown } | undefined;
        return {
          status: result.status,
          error: body?.error ?? null,
          description: body?.error_description ?? null,
          challenge: result.challenge,
          accepted: result.status === 200,
        };
      };

      it('on accept or refuse, and on the status, for every token of the corpus', async () => {
        const disagreements: string[] = [];
        for (const [name, token] of corpus) {
          const guard = await verdict('/guard', token);
          const strategy = await verdict('/passport', token);
          if (
            guard.status !== strategy.status ||
            guard.accepted !== strategy.accepted
          ) {
            disagreements.push(
              `${name}: BearerGuard ${guard.status} ${JSON.stringify(guard.error)}, AuthGuard ${strategy.status} ${JSON.stringify(strategy.error)}`,
            );
          }
        }
        expect(disagreements).toEqual([]);
      });

      it('on the error code, description and challenge of every refusal', async () => {
        const differences: string[] = [];
        for (const [name, token] of corpus) {
          const guard = await verdict('/guard', token);
          const strategy = await verdict('/passport', token);
          if (
            guard.error !== strategy.error ||
            guard.description !== strategy.description ||
            guard.challenge !== strategy.challenge
          ) {
            differences.push(
              `${name}: ${JSON.stringify(guard.error)} ${JSON.stringify(guard.description)} vs ${JSON.stringify(strategy.error)} ${JSON.stringify(strategy.description)}`,
            );
          }
        }
        expect(differences).toEqual([]);
      });

      // A signature whose last base64url character has a non-zero unused bit (RFC 4648
      // section 3.5) decodes to the same bytes. jws decodes base64 leniently, so the
      // strategy checks the canonical encoding itself, as the guard's verifier does.
      it('on a signature in a non-canonical base64url encoding (same bytes)', async () => {
        const valid = await mintToken(key, claims());
        const token = withNonCanonicalSignature(valid);
        expect(token).not.toBe(valid);
        expect(Buffer.from(token.split('.')[2], 'base64url')).toEqual(
          Buffer.from(valid.split('.')[2], 'base64url'),
        );
        const guard = await verdict('/guard', token);
        expect(guard).toMatchObject({ status: 401, error: 'invalid_token' });
        expect(await verdict('/passport', token)).toEqual(guard);
      });

      it('the corpus is not trivial: both accept some tokens and refuse most', async () => {
        let accepted = 0;
        for (const [, token] of corpus) {
          if ((await verdict('/guard', token)).accepted) accepted++;
        }
        expect(accepted).toBeGreaterThanOrEqual(7);
        expect(corpus.length - accepted).toBeGreaterThanOrEqual(60);
      });
    });
  },
);
