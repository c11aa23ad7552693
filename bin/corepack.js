#!/usr/bin/env node
// corepack, the crash bundler (not Node's package-manager shim of the same name).
import { main } from '../dist/cli/main.js';

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
