/**
 * The files the module builder reads for a core that lacks their headers
 * (src/core/files.ts): "not found" only where there is no such file (ENOENT,
 * ENOTDIR) or it is not ELF; a file that is there but cannot be read is
 * named as unreadable with its errno.
 *
 * Every error here is a real one from the kernel, produced as root (who
 * reads a chmod 000 file): /proc/sys files of mode 0200 refuse reading even
 * to root (EACCES at open), and /proc/self/mem fails a read at address 0,
 * which no process maps (EIO at read).
 */
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lookupFailure, moduleFiles, UnreadableFileError } from '../src/core/files.js';
import { CoreFile } from '../src/core/open.js';
import { makeCore } from './helpers/crash.js';

const WRITE_ONLY = '/proc/sys/vm/drop_caches';
const EIO_ON_READ = '/proc/self/mem';

let dir: string;
let core: string;

beforeAll(async () => {
  dir = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-files-')));
  await fs.writeFile(path.join(dir, 't.c'), 'int *volatile p;\nint main(void) { return *p; }\n');
  await execa('gcc', ['-g', '-o', path.join(dir, 't'), path.join(dir, 't.c')]);
  // coredump_filter 0: no file-backed page in the core, not even the ELF headers, so the
  // builder needs the executable's file for its program headers (as for a qemu-user core).
  ({ core } = await makeCore(['bash', '-c', 'echo 0 > /proc/self/coredump_filter; exec "$0"', path.join(dir, 't')], { cwd: dir, signal: 'SIGSEGV' }));
});

afterAll(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

/** The real EIO of a read at address 0 of /proc/self/mem (its error names no path, as a read's never does). */
async function realEio(): Promise<NodeJS.ErrnoException> {
  const fh = await fs.open(EIO_ON_READ, 'r');
  try {
    return await fh.read(Buffer.alloc(64), 0, 64, 0).then(
      () => {
        throw new Error('a read at address 0 of /proc/self/mem succeeded');
      },
      (e: NodeJS.ErrnoException) => e,
    );
  } finally {
    await fh.close();
  }
}

describe('a file lookup tells "no such file" from "cannot be read" (real EACCES and EIO from /proc)', () => {
  it('the errors themselves: EACCES at open, EIO at read, as root', async () => {
    await expect(fs.readFile(WRITE_ONLY)).rejects.toMatchObject({ code: 'EACCES' });
    expect(await realEio()).toMatchObject({ code: 'EIO', syscall: 'read' });
  });

  it('ENOENT, ENOTDIR and not ELF are "not found"; EACCES is unreadable, naming the file and the errno', async () => {
    expect(await moduleFiles({ executable: path.join(dir, 'nothing-here') })!.executable(undefined)).toBeUndefined();
    expect(await moduleFiles({ executable: '/etc/passwd/x' })!.executable(undefined)).toBeUndefined();
    expect(await moduleFiles({ executable: path.join(dir, 't.c') })!.executable(undefined)).toBeUndefined();
    const denied = await moduleFiles({ executable: WRITE_ONLY })!.executable(undefined).catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(UnreadableFileError);
    expect(denied).toMatchObject({ path: WRITE_ONLY, code: 'EACCES', message: `${WRITE_ONLY} could not be read (permission denied, EACCES)` });
  });

  it('the classifier given a real EIO from a read (whose error names no path): unreadable, naming the file it was reading', async () => {
    // readFileImage never meets this one through /proc/self/mem (its size is 0, so it is "not ELF" first):
    // the classifier is given the kernel's error directly.
    const err = await realEio();
    let thrown: unknown;
    try {
      lookupFailure(EIO_ON_READ, err);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(UnreadableFileError);
    expect(thrown).toMatchObject({ path: EIO_ON_READ, code: 'EIO', message: `${EIO_ON_READ} could not be read (input/output error, EIO)`, cause: err });
  });

  it('a bug is not turned into either', () => {
    expect(() => lookupFailure('/x', new TypeError('x is undefined'))).toThrow(TypeError);
  });

  it("a core without the executable's headers: an unreadable -e file is warned about with its errno; a missing one is not called unreadable", async () => {
    const warnings = async (executable: string): Promise<string[]> => {
      const c = await CoreFile.open(core, { executable });
      try {
        return c.summary.warnings;
      } finally {
        await c.close();
      }
    };
    // The control: with the real executable the module list is complete and nothing is unreadable.
    const good = await warnings(path.join(dir, 't'));
    expect(good.filter((w) => /could not be read|AT_PHDR/.test(w))).toEqual([]);
    // Before, an unreadable file passed for "no file", without a word.
    expect(await warnings(WRITE_ONLY)).toContain(`${WRITE_ONLY} could not be read (permission denied, EACCES): its headers were not taken from the file`);
    expect((await warnings(path.join(dir, 'gone'))).filter((w) => w.includes('could not be read'))).toEqual([]);
  });
});
