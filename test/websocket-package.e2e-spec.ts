/**
 * `nestjs-bearer/ws` as users load it: its own entry in the `exports` map, so that the main
 * entry never loads `@nestjs/platform-ws`, which only apps with `ws` gateways install.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readImportGraph } from './support/import-graph.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** A resolve hook that makes `@nestjs/platform-ws` look uninstalled. */
const WITHOUT_PLATFORM_WS = `data:text/javascript,${encodeURIComponent(
  "import { registerHooks } from 'node:module';" +
    'registerHooks({ resolve(specifier, context, next) {' +
    "  if (specifier === '@nestjs/platform-ws' || specifier.startsWith('@nestjs/platform-ws/')) {" +
    "    throw Object.assign(new Error('Cannot find package ' + specifier), { code: 'ERR_MODULE_NOT_FOUND' });" +
    '  }' +
    '  return next(specifier, context);' +
    '} });',
)}`;

/** Runs an ES module snippet from the package root, with extra Node flags. */
function runModule(source: string, flags: string[] = []): string {
  return execFileSync(
    process.execPath,
    [...flags, '--input-type=module', '-e', source],
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
  ).trim();
}

/** Every bare specifier the compiled file imports, statically or dynamically, transitively. */
function externalImports(entry: string): ReadonlySet<string> {
  return readImportGraph(root, entry).external;
}

describe('nestjs-bearer/ws', () => {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
    exports: Record<string, unknown>;
  };

  it('is in the exports map with its types', () => {
    expect(pkg.exports['./ws']).toEqual({
      types: './dist/lib/contexts/ws-adapter.d.ts',
      default: './dist/lib/contexts/ws-adapter.js',
    });
  });

  it('loads by name, and BearerWsAdapter extends the WsAdapter of @nestjs/platform-ws', () => {
    const out = runModule(
      "const { BearerWsAdapter } = await import('nestjs-bearer/ws'); const { WsAdapter } = await import('@nestjs/platform-ws'); console.log(typeof BearerWsAdapter, BearerWsAdapter.prototype instanceof WsAdapter)",
    );
    expect(out).toBe('function true');
  });

  it('is the only entry whose import graph reaches @nestjs/platform-ws or ws', () => {
    for (const entry of [
      'dist/lib/index.js',
      'dist/lib/client/index.js',
      'dist/lib/testing/index.js',
    ]) {
      const names = [...externalImports(entry)];
      expect(
        names.filter((name) => /^(@nestjs\/platform-ws|ws)(\/|$)/.test(name)),
      ).toEqual([]);
    }
    expect([...externalImports('dist/lib/contexts/ws-adapter.js')]).toContain(
      '@nestjs/platform-ws',
    );
  });

  it('leaves "nestjs-bearer" loadable in an app without @nestjs/platform-ws', () => {
    const flags = ['--import', WITHOUT_PLATFORM_WS];
    expect(
      runModule(
        "const m = await import('nestjs-bearer'); console.log(typeof m.AuthModule)",
        flags,
      ),
    ).toBe('function');
    expect(() => runModule("await import('nestjs-bearer/ws')", flags)).toThrow(
      /Cannot find package @nestjs\/platform-ws/,
    );
  });
});
