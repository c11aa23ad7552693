/**
 * The one table from error to exit code: every domain error lands on the
 * code the README documents, errno is mapped once, --help's list comes from
 * the table, and no module below src/cli reaches up into it.
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { describeError, UsageError } from '../src/cli/errors.js';
import { buildProgram } from '../src/cli/main.js';
import { EXIT, EXIT_CODES, exitCodesHelp } from '../src/cli/exit.js';
import { corepack } from './helpers/cli.js';
import { FormatError } from '../src/elf/errors.js';
import { BadOptionError, InterruptedError, MissingToolError, NotEnoughSpaceError, OutputWriteError } from '../src/util/errors.js';
import { BundledCoreError, CodecError, FileChangedError, ManifestError, NotABundleError, UnsafeBundleError } from '../src/bundle/errors.js';
import { BundleVerifyError, GdbFailedError, UnsafeScriptPathError } from '../src/replay/errors.js';
import { RootDirectoryError, WrongExecutableError } from '../src/collect/errors.js';

const errno = (code: string, p?: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: x`), { code, syscall: 'open', ...(p ? { path: p } : {}) });

describe('error → exit code', () => {
  const cases: Array<[string, unknown, number]> = [
    ['usage', new UsageError('x'), EXIT.USAGE],
    ['bad option', new BadOptionError('-o', 'x.zip', 'bad'), EXIT.USAGE],
    ['wrong executable', new WrongExecutableError('/c', '/bin/ls', 'aa', '/app', 'bb'), EXIT.USAGE],
    ['--root not a directory', new RootDirectoryError('/nope', 'missing'), EXIT.USAGE],
    ['format', new FormatError('not an ELF file', 0), EXIT.BAD_INPUT],
    ['unsafe bundle', new UnsafeBundleError('entry "x" is absolute', 'x'), EXIT.BAD_INPUT],
    ['not a bundle', new NotABundleError('/b', 'no'), EXIT.BAD_INPUT],
    ['manifest', new ManifestError('manifest.json: x'), EXIT.BAD_INPUT],
    ['bundled core', new BundledCoreError('core/c', new FormatError('x', 0)), EXIT.BAD_INPUT],
    ['script path', new UnsafeScriptPathError('sysroot', '/a\nb', 'contains a control character'), EXIT.BAD_INPUT],
    ['file changed', new FileChangedError('/lib/x', 3, 'grew'), EXIT.BAD_INPUT],
    ['decompressing', new CodecError('lbzip2', 'decompress', 'exited with code 2'), EXIT.BAD_INPUT],
    ['compressing', new CodecError('zlib', 'compress', 'oops'), EXIT.WRITE_FAILED],
    ['checksums', new BundleVerifyError([]), EXIT.VERIFY_FAILED],
    ['gdb', new GdbFailedError('gdb', 'gdb printed no backtraces'), EXIT.VERIFY_FAILED],
    ['missing tool', new MissingToolError('gdb', ['gdb'], 'gdb', 'apt-get install gdb', { how: 'pass', choices: ['--gdb PATH'] }), EXIT.MISSING_TOOL],
    ['output', new OutputWriteError('/o', 'EDQUOT'), EXIT.WRITE_FAILED],
    ['space', new NotEnoughSpaceError('/d', 2, 1), EXIT.WRITE_FAILED],
    ['SIGINT', new InterruptedError('SIGINT'), EXIT.INTERRUPTED],
    ['SIGTERM', new InterruptedError('SIGTERM'), EXIT.TERMINATED],
    ['ENOSPC anywhere', errno('ENOSPC'), EXIT.WRITE_FAILED],
    ['EDQUOT anywhere', errno('EDQUOT'), EXIT.WRITE_FAILED],
    ['EFBIG anywhere', errno('EFBIG'), EXIT.WRITE_FAILED],
    ['EROFS anywhere', errno('EROFS'), EXIT.WRITE_FAILED],
    ['EACCES reading', errno('EACCES', '/core'), EXIT.BAD_INPUT],
    ['ENOENT reading', errno('ENOENT', '/core'), EXIT.BAD_INPUT],
    ['anything else', new TypeError('x is undefined'), EXIT.INTERNAL],
  ];
  it.each(cases)('%s', (_, err, code) => {
    const d = describeError(err);
    expect(d.code).toBe(code);
    expect(d.message).not.toContain('\n');
  });

  it('words errno once, with the file the system call named', () => {
    expect(describeError(errno('EDQUOT', '/o/b')).message).toBe('/o/b: disk quota exceeded');
    // A call that names no file is not pinned on the command's input: it is only what the command was working on.
    expect(describeError(errno('EACCES'), 'core.1').message).toBe('open: permission denied (while working on core.1)');
  });

  it('a real system error on some other file names that file, not the command\'s input (real EACCES and EIO from /proc)', async () => {
    // /proc/sys files of mode 0200 refuse reading even to root; a read at address 0 of /proc/self/mem is EIO.
    const denied = await fs.readFile('/proc/sys/vm/drop_caches').catch((e: unknown) => e);
    expect(describeError(denied, 'core.1')).toMatchObject({ message: '/proc/sys/vm/drop_caches: permission denied', code: EXIT.BAD_INPUT });
    // Wrapped by a layer that did not expect it: the path it carries is still the one named.
    const wrapped = new Error('could not read the template', { cause: denied });
    expect(describeError(wrapped, 'core.1')).toMatchObject({ message: '/proc/sys/vm/drop_caches: permission denied', code: EXIT.BAD_INPUT });
    const fh = await fs.open('/proc/self/mem', 'r');
    const eio = await fh.read(Buffer.alloc(8), 0, 8, 0).catch((e: unknown) => e);
    await fh.close();
    expect(describeError(eio, 'core.1').message).toBe('read: input/output error (while working on core.1)');
  });

  it('the file named for an error about bytes is the command\'s first operand, not its first word (inspect --json FILE)', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-subject-'));
    try {
      const file = path.join(dir, 'not-a-core');
      await fs.writeFile(file, 'hello, this is not a core at all, nor a bundle');
      for (const args of [['inspect', '--json', file], ['inspect', file, '--json']]) {
        const run = await corepack(args);
        expect(run.exitCode).toBe(EXIT.BAD_INPUT);
        expect(run.stderr).toMatch(new RegExp(`^corepack: error: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `));
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('hints come from the error\'s fields', () => {
    expect(describeError(new MissingToolError('gdb', ['gdb'], 'gdb', 'apt-get install gdb', { how: 'pass', choices: ['--gdb PATH'] })).hint).toBe('install gdb (e.g. apt-get install gdb), or pass --gdb PATH');
    expect(describeError(new WrongExecutableError('/c', '/bin/ls', 'aa', '/app', 'bb')).hint).toMatch(/^pass -e \/app /);
    expect(describeError(new OutputWriteError('/o', 'ENOSPC')).hint).toMatch(/free some space/);
  });
});

describe('--help', () => {
  it('lists exactly the codes of the table', async () => {
    const run = await corepack(['--help']);
    expect(run.exitCode).toBe(0);
    const block = run.stdout.slice(run.stdout.indexOf('Exit codes:')).split('\n\n')[0]!;
    expect(block).toBe(exitCodesHelp());
    expect(block.split('\n').slice(1).map((l) => Number(l.trim().split(/\s+/)[0]))).toEqual(Object.values(EXIT_CODES).map((e) => e.code));
  });

  it("every command's examples run corepack-crash: a bare corepack (or npx corepack) outside a checkout is Node's package-manager shim", async () => {
    const commands = [[], ...buildProgram().commands.flatMap((c) => [[c.name()], ...c.commands.map((s) => [c.name(), s.name()])])];
    expect(commands.length).toBeGreaterThan(8);
    for (const words of commands) {
      const run = await corepack([...words, '--help']);
      expect(run.exitCode).toBe(0);
      expect(run.stdout).toMatch(/^Usage: corepack-crash /);
      const examples = run.stdout.split('\n').filter((l) => /^\s+\$ /.test(l));
      for (const line of examples) expect(line, `corepack ${words.join(' ')} --help`).toMatch(/^\s+\$ (?:sudo )?(?:corepack-crash |lldb )/);
      expect(run.stdout).not.toMatch(/npx corepack(?!-crash)/);
    }
  });
});

describe('layers', () => {
  // The layers of the README's development section, each importing only those listed for it.
  const MAY_IMPORT: Record<string, readonly string[]> = {
    util: [],
    // Magic bytes of every form, the programs for each compression, one runner and one error.
    codec: ['util'],
    elf: ['util'],
    core: ['elf', 'util'],
    input: ['codec', 'core', 'elf', 'util'],
    bundle: ['codec', 'core', 'elf', 'util'],
    collect: ['codec', 'bundle', 'core', 'elf', 'input', 'util'],
    replay: ['codec', 'bundle', 'core', 'elf', 'util'],
    bench: ['codec', 'bundle', 'core', 'elf', 'util'],
    // The crash-time handler: at collect's level, using collect's planning and bundle writing; only the CLI imports it.
    capture: ['codec', 'bundle', 'collect', 'core', 'elf', 'input', 'util'],
    // The crash report: above replay (its setup, its sandboxed gdb), below the CLI.
    report: ['codec', 'bundle', 'core', 'elf', 'replay', 'util'],
    // doctor reads the codec table for the compressors it lists.
    cli: ['codec', 'bundle', 'capture', 'collect', 'core', 'elf', 'input', 'replay', 'report', 'util'],
  };

  it('each layer imports only from the layers below it', async () => {
    const src = fileURLToPath(new URL('../src/', import.meta.url));
    const offences: string[] = [];
    for (const dirent of await fs.readdir(src, { recursive: true, withFileTypes: true })) {
      if (!dirent.isFile() || !dirent.name.endsWith('.ts')) continue;
      const file = path.join(dirent.parentPath ?? (dirent as unknown as { path: string }).path, dirent.name);
      const layer = path.relative(src, file).split(path.sep)[0]!;
      if (!(layer in MAY_IMPORT)) continue; // src/version.ts: a constant every layer may read
      for (const m of (await fs.readFile(file, 'utf8')).matchAll(/(?:from|import\s*\(?)\s*['"]((?:\.\.\/)+)([a-z]+)\//g)) {
        const target = m[2]!;
        if (target !== layer && !MAY_IMPORT[layer]!.includes(target)) offences.push(`${path.relative(src, file)} imports ${target}`);
      }
    }
    expect(Object.keys(MAY_IMPORT).sort()).toEqual((await fs.readdir(src, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort());
    expect(offences).toEqual([]);
  });

  it('compression runs through the codec layer only: one error class, no zlib transform or program table elsewhere', async () => {
    const codec = await import('../src/codec/errors.js');
    expect(CodecError).toBe(codec.CodecError); // bundle/errors.ts re-exports it: the CLI's rule matches both sides' failures
    const src = fileURLToPath(new URL('../src/', import.meta.url));
    const offences: string[] = [];
    for (const dirent of await fs.readdir(src, { recursive: true, withFileTypes: true })) {
      if (!dirent.isFile() || !dirent.name.endsWith('.ts')) continue;
      const file = path.relative(src, path.join(dirent.parentPath ?? (dirent as unknown as { path: string }).path, dirent.name));
      if (file.startsWith(`codec${path.sep}`)) continue;
      const text = await fs.readFile(path.join(src, file), 'utf8');
      // A zlib transform made here, or a compressor's argument list (["-d", "-c"]): a second codec.
      for (const m of text.matchAll(/create(?:Gunzip|Gzip|Inflate|Zstd\w*)\(|\[\s*'-d',\s*'-c'/g)) offences.push(`${file}: ${m[0]}`);
    }
    // The bench's fallback names the alternative by hand ("gzip -d -c", for tar | gzip): it is what the user would run, not ours.
    expect(offences.filter((o) => !o.startsWith(`bench${path.sep}`))).toEqual([]);
  });

  it('numbers are written in hex by util/text.ts alone (hex, hexEscape), so every message shows them one way', async () => {
    const src = fileURLToPath(new URL('../src/', import.meta.url));
    const offences: string[] = [];
    for (const dirent of await fs.readdir(src, { recursive: true, withFileTypes: true })) {
      if (!dirent.isFile() || !dirent.name.endsWith('.ts')) continue;
      const file = path.relative(src, path.join(dirent.parentPath ?? (dirent as unknown as { path: string }).path, dirent.name));
      if (file === path.join('util', 'text.ts')) continue;
      const lines = (await fs.readFile(path.join(src, file), 'utf8')).split('\n');
      lines.forEach((l, i) => {
        if (l.includes('toString(16)')) offences.push(`${file}:${i + 1}`);
      });
    }
    // /proc/PID/map_files names are the kernel's: hex digits without 0x, a path, not a number shown to anyone.
    expect(offences.filter((o) => !o.startsWith(path.join('capture', 'bundle.ts')))).toEqual([]);
  });

  it("the README's exit-code table is the one in src/cli/exit.ts", async () => {
    const readme = await fs.readFile(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
    const section = readme.slice(readme.indexOf('### Exit codes'));
    const rows = [...section.slice(0, section.indexOf('\n## ')).matchAll(/^\| (\d+) \| (.*) \|$/gm)].map((m) => ({ code: Number(m[1]), help: m[2] }));
    expect(rows).toEqual(Object.values(EXIT_CODES).map(({ code, help }) => ({ code, help })));
  });
});

describe('commands the messages tell the user to run', () => {
  it("no string in src/ or templates/ names a bare corepack command: Node's own corepack is on PATH", async () => {
    const root = fileURLToPath(new URL('../', import.meta.url));
    const bare = /\bcorepack (?:collect|replay|inspect|list|report|handle|handler|doctor)\b/;
    // Names of things, not commands to run: the report's generator line, and replay's heading above its output.
    const names = [/corepack report, schema/, /`corepack replay: \$\{/];
    const offences: string[] = [];
    for (const dir of ['src', 'templates']) {
      for (const dirent of await fs.readdir(path.join(root, dir), { recursive: true, withFileTypes: true })) {
        if (!dirent.isFile()) continue;
        const file = path.join(dirent.parentPath ?? (dirent as unknown as { path: string }).path, dirent.name);
        const rel = path.relative(root, file);
        // The bench is for developers in a checkout, and labels its own rows.
        if (rel.startsWith(path.join('src', 'bench'))) continue;
        (await fs.readFile(file, 'utf8')).split('\n').forEach((line, i) => {
          // Source comments are for us; every line of a template ends up in front of the user.
          if (dir === 'src' && /^\s*(?:\/\/|\/?\*)/.test(line)) return;
          if (bare.test(line) && !names.some((n) => n.test(line))) offences.push(`${rel}:${i + 1}: ${line.trim()}`);
        });
      }
    }
    expect(offences).toEqual([]);
  });

  it("handler status names corepack-crash, not Node's corepack", async () => {
    const { formatStatus } = await import('../src/cli/handler.js');
    const text = formatStatus({
      installed: true,
      active: false,
      corePattern: 'core',
      pipeLimit: 16,
      record: { previousPattern: '|/usr/lib/systemd/systemd-coredump %P', previousPipeLimit: 0, pattern: '|/usr/local/bin/corepack-crash handle', pipeLimit: 16, config: '/etc/corepack/handler.json', installedAt: '2026-12-03T10:00:00Z', corepackVersion: '0.1.0' },
      config: { path: '/etc/corepack/handler.json', ok: true, problem: null, spool: '/var/lib/corepack/spool' },
      spool: { bundles: 2, bytes: 4096 },
      captures: [],
    });
    expect(text).toContain('corepack-crash handler uninstall --force restores');
    expect(text).toContain('(corepack-crash list /var/lib/corepack/spool shows them)');
    expect(text).not.toMatch(/\bcorepack (?:handler|list)\b/);
  });
});
