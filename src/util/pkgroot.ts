/**
 * The npm package's own directory (the one holding its package.json), found
 * by walking up from a module of it. The modules run from different depths —
 * tsc's output (dist/replay/script.js), the bundled CLI (dist/npm/chunk-*.js,
 * scripts/bundle.mjs), the sources under vitest (src/replay/script.ts) — so a
 * fixed `../..` would be right for only some of them.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_NAME = 'corepack-crash';

/** The directory of corepack-crash's package.json above `moduleUrl` (an import.meta.url); throws if there is none. */
export function packageRoot(moduleUrl: string): string {
  let dir = dirname(fileURLToPath(moduleUrl));
  for (;;) {
    if (nameOf(join(dir, 'package.json')) === PACKAGE_NAME) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no ${PACKAGE_NAME} package.json above ${fileURLToPath(moduleUrl)}`);
    dir = up;
  }
}

/** A JSON file of the package (package.json, dist/build-info.json); undefined when it is missing or not JSON. */
export function readPackageJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function nameOf(file: string): unknown {
  return (readPackageJson(file) as { name?: unknown } | undefined)?.name;
}
