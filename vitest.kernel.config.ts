import { defineConfig } from 'vitest/config';
import SummaryReporter from './test/helpers/summaryReporter.js';

/**
 * The tests that change the kernel's core_pattern (test/*.kernel.test.ts):
 * run by `npm test` after the main run, one file at a time, so that no other
 * test crashes a program while the pattern is not the default. Each also
 * holds the suite's core_pattern lock exclusively (test/helpers/corepattern.ts).
 */
export default defineConfig({
  test: {
    include: ['test/**/*.kernel.test.ts'],
    globalSetup: ['test/helpers/prerequisites.ts'],
    testTimeout: 180_000,
    hookTimeout: 300_000,
    pool: 'forks',
    maxWorkers: 1,
    fileParallelism: false,
    reporters: ['default', new SummaryReporter()],
  },
});
