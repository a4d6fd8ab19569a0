// Jest global setup: the e2e specs run the compiled sample app as a child process, so
// `npm ci && npm test` on a fresh clone must build first. The script does nothing when
// dist/ is newer than every source.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export default function globalSetup() {
  const { status, signal, error } = spawnSync(
    process.execPath,
    ['scripts/build-if-needed.mjs'],
    { cwd: ROOT, stdio: 'inherit' },
  );
  if (error) throw error;
  if (status !== 0) {
    throw new Error(
      `scripts/build-if-needed.mjs failed (${signal ?? `exit code ${status}`}); see the compiler output above`,
    );
  }
}
