/**
 * `nestjs-bearer/openapi`: the document's security schemes, each operation's `security`
 * and refusals, on an in-process app (Express and Fastify) and on the sample app as a
 * process. The examples in the document are compared with what the routes really answer.
 */
import {
  Controller,
  Delete,
  Get,
  Post,
  UseGuards,
  type INestApplication,
  type Type,
} from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import {
  ApiResponse,
  ApiSecurity,
  DECORATORS,
  DocumentBuilder,
  SwaggerModule,
  type OpenAPIObject,
  type OperationObject,
  type ResponseObject,
} from '@nestjs/swagger';
import { Test } from '@nestjs/testing';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import {
  AuthModule,
  BearerGuard,
  OptionalAuth,
  Public,
  Roles,
  Scopes,
  StepUp,
  type AuthModuleOptions,
} from '../lib/index.js';
import {
  createBearerDocument,
  loadBearerDocument,
} from '../lib/openapi/index.js';
import { createTestIssuer, type TestIssuer } from '../lib/testing/index.js';
import { bearer, send } from './support/http.js';
import { SampleAppProcess } from './support/sample-app-process.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

@Controller('notes')
@Scopes('notes.read')
class NotesController {
  @Get()
  list(): string[] {
    return [];
  }

  @Scopes('notes.write')
  @Post()
  create(): { ok: true } {
    return { ok: true };
  }

  @Roles('Editor')
  @Delete(':id')
  remove(): { ok: true } {
    return { ok: true };
  }

  @StepUp({ acrValues: ['urn:mfa'] })
  @Get('secret')
  secret(): { ok: true } {
    return { ok: true };
  }
}

@Controller('open')
class OpenController {
  @Public()
  @Get('health')
  health(): { ok: true } {
    return { ok: true };
  }

  @OptionalAuth()
  @Get('feed')
  feed(): { ok: true } {
    return { ok: true };
  }

  @Get('me')
  me(): { ok: true } {
    return { ok: true };
  }

  // What the app documents itself is kept.
  @ApiSecurity('apiKey')
  @ApiResponse({ status: 401, description: 'Documented by the app.' })
  @Get('documented')
  documented(): { ok: true } {
    return { ok: true };
  }
}

/** One handler, inherited by two controllers with different class-level scopes. */
class BaseReportsController {
  @Get('reports')
  reports(): string[] {
    return [];
  }
}

@Controller('a')
@Scopes('a.read')
class AReportsController extends BaseReportsController {}

@Controller('b')
class BReportsController extends BaseReportsController {}

const CONTROLLERS: Type[] = [
  NotesController,
  OpenController,
  AReportsController,
  BReportsController,
];

type Adapter = 'express' | 'fastify';

async function createApp(
  adapter: Adapter,
  options: AuthModuleOptions,
  controllers: Type[] = CONTROLLERS,
  beforeInit: (app: INestApplication) => void = () => undefined,
): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [AuthModule.forRoot(options)],
    controllers,
  }).compile();
  const app = moduleRef.createNestApplication(
    adapter === 'fastify' ? new FastifyAdapter() : new ExpressAdapter(),
    { logger: false },
  );
  beforeInit(app);
  await app.init();
  if (adapter === 'fastify') {
    await (
      app.getHttpAdapter().getInstance() as { ready(): Promise<void> }
    ).ready();
  }
  return app;
}

function operation(
  document: OpenAPIObject,
  method: 'get' | 'post' | 'delete',
  path: string,
): OperationObject {
  const found = document.paths[path]?.[method];
  if (found === undefined) throw new Error(`no operation ${method} ${path}`);
  return found;
}

function example(
  op: OperationObject,
  status: string,
  name: string,
  mediaType = 'application/json',
): unknown {
  const response = op.responses[status] as ResponseObject | undefined;
  const examples = response?.content?.[mediaType]?.examples as
    Record<string, { value: unknown }> | undefined;
  return examples?.[name]?.value;
}

const CONFIG = new DocumentBuilder().setTitle('test').build();
const CONFIG_31 = new DocumentBuilder()
  .setTitle('test')
  .setOpenAPIVersion('3.1.0')
  .build();

// README "OpenAPI": the example as printed there, with the package name replaced by the
// source path. The spec below serves it and reads /docs-json.
function serveDocs(app: INestApplication): void {
  const config = new DocumentBuilder()
    .setTitle('Documents API')
    .setVersion('1.0.0')
    .build();
  SwaggerModule.setup('docs', app, () => createBearerDocument(app, config), {
    // Built again per request, so the oauth2 URLs appear once the issuer's discovery
    // document has been read (the app reads it when it starts listening).
    patchDocumentOnRequest: () => loadBearerDocument(app, config),
  });
}

describe.each<Adapter>(['express', 'fastify'])(
  'OpenAPI document of an in-process app (%s)',
  (adapter) => {
    let issuer: TestIssuer;
    let app: INestApplication;
    let url: string;
    let before: OpenAPIObject;
    let document: OpenAPIObject;

    beforeAll(async () => {
      issuer = await createTestIssuer({ audience: 'api://notes' });
      app = await createApp(adapter, issuer.authModuleOptions());
      // Before listen() the app has not read the issuer's discovery document yet.
      before = createBearerDocument(app, CONFIG);
      await app.listen(0, '127.0.0.1');
      url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
      document = await loadBearerDocument(app, CONFIG, {
        discoveryTimeout: 5000,
        scopeDescriptions: { 'notes.read': 'Read notes.' },
      });
    });

    afterAll(async () => {
      await app?.close();
      await issuer?.close();
    });

    it('declares the http bearer scheme, and oauth2 with the URLs of the discovery document', () => {
      expect(document.components?.securitySchemes?.bearer).toEqual({
        type: 'http',
        scheme: 'bearer',
        bearerFormat: 'JWT',
        description: expect.stringContaining(issuer.issuer) as string,
      });
      expect(document.components?.securitySchemes?.oauth2).toEqual({
        type: 'oauth2',
        description: expect.any(String) as string,
        flows: {
          authorizationCode: {
            authorizationUrl: `${issuer.issuer}/authorize`,
            tokenUrl: `${issuer.issuer}/token`,
            scopes: {
              'a.read': '',
              'notes.read': 'Read notes.',
              'notes.write': '',
            },
          },
        },
      });
    });

    it('leaves oauth2 out while the discovery document is not known', () => {
      expect(Object.keys(before.components?.securitySchemes ?? {})).toEqual([
        'bearer',
      ]);
      expect(operation(before, 'get', '/notes').security).toEqual([
        { bearer: [] },
      ]);
    });

    it('requires the combined @Scopes() of handler and class (OpenAPI 3.0: scopes on oauth2 only)', () => {
      expect(operation(document, 'get', '/notes').security).toEqual([
        { bearer: [] },
        { oauth2: ['notes.read'] },
      ]);
      expect(operation(document, 'post', '/notes').security).toEqual([
        { bearer: [] },
        { oauth2: ['notes.write', 'notes.read'] },
      ]);
      expect(operation(document, 'get', '/open/me').security).toEqual([
        { bearer: [] },
        { oauth2: [] },
      ]);
    });

    it('lists the scopes on the bearer requirement too in OpenAPI 3.1', () => {
      const oas31 = createBearerDocument(app, CONFIG_31);
      expect(oas31.openapi).toBe('3.1.0');
      expect(operation(oas31, 'post', '/notes').security).toEqual([
        { bearer: ['notes.write', 'notes.read'] },
        { oauth2: ['notes.write', 'notes.read'] },
      ]);
      const schema = oas31.components?.schemas?.BearerErrorResponse as {
        properties: Record<string, { type: unknown }>;
      };
      expect(schema.properties.error.type).toEqual(['string', 'null']);
    });

    it('tells an inherited handler apart by its controller', () => {
      expect(operation(document, 'get', '/a/reports').security).toEqual([
        { bearer: [] },
        { oauth2: ['a.read'] },
      ]);
      expect(operation(document, 'get', '/b/reports').security).toEqual([
        { bearer: [] },
        { oauth2: [] },
      ]);
      expect(
        Object.keys(operation(document, 'get', '/b/reports').responses),
      ).not.toContain('403');
    });

    it('gives @Public() routes no security requirement and no refusals', () => {
      const health = operation(document, 'get', '/open/health');
      expect(health.security).toBeUndefined();
      expect(Object.keys(health.responses)).toEqual(['200']);
    });

    it('makes @OptionalAuth() security optional, with 400 and 401 but no 403', () => {
      const feed = operation(document, 'get', '/open/feed');
      expect(feed.security).toEqual([{}, { bearer: [] }, { oauth2: [] }]);
      expect(Object.keys(feed.responses).sort()).toEqual(['200', '400', '401']);
    });

    it('documents 400, 401 and 403 where scopes or roles apply, with the body schema', () => {
      expect(
        Object.keys(operation(document, 'get', '/notes').responses).sort(),
      ).toEqual(['200', '400', '401', '403']);
      expect(
        Object.keys(operation(document, 'delete', '/notes/{id}').responses),
      ).toContain('403');
      const unauthorized = operation(document, 'get', '/notes').responses[
        '401'
      ] as ResponseObject;
      expect(unauthorized.headers?.['WWW-Authenticate']).toBeDefined();
      expect(unauthorized.content?.['application/json']?.schema).toEqual({
        $ref: '#/components/schemas/BearerErrorResponse',
      });
      expect(document.components?.schemas?.BearerErrorResponse).toMatchObject({
        type: 'object',
        required: ['statusCode', 'error', 'error_description', 'message'],
        properties: {
          statusCode: { type: 'integer' },
          error: { type: 'string', nullable: true },
          error_description: { type: 'string', nullable: true },
          message: { type: 'string' },
          scope: { type: 'string' },
        },
      });
      const secret = operation(document, 'get', '/notes/secret');
      expect(
        example(secret, '401', 'insufficient_user_authentication'),
      ).toEqual(expect.objectContaining({ acr_values: 'urn:mfa' }));
    });

    it('shows the bodies the routes really answer', async () => {
      const list = operation(document, 'get', '/notes');
      const missing = await send(`${url}/notes`);
      expect(missing.status).toBe(401);
      expect(JSON.parse(missing.text)).toEqual(
        example(list, '401', 'missing_token'),
      );
      const noScope = await send(`${url}/notes`, {
        headers: bearer(issuer.mint({}, { scope: 'other' })),
      });
      expect(noScope.status).toBe(403);
      expect(JSON.parse(noScope.text)).toEqual(
        example(list, '403', 'insufficient_scope'),
      );
      const expired = await send(`${url}/notes`, {
        headers: bearer(issuer.mint({}, { expired: true })),
      });
      expect(JSON.parse(expired.text)).toEqual(
        example(list, '401', 'invalid_token'),
      );
      const remove = operation(document, 'delete', '/notes/{id}');
      const noRole = await send(`${url}/notes/1`, {
        method: 'DELETE',
        headers: bearer(issuer.mint({}, { scope: 'notes.read' })),
      });
      expect(noRole.status).toBe(403);
      expect(JSON.parse(noRole.text)).toEqual(
        example(remove, '403', 'insufficient_access'),
      );
    });

    it("keeps what the app documented itself, and other schemes' requirements", () => {
      const documented = operation(document, 'get', '/open/documented');
      expect(documented.security).toEqual([
        { bearer: [] },
        { oauth2: [] },
        { apiKey: [] },
      ]);
      expect(documented.responses['401']).toEqual({
        description: 'Documented by the app.',
      });
    });

    it('leaves no trace in the document or on the handlers', () => {
      expect(JSON.stringify(document)).not.toContain('x-nestjs-bearer');
      const handler = NotesController.prototype.list;
      expect(
        Reflect.getMetadata(DECORATORS.API_EXTENSION, handler),
      ).toBeUndefined();
      const documented = OpenController.prototype.documented;
      expect(Reflect.getMetadata(DECORATORS.API_SECURITY, documented)).toEqual([
        { apiKey: [] },
      ]);
    });

    it('serves the README example at /docs and /docs-json, without a token', async () => {
      // Like every route, the docs are set up before the app starts.
      const docsApp = await createApp(
        adapter,
        issuer.authModuleOptions(),
        CONTROLLERS,
        serveDocs,
      );
      try {
        await docsApp.listen(0, '127.0.0.1');
        const base = (await docsApp.getUrl()).replace('[::1]', '127.0.0.1');
        const ui = await send(`${base}/docs`);
        expect(ui.status).toBe(200);
        expect(ui.headers['content-type']).toMatch(/^text\/html/);
        const json = await send(`${base}/docs-json`);
        expect(json.status).toBe(200);
        const served = JSON.parse(json.text) as OpenAPIObject;
        expect(served.info.title).toBe('Documents API');
        expect(
          Object.keys(served.components?.securitySchemes ?? {}).sort(),
        ).toEqual(['bearer', 'oauth2']);
        expect(operation(served, 'post', '/notes').security).toEqual([
          { bearer: [] },
          { oauth2: ['notes.write', 'notes.read'] },
        ]);
      } finally {
        await docsApp.close();
      }
    });
  },
);

describe('OpenAPI document options', () => {
  let issuer: TestIssuer;

  beforeAll(async () => {
    issuer = await createTestIssuer({ audience: 'api://notes' });
  });

  afterAll(async () => {
    await issuer?.close();
  });

  it('describes the problem format with errorFormat: "problem"', async () => {
    const app = await createApp(
      'express',
      issuer.authModuleOptions({ errorFormat: 'problem' }),
    );
    try {
      const document = createBearerDocument(app, CONFIG, {
        oauth2Flows: false,
      });
      expect(Object.keys(document.components?.securitySchemes ?? {})).toEqual([
        'bearer',
      ]);
      const list = operation(document, 'get', '/notes');
      expect(list.security).toEqual([{ bearer: [] }]);
      expect(
        (list.responses['401'] as ResponseObject).content?.[
          'application/problem+json'
        ]?.schema,
      ).toEqual({ $ref: '#/components/schemas/BearerProblem' });
      expect(
        example(list, '403', 'insufficient_scope', 'application/problem+json'),
      ).toMatchObject({
        status: 403,
        error: 'insufficient_scope',
        scope: 'notes.read',
      });
    } finally {
      await app.close();
    }
  });

  it('names the schemes and takes flows as given', async () => {
    const app = await createApp('express', issuer.authModuleOptions());
    try {
      const flows = {
        clientCredentials: {
          tokenUrl: 'https://issuer.example/token',
          scopes: {},
        },
      };
      const document = createBearerDocument(app, CONFIG, {
        bearerSchemeName: 'jwt',
        oauth2SchemeName: 'entra',
        oauth2Flows: flows,
      });
      expect(document.components?.securitySchemes?.entra).toMatchObject({
        type: 'oauth2',
        flows,
      });
      expect(operation(document, 'get', '/notes').security).toEqual([
        { jwt: [] },
        { entra: ['notes.read'] },
      ]);
    } finally {
      await app.close();
    }
  });

  it('adds the DPoP scheme when dpop is allowed, and offers it alone when it is required', async () => {
    for (const [mode, security, names] of [
      ['allowed', [{ bearer: [] }, { dpop: [] }], ['bearer', 'dpop']],
      ['required', [{ proof: [] }], ['proof']],
    ] as const) {
      const app = await createApp(
        'express',
        issuer.authModuleOptions({ dpop: { mode, nonce: true } }),
      );
      try {
        const document = createBearerDocument(app, CONFIG, {
          oauth2Flows: false,
          ...(mode === 'required' && { dpopSchemeName: 'proof' }),
        });
        const schemes = document.components?.securitySchemes ?? {};
        expect(Object.keys(schemes)).toEqual([...names]);
        expect(schemes[names[names.length - 1]]).toMatchObject({
          type: 'http',
          scheme: 'DPoP',
        });
        expect(
          (schemes[names[names.length - 1]] as { description: string })
            .description,
        ).toContain('DPoP-Nonce');
        expect(operation(document, 'get', '/notes').security).toEqual(security);
      } finally {
        await app.close();
      }
    }
  });

  it('with globalGuard: false, secures only the routes a BearerGuard covers', async () => {
    @Controller('guarded')
    @UseGuards(BearerGuard)
    class GuardedController {
      @Get()
      get(): string {
        return 'ok';
      }
    }
    @Controller('unguarded')
    class UnguardedController {
      @Get()
      get(): string {
        return 'ok';
      }
    }
    const app = await createApp(
      'express',
      issuer.authModuleOptions({ globalGuard: false }),
      [GuardedController, UnguardedController],
    );
    try {
      const document = createBearerDocument(app, CONFIG, {
        oauth2Flows: false,
      });
      expect(operation(document, 'get', '/guarded').security).toEqual([
        { bearer: [] },
      ]);
      expect(operation(document, 'get', '/unguarded').security).toBeUndefined();
      expect(
        Object.keys(operation(document, 'get', '/unguarded').responses),
      ).toEqual(['200']);
    } finally {
      await app.close();
    }
  });

  it('says which module is missing when the app has no AuthModule', async () => {
    const moduleRef = await Test.createTestingModule({
      controllers: [BReportsController],
    }).compile();
    const app = moduleRef.createNestApplication(new ExpressAdapter(), {
      logger: false,
    });
    await app.init();
    try {
      expect(() => createBearerDocument(app, CONFIG)).toThrow(
        /does not import AuthModule/,
      );
    } finally {
      await app.close();
    }
  });
});

describe('the openapi entry point', () => {
  const run = (code: string) =>
    spawnSync(process.execPath, ['--input-type=module', '-e', code], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 20_000,
    });

  it('loads by name, and the main entry never loads @nestjs/swagger', () => {
    const result = run(`
      import { registerHooks } from 'node:module';
      registerHooks({
        resolve(specifier, context, next) {
          if (specifier.startsWith('@nestjs/swagger')) throw new Error('@nestjs/swagger was loaded');
          return next(specifier, context);
        },
      });
      const main = await import('nestjs-bearer');
      if (typeof main.AuthModule !== 'function') throw new Error('no AuthModule');
      console.log('main ok');
    `);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('main ok\n');
    const openapi = run(`
      const openapi = await import('nestjs-bearer/openapi');
      console.log(Object.keys(openapi).sort().join(' '));
    `);
    expect(openapi.stderr).toBe('');
    expect(openapi.stdout).toBe(
      'ERROR_SCHEMA_NAME PROBLEM_SCHEMA_NAME createBearerDocument loadBearerDocument\n',
    );
  });
});

describe.each<Adapter>(['express', 'fastify'])(
  'the sample app serves its OpenAPI document (%s)',
  (adapter) => {
    let app: SampleAppProcess;
    let document: OpenAPIObject;

    beforeAll(async () => {
      app = await SampleAppProcess.start({ HTTP_ADAPTER: adapter });
      const response = await send(`${app.url}/docs-json`);
      expect(response.status).toBe(200);
      document = JSON.parse(response.text) as OpenAPIObject;
    });

    afterAll(async () => {
      await app?.stop();
    });

    it('serves Swagger UI at /docs without a token', async () => {
      const ui = await send(`${app.url}/docs`);
      expect(ui.status).toBe(200);
      expect(ui.text).toContain('swagger-ui');
      const script = await send(`${app.url}/docs/swagger-ui-bundle.js`);
      expect(script.status).toBe(200);
    });

    it('declares the bearer scheme; oauth2 is off for the development issuer', () => {
      expect(document.openapi).toBe('3.1.0');
      expect(document.components?.securitySchemes).toEqual({
        bearer: expect.objectContaining({
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
        }) as object,
      });
    });

    it('lists the scopes of each operation, and no security on public routes', () => {
      expect(operation(document, 'get', '/documents').security).toEqual([
        { bearer: ['documents.read'] },
      ]);
      expect(operation(document, 'post', '/documents').security).toEqual([
        { bearer: ['documents.write'] },
      ]);
      expect(operation(document, 'get', '/admin').security).toEqual([
        { bearer: [] },
      ]);
      expect(operation(document, 'get', '/me').security).toEqual([
        { bearer: [] },
      ]);
      for (const path of ['/health', '/.well-known/jwks.json']) {
        expect(operation(document, 'get', path).security).toBeUndefined();
        expect(
          Object.keys(operation(document, 'get', path).responses),
        ).not.toContain('401');
      }
      expect(
        operation(document, 'post', '/dev/token').security,
      ).toBeUndefined();
    });

    it('documents the refusals with the body the app sends', async () => {
      const list = operation(document, 'get', '/documents');
      expect(Object.keys(list.responses).sort()).toEqual([
        '200',
        '400',
        '401',
        '403',
      ]);
      expect(
        Object.keys(operation(document, 'get', '/me').responses),
      ).not.toContain('403');
      const refused = await send(`${app.url}/documents`);
      expect(refused.status).toBe(401);
      expect(JSON.parse(refused.text)).toEqual(
        example(list, '401', 'missing_token'),
      );
      const schema = document.components?.schemas?.BearerErrorResponse as {
        required: string[];
      };
      expect(Object.keys(JSON.parse(refused.text) as object).sort()).toEqual(
        [...schema.required].sort(),
      );
    });
  },
);
