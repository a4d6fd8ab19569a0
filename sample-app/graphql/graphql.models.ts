import { Field, ID, ObjectType } from '@nestjs/graphql';

/** A document, as `query { documents }` and `mutation { createDocument }` answer it. */
@ObjectType('Document')
export class DocumentModel {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  title!: string;

  /** The `sub` of the token that created it; `null` for the welcome document. */
  @Field(() => String, { nullable: true })
  owner!: string | null;
}

/** The caller, as `query { me }` answers it. */
@ObjectType('Me')
export class MeModel {
  /** The token's `sub`; `null` when it carries none. */
  @Field(() => String, { nullable: true })
  sub!: string | null;

  @Field(() => [String])
  scopes!: readonly string[];

  @Field(() => [String])
  roles!: readonly string[];
}

/** What `query { admin }` answers. */
@ObjectType('Admin')
export class AdminModel {
  @Field(() => String)
  message!: string;

  @Field(() => String, { nullable: true })
  sub!: string | null;

  @Field(() => [String])
  roles!: readonly string[];
}
