#!/usr/bin/env node
/**
 * `npm run build:package`, run by `prepack`: builds what the package ships, and only that.
 *
 * It compiles `lib/` (tsconfig.lib.json) into `dist/lib`, then deletes every file there that
 * this compilation did not write. A plain `npm run build` keeps the output of sources that
 * were moved or deleted since, and `files` would ship it. Files are pruned rather than the
 * folder emptied first, so a sample app or a test reading `dist/lib` meanwhile never finds
 * it missing.
 *
 * With `--if-stale` (the `prepare` script) it does nothing while `dist/lib` is newer than
 * every source, and a failed build that leaves an earlier `dist/lib` in place only warns.
 * npm runs `prepare`, never `prepack`, when it installs the package from a git URL, so that
 * is what builds a git install; in a working copy it also runs on every `npm install`, which
 * must not fail because a half-edited source does not compile yet.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist/lib');
const ifStale = process.argv.includes('--if-stale');
const CONFIGS = ['tsconfig.json', 'tsconfig.build.json', 'tsconfig.lib.json'];

/** Removes the folders under `dir` that pruning left empty, deepest first. */
function removeEmptyFolders(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const path = join(dir, entry.name);
    removeEmptyFolders(path);
    if (readdirSync(path).length === 0) rmdirSync(path);
  }
}

/** Every file under `dir`, as absolute paths. */
function listFiles(dir) {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

/** Whether `dist/lib` was written after every library source and build config changed. */
function isUpToDate() {
  const entry = join(out, 'index.js');
  if (!existsSync(entry)) return false;
  const built = statSync(entry).mtimeMs;
  const sources = listFiles(join(root, 'lib')).filter(
    (file) => file.endsWith('.ts') && !file.endsWith('.spec.ts'),
  );
  return [...sources, ...CONFIGS.map((name) => join(root, name))].every(
    (file) => !existsSync(file) || statSync(file).mtimeMs <= built,
  );
}

// An installed copy has dist/lib and no sources: there is nothing to build.
if (ifStale && !existsSync(join(root, 'lib'))) process.exit(0);
if (ifStale && isUpToDate()) process.exit(0);
const hadOutput = existsSync(join(out, 'index.js'));

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const build = spawnSync(
  process.execPath,
  // --noEmitOnError: a failed build must leave the last good output, not half of a new one.
  [tsc, '-p', 'tsconfig.lib.json', '--noEmitOnError', '--listEmittedFiles'],
  { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
);
if (build.error) throw build.error;
const emitted = new Set();
for (const line of build.stdout.split('\n')) {
  const match = /^TSFILE: (.+)$/.exec(line.trim());
  if (match) emitted.add(resolve(root, match[1]));
  else if (line.trim() !== '') process.stdout.write(`${line}\n`);
}
if (build.status !== 0) {
  if (ifStale && hadOutput) {
    process.stderr.write(
      'build-package: the library does not compile; dist/lib keeps its last good build\n',
    );
    process.exit(0);
  }
  process.exit(build.status ?? 1);
}

const problems = [];
for (const file of listFiles(out)) {
  if (!emitted.has(file)) rmSync(file);
  else if (/\.spec\./.test(file)) problems.push(`${file} is a test`);
}
removeEmptyFolders(out);
for (const file of emitted) {
  if (!file.endsWith('.js')) continue;
  for (const companion of ['.js.map', '.d.ts']) {
    const expected = file.replace(/\.js$/, companion);
    if (!emitted.has(expected)) problems.push(`${expected} was not written`);
  }
}
if (!emitted.has(join(out, 'index.js'))) problems.push('no dist/lib/index.js');
if (problems.length > 0) {
  process.stderr.write(`build-package: ${problems.join('; ')}\n`);
  process.exit(1);
}
