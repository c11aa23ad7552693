// The single executable's entry (scripts/dist.mjs bundles it): bin/corepack.js
// without its top-level await, which a CommonJS bundle (what Node 24's SEA
// runs) cannot hold. Everything is bundled, so loading takes no time for a
// Ctrl-C to fall into; the rest is as bin/corepack.js does it.
import { exitOnEarlyInterrupt } from '../dist/cli/signals.js';
import { main } from '../dist/cli/main.js';

exitOnEarlyInterrupt();

process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

let settled = false;
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
