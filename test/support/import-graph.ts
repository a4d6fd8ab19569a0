import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** The import graph of a compiled entry: every file it reaches and every bare specifier. */
export interface ImportGraph {
  /** The compiled files visited, the entry included. */
  readonly files: ReadonlySet<string>;
  /** Every bare specifier imported, statically or dynamically, transitively. */
  readonly external: ReadonlySet<string>;
}

/** Walks the relative imports of a compiled ES module (`entry` resolved against `root`). */
export function readImportGraph(root: string, entry: string): ImportGraph {
  const files = new Set<string>();
  const external = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    const source = readFileSync(file, 'utf8');
    for (const [, specifier] of source.matchAll(
      /(?:from|import)\s*\(?\s*'([^']+)'/g,
    )) {
      if (specifier === undefined) continue;
      if (specifier.startsWith('.')) visit(join(dirname(file), specifier));
      else external.add(specifier);
    }
  };
  visit(join(root, entry));
  return { files, external };
}
