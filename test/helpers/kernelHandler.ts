/**
 * What the tests of `corepack handle` under the real kernel share
 * (handler.kernel.test.ts, handler-faults.kernel.test.ts): the probe for
 * whether this kernel runs pipe handlers at all, a crash with RLIMIT_CORE
 * unlimited, the handler installed in core_pattern for the length of a
 * callback (inside the exclusive core_pattern lock), and the sandboxes
 * made along the way, removed after the file.
 */
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import { expect } from 'vitest';
import { readCoreSettings, setCorePattern, withCorePattern } from './corepattern.js';
import { makeHandlerSandbox, type HandlerSandbox } from './handler.js';

export const NO_PIPE_HANDLERS = 'this kernel does not run core_pattern pipe handlers (probed with a shell handler): the stdin-fed tests in test/handle.test.ts cover the handler instead';

/** Runs `cmd` in `cwd` with RLIMIT_CORE unlimited; no suite lock: the caller holds it exclusively (withHandler). */
export function crashUnlimited(cmd: string[], cwd: string, env: Record<string, string> = {}) {
  return execa('bash', ['-c', 'ulimit -c unlimited; exec "$@"', 'bash', ...cmd], { cwd, env, reject: false, stdin: 'ignore', timeout: 170_000 });
}

/** Does the kernel start a `|program` pattern? One crash of sh, its core caught by a shell handler. */
export async function probePipeHandlers(): Promise<boolean> {
  const dir = await fs.realpath(await fs.mkdtemp('/tmp/cph-probe-'));
  try {
    await fs.writeFile(`${dir}/p`, `#!/bin/sh\ncat > ${dir}/got\n`, { mode: 0o755 });
    return await withCorePattern(async () => {
      setCorePattern(`|${dir}/p`);
      await crashUnlimited(['sh', '-c', 'kill -SEGV $$'], dir);
      // core_pipe_limit may be 0: the kernel then does not wait for the handler.
      for (let i = 0; i < 100; i++) {
        if ((await fs.readFile(`${dir}/got`).catch(() => Buffer.alloc(0))).subarray(0, 4).toString('latin1') === '\x7fELF') return true;
        await new Promise((r) => setTimeout(r, 50));
      }
      return false;
    });
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/** Handler sandboxes, each with its configuration written, all removed by cleanup() (unless KEEP_SANDBOX is set). */
export function sandboxPool(): { sandbox(config?: Record<string, unknown>): Promise<HandlerSandbox>; cleanup(): Promise<void> } {
  const made: HandlerSandbox[] = [];
  return {
    async sandbox(config = {}) {
      const sb = await makeHandlerSandbox();
      made.push(sb);
      await sb.writeConfig(config);
      return sb;
    },
    async cleanup() {
      if (!process.env.KEEP_SANDBOX) for (const sb of made) await sb.cleanup();
    },
  };
}

export interface WithHandlerOptions {
  /** The pattern to install in front of (default "core": the kernel's own file, in the process's cwd). */
  previous?: string;
  /** More arguments for `handler install` (--pipe-limit N). */
  installArgs?: string[];
}

/**
 * Installs the sandbox's handler in front of `previous`, runs `fn`,
 * uninstalls, and checks that core_pattern and core_pipe_limit are exactly
 * what they were.
 */
export async function withHandler<T>(sb: HandlerSandbox, fn: () => Promise<T>, { previous = 'core', installArgs = [] }: WithHandlerOptions = {}): Promise<T> {
  return withCorePattern(async () => {
    setCorePattern(previous);
    const before = readCoreSettings();
    const inst = await sb.cli(['handler', 'install', '--exe', sb.wrapper, '--config', sb.config, ...installArgs]);
    expect(inst.exitCode, inst.stderr).toBe(0);
    expect(inst.stderr).toBe('');
    expect(readCoreSettings().pattern).toBe(`|${sb.wrapper} handle P=%P p=%p i=%i s=%s c=%c d=%d t=%t u=%u g=%g e=%e`);
    try {
      return await fn();
    } finally {
      const un = await sb.cli(['handler', 'uninstall']);
      expect(un.exitCode, un.stderr).toBe(0);
      expect(readCoreSettings()).toEqual(before);
    }
  });
}
