#!/usr/bin/env node
// corepack-crash, the crash bundler (not Node's package-manager shim of the same name).
// The bundled CLI (dist/npm/, scripts/bundle.mjs) starts ~12 ms sooner; it runs
// only while it is at least as new as tsc's output (dist/cli/start.js), so a
// rebuilt dist/ without the bundling step runs tsc's output, never a stale bundle.
import { statSync } from 'node:fs';

const mtime = (rel) => statSync(new URL(rel, import.meta.url), { throwIfNoEntry: false })?.mtimeMs ?? -1;
const bundled = mtime('../dist/npm/complete');
await import(bundled >= 0 && bundled >= mtime('../dist/cli/start.js') ? '../dist/npm/start.js' : '../dist/cli/start.js');
