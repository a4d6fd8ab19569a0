/**
 * Sender-constrained tokens on an app built with the module, on Express and Fastify:
 * certificate-bound tokens (RFC 8705) over real mutual TLS and through a trusted proxy's
 * `Client-Cert` header (RFC 9440); DPoP's `htu` against configured origins and a trusted
 * proxy's forwarded origin; the RFC 9728 metadata; and the passport strategy's path.
 */
import {
  Controller,
  Get,
  UseGuards,
  type INestApplication,
} from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AuthModule,
  BearerAuthenticator,
  BearerAuthGuard,
  InvalidDpopProofError,
  Principal,
  UseDpopNonceError,
  Public,
  type AuthModuleOptions,
  type BearerPrincipal,
} from '../lib/index.js';
import {
  createScenarioModule,
  type ScenarioAdapter,
} from './scenario/scenario-app.js';
import {
  makeCertificate,
  type TestCertificate,
} from './support/certificates.js';
import { DpopKey } from './support/dpop.js';
import { bearer, send, type HttpResult } from './support/http.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { mintToken } from './support/tokens.js';

@Controller()
class BoundController {
  @Get('whoami')
  whoami(@Principal() principal: BearerPrincipal): { sub: string | undefined } {
    return { sub: principal.sub };
  }

  @Public()
  @UseGuards(BearerAuthGuard())
  @Get('passport')
  passport(@Principal() principal: BearerPrincipal): {
    sub: string | undefined;
  } {
    return { sub: principal.sub };
  }
}

const AUDIENCE = 'api://bound';
const CERTIFICATE_BOUND =
  'error_description="The access token is bound to a client certificate the request does not present."';

let dir: string;
let server: TestCertificate;
let alice: TestCertificate;
let mallory: TestCertificate;
let key: TestKey;
let jwks: JwksServer;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'nestjs-bearer-mtls-'));
  server = makeCertificate(dir, 'server');
  alice = makeCertificate(dir, 'alice');
  mallory = makeCertificate(dir, 'mallory');
  key = await createTestKey();
  jwks = await JwksServer.start({ keys: [key] });
});
afterAll(async () => {
  await jwks?.close();
  rmSync(dir, { recursive: true, force: true });
});

function options(extra: Partial<AuthModuleOptions> = {}): AuthModuleOptions {
  return {
    issuer: jwks.issuer,
    audience: AUDIENCE,
    jwksUri: jwks.jwksUri,
    ...extra,
  };
}

function token(claims: Record<string, unknown> = {}): Promise<string> {
  return mintToken(key, {
    iss: jwks.issuer,
    aud: AUDIENCE,
    sub: 'alice',
    jti: randomUUID(),
    ...claims,
  });
}

async function start(
  adapterName: ScenarioAdapter,
  auth: AuthModuleOptions,
  tls = false,
): Promise<{ app: INestApplication; url: string }> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      createScenarioModule(AuthModule.forRoot(auth), {
        controllers: [BoundController],
      }),
    ],
  }).compile();
  const https = tls
    ? {
        key: server.key,
        cert: server.cert,
        requestCert: true,
        rejectUnauthorized: false,
      }
    : undefined;
  const app =
    adapterName === 'fastify'
      ? moduleRef.createNestApplication(
          new FastifyAdapter(https === undefined ? {} : { https }),
          { logger: false },
        )
      : moduleRef.createNestApplication(new ExpressAdapter(), {
          logger: false,
          ...(https !== undefined && { httpsOptions: https }),
        });
  await app.listen(0, '127.0.0.1');
  const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  return { app, url };
}

/** An HTTPS request, with a client certificate or none. */
function sendTls(
  url: string,
  headers: Record<string, string>,
  client?: TestCertificate,
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        headers,
        agent: false,
        rejectUnauthorized: false,
        ...(client !== undefined && { key: client.key, cert: client.cert }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe.each<ScenarioAdapter>(['express', 'fastify'])(
  'certificate-bound tokens over mutual TLS (%s)',
  (adapter) => {
    let app: INestApplication;
    let url: string;

    beforeAll(async () => {
      ({ app, url } = await start(adapter, options(), true));
      url = url.replace(/^http:/, 'https:');
    });
    afterAll(() => app?.close());

    it('accepts a bound token with the certificate it is bound to', async () => {
      const jwt = await token({ cnf: { 'x5t#S256': alice.thumbprint } });
      const res = await sendTls(`${url}/whoami`, bearer(jwt), alice);
      expect(res.status).toBe(200);
      expect(JSON.parse(res.text)).toEqual({ sub: 'alice' });
    });

    it('refuses it with another certificate, and without one: 401, never 400', async () => {
      const jwt = await token({ cnf: { 'x5t#S256': alice.thumbprint } });
      for (const client of [mallory, undefined]) {
        const res = await sendTls(`${url}/whoami`, bearer(jwt), client);
        expect(res.status).toBe(401);
        expect(res.headers['www-authenticate']).toContain(CERTIFICATE_BOUND);
      }
    });

    it('refuses a cnf whose x5t#S256 is not a string', async () => {
      const jwt = await token({ cnf: { 'x5t#S256': 42 } });
      const res = await sendTls(`${url}/whoami`, bearer(jwt), alice);
      expect(res.status).toBe(401);
    });

    it('accepts an unbound token with or without a certificate', async () => {
      const jwt = await token();
      expect((await sendTls(`${url}/whoami`, bearer(jwt))).status).toBe(200);
      expect((await sendTls(`${url}/whoami`, bearer(jwt), alice)).status).toBe(
        200,
      );
    });
  },
);

describe.each<ScenarioAdapter>(['express', 'fastify'])(
  'a binding this module cannot check fails closed (RFC 7800 cnf, %s)',
  (adapter) => {
    let app: INestApplication;
    let url: string;

    beforeAll(async () => {
      ({ app, url } = await start(adapter, options()));
    });
    afterAll(() => app?.close());

    it.each<[string, unknown]>([
      [
        'a public key (jwk)',
        { jwk: { kty: 'EC', crv: 'P-256', x: 'a', y: 'b' } },
      ],
      ['an encrypted key (jwe)', { jwe: 'eyJhbGciOiJSU0EtT0FFUCJ9.x.y.z.w' }],
      ['a key set URL (jku)', { jku: 'https://client.example.com/jwks' }],
      ['a key id (kid)', { kid: 'abc' }],
      ['no method', {}],
      ['an unknown member only', { foo: 1 }],
      ['a string', 'x'],
      ['a number', 5],
      ['an array', [{ jkt: 'x' }]],
      ['null', null],
    ])('refuses a token bound by %s', async (_what, cnf) => {
      const res = await send(`${url}/whoami`, {
        headers: bearer(await token({ cnf })),
      });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(
        /^Bearer authorization_uri="[^"]+", error="invalid_token", error_description="The access token is bound to a key by a confirmation method this resource does not support."$/,
      );
    });

    it('still answers a binding it checks by that binding, beside other members', async () => {
      const res = await send(`${url}/whoami`, {
        headers: bearer(
          await token({ cnf: { jkt: 'x'.repeat(43), kid: 'k' } }),
        ),
      });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toContain('bound to a DPoP key');
    });

    it('accepts a token without cnf', async () => {
      const res = await send(`${url}/whoami`, {
        headers: bearer(await token()),
      });
      expect(res.status).toBe(200);
    });
  },
);

describe.each<ScenarioAdapter>(['express', 'fastify'])(
  'DPoP required: a DPoP-bound token sent as Bearer, on the guard and the passport path (%s)',
  (adapter) => {
    let app: INestApplication;
    let url: string;

    beforeAll(async () => {
      ({ app, url } = await start(adapter, options({ dpop: 'required' })));
    });
    afterAll(() => app?.close());

    it.each(['whoami', 'passport'])(
      '/%s: invalid_token on the DPoP challenge, and no credentials for an unbound one',
      async (path) => {
        const bound = await send(`${url}/${path}`, {
          headers: bearer(await token({ cnf: { jkt: 'x'.repeat(43) } })),
        });
        expect(bound.status).toBe(401);
        expect(bound.headers['www-authenticate']).toMatch(
          /^DPoP error="invalid_token", error_description="The access token is bound to a DPoP key and must be sent with the DPoP scheme\.", /,
        );
        const unbound = await send(`${url}/${path}`, {
          headers: bearer(await token()),
        });
        expect(unbound.status).toBe(401);
        expect(unbound.headers['www-authenticate']).not.toContain('error=');
      },
    );
  },
);

describe('certificate-bound tokens behind a proxy (Client-Cert, RFC 9440)', () => {
  it('believes the header only from a trusted proxy, in both RFC 9440 and PEM form', async () => {
    const jwt = await token({ cnf: { 'x5t#S256': alice.thumbprint } });
    const viaProxy = `:${alice.der.toString('base64')}:`;
    const trusted = await start(
      'express',
      options({
        trustedProxies: ['127.0.0.1'],
        clientCertificateHeader: 'Client-Cert',
      }),
    );
    try {
      for (const value of [
        viaProxy,
        encodeURIComponent(alice.cert.toString('utf8')),
      ]) {
        const res = await send(`${trusted.url}/whoami`, {
          headers: { ...bearer(jwt), 'client-cert': value },
        });
        expect(res.status).toBe(200);
      }
      const other = await send(`${trusted.url}/whoami`, {
        headers: {
          ...bearer(jwt),
          'client-cert': `:${mallory.der.toString('base64')}:`,
        },
      });
      expect(other.status).toBe(401);
      const garbage = await send(`${trusted.url}/whoami`, {
        headers: { ...bearer(jwt), 'client-cert': ':bm90IGEgY2VydA==:' },
      });
      expect(garbage.status).toBe(401);
    } finally {
      await trusted.app.close();
    }
    const untrusted = await start(
      'express',
      options({
        trustedProxies: ['10.9.8.7'],
        clientCertificateHeader: 'client-cert',
      }),
    );
    try {
      const res = await send(`${untrusted.url}/whoami`, {
        headers: { ...bearer(jwt), 'client-cert': viaProxy },
      });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toContain(CERTIFICATE_BOUND);
    } finally {
      await untrusted.app.close();
    }
  });

  it('refuses clientCertificateHeader without trustedProxies at start', () => {
    expect(() =>
      AuthModule.forRoot(options({ clientCertificateHeader: 'client-cert' })),
    ).toThrow(/needs trustedProxies/);
  });
});

describe.each<ScenarioAdapter>(['express', 'fastify'])(
  'the origin of a DPoP proof (%s)',
  (adapter) => {
    let client: DpopKey;

    beforeAll(async () => {
      client = await DpopKey.create('EdDSA');
    });

    it('checks htu against dpop.origins, whatever the socket address', async () => {
      const { app, url } = await start(
        adapter,
        options({
          dpop: { mode: 'required', origins: ['https://api.example.com'] },
        }),
      );
      try {
        const jwt = await token({ cnf: { jkt: client.jkt } });
        const ok = await send(`${url}/whoami`, {
          headers: await client.headers(jwt, {
            htm: 'GET',
            htu: 'https://api.example.com/whoami',
          }),
        });
        expect(ok.status).toBe(200);
        const local = await send(`${url}/whoami`, {
          headers: await client.headers(jwt, {
            htm: 'GET',
            htu: `${url}/whoami`,
          }),
        });
        expect(local.status).toBe(401);
        expect(local.headers['www-authenticate']).toContain(
          'The DPoP proof was made for another URI.',
        );
      } finally {
        await app.close();
      }
    });

    it('takes the forwarded origin from a trusted proxy only', async () => {
      const forwarded = {
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'public.example.com',
      };
      const htu = 'https://public.example.com/whoami';
      for (const [proxies, status] of [
        [['127.0.0.1'], 200],
        [['10.9.8.7'], 401],
      ] as const) {
        const { app, url } = await start(
          adapter,
          options({ dpop: 'allowed', trustedProxies: [...proxies] }),
        );
        try {
          const jwt = await token({ cnf: { jkt: client.jkt } });
          const res = await send(`${url}/whoami`, {
            headers: {
              ...forwarded,
              ...(await client.headers(jwt, { htm: 'GET', htu })),
            },
          });
          expect(res.status).toBe(status);
        } finally {
          await app.close();
        }
      }
    });

    it('checks the proof on the passport strategy path too', async () => {
      const { app, url } = await start(adapter, options({ dpop: 'allowed' }));
      try {
        const jwt = await token({ cnf: { jkt: client.jkt } });
        const ok = await send(`${url}/passport`, {
          headers: await client.headers(jwt, {
            htm: 'GET',
            htu: `${url}/passport`,
          }),
        });
        expect(ok.status).toBe(200);
        const missing = await send(`${url}/passport`, {
          headers: { authorization: `DPoP ${jwt}` },
        });
        expect(missing.status).toBe(401);
        expect(missing.headers['www-authenticate']).toContain(
          'error="invalid_dpop_proof"',
        );
        const asBearer = await send(`${url}/passport`, {
          headers: bearer(jwt),
        });
        expect(asBearer.status).toBe(401);
      } finally {
        await app.close();
      }
    });
  },
);

describe('the service path of a DPoP proof', () => {
  const htu = 'https://api.example.com/whoami';
  const origins = ['https://api.example.com'];

  async function authenticatorFor(dpop: AuthModuleOptions['dpop']) {
    const started = await start('express', options({ dpop }));
    return { ...started, authenticator: started.app.get(BearerAuthenticator) };
  }

  it('refuses a proof used twice with the memory replay cache', async () => {
    const { app, authenticator } = await authenticatorFor({
      mode: 'required',
      origins,
    });
    try {
      const client = await DpopKey.create('ES256');
      const jwt = await token({ cnf: { jkt: client.jkt } });
      const request = {
        method: 'GET',
        url: '/whoami',
        headers: await client.headers(jwt, { htm: 'GET', htu }),
      };
      await authenticator.authenticate(request);
      await expect(
        Promise.resolve().then(() => authenticator.authenticate(request)),
      ).rejects.toMatchObject({
        code: 'invalid_dpop_proof',
        description: 'The DPoP proof has already been used.',
      });
    } finally {
      await app.close();
    }
  });

  it('refuses an unbound token sent with the DPoP scheme as invalid_token', async () => {
    const { app, authenticator } = await authenticatorFor({
      mode: 'allowed',
      origins,
    });
    try {
      const client = await DpopKey.create('ES256');
      const jwt = await token();
      await expect(
        Promise.resolve().then(async () =>
          authenticator.authenticate({
            method: 'GET',
            url: '/whoami',
            headers: await client.headers(jwt, { htm: 'GET', htu }),
          }),
        ),
      ).rejects.toMatchObject({ code: 'invalid_token' });
    } finally {
      await app.close();
    }
  });

  it("accepts the previous slot's nonce and hands out the next one", async () => {
    const { app, authenticator } = await authenticatorFor({
      mode: 'required',
      origins,
      nonce: {
        secret: 'a nonce secret of well over 32 characters',
        lifetime: 10,
      },
    });
    try {
      const client = await DpopKey.create('ES256');
      const jwt = await token({ cnf: { jkt: client.jkt } });
      const request = async (nonce?: string) => ({
        method: 'GET',
        url: '/whoami',
        headers: await client.headers(jwt, { htm: 'GET', htu, nonce }),
      });
      const refusal = (await Promise.resolve()
        .then(async () => authenticator.authenticate(await request()))
        .catch((error: unknown) => error)) as UseDpopNonceError;
      expect(refusal).toBeInstanceOf(UseDpopNonceError);
      const nonce = refusal.responseHeaders['DPoP-Nonce'];
      // Into the next 10-second slot: the nonce is now the previous slot's.
      await new Promise((resolve) =>
        setTimeout(resolve, 10_000 - (Date.now() % 10_000) + 200),
      );
      const accepted = await authenticator.authenticate(await request(nonce));
      expect(accepted.responseHeaders['DPoP-Nonce']).toMatch(/^[\w-]{22}$/);
      expect(accepted.responseHeaders['DPoP-Nonce']).not.toBe(nonce);
    } finally {
      await app.close();
    }
  }, 30_000);
});

describe('a malformed DPoP credential', () => {
  it.each([
    ['empty', 'DPoP', 'The access token is missing.'],
    ['two words', 'dpop a b', 'The access token is malformed.'],
    [
      '9,000 characters',
      `DPoP ${'a'.repeat(9000)}`,
      'The access token is too long.',
    ],
  ])(
    '%s: the error is on the DPoP challenge',
    async (_label, authorization, description) => {
      const { app, url } = await start('express', options({ dpop: 'allowed' }));
      try {
        const res = await send(`${url}/whoami`, { headers: { authorization } });
        expect(res.status).toBe(401);
        const header = res.headers['www-authenticate'] as string;
        expect(header).toContain(
          `DPoP error="invalid_token", error_description="${description}"`,
        );
        expect(header).not.toContain('Bearer error=');
      } finally {
        await app.close();
      }
    },
  );
});

describe('the cost of a DPoP request', () => {
  it('stays synchronous on a cached token with the memory replay cache (no promise)', async () => {
    const { app, url } = await start(
      'express',
      options({
        dpop: { mode: 'allowed', origins: ['https://api.example.com'] },
      }),
    );
    try {
      const client = await DpopKey.create('ES256');
      const jwt = await token({ cnf: { jkt: client.jkt } });
      const authenticator = app.get(BearerAuthenticator);
      const request = async () => ({
        method: 'GET',
        url: '/whoami',
        headers: await client.headers(jwt, {
          htm: 'GET',
          htu: 'https://api.example.com/whoami',
        }),
      });
      // The second verification caches the token; the third is a hit.
      await authenticator.authenticate(await request());
      await authenticator.authenticate(await request());
      const outcome = authenticator.authenticate(await request());
      expect(outcome).not.toBeInstanceOf(Promise);
      expect(() =>
        authenticator.authenticate({
          method: 'GET',
          url: '/whoami',
          headers: { authorization: `DPoP ${jwt}` },
        }),
      ).toThrow(InvalidDpopProofError);
      expect(url).toMatch(/^http:/);
    } finally {
      await app.close();
    }
  });
});

describe('introspected opaque tokens carry their binding (RFC 7662 cnf)', () => {
  it('binds an opaque token by the cnf of the introspection answer', async () => {
    const client = await DpopKey.create('ES256');
    const answers = new Map<string, Record<string, unknown>>();
    const introspection = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        const token = new URLSearchParams(body).get('token') ?? '';
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify(answers.get(token) ?? { active: false }));
      });
    });
    await new Promise<void>((resolve) =>
      introspection.listen(0, '127.0.0.1', resolve),
    );
    const { port } = introspection.address() as AddressInfo;
    const now = Math.floor(Date.now() / 1000);
    const answer = (cnf: Record<string, unknown>) => ({
      active: true,
      iss: jwks.issuer,
      aud: AUDIENCE,
      sub: 'alice',
      exp: now + 300,
      cnf,
    });
    answers.set('opaque-dpop', answer({ jkt: client.jkt }));
    answers.set('opaque-mtls', answer({ 'x5t#S256': alice.thumbprint }));
    const { app, url } = await start(
      'express',
      options({
        dpop: 'allowed',
        introspection: {
          uri: `http://127.0.0.1:${port}/introspect`,
          clientId: 'api',
          clientSecret: 'secret',
        },
      }),
    );
    try {
      const htu = `${url}/whoami`;
      const ok = await send(htu, {
        headers: await client.headers('opaque-dpop', { htm: 'GET', htu }),
      });
      expect(ok.status).toBe(200);
      const asBearer = await send(htu, { headers: bearer('opaque-dpop') });
      expect(asBearer.status).toBe(401);
      expect(asBearer.headers['www-authenticate']).toContain(
        'bound to a DPoP key',
      );
      const noCertificate = await send(htu, { headers: bearer('opaque-mtls') });
      expect(noCertificate.status).toBe(401);
      expect(noCertificate.headers['www-authenticate']).toContain(
        CERTIFICATE_BOUND,
      );
    } finally {
      await app.close();
      await new Promise((resolve) => introspection.close(resolve));
    }
  });
});

describe('RFC 9728 metadata for sender-constrained tokens', () => {
  it('publishes the DPoP algorithms, whether DPoP is required, and certificate binding', async () => {
    const { app, url } = await start(
      'express',
      options({
        dpop: { mode: 'required', algorithms: ['ES256', 'EdDSA'] },
        trustedProxies: ['127.0.0.1'],
        clientCertificateHeader: 'client-cert',
        authorizationUri: 'https://login.example.com/authorize',
        protectedResourceMetadata: { resource: 'https://api.example.com' },
      }),
    );
    try {
      const res = await send(`${url}/.well-known/oauth-protected-resource`);
      expect(JSON.parse(res.text)).toMatchObject({
        resource: 'https://api.example.com',
        dpop_signing_alg_values_supported: ['ES256', 'EdDSA'],
        dpop_bound_access_tokens_required: true,
        tls_client_certificate_bound_access_tokens: true,
      });
      const challenge = await send(`${url}/whoami`);
      expect(challenge.headers['www-authenticate']).toBe(
        'DPoP authorization_uri="https://login.example.com/authorize", resource_metadata="https://api.example.com/.well-known/oauth-protected-resource", algs="ES256 EdDSA"',
      );
    } finally {
      await app.close();
    }
  });

  it('says nothing of DPoP when it is off', async () => {
    const { app, url } = await start(
      'express',
      options({
        protectedResourceMetadata: { resource: 'https://api.example.com' },
      }),
    );
    try {
      const res = await send(`${url}/.well-known/oauth-protected-resource`);
      const document = JSON.parse(res.text) as Record<string, unknown>;
      expect(document).not.toHaveProperty('dpop_signing_alg_values_supported');
      expect(document).not.toHaveProperty('dpop_bound_access_tokens_required');
    } finally {
      await app.close();
    }
  });
});
