import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import * as client from './index.js';
import {
  createBearerFetch,
  formatChallenge,
  UntrustedChallengeError,
  verifyChallenge,
} from './index.js';

const here = fileURLToPath(new URL('.', import.meta.url));

describe('nestjs-bearer/client entry point', () => {
  it('exports the client API and the challenge parser and formatter', () => {
    expect(Object.keys(client).sort()).toEqual([
      'AZURE_AUTHORITY_HOSTS',
      'CLIENT_ACTIONS',
      'ChallengeParseError',
      'UntrustedChallengeError',
      'computeJwkThumbprint',
      'createBearerFetch',
      'decideClientAction',
      'formatChallenge',
      'generateDpopKeyPair',
      'parseChallenges',
      'verifyChallenge',
    ]);
  });

  it('is published as ./client in the exports map', () => {
    const pkg = JSON.parse(
      readFileSync(`${here}../../package.json`, 'utf8'),
    ) as { exports: Record<string, unknown> };
    expect(pkg.exports['./client']).toEqual({
      types: './dist/lib/client/index.d.ts',
      default: './dist/lib/client/index.js',
    });
  });

  it('imports nothing but node built-ins, its own files and the www-authenticate module', () => {
    const sources = [
      ...readdirSync(here)
        .filter((f) => f.endsWith('.ts') && !f.endsWith('.spec.ts'))
        .map((f) => `${here}${f}`),
      `${here}../www-authenticate.ts`,
    ];
    for (const file of sources) {
      const text = readFileSync(file, 'utf8');
      for (const [, specifier] of text.matchAll(/from '([^']+)'/g)) {
        expect([file, specifier]).toEqual([
          file,
          expect.stringMatching(/^(node:|\.\/|\.\.\/www-authenticate\.js$)/),
        ]);
      }
    }
  });
});

// --- README "Clients: reading challenges safely": keep in step with the README. ---

interface TokenSource {
  get(request: {
    scopes: string[];
    forceRefresh: boolean;
    claims?: string;
  }): Promise<string>;
}

async function readmeExample(
  tokens: TokenSource,
  ordersUrl: string,
  warn: (message: string) => void,
): Promise<Response | undefined> {
  const ordersApi = createBearerFetch({
    // With MSAL Node: acquireTokenByClientCredential({ scopes, claims, skipCache: forceRefresh })
    getToken: ({ scopes, forceRefresh, claims }) =>
      tokens.get({
        scopes: scopes ?? ['api://orders/.default'],
        forceRefresh,
        claims,
      }),
    verify: {
      expectedTenant: 'contoso.onmicrosoft.com',
      resource: 'api://orders', // the API's App ID URI: its challenges' bare scopes are its own
    },
  });
  try {
    return await ordersApi(ordersUrl); // Authorization: Bearer ..., challenges followed
  } catch (error) {
    if (!(error instanceof UntrustedChallengeError)) throw error;
    warn(`refused a challenge: ${error.reason}`); // nothing in it was used
    return undefined;
  }
}

describe('README example', () => {
  let server: Server;
  let base: string;
  let challenge: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.headers.authorization === 'Bearer read-token') {
        res.end('[]');
        return;
      }
      res.statusCode = 403;
      res.setHeader('WWW-Authenticate', challenge);
      res.end();
    });
    await new Promise<void>((resolve) =>
      server.listen(0, '127.0.0.1', resolve),
    );
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const tokens: TokenSource = {
    get: ({ scopes }) =>
      Promise.resolve(
        scopes.includes('api://orders/Orders.Read') ? 'read-token' : 'default',
      ),
  };

  it('re-authorizes with the scope of a trusted challenge', async () => {
    challenge = formatChallenge({
      authorization_uri:
        'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize',
      resource_id: 'api://orders',
      error: 'insufficient_scope',
      scope: 'api://orders/Orders.Read',
    });
    const warnings: string[] = [];
    const res = await readmeExample(tokens, `${base}/api/orders`, (m) =>
      warnings.push(m),
    );
    expect(res?.status).toBe(200);
    expect(warnings).toEqual([]);
  });

  it("qualifies a bare scope with the API's resource, refuses Microsoft Graph's", async () => {
    const authorization_uri =
      'https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/authorize';
    challenge = formatChallenge({
      authorization_uri,
      error: 'insufficient_scope',
      scope: 'Orders.Read',
    });
    const warnings: string[] = [];
    const res = await readmeExample(tokens, `${base}/api/orders`, (m) =>
      warnings.push(m),
    );
    expect(res?.status).toBe(200);
    challenge = formatChallenge({
      authorization_uri,
      error: 'insufficient_scope',
      scope: '00000003-0000-0000-c000-000000000000/.default',
    });
    expect(
      await readmeExample(tokens, `${base}/api/orders`, (m) =>
        warnings.push(m),
      ),
    ).toBeUndefined();
    expect(warnings).toEqual(['refused a challenge: scope_untrusted_resource']);
  });

  it('refuses a challenge from a foreign authority', async () => {
    challenge = formatChallenge({
      authorization_uri: 'https://login.example.net/contoso.onmicrosoft.com/',
      error: 'insufficient_scope',
      scope: 'api://orders/Orders.Read',
    });
    const warnings: string[] = [];
    const res = await readmeExample(tokens, `${base}/api/orders`, (m) =>
      warnings.push(m),
    );
    expect(res).toBeUndefined();
    expect(warnings).toEqual([
      'refused a challenge: authorization_uri_untrusted_host',
    ]);
  });

  it('verifyChallenge alone, as the README shows it', () => {
    const result = verifyChallenge(
      'Bearer resource_id="htttps://service.contoso.com/", error="invalid_token"',
      { requestUrl: 'https://service.contoso.com/data' },
    );
    expect(result.trusted ? 'trusted' : result.reason).toBe(
      'resource_id_mismatch',
    );
  });
});
