/**
 * Ends every run with one plain line, "N passed, N failed, N skipped", that
 * CI and humans can read without knowing vitest's own summary format; before
 * it, one line per skipped test with its name and note, which is where a
 * test says why it skipped (vitest's default reporter does not show them).
 */
import type { Reporter, TestModule } from 'vitest/node';

/** The parts of vitest's TestModule this reporter reads. */
export type ReportedModule = Pick<TestModule, 'children' | 'moduleId'>;

export function summaryLines(testModules: ReadonlyArray<ReportedModule>, cwd = process.cwd()): string[] {
  let passed = 0;
  let failed = 0;
  const skipped: string[] = [];
  for (const mod of testModules) {
    for (const test of mod.children.allTests()) {
      const result = test.result();
      if (result.state === 'passed') passed++;
      else if (result.state === 'failed') failed++;
      else {
        const file = mod.moduleId.startsWith(`${cwd}/`) ? mod.moduleId.slice(cwd.length + 1) : mod.moduleId;
        const note = result.state === 'skipped' && result.note ? `: ${result.note}` : '';
        skipped.push(`skipped: ${file} > ${test.fullName}${note}`);
      }
    }
  }
  return [...skipped, `${passed} passed, ${failed} failed, ${skipped.length} skipped`];
}

export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    process.stdout.write(`\n${summaryLines(testModules).join('\n')}\n`);
  }
}
