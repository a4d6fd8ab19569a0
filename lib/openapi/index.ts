/**
 * `nestjs-bearer/openapi`: the module's security in an `@nestjs/swagger` document. It is
 * its own entry point because `@nestjs/swagger` is an optional peer dependency that only
 * an app serving OpenAPI installs; the main entry never loads it.
 */
export { createBearerDocument, loadBearerDocument } from './bearer-document.js';
export type { BearerDocumentOptions } from './bearer-document.js';
export { ERROR_SCHEMA_NAME, PROBLEM_SCHEMA_NAME } from './error-responses.js';
export type { BearerSchemeOptions } from './security-schemes.js';
