/**
 * `corepack doctor --probe` against the real kernel: it sets core_pattern to
 * a test handler for a moment, crashes a shell, and must put the pattern
 * back. Run inside withCorePattern (the suite's and the team's lock, and a
 * restore whatever happens), with the other kernel tests.
 */
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { BIN } from './helpers/cli.js';
import { readCoreSettings, withCorePattern } from './helpers/corepattern.js';

interface Check { name: string; status: string; data?: Record<string, unknown> }

describe('doctor --probe against the real kernel', () => {
  it('finds that this kernel runs core_pattern programs, and puts core_pattern back', async () => {
    await withCorePattern(async (saved) => {
      const r = await execa(process.execPath, [BIN, 'doctor', '--json', '--probe'], { reject: false, stdin: 'ignore' });
      expect(r.exitCode, r.stderr).toBe(0);
      const p = (JSON.parse(r.stdout) as { checks: Check[] }).checks.find((c) => c.name === 'pipe handlers');
      // The kernel tests probe the same way (test/handler.kernel.test.ts): it runs them here.
      expect(p).toMatchObject({ status: 'ok', data: { probed: true, runs: true } });
      expect(readCoreSettings()).toEqual(saved);
    });
  }, 60_000);
});
