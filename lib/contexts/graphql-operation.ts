/**
 * What a resolver call is part of: the field, its place in the operation, and whether it
 * is the operation's only root field. Read from graphql-js's resolve info without
 * importing `graphql`, which stays an optional peer.
 */
import type { ArgumentsHost } from '@nestjs/common';

/** A value node of an argument: a literal or a variable. */
interface ValueNode {
  readonly kind: string;
  readonly value?: unknown;
  readonly name?: { readonly value: string };
}

/** A directive on a selection, such as `@skip(if: $flag)`. */
interface DirectiveNode {
  readonly name: { readonly value: string };
  readonly arguments?: readonly {
    readonly name: { readonly value: string };
    readonly value: ValueNode;
  }[];
}

/** A field, an inline fragment or a fragment spread. */
interface SelectionNode {
  readonly kind: string;
  readonly name?: { readonly value: string };
  readonly alias?: { readonly value: string };
  readonly directives?: readonly DirectiveNode[];
  readonly selectionSet?: SelectionSet;
}

interface SelectionSet {
  readonly selections: readonly SelectionNode[];
}

/** The response path of a field: its key, and the path of its parent. */
export interface ResponsePath {
  readonly prev: ResponsePath | undefined;
  readonly key: string | number;
}

/** The parts of graphql-js's `GraphQLResolveInfo` this module reads. */
export interface ResolveInfo {
  readonly path: ResponsePath;
  readonly fieldNodes: readonly unknown[];
  readonly operation: { readonly selectionSet: SelectionSet };
  readonly fragments: Readonly<
    Record<string, { readonly selectionSet: SelectionSet } | undefined>
  >;
  readonly variableValues: Readonly<Record<string, unknown>>;
}

/** The resolve info of a GraphQL resolver call (its fourth argument), if it has one. */
export function resolveInfoOf(host: ArgumentsHost): ResolveInfo | undefined {
  const info: unknown = host.getArgByIndex(3);
  if (typeof info !== 'object' || info === null) return undefined;
  const { path, operation, fieldNodes } = info as Partial<ResolveInfo>;
  if (
    typeof path !== 'object' ||
    path === null ||
    typeof operation !== 'object' ||
    operation === null ||
    !Array.isArray(fieldNodes)
  ) {
    return undefined;
  }
  return info as ResolveInfo;
}

/** The response path as a list of keys, `['documents', 0, 'title']`. */
export function pathToList(path: ResponsePath): (string | number)[] {
  const keys: (string | number)[] = [];
  for (let at: ResponsePath | undefined = path; at; at = at.prev) {
    keys.unshift(at.key);
  }
  return keys;
}

/** The literal or variable value of a directive's `if` argument. */
function conditionOf(
  directive: DirectiveNode,
  variables: Readonly<Record<string, unknown>>,
): unknown {
  const value = directive.arguments?.find((a) => a.name.value === 'if')?.value;
  if (value === undefined) return undefined;
  if (value.kind === 'Variable' && value.name !== undefined) {
    return variables[value.name.value];
  }
  return value.value;
}

/** Whether `@skip` and `@include` keep a selection (GraphQL spec section 3.13). */
function isIncluded(
  selection: SelectionNode,
  variables: Readonly<Record<string, unknown>>,
): boolean {
  for (const directive of selection.directives ?? []) {
    const condition = conditionOf(directive, variables);
    if (directive.name.value === 'skip' && condition === true) return false;
    if (directive.name.value === 'include' && condition === false) return false;
  }
  return true;
}

/**
 * Adds the response keys of a selection set to `keys`, through fragments, and stops as
 * soon as there are two.
 */
function collectKeys(
  selectionSet: SelectionSet,
  info: ResolveInfo,
  keys: Set<string>,
  spread: Set<string>,
): void {
  for (const selection of selectionSet.selections) {
    if (keys.size > 1) return;
    if (!isIncluded(selection, info.variableValues)) continue;
    if (selection.kind === 'Field') {
      const key = selection.alias?.value ?? selection.name?.value;
      if (key !== undefined) keys.add(key);
    } else if (selection.kind === 'InlineFragment' && selection.selectionSet) {
      collectKeys(selection.selectionSet, info, keys, spread);
    } else if (selection.kind === 'FragmentSpread' && selection.name) {
      const name = selection.name.value;
      const fragment = info.fragments[name];
      if (spread.has(name) || fragment === undefined) continue;
      spread.add(name);
      collectKeys(fragment.selectionSet, info, keys, spread);
    }
  }
}

/**
 * Whether this call resolves the only root field of its operation: then the HTTP
 * response is about this field alone, and may carry its status and challenge. A nested
 * field, an operation with several root fields, or one operation of a batch never does.
 */
export function isSoleRootField(host: ArgumentsHost): boolean {
  const info = resolveInfoOf(host);
  if (info === undefined || info.path.prev !== undefined) return false;
  const context: unknown = host.getArgByIndex(2);
  const body = (context as { req?: { body?: unknown } } | null | undefined)?.req
    ?.body;
  // A batch (an array of operations) shares one HTTP response.
  if (Array.isArray(body)) return false;
  const keys = new Set<string>();
  collectKeys(info.operation.selectionSet, info, keys, new Set());
  return keys.size === 1;
}
