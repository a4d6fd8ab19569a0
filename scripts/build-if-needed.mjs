// Runs `npm run build` before `npm start` unless dist/ is newer than every
// source it is compiled from. Prints nothing when the build is up to date.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const OUTPUT = 'dist/sample-app/main.js';
const SOURCE_DIRS = ['lib', 'sample-app'];
const CONFIG_FILES = ['tsconfig.json', 'tsconfig.build.json'];

/** Returns the mtime in ms of `path`, or undefined when it does not exist. */
function mtimeOf(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

/** Yields every .ts file under `dir` that the build compiles (not specs). */
function* sourcesUnder(dir) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      yield* sourcesUnder(path);
    } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts')) {
      yield path;
    }
  }
}

function isUpToDate() {
  const built = mtimeOf(OUTPUT);
  if (built === undefined) return false;
  const inputs = SOURCE_DIRS.flatMap((dir) => [...sourcesUnder(dir)]);
  return [...inputs, ...CONFIG_FILES].every(
    (path) => (mtimeOf(path) ?? 0) <= built,
  );
}

if (!isUpToDate()) {
  // npm sets npm_execpath in scripts; running it with this node avoids
  // depending on how npm is installed on the PATH.
  const npmCli = process.env.npm_execpath;
  const { status, error } = npmCli
    ? spawnSync(process.execPath, [npmCli, 'run', 'build'], {
        stdio: 'inherit',
      })
    : spawnSync('npm', ['run', 'build'], {
        stdio: 'inherit',
        shell: process.platform === 'win32',
      });
  if (error) throw error;
  process.exitCode = status ?? 1;
}
