import { Controller, Get, Module, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  AuthModule,
  Principal,
  Scopes,
  azureAd,
  type AzureAdOptions,
  type BearerPrincipal,
} from '../lib/index.js';
import { resolveAuthOptions } from '../lib/auth-options.js';
import { createTestKey, type TestKey } from './support/jwks-server.js';
import { mintToken } from './support/tokens.js';

// The seed's expired token (Azure AD "Errors from Secured Resources"), byte for byte.
const SEED_TOKEN =
  'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsIng1dCI6Ik5HVEZ2ZEstZnl0aEV1THdqcHdBSk9NOW4tQSJ9.eyJhdWQiOiJodHRwczovL3NlcnZpY2UuY29udG9zby5jb20vIiwiaXNzIjoiaHR0cHM6Ly9zdHMud2luZG93cy5uZXQvN2ZlODE0NDctZGE1Ny00Mzg1LWJlY2ItNmRlNTdmMjE0NzdlLyIsImlhdCI6MTM4ODQ0MDg2MywibmJmIjoxMzg4NDQwODYzLCJleHAiOjEzODg0NDQ3NjMsInZlciI6IjEuMCIsInRpZCI6IjdmZTgxNDQ3LWRhNTctNDM4NS1iZWNiLTZkZTU3ZjIxNDc3ZSIsIm9pZCI6IjY4Mzg5YWUyLTYyZmEtNGIxOC05MWZlLTUzZGQxMDlkNzRmNSIsInVwbiI6ImZyYW5rbUBjb250b3NvLmNvbSIsInVuaXF1ZV9uYW1lIjoiZnJhbmttQGNvbnRvc28uY29tIiwic3ViIjoiZGVOcUlqOUlPRTlQV0pXYkhzZnRYdDJFYWJQVmwwQ2o4UUFtZWZSTFY5OCIsImZhbWlseV9uYW1lIjoiTWlsbGVyIiwiZ2l2ZW5fbmFtZSI6IkZyYW5rIiwiYXBwaWQiOiIyZDRkMTFhMi1mODE0LTQ2YTctODkwYS0yNzRhNzJhNzMwOWUiLCJhcHBpZGFjciI6IjAiLCJzY3AiOiJ1c2VyX2ltcGVyc29uYXRpb24iLCJhY3IiOiIxIn0.JZw8jC0gptZxVC-7l5sFkdnJgP3_tRjeQEPgUn28XctVe3QqmheLZw7QVZDPCyGycDWBaqy7FLpSekET_BftDkewRhyHk9FW_KeEz0ch2c3i08NGNDbr6XYGVayNuSesYk5Aw_p3ICRlUV1bqEwk-Jkzs9EEkQg4hbefqJS6yS1HoV_2EsEhpd_wCQpxK89WPs3hLYZETRJtG5kvCCEOvSHXmDE6eTHGTnEgsIk--UlPe275Dvou4gEAwLofhLDQbMSjnlV5VLsjimNBVcSRFShoxmQwBJR_b2011Y5IuD6St5zPnzruBbZYkGNurQK63TJPWmRd3mbJsGM0mf3CUQ';
const SEED_TENANT = '7fe81447-da57-4385-becb-6de57f21477e';
const OTHER_TENANT = '11111111-2222-4333-8444-555555555555';
const REFUSED_TENANT = '99999999-8888-4777-8666-555555555555';

@Controller()
class AzureController {
  @Scopes('user_impersonation')
  @Get('resource')
  resource(@Principal() principal: BearerPrincipal): {
    tid: unknown;
    scopes: readonly string[];
  } {
    return { tid: principal.claims.tid, scopes: principal.scopes };
  }
}

/** A stand-in for the Azure AD key endpoint on loopback: `/{tenant}/discovery/v2.0/keys`. */
async function startKeyServer(
  keys: TestKey[],
): Promise<{ server: Server; url: string; paths: string[] }> {
  const paths: string[] = [];
  const server = createServer((req, res) => {
    paths.push(req.url ?? '');
    if (!/\/discovery\/v2\.0\/keys$/.test(req.url ?? '')) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: keys.map((key) => key.publicJwk) }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    paths,
  };
}

async function startApp(
  options: AzureAdOptions,
): Promise<{ app: INestApplication; url: string }> {
  @Module({
    imports: [AuthModule.forRoot(azureAd(options))],
    controllers: [AzureController],
  })
  class AzureModule {}
  const moduleRef = await Test.createTestingModule({
    imports: [AzureModule],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.listen(0, '127.0.0.1');
  return { app, url: await app.getUrl() };
}

describe('azureAd() preset', () => {
  it('builds v1 and v2 issuers, the tenant JWKS, authorization_uri and resource_id', () => {
    const options = azureAd({
      tenantId: SEED_TENANT,
      audience: 'https://service.contoso.com/',
    });
    expect(options).toMatchObject({
      issuer: [
        `https://sts.windows.net/${SEED_TENANT}/`,
        `https://login.microsoftonline.com/${SEED_TENANT}/v2.0`,
      ],
      jwksUri: `https://login.microsoftonline.com/${SEED_TENANT}/discovery/v2.0/keys`,
      authorizationUri: `https://login.microsoftonline.com/${SEED_TENANT}/oauth2/v2.0/authorize`,
      resourceId: 'https://service.contoso.com/',
    });
    expect(() => resolveAuthOptions(options)).not.toThrow();
  });

  it('maps sovereign clouds and token versions', () => {
    const china = azureAd({
      tenantId: SEED_TENANT,
      audience: 'api://x',
      authority: 'https://login.chinacloudapi.cn',
      tokenVersion: 1,
    });
    expect(china.issuer).toEqual([
      `https://sts.chinacloudapi.cn/${SEED_TENANT}/`,
    ]);
    const v2 = azureAd({
      tenantId: 'organizations',
      audience: 'api://x',
      tokenVersion: 2,
    });
    expect(v2.issuer).toEqual([
      'https://login.microsoftonline.com/{tenantid}/v2.0',
    ]);
    expect(v2.jwksUri).toBe(
      'https://login.microsoftonline.com/common/discovery/v2.0/keys',
    );
  });

  it('refuses a bad tenant id and allowedTenants on a single-tenant API', () => {
    expect(() => azureAd({ tenantId: 'a/b', audience: 'api://x' })).toThrow(
      /tenantId/,
    );
    const single = azureAd({
      tenantId: SEED_TENANT,
      audience: 'api://x',
      allowedTenants: [SEED_TENANT],
    });
    expect(() => resolveAuthOptions(single)).toThrow(/allowedTenants/);
  });
});

describe('Azure AD: the seed expired token', () => {
  let app: INestApplication;
  let url: string;
  beforeAll(async () => {
    // Port 1 on loopback refuses at once: the expired token must be answered without any key.
    ({ app, url } = await startApp({
      tenantId: SEED_TENANT,
      audience: 'https://service.contoso.com/',
      authority: 'http://127.0.0.1:1',
      v1IssuerOrigin: 'https://sts.windows.net',
    }));
  });
  afterAll(() => app.close());

  it('answers 401 invalid_token "The access token is expired." with a tenant-specific challenge', async () => {
    const res = await fetch(`${url}/resource`, {
      headers: { authorization: `Bearer ${SEED_TOKEN}` },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe(
      `Bearer authorization_uri="http://127.0.0.1:1/${SEED_TENANT}/oauth2/v2.0/authorize", ` +
        `resource_id="https://service.contoso.com/", error="invalid_token", error_description="The access token is expired."`,
    );
    expect(await res.json()).toEqual({
      statusCode: 401,
      error: 'invalid_token',
      error_description: 'The access token is expired.',
      message: 'The access token is expired.',
    });
  });

  it('answers the seed missing-token request (`Authorization: Bearer`) with "The access token is missing."', async () => {
    const res = await fetch(`${url}/resource`, {
      headers: { authorization: 'Bearer' },
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain(
      'error="invalid_token", error_description="The access token is missing."',
    );
  });
});

describe('Azure AD: a multi-tenant API', () => {
  let keys: TestKey[];
  let keyServer: Awaited<ReturnType<typeof startKeyServer>>;
  let app: INestApplication;
  let url: string;

  beforeAll(async () => {
    keys = [await createTestKey({ kid: 'azure-key' })];
    keyServer = await startKeyServer(keys);
    ({ app, url } = await startApp({
      tenantId: 'organizations',
      audience: 'api://contoso-documents',
      authority: keyServer.url,
      allowedTenants: [SEED_TENANT, OTHER_TENANT],
    }));
  });
  afterAll(async () => {
    await app.close();
    await new Promise((resolve) => keyServer.server.close(resolve));
  });

  async function call(claims: Record<string, unknown>): Promise<Response> {
    const token = await mintToken(keys[0], {
      aud: 'api://contoso-documents',
      scp: 'user_impersonation',
      ...claims,
    });
    return fetch(`${url}/resource`, {
      headers: { authorization: `Bearer ${token}` },
    });
  }

  it('accepts v2 tokens from two allowed tenants, each checked against its own tid', async () => {
    for (const tid of [SEED_TENANT, OTHER_TENANT]) {
      const res = await call({ iss: `${keyServer.url}/${tid}/v2.0`, tid });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ tid, scopes: ['user_impersonation'] });
    }
    expect(
      keyServer.paths.every((path) => path === '/common/discovery/v2.0/keys'),
    ).toBe(true);
  });

  it('accepts a v1 token (sts issuer) of an allowed tenant', async () => {
    const v1 = azureAd({
      tenantId: 'organizations',
      audience: 'x',
      authority: keyServer.url,
    });
    expect(v1.issuer).toContain(`${keyServer.url}/{tenantid}/`);
    const res = await call({
      iss: `${keyServer.url}/${SEED_TENANT}/`,
      tid: SEED_TENANT,
    });
    expect(res.status).toBe(200);
  });

  it('refuses a tenant outside the allow-list', async () => {
    const res = await call({
      iss: `${keyServer.url}/${REFUSED_TENANT}/v2.0`,
      tid: REFUSED_TENANT,
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain(
      'error_description="The access token was issued by an untrusted issuer."',
    );
  });

  it("refuses an issuer that does not match the token's own tid", async () => {
    const res = await call({
      iss: `${keyServer.url}/${OTHER_TENANT}/v2.0`,
      tid: SEED_TENANT,
    });
    expect(res.status).toBe(401);
    const missingTid = await call({
      iss: `${keyServer.url}/${SEED_TENANT}/v2.0`,
    });
    expect(missingTid.status).toBe(401);
  });
});
