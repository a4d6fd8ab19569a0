/** Jest runs the TypeScript sources as native ES modules (see TOOLCHAIN.md). */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/lib', '<rootDir>/test', '<rootDir>/sample-app'],
  testMatch: ['**/*.spec.ts', '**/*.e2e-spec.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }],
  },
  setupFiles: ['<rootDir>/test/support/preload-esm.js'],
  // Builds dist/ when it is missing or stale: the e2e specs run the compiled sample app.
  globalSetup: '<rootDir>/test/support/global-setup.js',
  testTimeout: 30000,
  // The summary reporter writes counts to $JEST_JSON_OUTPUT for .ci/run.
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
};
