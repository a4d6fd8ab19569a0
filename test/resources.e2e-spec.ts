/**
 * Per-route resources (`@Resource()`, RFC 8707 audiences) on an app built with the module,
 * on Express and Fastify: each route accepts only tokens for its own resource, its
 * refusals name it, and each http(s) resource has its own RFC 9728 document.
 */
import { Controller, Get } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import {
  Principal,
  Resource,
  Scopes,
  type AuthModuleOptions,
  type BearerPrincipal,
} from '../lib/index.js';
import { parseChallenges } from '../lib/www-authenticate.js';
import { ADAPTERS, startScenarioApp } from './scenario/scenario-app.js';
import { bearer, send } from './support/http.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { mintToken } from './support/tokens.js';

const API = 'https://api.example.com';
const REPORTS = 'https://api.example.com/reports';
const LEGACY = 'api://legacy-reports';

@Controller('documents')
class DocumentsController {
  @Scopes('documents.read')
  @Get()
  list(@Principal() caller: BearerPrincipal) {
    return { sub: caller.sub, for: 'documents' };
  }
}

@Resource(REPORTS)
@Controller('reports')
class ReportsController {
  @Scopes('reports.read')
  @Get()
  list() {
    return { for: 'reports' };
  }

  // The handler's resource wins over its class's.
  @Resource(LEGACY)
  @Get('legacy')
  legacy() {
    return { for: 'legacy' };
  }
}

let key: TestKey;
let jwks: JwksServer;

beforeAll(async () => {
  key = await createTestKey();
  jwks = await JwksServer.start({ keys: [key] });
});
afterAll(() => jwks?.close());

function options(): AuthModuleOptions {
  return {
    issuer: jwks.issuer,
    audience: 'api://documents',
    jwksUri: jwks.jwksUri,
    authorizationUri: 'https://login.example.com/authorize',
    protectedResourceMetadata: { resource: API },
  };
}

function token(aud: string | string[], scope: string): Promise<string> {
  return mintToken(key, {
    iss: jwks.issuer,
    aud,
    sub: 'alice',
    scope,
    jti: randomUUID(),
  });
}

describe.each(ADAPTERS)('@Resource() (%s)', (adapter) => {
  let url: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    const started = await startScenarioApp(options(), {
      adapter,
      controllers: [DocumentsController, ReportsController],
    });
    url = started.url;
    close = () => started.app.close();
  });
  afterAll(() => close?.());

  it('accepts a token for the module audience on a route without @Resource only', async () => {
    const jwt = await token('api://documents', 'documents.read reports.read');
    expect(
      (await send(`${url}/documents`, { headers: bearer(jwt) })).status,
    ).toBe(200);
    const reports = await send(`${url}/reports`, { headers: bearer(jwt) });
    expect(reports.status).toBe(401);
    const [challenge] = parseChallenges(
      reports.headers['www-authenticate'] as string,
    );
    expect(challenge.params).toMatchObject({
      error: 'invalid_token',
      error_description: 'The access token is not intended for this resource.',
      resource_id: REPORTS,
      resource_metadata: `${API}/.well-known/oauth-protected-resource/reports`,
    });
  });

  it("accepts a token for the route's resource there, and nowhere else", async () => {
    const jwt = await token(REPORTS, 'documents.read reports.read');
    const reports = await send(`${url}/reports`, { headers: bearer(jwt) });
    expect(reports.status).toBe(200);
    expect(JSON.parse(reports.text)).toEqual({ for: 'reports' });
    const documents = await send(`${url}/documents`, { headers: bearer(jwt) });
    expect(documents.status).toBe(401);
    expect(documents.headers['www-authenticate']).toContain(
      `resource_metadata="${API}/.well-known/oauth-protected-resource"`,
    );
    expect(
      (await send(`${url}/reports/legacy`, { headers: bearer(jwt) })).status,
    ).toBe(401);
  });

  it("names the route's resource in a 403 too", async () => {
    const jwt = await token(REPORTS, 'documents.read');
    const res = await send(`${url}/reports`, { headers: bearer(jwt) });
    expect(res.status).toBe(403);
    const [challenge] = parseChallenges(
      res.headers['www-authenticate'] as string,
    );
    expect(challenge.params).toMatchObject({
      error: 'insufficient_scope',
      scope: 'reports.read',
      resource_id: REPORTS,
    });
  });

  it('lets a handler override its class; a non-URL resource points at the module document', async () => {
    const jwt = await token(LEGACY, '');
    expect(
      (await send(`${url}/reports/legacy`, { headers: bearer(jwt) })).status,
    ).toBe(200);
    const refused = await send(`${url}/reports/legacy`, {
      headers: bearer(await token(REPORTS, '')),
    });
    const [challenge] = parseChallenges(
      refused.headers['www-authenticate'] as string,
    );
    expect(challenge.params).toMatchObject({
      resource_id: LEGACY,
      resource_metadata: `${API}/.well-known/oauth-protected-resource`,
    });
  });

  it('a token naming two audiences is accepted where either applies', async () => {
    const jwt = await token(
      ['api://documents', REPORTS],
      'documents.read reports.read',
    );
    expect(
      (await send(`${url}/documents`, { headers: bearer(jwt) })).status,
    ).toBe(200);
    expect(
      (await send(`${url}/reports`, { headers: bearer(jwt) })).status,
    ).toBe(200);
  });

  it('refuses a token for an audience nobody declared everywhere', async () => {
    const jwt = await token('api://elsewhere', 'documents.read reports.read');
    for (const path of ['documents', 'reports', 'reports/legacy']) {
      expect(
        (await send(`${url}/${path}`, { headers: bearer(jwt) })).status,
      ).toBe(401);
    }
  });

  it('serves one RFC 9728 document per http(s) resource, with its own scopes', async () => {
    const main = await send(`${url}/.well-known/oauth-protected-resource`);
    expect(JSON.parse(main.text)).toMatchObject({
      resource: API,
      scopes_supported: ['documents.read'],
    });
    const reports = await send(
      `${url}/.well-known/oauth-protected-resource/reports`,
    );
    expect(reports.status).toBe(200);
    expect(JSON.parse(reports.text)).toMatchObject({
      resource: REPORTS,
      scopes_supported: ['reports.read'],
    });
  });
});

describe('@Resource() arguments', () => {
  it.each([[''], ['a\nb'], [42]])('refuses %p when declared', (value) => {
    expect(() => Resource(value as string)).toThrow(/@Resource\(\)/);
  });
});
