/**
 * The same as foreign.test.ts on a big-endian machine: s390x programs built
 * with the Debian cross compiler, crashed under qemu-s390x, collected with
 * --root and replayed with gdb-multiarch. Every word corepack reads from the
 * core (auxv, dynamic section, r_debug, link_map) is big-endian here.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corepack, type CliRun } from './helpers/cli.js';
import { buildGuestRoot, missingTool, qemuCore, S390X, type GuestRoot } from './helpers/foreign.js';
import { frames } from './helpers/gdbOutput.js';

const missing = await missingTool([S390X.cc, S390X.qemu, 'gdb-multiarch']);
const haveSysroot = await fs.stat(path.join(S390X.sysroot, 'lib', S390X.loader)).then(() => true, () => false);
const skip = missing !== undefined || !haveSysroot;
if (skip) console.warn(`foreign-s390x.test.ts skipped: ${missing ?? `${S390X.sysroot} (libc6-dev-s390x-cross)`} is not installed`);

let g: GuestRoot;
let core: string;
let collected: CliRun;
let replay: CliRun;
let bundle: string;


describe.skipIf(skip)('qemu-s390x cores (big-endian, no NT_FILE)', () => {
  beforeAll(async () => {
    g = await buildGuestRoot(S390X);
    core = await qemuCore(S390X, g, g.exes['xcrash-pie']!, [g.plugin]);
    bundle = path.join(g.top, 's390x.tbz2');
    collected = await corepack(['collect', core, '--root', g.root, '-o', bundle]);
    replay = await corepack(['replay', bundle, '--batch', '--dir', path.join(g.top, 'replay')]);
  });

  afterAll(async () => {
    if (g) await fs.rm(g.top, { recursive: true, force: true });
  });

  it('inspect --root: big-endian s390x, the PIE at AT_ENTRY − e_entry, every library from link_map', async () => {
    const run = await corepack(['inspect', core, '--root', g.root, '--json']);
    expect(run.exitCode, run.stderr).toBe(0);
    const s = JSON.parse(run.stdout);
    expect(s).toMatchObject({ arch: 's390x', byteOrder: 'big' });
    const exe = s.modules.find((m: { kind: string }) => m.kind === 'executable');
    expect(exe).toMatchObject({ loadBias: '0x4000000000', headersInCore: false });
    const names = s.modules.map((m: { linkMapName: string | null }) => m.linkMapName).filter(Boolean).sort();
    expect(names).toEqual(['/lib/ld64.so.1', '/lib/libc.so.6', g.lib, g.plugin].sort());
  });

  it('collect --root is exact', () => {
    expect(collected.exitCode, collected.stderr).toBe(0);
    expect(collected.stderr).toContain('every file matches the crash exactly');
  });

  it('replay --batch: foo_crash x3 and worker, with s390:64-bit set and the PIE placed', async () => {
    expect(replay.exitCode, `${replay.stdout}\n${replay.stderr}`).toBe(0);
    const crashed = replay.stdout.slice(replay.stdout.indexOf('=== crashed thread ==='), replay.stdout.indexOf('=== shared libraries ==='));
    expect(frames(crashed).slice(0, 4)).toEqual(['foo_crash', 'foo_crash', 'foo_crash', 'worker']);
    const script = await fs.readFile(path.join(g.top, 'replay', 'replay.gdb'), 'utf8');
    expect(script).toMatch(/^set architecture s390:64-bit$/m);
    expect(script).toMatch(/^symbol-file -o 0x4000000000 /m);
    expect(await fs.readFile(path.join(g.top, 'replay', 'replay.lldb'), 'utf8')).toMatch(/^target create --arch s390x-unknown-linux-gnu /m);
  });
});
