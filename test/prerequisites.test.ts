/**
 * The up-front prerequisite check (test/helpers/prerequisites.ts, the
 * suite's globalSetup): it finds programs the way a spawn does, names the
 * Debian package for each missing one, and its packages are the ones .ci/run
 * installs.
 */
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PREREQUISITES, missingPrerequisites, onPath } from './helpers/prerequisites.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'corepack-prereq-'));
  await writeFile(join(dir, 'eu-readelf'), '#!/bin/sh\n');
  await chmod(join(dir, 'eu-readelf'), 0o755);
  await writeFile(join(dir, 'eu-unstrip'), 'not executable\n');
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('test prerequisites', () => {
  it('every program is on this PATH (else globalSetup would have stopped the run)', () => {
    expect(PREREQUISITES.filter((p) => onPath(p.program) === undefined)).toEqual([]);
    expect(missingPrerequisites()).toBeUndefined();
  });

  it('a PATH lacking eu-unstrip (present but not executable): one line naming it and apt-get install elfutils', () => {
    const msg = missingPrerequisites(dir, PREREQUISITES.filter((p) => p.pkg === 'elfutils'));
    expect(msg).toBe('the tests need programs that are not on PATH: eu-unstrip (elfutils: module oracle). Install them with: apt-get install elfutils');
  });

  it('an empty PATH: every package named once, in one line', () => {
    const msg = missingPrerequisites('')!;
    expect(msg.split('\n')).toHaveLength(1);
    const line = /Install them with: apt-get install (.*)$/.exec(msg)![1]!.split(' ');
    expect(line).toEqual([...new Set(PREREQUISITES.map((p) => p.pkg))]);
  });

  it('.ci/run installs every package named (binutils comes with gcc; bsdutils, bash and util-linux are Essential)', async () => {
    const ci = await readFile(new URL('../.ci/run', import.meta.url), 'utf8');
    const installed = new Set(/for pkg in ([^;]+);/.exec(ci)![1]!.trim().split(/\s+/));
    const implied = new Set(['binutils', 'bsdutils', 'bash', 'util-linux']);
    expect([...new Set(PREREQUISITES.map((p) => p.pkg))].filter((p) => !installed.has(p) && !implied.has(p))).toEqual([]);
  });
});
