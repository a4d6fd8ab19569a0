import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as kit from './index.js';

const here = fileURLToPath(new URL('.', import.meta.url));

/** The modules `file` loads at run time: type-only imports and exports are left out. */
function runtimeSpecifiers(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [
    ...text.matchAll(
      /^(?:import|export)\s+(type\s+)?(?:[^;]*?\sfrom\s+)?'([^']+)'/gms,
    ),
  ]
    .filter(([, typeOnly]) => typeOnly === undefined)
    .map(([, , specifier]) => specifier);
}

describe('nestjs-bearer/testing entry point', () => {
  it('exports the kit', () => {
    expect(Object.keys(kit).sort()).toEqual([
      'BearerChallengeAssertionError',
      'WRONG_AUDIENCE',
      'WRONG_ISSUER',
      'createTestIssuer',
      'expectBearerChallenge',
      'overrideAuthModuleOptions',
    ]);
  });

  it('loads node built-ins, its own files and the challenge parser, and no Nest or jose', () => {
    const files = readdirSync(here)
      .filter((name) => name.endsWith('.ts') && !name.endsWith('.spec.ts'))
      .map((name) => `${here}${name}`);
    expect(files.length).toBeGreaterThanOrEqual(5);
    for (const file of [...files, `${here}../www-authenticate.ts`]) {
      for (const specifier of runtimeSpecifiers(file)) {
        expect([file, specifier]).toEqual([
          file,
          expect.stringMatching(/^(node:|\.\/|\.\.\/www-authenticate\.js$)/),
        ]);
      }
    }
  });

  it('reads the specifiers the check above relies on', () => {
    expect(runtimeSpecifiers(`${here}test-issuer.ts`)).toEqual([
      'node:crypto',
      'node:http',
      './test-keys.js',
    ]);
  });
});
