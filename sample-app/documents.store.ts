import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';

/** A stored document. */
export interface StoredDocument {
  readonly id: string;
  /** The `sub` of the token that created it; `null` when that token carried none. */
  readonly owner: string | null;
  readonly title: string;
  readonly content: string;
  readonly createdAt: string;
}

/** What a client may set on a new document. */
export interface NewDocument {
  readonly title: string;
  readonly content: string;
}

/** The most documents kept; the oldest go first, so the sample's memory stays bounded. */
export const MAX_DOCUMENTS = 1000;

/** The document every caller with `documents.read` sees at first. */
export const WELCOME_DOCUMENT: NewDocument = {
  title: 'Welcome',
  content:
    'Every token with documents.read can read this one. POST /documents adds documents only you can read.',
};

/** An in-memory document store: a stand-in for a database in the sample app. */
@Injectable()
export class DocumentsStore {
  private readonly documents = new Map<string, StoredDocument>();

  constructor() {
    this.create(null, WELCOME_DOCUMENT);
  }

  /** Stores a new document owned by `owner`. */
  create(owner: string | null, input: NewDocument): StoredDocument {
    const document: StoredDocument = Object.freeze({
      id: randomUUID(),
      owner,
      title: input.title,
      content: input.content,
      createdAt: new Date().toISOString(),
    });
    this.documents.set(document.id, document);
    if (this.documents.size > MAX_DOCUMENTS) {
      const oldest = this.documents.keys().next().value;
      if (oldest !== undefined) this.documents.delete(oldest);
    }
    return document;
  }

  /** The document with this id, if any. */
  find(id: string): StoredDocument | undefined {
    return this.documents.get(id);
  }

  /** The documents `owner` may read: its own and the ownerless ones, oldest first. */
  listReadableBy(owner: string | null): StoredDocument[] {
    return [...this.documents.values()].filter(
      (document) => document.owner === null || document.owner === owner,
    );
  }
}
