#!/usr/bin/env node
/**
 * `npm run check:package`: packs the library once (`prepack` builds it) and lints the
 * tarball itself, as the registry would get it:
 *
 * - publint (strict: warnings fail too): `exports`, `files`, `main`, `types` and the
 *   module format of every file they name;
 * - Are the Types Wrong (`attw --profile esm-only`): the types of `.`, `./client` and
 *   `./testing` under the `node16` (ESM) and `bundler` resolutions. The package is
 *   ES-module only, so CommonJS type resolution is not one of its promises; `require()`
 *   of it on Node 20.19+ is proven by `npm run check:install` instead.
 *
 * It also checks that the tarball ships compiled code, declarations and source maps with
 * their sources, and no tests.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(join(tmpdir(), 'nestjs-bearer-package-'));

/** Runs a command with its output shown; returns whether it succeeded. */
function step(command, args, options = {}) {
  const { status, error } = spawnSync(command, args, {
    cwd: root,
    stdio: 'inherit',
    ...options,
  });
  if (error) throw error;
  return status === 0;
}

function fail(message) {
  process.stderr.write(`check-package: ${message}\n`);
  process.exitCode = 1;
}

try {
  const packed = spawnSync(
    'npm',
    ['pack', '--json', '--pack-destination', work],
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  if (packed.status !== 0) {
    throw new Error(`npm pack failed:\n${packed.stdout}`);
  }
  // The JSON report follows whatever prepack printed.
  const report = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('[')))[0];
  const tarball = join(
    work,
    readdirSync(work).find((name) => name.endsWith('.tgz')),
  );
  const files = report.files.map((file) => file.path);

  const missing = [
    'dist/lib/index.js',
    'dist/lib/index.d.ts',
    'dist/lib/index.js.map',
    'dist/lib/client/index.js',
    'dist/lib/testing/index.js',
    'dist/lib/testing/index.d.ts',
  ].filter((path) => !files.includes(path));
  if (missing.length > 0) fail(`the tarball lacks ${missing.join(', ')}`);
  const unwanted = files.filter(
    (path) =>
      /\.spec\./.test(path) ||
      /^(lib|test|sample-app|dist\/sample-app)\//.test(path),
  );
  if (unwanted.length > 0) fail(`the tarball ships ${unwanted.join(', ')}`);
  const js = files.filter((path) => path.endsWith('.js'));
  const unmapped = js.filter((path) => !files.includes(`${path}.map`));
  if (unmapped.length > 0) fail(`no source map for ${unmapped.join(', ')}`);
  process.stdout.write(
    `check-package: ${report.filename}, ${files.length} files, ${(report.size / 1000).toFixed(1)} kB packed, ${(report.unpackedSize / 1000).toFixed(1)} kB unpacked\n`,
  );

  const bin = (name) => join(root, 'node_modules/.bin', name);
  if (!step(bin('publint'), ['run', tarball, '--strict']))
    fail('publint failed');
  if (
    !step(bin('attw'), [
      tarball,
      '--profile',
      'esm-only',
      '--format',
      'table-flipped',
      '--no-color',
    ])
  ) {
    fail('attw failed');
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
