import { Body, Controller, Get, Param, Post } from '@nestjs/common';
import {
  InsufficientAccessError,
  Principal,
  Scopes,
  type BearerPrincipal,
} from '../lib/index.js';
import { ClientError } from './app-exception.filter.js';
import {
  DocumentsStore,
  type NewDocument,
  type StoredDocument,
} from './documents.store.js';

const MAX_TITLE_LENGTH = 200;
const MAX_CONTENT_LENGTH = 10_000;

/** Why a token without `sub` cannot write: the document would have no owner. */
export const NO_SUBJECT_DESCRIPTION =
  'Documents can be written only with an access token that names its subject (sub).';

function badRequest(message: string): ClientError {
  return new ClientError(400, message);
}

function readText(
  fields: Record<string, unknown>,
  name: string,
  fallback: string,
  maxLength: number,
): string {
  if (!Object.hasOwn(fields, name)) return fallback;
  const value = fields[name];
  if (typeof value !== 'string') throw badRequest(`${name} must be a string.`);
  if (value.length > maxLength) {
    throw badRequest(`${name} must be at most ${maxLength} characters long.`);
  }
  return value;
}

/**
 * Reads a new document from a JSON or form body. Only known fields are copied, so a
 * form-body `access_token` (RFC 6750 section 2.2) can never end up stored.
 */
function readNewDocument(body: unknown): NewDocument {
  if (body === undefined || body === null) {
    return { title: 'Untitled', content: '' };
  }
  if (typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('The body must be a JSON object or a form.');
  }
  const fields = body as Record<string, unknown>;
  return {
    title: readText(fields, 'title', 'Untitled', MAX_TITLE_LENGTH),
    content: readText(fields, 'content', '', MAX_CONTENT_LENGTH),
  };
}

/** Documents: scopes per route, plus an ownership rule checked by the app itself. */
@Controller('documents')
export class DocumentsController {
  constructor(private readonly store: DocumentsStore) {}

  /** `GET /documents` (scope `documents.read`): the caller's documents and the ownerless ones. */
  @Scopes('documents.read')
  @Get()
  list(@Principal() principal: BearerPrincipal): StoredDocument[] {
    return this.store.listReadableBy(principal.sub);
  }

  /**
   * `POST /documents` (scope `documents.write`): `201` with the stored document. A token
   * without `sub` is 403 `insufficient_access`: its document would belong to nobody, and
   * so be readable by everyone.
   */
  @Scopes('documents.write')
  @Post()
  create(
    @Principal() principal: BearerPrincipal,
    @Body() body: unknown,
  ): StoredDocument {
    if (principal.sub === undefined || principal.sub === '') {
      throw new InsufficientAccessError(NO_SUBJECT_DESCRIPTION);
    }
    return this.store.create(principal.sub, readNewDocument(body));
  }

  /**
   * `GET /documents/:id` (scope `documents.read`). Another subject's document is
   * 403 `insufficient_access`: the scope allows reading documents, not everyone's.
   */
  @Scopes('documents.read')
  @Get(':id')
  findOne(
    @Principal() principal: BearerPrincipal,
    @Param('id') id: string,
  ): StoredDocument {
    const document = this.store.find(id);
    if (document === undefined) {
      throw new ClientError(404, 'No such document.');
    }
    if (document.owner !== null && document.owner !== principal.sub) {
      throw new InsufficientAccessError(
        'The document belongs to another subject.',
      );
    }
    return document;
  }
}
