import { writeFileSync } from 'node:fs';

/**
 * Jest reporter that writes the run's test counts as JSON to the file named by
 * `JEST_JSON_OUTPUT`, so `.ci/run` can print a summary without changing the
 * `npm test` command line. It does nothing when the variable is unset.
 */
export default class SummaryReporter {
  /**
   * @param {unknown} _testContexts
   * @param {{ numPassedTests: number; numFailedTests: number; numTotalTests: number }} results
   */
  onRunComplete(_testContexts, results) {
    const outputFile = process.env.JEST_JSON_OUTPUT;
    if (!outputFile) return;
    const { numPassedTests, numFailedTests, numTotalTests } = results;
    writeFileSync(
      outputFile,
      `${JSON.stringify({ numPassedTests, numFailedTests, numTotalTests })}\n`,
    );
  }
}
