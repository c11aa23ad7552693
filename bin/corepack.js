#!/usr/bin/env node
// corepack, the crash bundler (not Node's package-manager shim of the same name).
import { exitOnEarlyInterrupt } from '../dist/cli/signals.js';

// Before the command's modules load (0.2 s, longer on a busy machine): a
// Ctrl-C meanwhile says it interrupted, instead of Node's silent default.
exitOnEarlyInterrupt();
const { main } = await import('../dist/cli/main.js');

// `corepack inspect core | head` closes our stdout early: that is not an error.
process.stdout.on('error', (err) => {
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

main(process.argv).then(
  (code) => {
    settled = true;
    process.exitCode = code;
  },
  (err) => {
    settled = true;
    process.stderr.write(`corepack: error: internal error: ${err?.message ?? err}\n`);
    process.exitCode = 1;
  },
);
