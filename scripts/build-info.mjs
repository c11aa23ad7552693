#!/usr/bin/env node
// Writes dist/build-info.json: the version, the commit built from and when,
// for `corepack-crash --version` from the npm package (npm run build, prepack).
// COREPACK_BUILD_COMMIT names the commit where there is no git checkout.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

export function gitCommit(dir) {
  if (process.env.COREPACK_BUILD_COMMIT) return process.env.COREPACK_BUILD_COMMIT;
  try {
    const git = (args) => execFileSync('git', ['-C', dir, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return `${git(['rev-parse', 'HEAD'])}${git(['status', '--porcelain', '--untracked-files=no']) ? '-dirty' : ''}`;
  } catch {
    return null;
  }
}

export function buildInfo() {
  const { version } = JSON.parse(readFileSync(`${root}/package.json`, 'utf8'));
  return { version, commit: gitCommit(root), builtAt: new Date().toISOString().replace(/\.\d+Z$/, 'Z') };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  mkdirSync(`${root}/dist`, { recursive: true });
  const info = buildInfo();
  writeFileSync(`${root}/dist/build-info.json`, `${JSON.stringify(info, null, 2)}\n`);
  console.log(`dist/build-info.json: ${info.version}, commit ${info.commit ?? 'unknown'}`);
}
