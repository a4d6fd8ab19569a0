import type { ArgumentsHost } from '@nestjs/common';
import { buildSchema, execute, parse, type GraphQLResolveInfo } from 'graphql';
import { isSoleRootField, pathToList } from './graphql-operation.js';

const schema = buildSchema(`
  type Doc { id: ID, title: String }
  type Query { health: String, documents: [Doc], doc: Doc }
`);

interface Seen {
  field: string;
  sole: boolean;
  path: (string | number)[];
}

/** Runs an operation with graphql-js and reports, per resolver call, what the module reads. */
async function run(
  source: string,
  variableValues: Record<string, unknown> = {},
  context: object = { req: { body: {} } },
): Promise<Seen[]> {
  const seen: Seen[] = [];
  const observe = (
    field: string,
    args: unknown,
    info: GraphQLResolveInfo,
  ): void => {
    const callArgs = [undefined, args, context, info];
    const host = {
      getArgByIndex: (index: number) => callArgs[index],
    } as unknown as ArgumentsHost;
    seen.push({
      field,
      sole: isSoleRootField(host),
      path: pathToList(info.path),
    });
  };
  const rootValue = {
    health: (a: unknown, _c: unknown, info: GraphQLResolveInfo) => {
      observe('health', a, info);
      return 'ok';
    },
    documents: (a: unknown, _c: unknown, info: GraphQLResolveInfo) => {
      observe('documents', a, info);
      return [{ id: '1', title: 't' }];
    },
    doc: (a: unknown, _c: unknown, info: GraphQLResolveInfo) => {
      observe('doc', a, info);
      return {
        id: '1',
        title: (b: unknown, _d: unknown, nested: GraphQLResolveInfo) => {
          observe('title', b, nested);
          return 't';
        },
      };
    },
  };
  const result = await execute({
    schema,
    document: parse(source),
    rootValue,
    contextValue: context,
    variableValues,
  });
  expect(result.errors).toBeUndefined();
  return seen;
}

describe('isSoleRootField', () => {
  it('is true for the only root field', async () => {
    expect(await run('{ documents { id } }')).toEqual([
      { field: 'documents', sole: true, path: ['documents'] },
    ]);
  });

  it('is false for each of two root fields', async () => {
    const seen = await run('{ health documents { id } }');
    expect(seen.map((s) => s.sole)).toEqual([false, false]);
  });

  it('counts response keys: one field under two aliases is two', async () => {
    const seen = await run('{ a: documents { id } b: documents { id } }');
    expect(seen.map((s) => [s.path, s.sole])).toEqual([
      [['a'], false],
      [['b'], false],
    ]);
  });

  it('counts one field selected twice under one key once', async () => {
    const seen = await run('{ documents { id } documents { title } }');
    expect(seen).toEqual([
      { field: 'documents', sole: true, path: ['documents'] },
    ]);
  });

  it('looks through fragment spreads and inline fragments', async () => {
    expect(
      (await run('{ ...F } fragment F on Query { documents { id } }'))[0].sole,
    ).toBe(true);
    expect(
      (
        await run(
          '{ ... on Query { documents { id } } ...F } fragment F on Query { health }',
        )
      ).map((s) => s.sole),
    ).toEqual([false, false]);
  });

  it('applies @skip and @include, with literals and variables', async () => {
    const query =
      'query ($on: Boolean!) { health @include(if: $on) documents { id } }';
    expect((await run(query, { on: false })).map((s) => s.sole)).toEqual([
      true,
    ]);
    expect((await run(query, { on: true })).map((s) => s.sole)).toEqual([
      false,
      false,
    ]);
    expect(
      (await run('{ health @skip(if: true) documents { id } }'))[0].sole,
    ).toBe(true);
  });

  it('is false for a nested field, even of the only root field', async () => {
    const seen = await run('{ doc { title } }');
    expect(seen).toEqual([
      { field: 'doc', sole: true, path: ['doc'] },
      { field: 'title', sole: false, path: ['doc', 'title'] },
    ]);
  });

  it('is false for an operation of a batch', async () => {
    const seen = await run('{ documents { id } }', {}, { req: { body: [] } });
    expect(seen[0].sole).toBe(false);
  });

  it('is false without resolve info', () => {
    const host = {
      getArgByIndex: () => undefined,
    } as unknown as ArgumentsHost;
    expect(isSoleRootField(host)).toBe(false);
  });
});
