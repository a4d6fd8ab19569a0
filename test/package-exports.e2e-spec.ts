/**
 * The package as its users load it: the `exports` map, the compiled entry points, the client
 * entry without Nest, and `require()` of the ESM build on the oldest supported Node line.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readImportGraph } from './support/import-graph.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  name: string;
  type: string;
  files: string[];
  exports: Record<string, { types: string; default: string } | string>;
  peerDependencies: Record<string, string>;
  dependencies: Record<string, string>;
};

/** Runs an ES module snippet with the project's Node, from the package root. */
function runModule(source: string, node = process.execPath): string {
  return execFileSync(node, ['--input-type=module', '-e', source], {
    cwd: root,
    encoding: 'utf8',
  }).trim();
}

/** A Node 20 binary other than the one running the tests, if the machine has one. */
function findNode20(): string | undefined {
  const which = spawnSync('which', ['-a', 'node'], { encoding: 'utf8' });
  return which.stdout
    .split('\n')
    .filter((path) => path !== '')
    .find((path) => {
      const version = spawnSync(path, ['--version'], {
        encoding: 'utf8',
      }).stdout;
      return /^v20\.(19|[2-9]\d)\./.test(version.trim());
    });
}

describe('package.json', () => {
  it('is an ESM package with types and runtime entries for "." and "./client"', () => {
    expect(pkg.type).toBe('module');
    expect(pkg.exports['.']).toEqual({
      types: './dist/lib/index.d.ts',
      default: './dist/lib/index.js',
    });
    expect(pkg.exports['./client']).toEqual({
      types: './dist/lib/client/index.d.ts',
      default: './dist/lib/client/index.js',
    });
    expect(pkg.files).toEqual(['dist/lib']);
  });

  it('keeps Nest, passport, reflect-metadata and rxjs as peers, passport-jwt and jwks-rsa as dependencies', () => {
    for (const peer of ['@nestjs/common', '@nestjs/core', '@nestjs/passport']) {
      expect(pkg.peerDependencies[peer]).toBe('^11.0.0 || ^12.0.0');
    }
    expect(Object.keys(pkg.peerDependencies)).toEqual(
      expect.arrayContaining(['passport', 'reflect-metadata', 'rxjs']),
    );
    expect(Object.keys(pkg.dependencies).sort()).toEqual([
      'jwks-rsa',
      'passport-jwt',
    ]);
  });
});

describe('the compiled package, loaded by name', () => {
  it('exports the module, guard, decorators and errors from "nestjs-bearer"', () => {
    const names = runModule(
      "import('nestjs-bearer').then((m) => console.log(Object.keys(m).sort().join(',')))",
    ).split(',');
    expect(names).toEqual(
      expect.arrayContaining([
        'AuthModule',
        'BearerGuard',
        'BearerExceptionFilter',
        'Scopes',
        'Roles',
        'AppRoles',
        'isApplicationToken',
        'readClaimPath',
        'Public',
        'Principal',
        'Claims',
        'StepUp',
        'azureAd',
        'InvalidTokenError',
        'InsufficientScopeError',
        'InsufficientAccessError',
        'InvalidRequestError',
        'formatChallenge',
      ]),
    );
  });

  it('loads "nestjs-bearer/client", whose import graph never reaches Nest', () => {
    const out = runModule(
      "const c = await import('nestjs-bearer/client'); console.log(typeof c.verifyChallenge, typeof c.createBearerFetch)",
    );
    expect(out).toBe('function function');
    // Every module the client entry imports, transitively, from the compiled files.
    const { external } = readImportGraph(root, 'dist/lib/client/index.js');
    expect([...external].filter((name) => !name.startsWith('node:'))).toEqual(
      [],
    );
  });

  const node20 = findNode20();
  (node20 === undefined ? it.skip : it)(
    'can be require()d from CommonJS on Node 20.19+',
    () => {
      const out = execFileSync(
        node20 as string,
        ['-e', "console.log(typeof require('nestjs-bearer').AuthModule)"],
        { cwd: root, encoding: 'utf8' },
      ).trim();
      expect(out).toBe('function');
    },
  );
});
