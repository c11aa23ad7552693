/**
 * Running the CLI as a process: the one body both entry points share
 * (bin/corepack.js for the npm package, scripts/sea-entry.mjs for the single
 * executable), so they cannot drift apart. Each entry only decides how the
 * modules load.
 */
import { main } from './main.js';

export function runCli(argv: string[]): void {
  // `corepack-crash inspect core | head` closes our stdout early: that is not an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });

  let settled = false;
  // If the event loop drains while a command is still pending, something waits
  // on an event that can no longer come: say so instead of exiting 0 silently.
  process.on('beforeExit', () => {
    if (settled) return;
    settled = true;
    process.stderr.write('corepack: error: internal error: the command stopped without finishing (please report it)\n');
    process.exitCode = 1;
  });

  main(argv).then(
    (code) => {
      settled = true;
      process.exitCode = code;
    },
    (err: unknown) => {
      settled = true;
      process.stderr.write(`corepack: error: internal error: ${(err as Error | undefined)?.message ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
