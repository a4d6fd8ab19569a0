/**
 * The client kit's DPoP (RFC 9449) against a real API built with the module in `required`
 * mode with nonces, on Express and Fastify: the proofs it signs are the ones the module's
 * guard accepts, the nonce handshake costs one retry, and the challenges it follows are the
 * ones the module writes. The README's DPoP client example is the code between the markers
 * below (checked here, line for line), and runs against the same API.
 */
import { Controller, Get, HttpCode, Post } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decodeJwt } from 'jose';
import {
  createBearerFetch,
  type GetTokenRequest,
} from '../lib/client/index.js';
import { Principal, Scopes, type BearerPrincipal } from '../lib/index.js';
import {
  ADAPTERS,
  startScenarioApp,
  type ScenarioApp,
} from './scenario/scenario-app.js';
import {
  createTestKey,
  JwksServer,
  type TestKey,
} from './support/jwks-server.js';
import { mintToken } from './support/tokens.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const README_ORIGIN = 'https://api.example.com';
// The module names the test issuer's http:// endpoint otherwise, which no client trusts.
const AUTHORIZE =
  'https://login.microsoftonline.com/7fe81447-da57-4385-becb-6de57f21477e/oauth2/v2.0/authorize';

@Controller('documents')
class DocumentsController {
  @Scopes('documents.read')
  @Get()
  list(@Principal() caller: BearerPrincipal) {
    return [{ id: 1, owner: caller.sub }];
  }

  @Scopes('documents.write')
  @Post()
  @HttpCode(201)
  create() {
    return { created: true };
  }
}

/** One request as the client sent it, and the status it got. */
interface Sent {
  method: string;
  url: string;
  authorization: string | null;
  proof: string | null;
  status: number;
  nonce: string | null;
}

const realFetch = globalThis.fetch;

/** A `fetch` that records what goes over the wire. */
function recordingFetch(sent: Sent[], rewrite = (url: string) => url) {
  return async (input: string | URL | Request, init?: RequestInit) => {
    const url = rewrite(input instanceof Request ? input.url : String(input));
    const headers = new Headers(init?.headers);
    const response = await realFetch(url, init);
    sent.push({
      method: init?.method ?? 'GET',
      url,
      authorization: headers.get('authorization'),
      proof: headers.get('dpop'),
      status: response.status,
      nonce: response.headers.get('dpop-nonce'),
    });
    return response;
  };
}

let key: TestKey;
let jwks: JwksServer;

beforeAll(async () => {
  key = await createTestKey({ kid: 'client-dpop' });
  jwks = await JwksServer.start({ keys: [key] });
});
afterAll(() => jwks.close());

/** The authorization server's part: a token bound to `jkt`, for the scopes asked. */
function mintBound(
  jkt: string | undefined,
  scopes: readonly string[] | undefined,
  expiresIn = 300,
): Promise<string> {
  return mintToken(
    key,
    {
      iss: jwks.issuer,
      aud: 'api://documents',
      sub: 'alice',
      // As Entra ID does, the token names its scopes without the resource.
      scp: (scopes ?? ['api://documents/documents.read'])
        .map((scope) => scope.replace(/^api:\/\/documents\//, ''))
        .join(' '),
      ...(jkt !== undefined && { cnf: { jkt } }),
    },
    { expiresIn },
  );
}

function payloadOf(proof: string | null): Record<string, unknown> {
  return decodeJwt(proof ?? '');
}

describe.each(ADAPTERS)(
  'createBearerFetch with dpop against the module, dpop required with nonces (%s)',
  (adapter) => {
    let api: ScenarioApp;
    let base: string;

    beforeAll(async () => {
      api = await startScenarioApp(
        {
          issuer: jwks.issuer,
          audience: 'api://documents',
          authorizationUri: AUTHORIZE,
          dpop: { mode: 'required', nonce: true },
        },
        { adapter, controllers: [DocumentsController] },
      );
      base = api.url.replace('[::1]', '127.0.0.1');
    });
    afterAll(() => api.app.close());

    function client(
      answer: (request: GetTokenRequest, index: number) => Promise<string>,
    ) {
      const sent: Sent[] = [];
      const calls: GetTokenRequest[] = [];
      const documents = createBearerFetch({
        dpop: true,
        getToken: (request) => {
          calls.push(request);
          return answer(request, calls.length - 1);
        },
        verify: { resource: 'api://documents' },
        fetch: recordingFetch(sent),
        sleep: () => Promise.resolve(),
      });
      return { documents, sent, calls };
    }

    it('gets the nonce with one retry, then every call carries the latest one', async () => {
      const { documents, sent, calls } = client((request) =>
        mintBound(request.dpop?.jkt, request.scopes),
      );

      const first = await documents(`${base}/documents?page=1`);
      expect(first.status).toBe(200);
      expect(await first.json()).toEqual([{ id: 1, owner: 'alice' }]);
      expect(sent.map((s) => s.status)).toEqual([401, 200]);
      const nonce = sent[0].nonce;
      expect(nonce).toMatch(/^[\x21\x23-\x5B\x5D-\x7E]+$/);
      expect(payloadOf(sent[0].proof).nonce).toBeUndefined();
      expect(payloadOf(sent[1].proof)).toMatchObject({
        htm: 'GET',
        htu: `${base}/documents`,
        nonce,
      });
      // One token, bound to the client's key, sent as DPoP both times.
      expect(calls).toHaveLength(1);
      const jkt = calls[0].dpop?.jkt;
      expect(jkt).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(decodeJwt(sent[0].authorization?.slice(5) ?? '').cnf).toEqual({
        jkt,
      });
      expect(sent.map((s) => s.authorization?.split(' ')[0])).toEqual([
        'DPoP',
        'DPoP',
      ]);

      const second = await documents(`${base}/documents`);
      expect(second.status).toBe(200);
      expect(sent).toHaveLength(3);
      expect(payloadOf(sent[2].proof).nonce).toBe(nonce);
    });

    it("asks for the DPoP challenge's scope, qualified with the API's resource", async () => {
      const { documents, sent, calls } = client((request) =>
        mintBound(request.dpop?.jkt, request.scopes),
      );
      const res = await documents(`${base}/documents`, {
        method: 'POST',
        body: '{}',
        headers: { 'content-type': 'application/json' },
      });
      expect(res.status).toBe(201);
      // Nonce, then insufficient_scope on the DPoP challenge, then the new token.
      expect(sent.map((s) => s.status)).toEqual([401, 403, 201]);
      expect(calls.map((c) => c.scopes)).toEqual([
        undefined,
        ['api://documents/documents.write'],
      ]);
      expect(calls[1].challenge).toMatchObject({
        scheme: 'DPoP',
        error: 'insufficient_scope',
        params: { scope: 'documents.write' },
        algs: expect.arrayContaining(['ES256']),
      });
    });

    it('gets a new token once when the first is expired or bound to another key', async () => {
      for (const stale of [
        (jkt: string | undefined) => mintBound(jkt, undefined, -600),
        () => mintBound('A'.repeat(43), undefined),
      ]) {
        const { documents, sent, calls } = client((request, i) =>
          i === 0
            ? stale(request.dpop?.jkt)
            : mintBound(request.dpop?.jkt, request.scopes),
        );
        const res = await documents(`${base}/documents`);
        expect(res.status).toBe(200);
        expect(sent.map((s) => s.status)).toEqual([401, 401, 200]);
        expect(calls.map((c) => c.forceRefresh)).toEqual([false, true]);
        expect(calls[1].challenge?.scheme).toBe('DPoP');
      }
    });

    it('a Bearer client gets only a DPoP challenge, and no nonce retry', async () => {
      const sent: Sent[] = [];
      const documents = createBearerFetch({
        getToken: () => mintBound(undefined, undefined),
        verify: { resource: 'api://documents' },
        fetch: recordingFetch(sent),
      });
      const res = await documents(`${base}/documents`);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^DPoP /);
      expect(sent.map((s) => s.proof)).toEqual([null, null]);
    });
  },
);

// --- README "Clients: reading challenges safely", the DPoP example ------------------------

/** The token client of the README example, here the test issuer. */
const tokens = {
  get: ({
    scopes,
    dpopJkt,
  }: {
    scopes: string[];
    forceRefresh: boolean;
    dpopJkt: string | undefined;
  }) => mintBound(dpopJkt, scopes),
};

async function readmeExample(): Promise<Response> {
  // --- README ---
  const documentsApi = createBearerFetch({
    dpop: true, // an ES256 key pair made with WebCrypto; its private key cannot be exported
    // Ask your authorization server for a token bound to the key: dpop_jkt=<dpop.jkt>
    getToken: ({ scopes, forceRefresh, dpop }) =>
      tokens.get({
        scopes: scopes ?? ['api://documents/documents.read'],
        forceRefresh,
        dpopJkt: dpop?.jkt,
      }),
    verify: { resource: 'api://documents' }, // bare scopes of its challenges are its own
  });
  const res = await documentsApi('https://api.example.com/documents');
  // Authorization: DPoP <token> and DPoP: <proof>; one more try on use_dpop_nonce
  // --- end of the README code ---
  return res;
}

/** The TypeScript block of the README's client section that holds `marker`. */
function readmeBlock(section: string, marker: string): string {
  const readme = readFileSync(`${ROOT}/README.md`, 'utf8');
  const start = readme.indexOf(`\n## ${section}\n`);
  if (start < 0) throw new Error(`README has no section "${section}"`);
  const end = readme.indexOf('\n## ', start + 1);
  const body = readme.slice(start, end < 0 ? undefined : end);
  const block = [...body.matchAll(/```ts\n([\s\S]*?)```/g)].find((m) =>
    m[1].includes(marker),
  );
  if (block === undefined) throw new Error(`"${section}" has no ${marker}`);
  return block[1];
}

describe('README: the DPoP client example', () => {
  it('is the code of readmeExample() above, after its import', () => {
    const source = readFileSync(fileURLToPath(import.meta.url), 'utf8');
    const code = source
      .slice(
        source.indexOf('  // --- README ---\n') +
          '  // --- README ---\n'.length,
        source.indexOf('  // --- end of the README code ---'),
      )
      .replace(/^ {2}/gm, '');
    expect(
      readmeBlock('Clients: reading challenges safely', 'dpop: true'),
    ).toBe(
      "import { createBearerFetch } from 'nestjs-bearer/client';\n\n" + code,
    );
  });

  it.each(ADAPTERS)(
    'runs against an API that requires DPoP with nonces, behind https://api.example.com (%s)',
    async (adapter) => {
      // The API believes it is https://api.example.com, as behind a TLS proxy.
      const api = await startScenarioApp(
        {
          issuer: jwks.issuer,
          audience: 'api://documents',
          authorizationUri: AUTHORIZE,
          dpop: { mode: 'required', nonce: true, origins: [README_ORIGIN] },
        },
        { adapter, controllers: [DocumentsController] },
      );
      const base = api.url.replace('[::1]', '127.0.0.1');
      const original = globalThis.fetch;
      const sent: Sent[] = [];
      // The example uses the global fetch; send its requests to the local API. The module
      // fetches its keys with the global fetch too: those go through untouched.
      const toApi = recordingFetch(sent, (url) =>
        url.replace(README_ORIGIN, base),
      );
      globalThis.fetch = (input: string | URL | Request, init?: RequestInit) =>
        String(input instanceof Request ? input.url : input).startsWith(
          `${README_ORIGIN}/`,
        )
          ? toApi(input, init)
          : realFetch(input, init);
      let res: Response;
      try {
        res = await readmeExample();
      } finally {
        globalThis.fetch = original;
        await api.app.close();
      }
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual([{ id: 1, owner: 'alice' }]);
      expect(sent.map((s) => s.status)).toEqual([401, 200]);
      expect(payloadOf(sent[1].proof)).toMatchObject({
        htu: `${README_ORIGIN}/documents`,
        nonce: sent[0].nonce,
      });
    },
  );
});
