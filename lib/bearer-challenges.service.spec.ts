/**
 * BearerChallengesService on its own: the challenge and body of every error kind, in the
 * JSON and the RFC 9457 problem format, values that cannot be sent safely dropped rather
 * than reflected, rendered responses reused, and the bounded wait for the discovery of
 * `authorization_uri`.
 */
import { resolveAuthOptions, type AuthModuleOptions } from './auth-options.js';
import {
  AUTHENTICATION_REQUIRED_MESSAGE,
  BearerChallengesService,
  CHALLENGE_DISCOVERY_WAIT_MS,
  INTERNAL_ERROR_MESSAGE,
} from './bearer-challenges.service.js';
import {
  AuthenticationRequiredError,
  AuthServerError,
  InsufficientAccessError,
  InsufficientClaimsError,
  InsufficientScopeError,
  InsufficientUserAuthenticationError,
  InvalidRequestError,
  InvalidTokenError,
  type BearerError,
} from './bearer.errors.js';
import type { IssuerMetadata } from './keys/issuer-discovery.js';
import type { IssuerKeysService } from './keys/issuer-keys.service.js';
import { ProtectedResourceMetadataService } from './protected-resource-metadata.service.js';
import { parseChallenges } from './www-authenticate.js';

const ISSUER = 'https://issuer.example.com';
const AUDIENCE = 'api://challenges';
const AUTHORIZATION_URI = 'https://login.example.com/authorize';
const ERROR_URI = 'https://docs.example.com/errors';

/** The issuer's discovery as the service reads it: what is known, and a way to wait. */
class FakeDiscovery {
  known: IssuerMetadata | undefined;
  resolveCalls = 0;
  /** What resolve() returns; by default a promise that never settles. */
  next: () => Promise<IssuerMetadata> = () => new Promise(() => undefined);

  resolve(): Promise<IssuerMetadata> {
    this.resolveCalls++;
    return this.next();
  }
}

interface Setup {
  service: BearerChallengesService;
  discovery: FakeDiscovery;
}

function createService(options: Partial<AuthModuleOptions> = {}): Setup {
  const resolved = resolveAuthOptions({
    issuer: ISSUER,
    audience: AUDIENCE,
    jwksUri: `${ISSUER}/jwks.json`,
    ...options,
  });
  const discovery = new FakeDiscovery();
  const keys = {
    discoveryOf: (issuer: string) =>
      issuer === ISSUER ? discovery : undefined,
  };
  // Its constructor reads only the options; the other dependencies serve its route.
  const metadata = new ProtectedResourceMetadataService(
    resolved,
    undefined as never,
    undefined as never,
    undefined as never,
  );
  const service = new BearerChallengesService(
    resolved,
    keys as unknown as IssuerKeysService,
    metadata,
  );
  return { service, discovery };
}

/** Options with every configured challenge parameter. */
const FULL: Partial<AuthModuleOptions> = {
  realm: 'api',
  authorizationUri: AUTHORIZATION_URI,
  resourceId: AUDIENCE,
  errorUri: ERROR_URI,
};
const PREFIX = `Bearer realm="api", authorization_uri="${AUTHORIZATION_URI}", resource_id="${AUDIENCE}"`;

const EXPIRED = 'The access token is expired.';
const NO_SCOPE =
  'The access token does not grant the scope this resource requires.';

describe('BearerChallengesService', () => {
  describe('render() in the JSON format', () => {
    const { service } = createService(FULL);

    it('no credentials: a challenge without error, a body with null codes', () => {
      expect(service.render(new AuthenticationRequiredError())).toEqual({
        status: 401,
        challenge: PREFIX,
        contentType: 'application/json; charset=utf-8',
        json: expect.any(String) as string,
        body: {
          statusCode: 401,
          error: null,
          error_description: null,
          message: AUTHENTICATION_REQUIRED_MESSAGE,
        },
      });
    });

    it('invalid_token: error, error_description and error_uri, in RFC order', () => {
      expect(service.render(new InvalidTokenError('expired'))).toEqual({
        status: 401,
        challenge: `${PREFIX}, error="invalid_token", error_description="${EXPIRED}", error_uri="${ERROR_URI}"`,
        contentType: 'application/json; charset=utf-8',
        json: expect.any(String) as string,
        body: {
          statusCode: 401,
          error: 'invalid_token',
          error_description: EXPIRED,
          message: EXPIRED,
        },
      });
    });

    it('renders one error again for what changed since: its scheme, its resource, the discovery', () => {
      const { service: fresh, discovery } = createService({ dpop: 'allowed' });
      const error = new InvalidTokenError('expired');
      const bearer = fresh.render(error);
      expect(fresh.render(error)).toBe(bearer);
      error.scheme = 'DPoP';
      const dpop = fresh.render(error);
      expect(dpop.challenge).not.toBe(bearer.challenge);
      expect(dpop.challenge).toMatch(/DPoP error="invalid_token"/);
      error.resource = 'https://reports.example.com';
      expect(fresh.render(error).challenge).toContain(
        'resource_id="https://reports.example.com"',
      );
      discovery.known = {
        issuer: ISSUER,
        authorization_endpoint: AUTHORIZATION_URI,
      } as IssuerMetadata;
      expect(fresh.render(error).challenge).toContain(
        `authorization_uri="${AUTHORIZATION_URI}"`,
      );
    });

    it('answers a rotation of kinds, new errors each time, from the responses it rendered', () => {
      const { service: fresh } = createService({});
      const reasons = ['expired', 'malformed', 'signature'] as const;
      const first = reasons.map((reason) =>
        fresh.render(new InvalidTokenError(reason)),
      );
      for (let round = 0; round < 3; round++) {
        reasons.forEach((reason, i) =>
          expect(fresh.render(new InvalidTokenError(reason))).toBe(first[i]),
        );
      }
      expect(first[1].challenge).toContain('error="invalid_token"');
      expect(first[1].body).not.toEqual(first[0].body);
      // More kinds than it keeps: each still gets its own, right response.
      const many = Array.from({ length: 12 }, (_, i) =>
        fresh.render(new InsufficientAccessError(`Only group ${i}.`)),
      );
      many.forEach((response, i) =>
        expect(response.body).toMatchObject({
          error_description: `Only group ${i}.`,
        }),
      );
    });

    it('invalid_request: a 400', () => {
      const response = service.render(new InvalidRequestError());
      expect(response.status).toBe(400);
      expect(response.challenge).toContain('error="invalid_request"');
      expect(response.body).toMatchObject({
        statusCode: 400,
        error: 'invalid_request',
      });
    });

    it('insufficient_scope: the required scopes in the challenge and the body', () => {
      const response = service.render(
        new InsufficientScopeError(['documents.read', 'documents.write']),
      );
      expect(response.status).toBe(403);
      expect(response.challenge).toBe(
        `${PREFIX}, error="insufficient_scope", error_description="${NO_SCOPE}", error_uri="${ERROR_URI}", scope="documents.read documents.write"`,
      );
      expect(response.body).toEqual({
        statusCode: 403,
        error: 'insufficient_scope',
        error_description: NO_SCOPE,
        message: NO_SCOPE,
        scope: 'documents.read documents.write',
      });
    });

    it('insufficient_user_authentication: acr_values and max_age (RFC 9470)', () => {
      const response = service.render(
        new InsufficientUserAuthenticationError({
          acrValues: ['urn:mfa', 'urn:hwk'],
          maxAge: 300,
        }),
      );
      expect(response.status).toBe(401);
      const [challenge] = parseChallenges(response.challenge ?? '');
      expect(challenge.params).toMatchObject({
        error: 'insufficient_user_authentication',
        acr_values: 'urn:mfa urn:hwk',
        max_age: '300',
      });
      expect(response.body).toMatchObject({
        acr_values: 'urn:mfa urn:hwk',
        max_age: '300',
      });
    });

    it('insufficient_claims: the base64 claims request (Azure AD)', () => {
      const claims = { access_token: { nbf: { essential: true } } };
      const response = service.render(new InsufficientClaimsError(claims));
      const encoded = Buffer.from(JSON.stringify(claims)).toString('base64');
      expect(parseChallenges(response.challenge ?? '')[0].params.claims).toBe(
        encoded,
      );
      expect(response.body).toMatchObject({ claims: encoded });
    });

    it('a 500: no challenge, no RFC 6750 code, only "retry", never the internal reason', () => {
      const response = service.render(
        new AuthServerError('JWKS fetch failed: ECONNREFUSED 10.0.0.7:443'),
      );
      expect(response).toEqual({
        status: 500,
        challenge: undefined,
        contentType: 'application/json; charset=utf-8',
        json: expect.any(String) as string,
        body: {
          statusCode: 500,
          error: null,
          error_description: null,
          message: INTERNAL_ERROR_MESSAGE,
        },
      });
      expect(JSON.stringify(response)).not.toMatch(/JWKS|ECONNREFUSED|10\.0/);
    });

    it('freezes what it returns, so a caller cannot change a shared response', () => {
      const response = service.render(new InvalidTokenError('signature'));
      expect(Object.isFrozen(response)).toBe(true);
      expect(Object.isFrozen(response.body)).toBe(true);
    });

    it('with no optional parameters configured, writes only the error ones', () => {
      const bare = createService().service;
      expect(bare.render(new AuthenticationRequiredError()).challenge).toBe(
        'Bearer',
      );
      expect(bare.render(new InvalidTokenError('expired')).challenge).toBe(
        `Bearer error="invalid_token", error_description="${EXPIRED}"`,
      );
    });

    it('adds resource_metadata when protected resource metadata is on (RFC 9728)', () => {
      const { service: withMetadata } = createService({
        protectedResourceMetadata: { resource: 'https://api.example.com/v1' },
      });
      expect(
        withMetadata.render(new AuthenticationRequiredError()).challenge,
      ).toBe(
        'Bearer resource_metadata="https://api.example.com/.well-known/oauth-protected-resource/v1"',
      );
    });
  });

  it('serializes the body once, exactly as the body object reads', () => {
    const { service } = createService();
    for (const error of [
      new AuthenticationRequiredError(),
      new InvalidTokenError('expired'),
    ]) {
      const response = service.render(error);
      expect(JSON.parse(response.json)).toEqual(response.body);
    }
  });

  describe('unsafe values are dropped, never reflected', () => {
    const { service } = createService(FULL);
    const INJECTION = 'denied\r\nSet-Cookie: session=stolen';

    const expectClean = (error: BearerError, banned: RegExp) => {
      const response = service.render(error);
      const text = `${response.challenge ?? ''}\n${JSON.stringify(response.body)}`;
      expect(response.challenge ?? '').not.toMatch(/[\r\n\0]/);
      expect(JSON.stringify(response.body)).not.toMatch(/\\r|\\n|\\u0000/);
      expect(text).not.toMatch(banned);
      return response;
    };

    it('an app description with CR/LF: gone from the challenge and the body; the code stays', () => {
      const response = expectClean(
        new InsufficientAccessError(INJECTION),
        /Set-Cookie|denied/,
      );
      expect(response.status).toBe(403);
      expect(response.challenge).toBe(
        `${PREFIX}, error="insufficient_access", error_uri="${ERROR_URI}"`,
      );
      expect(response.body).toMatchObject({
        statusCode: 403,
        error: 'insufficient_access',
        error_description: null,
        // Never "Authentication is required." on a 403 whose text was dropped.
        message: 'The request was refused.',
      });
    });

    it.each([
      ['a double quote', 'say "hi"'],
      ['a backslash', 'back\\slash'],
      ['a tab', 'tab\there'],
      ['non-ASCII text', 'accès refusé'],
      ['a NUL', 'nul\0byte'],
    ])('a description with %s (outside RFC 6750 section 3)', (_what, text) => {
      const response = service.render(new InsufficientAccessError(text));
      expect(response.challenge).not.toContain('error_description');
      expect(response.body).toMatchObject({ error_description: null });
      expect(JSON.stringify(response.body)).not.toContain(
        JSON.stringify(text).slice(1, -1),
      );
    });

    it('a scope that is not an RFC 6750 scope-token', () => {
      const response = expectClean(
        new InsufficientScopeError(['ok', 'bad"scope\r\n']),
        /bad/,
      );
      expect(response.challenge).not.toContain('scope=');
      expect(response.body).not.toHaveProperty('scope');
      expect(response.body).toMatchObject({ error: 'insufficient_scope' });
    });

    it('step-up parameters with control characters', () => {
      const response = expectClean(
        new InsufficientUserAuthenticationError({
          acrValues: ['urn:mfa\r\nX-Evil: 1'],
        }),
        /X-Evil/,
      );
      expect(response.challenge).not.toContain('acr_values');
      expect(response.body).not.toHaveProperty('acr_values');
    });

    it('an unsafe description in the problem format too', () => {
      const problem = createService({
        ...FULL,
        errorFormat: 'problem',
      }).service;
      const response = problem.render(new InsufficientAccessError(INJECTION));
      const text = `${response.challenge ?? ''}${JSON.stringify(response.body)}`;
      expect(text).not.toMatch(/Set-Cookie|denied|\\r|\\n/);
      expect(response.body).toMatchObject({ error_description: null });
    });
  });

  describe('rendered responses are reused', () => {
    it('one object per error kind and configuration, whatever the error instance', () => {
      const { service } = createService(FULL);
      const first = service.render(new InvalidTokenError('expired'));
      expect(service.render(new InvalidTokenError('expired'))).toBe(first);
      expect(service.render(new InvalidTokenError('signature'))).not.toBe(
        first,
      );
      const scope = service.render(new InsufficientScopeError(['a']));
      expect(service.render(new InsufficientScopeError(['a']))).toBe(scope);
      expect(service.render(new InsufficientScopeError(['b'])).body).toEqual(
        expect.objectContaining({ scope: 'b' }),
      );
    });

    it('an error of the same code with another description gets its own response', () => {
      const { service } = createService(FULL);
      const standard = service.render(new InsufficientAccessError());
      const custom = service.render(
        new InsufficientAccessError('Only the owner may do this.'),
      );
      expect(custom).not.toBe(standard);
      expect(custom.body).toMatchObject({
        error_description: 'Only the owner may do this.',
      });
    });

    it('a discovered authorization_endpoint enters the challenges rendered after it', () => {
      const { service, discovery } = createService({ realm: 'api' });
      const before = service.render(new InvalidTokenError('expired'));
      expect(before.challenge).not.toContain('authorization_uri');
      discovery.known = {
        issuer: ISSUER,
        jwks_uri: `${ISSUER}/jwks.json`,
        authorization_endpoint: `${ISSUER}/oauth2/authorize`,
      };
      const after = service.render(new InvalidTokenError('expired'));
      expect(after).not.toBe(before);
      expect(after.challenge).toBe(
        `Bearer realm="api", authorization_uri="${ISSUER}/oauth2/authorize", error="invalid_token", error_description="${EXPIRED}"`,
      );
      expect(service.render(new InvalidTokenError('expired'))).toBe(after);
    });

    it('stays bounded and correct under many distinct app descriptions', () => {
      const { service } = createService(FULL);
      for (let i = 0; i < 1000; i++) {
        const response = service.render(
          new InsufficientAccessError(`Refused for reason ${i}.`),
        );
        expect(response.body).toMatchObject({
          error_description: `Refused for reason ${i}.`,
        });
      }
      const rendered = (
        service as unknown as { rendered: Map<string, unknown> }
      ).rendered;
      expect(rendered.size).toBeLessThanOrEqual(256);
      expect(service.render(new InvalidTokenError('expired')).challenge).toBe(
        `${PREFIX}, error="invalid_token", error_description="${EXPIRED}", error_uri="${ERROR_URI}"`,
      );
    });
  });

  describe("render() in the problem format (errorFormat: 'problem', RFC 9457)", () => {
    const { service } = createService({ ...FULL, errorFormat: 'problem' });
    const json = createService(FULL).service;

    it.each<[string, BearerError, number, string]>([
      [
        'no credentials',
        new AuthenticationRequiredError(),
        401,
        'Unauthorized',
      ],
      ['invalid_token', new InvalidTokenError('expired'), 401, 'Unauthorized'],
      ['invalid_request', new InvalidRequestError(), 400, 'Bad Request'],
      [
        'insufficient_scope',
        new InsufficientScopeError(['documents.read']),
        403,
        'Forbidden',
      ],
      [
        'insufficient_user_authentication',
        new InsufficientUserAuthenticationError({ maxAge: 60 }),
        401,
        'Unauthorized',
      ],
    ])(
      '%s: a problem document that mirrors the challenge',
      (_what, error, status, title) => {
        const response = service.render(error);
        expect(response.contentType).toBe(
          'application/problem+json; charset=utf-8',
        );
        // The challenge does not depend on the body format.
        expect(response.challenge).toBe(json.render(error).challenge);
        const params = parseChallenges(response.challenge ?? '')[0].params;
        const body = response.body as unknown as Record<string, unknown>;
        expect(body.type).toBe('about:blank');
        expect(body.title).toBe(title);
        expect(body.status).toBe(status);
        expect(body.error).toBe(params.error ?? null);
        expect(body.error_description).toBe(params.error_description ?? null);
        expect(body.detail).toBe(
          params.error_description ?? AUTHENTICATION_REQUIRED_MESSAGE,
        );
        for (const name of ['scope', 'acr_values', 'max_age', 'claims']) {
          expect(body[name]).toBe(params[name]);
        }
        // No JSON-format fields leak into the problem document.
        expect(body).not.toHaveProperty('statusCode');
        expect(body).not.toHaveProperty('message');
      },
    );

    it('a 500: Internal Server Error, no challenge, no code', () => {
      expect(service.render(new AuthServerError('secret detail'))).toEqual({
        status: 500,
        challenge: undefined,
        contentType: 'application/problem+json; charset=utf-8',
        json: expect.any(String) as string,
        body: {
          type: 'about:blank',
          title: 'Internal Server Error',
          status: 500,
          detail: INTERNAL_ERROR_MESSAGE,
          error: null,
          error_description: null,
        },
      });
    });
  });

  describe('authorization_uri and the wait for discovery', () => {
    const metadata: IssuerMetadata = {
      issuer: ISSUER,
      jwks_uri: `${ISSUER}/jwks.json`,
      authorization_endpoint: `${ISSUER}/authorize`,
    };

    it('the option wins over discovery, and needs no wait', async () => {
      const { service, discovery } = createService({
        authorizationUri: AUTHORIZATION_URI,
      });
      discovery.known = metadata;
      expect(service.authorizationUri()).toBe(AUTHORIZATION_URI);
      expect(service.isSettled()).toBe(true);
      await service.settle();
      expect(discovery.resolveCalls).toBe(0);
    });

    it('without the option: the discovered endpoint, once known', () => {
      const { service, discovery } = createService();
      expect(service.authorizationUri()).toBeUndefined();
      expect(service.isSettled()).toBe(false);
      discovery.known = metadata;
      expect(service.authorizationUri()).toBe(`${ISSUER}/authorize`);
      expect(service.isSettled()).toBe(true);
    });

    it('a {tenantid} issuer has no discovery: settled at once, no authorization_uri', () => {
      const { service } = createService({
        issuer: 'https://login.example.com/{tenantid}/v2.0',
      });
      expect(service.isSettled()).toBe(true);
      expect(service.authorizationUri()).toBeUndefined();
    });

    it(`waits at most ${CHALLENGE_DISCOVERY_WAIT_MS} ms for a discovery that hangs`, async () => {
      const { service, discovery } = createService();
      const started = performance.now();
      await service.settle();
      const waited = performance.now() - started;
      expect(waited).toBeGreaterThanOrEqual(CHALLENGE_DISCOVERY_WAIT_MS - 5);
      expect(waited).toBeLessThan(CHALLENGE_DISCOVERY_WAIT_MS + 400);
      expect(discovery.resolveCalls).toBe(1);
      expect(service.render(new AuthenticationRequiredError()).challenge).toBe(
        'Bearer',
      );
    });

    it('returns as soon as discovery answers, with the endpoint then in the challenge', async () => {
      const { service, discovery } = createService();
      discovery.next = () =>
        new Promise((resolve) =>
          setTimeout(() => {
            discovery.known = metadata;
            resolve(metadata);
          }, 10),
        );
      const started = performance.now();
      await service.settle();
      expect(performance.now() - started).toBeLessThan(
        CHALLENGE_DISCOVERY_WAIT_MS - 20,
      );
      expect(service.render(new AuthenticationRequiredError()).challenge).toBe(
        `Bearer authorization_uri="${ISSUER}/authorize"`,
      );
    });

    it('never rejects when discovery fails', async () => {
      const { service, discovery } = createService();
      discovery.next = () => Promise.reject(new Error('discovery failed'));
      await expect(service.settle()).resolves.toBeUndefined();
    });
  });
});
