// The single executable's entry (scripts/dist.mjs bundles it): bin/corepack.js
// without its top-level await, which a CommonJS bundle (what Node 24's SEA
// runs) cannot hold. Everything is bundled, so loading takes no time for a
// Ctrl-C to fall into; the process body is the same (src/cli/entry.ts).
import { exitOnEarlyInterrupt } from '../dist/cli/signals.js';
import { runCli } from '../dist/cli/entry.js';

exitOnEarlyInterrupt();
runCli(process.argv);
