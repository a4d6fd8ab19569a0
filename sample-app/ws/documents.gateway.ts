import { SubscribeMessage, WebSocketGateway } from '@nestjs/websockets';
import type { WsResponse } from '@nestjs/websockets';
import { Principal, Scopes, type BearerPrincipal } from '../../lib/index.js';
import { DocumentsStore, type StoredDocument } from '../documents.store.js';

/**
 * `ws://HOST:PORT/ws`, served by `BearerWsAdapter`: the upgrade request carries the token
 * (`Authorization: Bearer ...`), and each message is authorized by its own decorators.
 */
@WebSocketGateway({ path: '/ws' })
export class DocumentsGateway {
  constructor(private readonly store: DocumentsStore) {}

  /**
   * `{"event":"documents"}` (scope `documents.read`):
   * `{"event":"documents","data":[...]}`, the documents the caller may read, as
   * `GET /documents` lists them.
   */
  @Scopes('documents.read')
  @SubscribeMessage('documents')
  list(@Principal() caller: BearerPrincipal): WsResponse<StoredDocument[]> {
    return { event: 'documents', data: this.store.listReadableBy(caller.sub) };
  }
}
