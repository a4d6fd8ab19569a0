import { UseFilters, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { Args, Mutation, Query, Resolver } from '@nestjs/graphql';
import {
  InsufficientAccessError,
  Principal,
  Scopes,
  type BearerPrincipal,
} from '../../lib/index.js';
import { NO_SUBJECT_DESCRIPTION } from '../documents.controller.js';
import { DocumentsStore, type StoredDocument } from '../documents.store.js';
import {
  badUserInput,
  GraphqlExceptionFilter,
} from './graphql-exception.filter.js';
import { DocumentModel } from './graphql.models.js';

/** The same bound as `POST /documents`. */
const MAX_TITLE_LENGTH = 200;

function toModel(document: StoredDocument): DocumentModel {
  return { id: document.id, title: document.title, owner: document.owner };
}

/** Documents over GraphQL, with the scopes of the REST routes and the same store. */
@UseFilters(GraphqlExceptionFilter)
@Resolver(() => DocumentModel)
export class DocumentsResolver implements OnModuleInit {
  private store!: DocumentsStore;

  constructor(private readonly moduleRef: ModuleRef) {}

  /** The app's one store, so REST and GraphQL see the same documents. */
  onModuleInit(): void {
    this.store = this.moduleRef.get(DocumentsStore, { strict: false });
  }

  /** `query { documents }` (scope `documents.read`): the caller's and the ownerless ones. */
  @Scopes('documents.read')
  @Query(() => [DocumentModel], {
    nullable: true,
    description: 'Needs scope documents.read.',
  })
  documents(@Principal() principal: BearerPrincipal): DocumentModel[] {
    return this.store.listReadableBy(principal.sub).map(toModel);
  }

  /**
   * `mutation { createDocument(title) }` (scope `documents.write`). A token without `sub`
   * is 403 `insufficient_access`, as on `POST /documents`.
   */
  @Scopes('documents.write')
  @Mutation(() => DocumentModel, {
    nullable: true,
    description: 'Needs scope documents.write.',
  })
  createDocument(
    @Principal() principal: BearerPrincipal,
    @Args('title', { type: () => String }) title: string,
  ): DocumentModel {
    if (principal.sub === undefined || principal.sub === '') {
      throw new InsufficientAccessError(NO_SUBJECT_DESCRIPTION);
    }
    if (title.length > MAX_TITLE_LENGTH) {
      throw badUserInput(
        `title must be at most ${MAX_TITLE_LENGTH} characters long.`,
      );
    }
    return toModel(this.store.create(principal.sub, { title, content: '' }));
  }
}
