// Jest runner for mutation runs only (stryker.config.mjs sets it; `npm test` does not).
//
// One failing test kills a mutant, but jest cannot bail when it is run programmatically (its
// `bail` exits the process), so Stryker sets bail off and every selected test file runs even
// after the first failure. This runner interrupts the in-band run once a test file has failed
// while a mutant is active: the rest are not loaded. A run without an active mutant (the
// initial run that measures coverage) runs every file, as jest's own runner does.
'use strict';
const TestRunner = require('jest-runner').default;

const ACTIVE_MUTANT = '__STRYKER_ACTIVE_MUTANT__';

class StrykerBailRunner extends TestRunner {
  async runTests(tests, watcher, options) {
    if (process.env[ACTIVE_MUTANT] === undefined) return super.runTests(tests, watcher, options);
    // The scheduler subscribed before this call, so it records the failing file before the
    // interruption makes it ignore the files that are then cancelled.
    const interrupt = () => {
      if (!watcher.isInterrupted()) void watcher.setState({ interrupted: true });
    };
    const unsubscribe = [
      this.on('test-file-success', ([, result]) => {
        if (result.numFailingTests > 0 || result.testExecError) interrupt();
      }),
      this.on('test-file-failure', interrupt),
    ];
    try {
      return await super.runTests(tests, watcher, options);
    } finally {
      for (const off of unsubscribe) off();
    }
  }
}

module.exports = StrykerBailRunner;
