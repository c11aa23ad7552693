import { defineConfig } from 'vitest/config';
import SummaryReporter from './test/helpers/summaryReporter.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Tests that change core_pattern run afterwards, alone (vitest.kernel.config.ts).
    exclude: ['test/**/*.kernel.test.ts', '**/node_modules/**'],
    // Stops the run up front, with one message, when a program the tests spawn is missing.
    globalSetup: ['test/helpers/prerequisites.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    // The end-to-end tests compile programs and make real kernel cores; two
    // workers keep a 2-core machine busy without thrashing it.
    pool: 'forks',
    maxWorkers: 2,
    reporters: ['default', new SummaryReporter()],
  },
});
