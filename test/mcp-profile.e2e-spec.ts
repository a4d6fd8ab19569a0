/**
 * `profile: 'mcp'` against the MCP authorization rules that apply to a resource server
 * (MCP specification 2025-06-18, "Authorization"), on Express and Fastify, and the README
 * section "MCP servers", whose code between the markers is the README's; plus the
 * `fapi2` profile's sender-constraint rule.
 */
import { Controller, HttpCode, Post } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import {
  Principal,
  Scopes,
  type AuthModuleOptions,
  type BearerPrincipal,
} from '../lib/index.js';
import { parseChallenges } from '../lib/www-authenticate.js';
import { ADAPTERS, startScenarioApp } from './scenario/scenario-app.js';
import { DpopKey } from './support/dpop.js';
import { bearer, send } from './support/http.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { mintToken } from './support/tokens.js';

// --- README "MCP servers": mcp.controller.ts -----------------------------------------
@Controller('mcp')
export class McpController {
  /** The MCP endpoint (Streamable HTTP); every tool call needs the scope. */
  @Scopes('mcp:tools')
  @Post()
  @HttpCode(200)
  handle(@Principal() caller: BearerPrincipal) {
    return { jsonrpc: '2.0', id: 1, result: { caller: caller.sub } };
  }
}
// --- end of the README code ----------------------------------------------------------

const RESOURCE = 'https://mcp.example.com/mcp';

let key: TestKey;
let jwks: JwksServer;

beforeAll(async () => {
  key = await createTestKey({ alg: 'ES256' });
  jwks = await JwksServer.start({ keys: [key] });
});
afterAll(() => jwks?.close());

function mcpOptions(): AuthModuleOptions {
  const issuer = jwks.issuer;
  return (
    // --- README "MCP servers": the module options ------------------------------------
    {
      issuer, // your authorization server, e.g. 'https://auth.example.com'
      jwksUri: jwks.jwksUri, // README: omitted (read from the issuer's discovery)
      algorithms: ['ES256', 'RS256'],
      profile: 'mcp',
      protectedResourceMetadata: {
        resource: 'https://mcp.example.com/mcp', // the canonical URI of the MCP server
        resourceName: 'Example MCP server',
      },
    }
    // --- end of the README code --------------------------------------------------------
  );
}

function token(claims: Record<string, unknown>): Promise<string> {
  return mintToken(key, {
    iss: jwks.issuer,
    aud: RESOURCE,
    sub: 'alice',
    jti: randomUUID(),
    ...claims,
  });
}

describe.each(ADAPTERS)('profile "mcp" (%s)', (adapter) => {
  let url: string;
  let close: () => Promise<void>;

  beforeAll(async () => {
    const started = await startScenarioApp(mcpOptions(), {
      adapter,
      controllers: [McpController],
    });
    url = started.url;
    close = () => started.app.close();
  });
  afterAll(() => close?.());

  const call = (headers: Record<string, string>, path = '/mcp') =>
    send(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
    });

  it('serves RFC 9728 metadata naming the resource, its server, header tokens and DPoP', async () => {
    const res = await send(`${url}/.well-known/oauth-protected-resource/mcp`);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toEqual({
      resource: RESOURCE,
      authorization_servers: [jwks.issuer],
      bearer_methods_supported: ['header'],
      scopes_supported: ['mcp:tools'],
      resource_name: 'Example MCP server',
      dpop_signing_alg_values_supported: ['ES256', 'EdDSA', 'PS256', 'RS256'],
      dpop_bound_access_tokens_required: false,
    });
  });

  it('answers 401 with resource_metadata when no token is sent (MCP: "MUST" use WWW-Authenticate)', async () => {
    const res = await call({});
    expect(res.status).toBe(401);
    const challenges = parseChallenges(
      res.headers['www-authenticate'] as string,
    );
    expect(challenges.map((c) => c.scheme)).toEqual(['Bearer', 'DPoP']);
    for (const challenge of challenges) {
      expect(challenge.params.resource_metadata).toBe(
        'https://mcp.example.com/.well-known/oauth-protected-resource/mcp',
      );
    }
  });

  it('accepts only tokens whose audience is the resource (RFC 8707)', async () => {
    const ok = await call(bearer(await token({ scope: 'mcp:tools' })));
    expect(ok.status).toBe(200);
    const other = await call(
      bearer(
        await token({
          scope: 'mcp:tools',
          aud: 'https://other.example.com/mcp',
        }),
      ),
    );
    expect(other.status).toBe(401);
    expect(other.headers['www-authenticate']).toContain(
      'error="invalid_token"',
    );
  });

  it('answers 403 insufficient_scope with the scope to ask for', async () => {
    const res = await call(bearer(await token({ scope: 'other' })));
    expect(res.status).toBe(403);
    const [challenge] = parseChallenges(
      res.headers['www-authenticate'] as string,
    );
    expect(challenge.params).toMatchObject({
      error: 'insufficient_scope',
      scope: 'mcp:tools',
    });
  });

  it('never reads a token from the query string', async () => {
    const jwt = await token({ scope: 'mcp:tools' });
    const res = await call({}, `/mcp?access_token=${jwt}`);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).not.toContain('error=');
  });

  it('accepts a DPoP-bound token with its proof', async () => {
    const client = await DpopKey.create('ES256');
    const jwt = await token({ scope: 'mcp:tools', cnf: { jkt: client.jkt } });
    const res = await call(
      await client.headers(jwt, { htm: 'POST', htu: `${url}/mcp` }),
    );
    expect(res.status).toBe(200);
  });
});

describe('profile "fapi2"', () => {
  it('refuses any token that is bound to nothing, even with DPoP off for mTLS', async () => {
    const started = await startScenarioApp(
      {
        issuer: jwks.issuer,
        audience: RESOURCE,
        jwksUri: jwks.jwksUri,
        profile: 'fapi2',
        dpop: 'off',
      },
      { controllers: [McpController] },
    );
    try {
      const res = await send(`${started.url}/mcp`, {
        method: 'POST',
        headers: bearer(await token({ scope: 'mcp:tools' })),
      });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toContain(
        'The access token is not sender-constrained',
      );
    } finally {
      await started.app.close();
    }
  });

  it('with the default (DPoP required), a Bearer token is no credentials and a DPoP one passes', async () => {
    const started = await startScenarioApp(
      {
        issuer: jwks.issuer,
        audience: RESOURCE,
        jwksUri: jwks.jwksUri,
        profile: 'fapi2',
      },
      { controllers: [McpController] },
    );
    try {
      const client = await DpopKey.create('ES256');
      const jwt = await token({ scope: 'mcp:tools', cnf: { jkt: client.jkt } });
      const asBearer = await send(`${started.url}/mcp`, {
        method: 'POST',
        headers: bearer(jwt),
      });
      expect(asBearer.status).toBe(401);
      expect(asBearer.headers['www-authenticate']).toMatch(/^DPoP /);
      const ok = await send(`${started.url}/mcp`, {
        method: 'POST',
        headers: await client.headers(jwt, {
          htm: 'POST',
          htu: `${started.url}/mcp`,
        }),
      });
      expect(ok.status).toBe(200);
    } finally {
      await started.app.close();
    }
  });
});
