import { Controller, Get } from '@nestjs/common';
import { OptionalAuth, Principal, type BearerPrincipal } from '../lib/index.js';
import { DocumentsStore, type StoredDocument } from './documents.store.js';

/** What `GET /feed` answers. */
export interface FeedResponse {
  /** The caller's `sub`; `null` without credentials (or a token without `sub`). */
  sub: string | null;
  /** The documents the caller may read: the shared ones, plus the caller's own. */
  documents: StoredDocument[];
}

/** A feed for everyone, personal for a caller with a token (`@OptionalAuth()`). */
@Controller('feed')
export class FeedController {
  constructor(private readonly store: DocumentsStore) {}

  /**
   * `GET /feed`: no credentials → the shared documents, `sub: null`; a valid token → the
   * caller's too; an invalid token → the same 401 as any route.
   */
  @OptionalAuth()
  @Get()
  feed(@Principal() caller: BearerPrincipal | undefined): FeedResponse {
    const sub = caller?.sub ?? null;
    return { sub, documents: this.store.listReadableBy(caller?.sub) };
  }
}
