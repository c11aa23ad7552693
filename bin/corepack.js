#!/usr/bin/env node
// corepack, the crash bundler (not Node's package-manager shim of the same name).
import { main } from '../dist/cli/main.js';

// `corepack inspect core | head` closes our stdout early: that is not an error.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`corepack: error: internal error: ${err?.message ?? err}\n`);
    process.exitCode = 1;
  },
);
