#!/usr/bin/env node
// corepack, the crash bundler (not Node's package-manager shim of the same name).
import { exitOnEarlyInterrupt } from '../dist/cli/signals.js';

// Before the command's modules load (0.2 s, longer on a busy machine): a
// Ctrl-C meanwhile says it interrupted, instead of Node's silent default.
exitOnEarlyInterrupt();
const { runCli } = await import('../dist/cli/entry.js');
runCli(process.argv);
