import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';

/** A stored document. */
export interface StoredDocument {
  readonly id: string;
  /** The `sub` of the token that created it; `null` only for the welcome document. */
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

/** The most documents kept per subject; that subject's oldest goes first. */
export const MAX_DOCUMENTS_PER_SUBJECT = 100;

/**
 * The most subjects with documents; past it, the subject that wrote least recently loses
 * its documents. With {@link MAX_DOCUMENTS_PER_SUBJECT}, the sample's memory stays bounded.
 */
export const MAX_SUBJECTS = 100;

/** The document every caller with `documents.read` sees at first. */
export const WELCOME_DOCUMENT: NewDocument = {
  title: 'Welcome',
  content:
    'Every token with documents.read can read this one. POST /documents adds documents only you can read.',
};

function makeDocument(
  owner: string | null,
  input: NewDocument,
): StoredDocument {
  return Object.freeze({
    id: randomUUID(),
    owner,
    title: input.title,
    content: input.content,
    createdAt: new Date().toISOString(),
  });
}

/**
 * An in-memory document store: a stand-in for a database in the sample app.
 *
 * Bounds are per subject, never global: a subject that posts without end only ever evicts
 * its own documents.
 */
@Injectable()
export class DocumentsStore {
  private readonly welcome = makeDocument(null, WELCOME_DOCUMENT);
  /** Documents by owner, each oldest first; owners in the order they last wrote. */
  private readonly bySubject = new Map<string, Map<string, StoredDocument>>();
  private readonly byId = new Map<string, StoredDocument>();

  constructor() {
    this.byId.set(this.welcome.id, this.welcome);
  }

  /** Stores a new document owned by `owner`, the `sub` of the caller's token. */
  create(owner: string, input: NewDocument): StoredDocument {
    const document = makeDocument(owner, input);
    const own = this.bySubject.get(owner) ?? new Map<string, StoredDocument>();
    // Re-inserted, so the owner that wrote last is last in line for eviction.
    this.bySubject.delete(owner);
    this.bySubject.set(owner, own);
    own.set(document.id, document);
    this.byId.set(document.id, document);
    if (own.size > MAX_DOCUMENTS_PER_SUBJECT) {
      const oldest = own.keys().next().value;
      if (oldest !== undefined) {
        own.delete(oldest);
        this.byId.delete(oldest);
      }
    }
    if (this.bySubject.size > MAX_SUBJECTS) {
      const [idlest, documents] = this.bySubject.entries().next().value ?? [];
      if (idlest !== undefined && documents !== undefined) {
        this.bySubject.delete(idlest);
        for (const id of documents.keys()) this.byId.delete(id);
      }
    }
    return document;
  }

  /** The document with this id, if any. */
  find(id: string): StoredDocument | undefined {
    return this.byId.get(id);
  }

  /** The documents `owner` may read: the welcome document and its own, oldest first. */
  listReadableBy(owner: string | undefined): StoredDocument[] {
    const own = owner === undefined ? undefined : this.bySubject.get(owner);
    return [this.welcome, ...(own?.values() ?? [])];
  }

  /** How many documents `owner` has. */
  countOwnedBy(owner: string): number {
    return this.bySubject.get(owner)?.size ?? 0;
  }
}
