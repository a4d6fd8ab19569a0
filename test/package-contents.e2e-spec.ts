/**
 * What `npm pack` ships, from the compiled tree the suite builds: the library's code,
 * declarations and source maps that carry their sources, and nothing else. The scripts
 * `npm run check:package` (publint, attw) and `npm run check:install` (the tarball in NestJS
 * 12 and 11 apps) go further, and `.ci/run` runs both.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  exports: Record<string, { types: string; default: string } | string>;
};

/** The files `npm pack` would put in the tarball, without building (no lifecycle scripts). */
function packedFiles(): string[] {
  const out = execFileSync(
    'npm',
    ['pack', '--dry-run', '--json', '--ignore-scripts'],
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const [report] = JSON.parse(out) as { files: { path: string }[] }[];
  return report.files.map((file) => file.path);
}

describe('the package tarball', () => {
  let files: string[];

  beforeAll(() => {
    files = packedFiles();
  });

  it('is built by prepack (npm pack, npm publish) and by prepare (git installs)', () => {
    expect(pkg.scripts.prepack).toBe('npm run build:package');
    expect(pkg.scripts.prepare).toBe(
      'node scripts/build-package.mjs --if-stale',
    );
  });

  it('ships every file the exports map names', () => {
    for (const entry of Object.values(pkg.exports)) {
      const targets =
        typeof entry === 'string' ? [entry] : [entry.types, entry.default];
      for (const target of targets) {
        expect(files).toContain(target.replace(/^\.\//, ''));
      }
    }
  });

  it('ships code, declarations and a source map for every module, and no tests or sources', () => {
    const code = files.filter((path) => path.endsWith('.js'));
    expect(code.length).toBeGreaterThan(20);
    for (const path of code) {
      expect(files).toContain(`${path}.map`);
      expect(files).toContain(path.replace(/\.js$/, '.d.ts'));
    }
    const unexpected = files.filter(
      (path) =>
        !/^dist\/lib\/.+\.(js|js\.map|d\.ts)$/.test(path) &&
        !['package.json', 'README.md', 'LICENSE'].includes(path),
    );
    expect(unexpected).toEqual([]);
    expect(files.filter((path) => /\.spec\./.test(path))).toEqual([]);
  });

  it('has source maps that carry their sources', () => {
    const map = JSON.parse(
      readFileSync(join(root, 'dist/lib/testing/test-issuer.js.map'), 'utf8'),
    ) as { sources: string[]; sourcesContent?: string[] };
    expect(map.sources).toEqual(['../../../lib/testing/test-issuer.ts']);
    expect(map.sourcesContent?.[0]).toBe(
      readFileSync(join(root, 'lib/testing/test-issuer.ts'), 'utf8'),
    );
  });
});
