import { Controller, Get, Post, type INestApplication } from '@nestjs/common';
import {
  InsufficientClaimsError,
  Principal,
  Scopes,
  StepUp,
  locateProtectedResourceMetadata,
  type BearerPrincipal,
} from '../lib/index.js';
import { parseChallenges } from '../lib/www-authenticate.js';
import { ADAPTERS, startScenarioApp } from './scenario/scenario-app.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { mintToken } from './support/tokens.js';

const CAE_CLAIMS = {
  access_token: { nbf: { essential: true, value: '1604106651' } },
};

@Controller('secure')
class SecureController {
  @StepUp({ acrValues: ['urn:mfa', 'urn:phr'] })
  @Get('mfa')
  mfa(): { ok: true } {
    return { ok: true };
  }

  @StepUp({ maxAge: 300 })
  @Get('recent')
  recent(): { ok: true } {
    return { ok: true };
  }

  @Scopes('payments.write')
  @Post('pay')
  pay(@Principal() principal: BearerPrincipal): { paid: boolean } {
    // Continuous access evaluation: the app decides the session must be re-evaluated.
    if (principal.claims.xms_cc !== undefined)
      throw new InsufficientClaimsError(CAE_CLAIMS);
    return { paid: true };
  }

  @Scopes('documents.read')
  @Get('open')
  open(): { ok: true } {
    return { ok: true };
  }
}

/** A base controller whose scoped handler a subclass inherits. */
class BaseReportsController {
  @Scopes('reports.read')
  @Get('reports')
  reports(): string[] {
    return [];
  }
}

@Controller('inherited')
class InheritedReportsController extends BaseReportsController {}

describe('RFC 9728 metadata location', () => {
  it('puts the well-known segment between the host and the path (section 3.1)', () => {
    expect(locateProtectedResourceMetadata('https://api.example.com')).toEqual({
      url: 'https://api.example.com/.well-known/oauth-protected-resource',
      path: '/.well-known/oauth-protected-resource',
    });
    expect(
      locateProtectedResourceMetadata('https://api.example.com/v1/').url,
    ).toBe('https://api.example.com/.well-known/oauth-protected-resource/v1');
  });
});

describe.each(ADAPTERS)(
  'step-up, claims challenge and resource metadata (%s)',
  (adapter) => {
    let key: TestKey;
    let jwks: JwksServer;
    let app: INestApplication;
    let url: string;
    const AUDIENCE = 'api://secure';

    beforeAll(async () => {
      key = await createTestKey({ kid: 'step-key' });
      jwks = await JwksServer.start({ keys: [key] });
      ({ app, url } = await startScenarioApp(
        {
          issuer: jwks.issuer,
          audience: AUDIENCE,
          realm: 'secure',
          protectedResourceMetadata: {
            resource: 'https://api.example.com/v1',
            resourceName: 'Secure API',
          },
        },
        {
          adapter,
          controllers: [SecureController, InheritedReportsController],
        },
      ));
    });
    afterAll(async () => {
      await app.close();
      await jwks.close();
    });

    const token = (claims: Record<string, unknown>): Promise<string> =>
      mintToken(key, {
        iss: jwks.issuer,
        aud: AUDIENCE,
        sub: 'alice',
        ...claims,
      });
    const get = async (
      path: string,
      bearer?: string,
      method = 'GET',
    ): Promise<Response> =>
      fetch(`${url}${path}`, {
        method,
        headers:
          bearer === undefined ? {} : { authorization: `Bearer ${bearer}` },
      });
    const METADATA =
      'https://api.example.com/.well-known/oauth-protected-resource/v1';

    it('serves the metadata document, path-aware, without a token', async () => {
      const res = await get('/.well-known/oauth-protected-resource/v1');
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        resource: 'https://api.example.com/v1',
        authorization_servers: [jwks.issuer],
        bearer_methods_supported: ['header'],
        // Collected from the routes' @Scopes().
        scopes_supported: ['documents.read', 'payments.write', 'reports.read'],
        resource_name: 'Secure API',
      });
      expect((await get('/.well-known/oauth-protected-resource')).status).toBe(
        404,
      );
    });

    it('adds resource_metadata to challenges', async () => {
      const res = await get('/secure/mfa');
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe(
        `Bearer realm="secure", authorization_uri="${jwks.issuer}/authorize", resource_metadata="${METADATA}"`,
      );
    });

    it('answers a weak authentication with 401 insufficient_user_authentication and acr_values', async () => {
      const res = await get('/secure/mfa', await token({ acr: 'urn:pwd' }));
      expect(res.status).toBe(401);
      const [challenge] = parseChallenges(
        res.headers.get('www-authenticate') ?? '',
      );
      expect(challenge?.params).toMatchObject({
        error: 'insufficient_user_authentication',
        acr_values: 'urn:mfa urn:phr',
        resource_metadata: METADATA,
      });
      expect(await res.json()).toEqual({
        statusCode: 401,
        error: 'insufficient_user_authentication',
        error_description:
          'The authentication event of the access token does not meet the requirements of this resource.',
        message:
          'The authentication event of the access token does not meet the requirements of this resource.',
        acr_values: 'urn:mfa urn:phr',
      });
      expect(
        (await get('/secure/mfa', await token({ acr: 'urn:phr' }))).status,
      ).toBe(200);
    });

    it('answers an old authentication with max_age, and accepts a recent one', async () => {
      const now = Math.floor(Date.now() / 1000);
      const old = await get(
        '/secure/recent',
        await token({ auth_time: now - 3600 }),
      );
      expect(old.status).toBe(401);
      expect(old.headers.get('www-authenticate')).toContain('max_age="300"');
      const missing = await get('/secure/recent', await token({}));
      expect(missing.status).toBe(401);
      expect(
        (await get('/secure/recent', await token({ auth_time: now - 10 })))
          .status,
      ).toBe(200);
    });

    it('sends an Azure AD claims challenge thrown by app code', async () => {
      const res = await get(
        '/secure/pay',
        await token({ scp: 'payments.write', xms_cc: ['cp1'] }),
        'POST',
      );
      expect(res.status).toBe(401);
      const [challenge] = parseChallenges(
        res.headers.get('www-authenticate') ?? '',
      );
      expect(challenge?.params.error).toBe('insufficient_claims');
      const claims = challenge?.params.claims ?? '';
      expect(
        JSON.parse(Buffer.from(claims, 'base64').toString('utf8')),
      ).toEqual(CAE_CLAIMS);
      const ok = await get(
        '/secure/pay',
        await token({ scp: 'payments.write' }),
        'POST',
      );
      expect(ok.status).toBe(201);
    });
  },
);
