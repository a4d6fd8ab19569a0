import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import {
  createBearerDocument,
  loadBearerDocument,
  type BearerDocumentOptions,
} from '../lib/openapi/index.js';
import type { AppConfig } from './config.js';

/** Where Swagger UI is served (`GET /docs`). */
export const DOCS_PATH = 'docs';

/** Where the OpenAPI document is served (`GET /docs-json`). */
export const DOCS_JSON_PATH = 'docs-json';

/** Descriptions of the sample's scopes, shown by Swagger UI. */
const SCOPE_DESCRIPTIONS = {
  'documents.read': 'Read your documents.',
  'documents.write': 'Write documents.',
};

/**
 * Serves Swagger UI at `/docs` and the OpenAPI document at `/docs-json`, with the
 * module's security schemes and each route's scopes and refusals. Both routes are served
 * by the HTTP adapter itself, outside every guard, so they are public.
 */
export function setupDocs(app: INestApplication, appConfig: AppConfig): void {
  const development = appConfig.mode === 'development';
  const config = new DocumentBuilder()
    .setTitle('nestjs-bearer sample app')
    .setDescription(
      development
        ? 'Documents behind bearer tokens. Get a token from `POST /dev/token`, then paste it under **Authorize**.'
        : `Documents behind bearer tokens from ${appConfig.issuer}.`,
    )
    .setVersion('1.0.0')
    // 3.1 lets the `bearer` requirement list the route's scopes too (3.0 keeps them for oauth2).
    .setOpenAPIVersion('3.1.0')
    .build();
  const options: BearerDocumentOptions = {
    scopeDescriptions: SCOPE_DESCRIPTIONS,
    // The development issuer's `POST /dev/token` takes JSON, not an OAuth 2.0 token
    // request, so Swagger UI's oauth2 forms could not use it; a real issuer's can.
    oauth2Flows: development ? false : 'discovery',
  };
  SwaggerModule.setup(
    DOCS_PATH,
    app,
    () => createBearerDocument(app, config, options),
    {
      jsonDocumentUrl: DOCS_JSON_PATH,
      raw: ['json'],
      // Built per request: the issuer's discovery document (the oauth2 URLs) is read only
      // once the app listens, which may be after the first request for the document.
      patchDocumentOnRequest: () => loadBearerDocument(app, config, options),
    },
  );
}
