#!/usr/bin/env node
// Bundles the npm package's CLI (dist/cli/start.js, as tsc compiled it) into
// dist/npm/: the same modules as one entry and chunks for what each lazily
// imported command needs, so Node resolves, reads and links fewer modules at
// start-up (inspect: 40 files of ours instead of 84; a small core's inspect,
// 21 alternating runs: 113 ms instead of 125, eu-unstrip 52). The dependencies stay in
// node_modules (`packages: 'external'`). bin/corepack.js runs the bundle
// while it is at least as new as tsc's output, else tsc's output: a `tsc`
// without this step can never leave a stale bundle running.
// Run after tsc by npm run build, test, bench, example and dist.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = `${root}/dist/npm`;

export async function bundleCli() {
  const esbuild = await import('esbuild');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  await esbuild.build({
    entryPoints: { start: `${root}/dist/cli/start.js` },
    bundle: true,
    splitting: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20.19',
    outdir: out,
    logLevel: 'error',
    legalComments: 'none',
  });
  // Written last: its time is the bundle's (bin/corepack.js compares it with tsc's output).
  writeFileSync(`${out}/complete`, '');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await bundleCli();
