/**
 * Options are normalised once, at the CLI edge: every default set there,
 * paths resolved there, bad values refused there with the option named.
 */
import { describe, expect, it } from 'vitest';
import { normalizeCollectOptions, normalizeGdbArgs, normalizeReplayOptions } from '../src/cli/options.js';
import { normalizeInspectOptions } from '../src/cli/inspect.js';
import { BadOptionError } from '../src/util/errors.js';
import { DEFAULT_DEBUG_DIR } from '../src/util/debugfiles.js';
import { describeError } from '../src/cli/errors.js';
import { EXIT } from '../src/cli/exit.js';
import { parseSize } from '../src/util/size.js';
import { validateConfig } from '../src/capture/config.js';
import { parseSize as benchSize } from '../src/bench/stats.js';

describe('collect options', () => {
  it('fills every default and resolves every path against the working directory', () => {
    const { collect, json } = normalizeCollectOptions('dumps/core.42', {}, '/work/x');
    expect(collect).toMatchObject({ core: '/work/x/dumps/core.42', executable: null, output: '/work/x/core.42.tbz2', withDebug: false, debugDir: null });
    expect(collect.format.format).toBe('bzip2');
    expect(json).toBe(false);
  });

  it('renames -e to executable, resolved; keeps the chosen format and debug dir', () => {
    const { collect } = normalizeCollectOptions('/c/core', { exe: 'bin/app', output: 'out.tar.zst', withDebug: true, debugDir: 'dbg', json: true }, '/w');
    expect(collect).toMatchObject({ executable: '/w/bin/app', output: '/w/out.tar.zst', withDebug: true, debugDir: '/w/dbg' });
    expect(collect.format.format).toBe('zstd');
  });

  it('refuses an output whose name gives no format, and one that is the core, as usage errors naming -o', () => {
    const unknown = (() => {
      try {
        normalizeCollectOptions('/c/core', { output: 'x.zip' });
      } catch (err) {
        return err;
      }
    })();
    expect(unknown).toBeInstanceOf(BadOptionError);
    expect(unknown).toMatchObject({ option: '-o', value: 'x.zip' });
    expect(describeError(unknown)).toMatchObject({ code: EXIT.USAGE, hint: expect.stringMatching(/\.tbz2/) });
    expect(() => normalizeCollectOptions('/c/core.tgz', { output: '/c/core.tgz' })).toThrow(/would overwrite the core/);
  });

  it('--stacks-only makes miniCore, --stack-cap its cap in bytes; without --stacks-only there is none', () => {
    expect(normalizeCollectOptions('/c/core', {}).collect.miniCore).toBeNull();
    expect(normalizeCollectOptions('/c/core', { stacksOnly: true }).collect.miniCore).toEqual({ stackCap: null });
    for (const [typed, bytes] of [['65536', 65536], ['256K', 262144], ['1M', 1048576], ['2MiB', 2097152], ['1g', 1073741824]] as const) {
      expect(normalizeCollectOptions('/c/core', { stacksOnly: true, stackCap: typed }).collect.miniCore).toEqual({ stackCap: bytes });
    }
  });

  it('refuses a --stack-cap that is not a size, too small, or without --stacks-only, naming --stack-cap', () => {
    for (const flags of [{ stacksOnly: true, stackCap: 'lots' }, { stacksOnly: true, stackCap: '100' }, { stacksOnly: true, stackCap: '-4K' }, { stackCap: '1M' }]) {
      let err: unknown;
      try {
        normalizeCollectOptions('/c/core', flags);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(BadOptionError);
      expect(err).toMatchObject({ option: '--stack-cap', value: flags.stackCap });
      expect(describeError(err).code).toBe(EXIT.USAGE);
    }
  });

  it('--split SIZE in bytes; encryption keeps the bundle name and the layer adds .age', () => {
    expect(normalizeCollectOptions('/c/core', { split: '25M' }).collect.layers).toEqual({ splitBytes: 25 * 1024 * 1024, encrypt: null });
    const e = normalizeCollectOptions('/c/core', { output: 'x.tbz2.age', encryptTo: ['age1abc'], recipientsFile: ['r.txt'] }, '/w');
    expect(e.collect.output).toBe('/w/x.tbz2');
    expect(e.encryption).toEqual({ recipients: ['age1abc'], recipientsFiles: ['/w/r.txt'], passphrase: null });
    expect(normalizeCollectOptions('/c/core', {}).encryption).toBeNull();
  });
});

describe('replay options', () => {
  it('defaults: cache dir, gdb chosen for the core\'s machine (null), the bundle\'s libthread_db, the host debug dir', () => {
    const o = normalizeReplayOptions({}, {});
    expect(o).toEqual({ dir: null, batch: false, json: false, runsGdb: true, gdb: null, hostThreadDb: false, hostDebugDirs: [DEFAULT_DEBUG_DIR], sandbox: true, lldb: false, sourceDirs: [], debuginfod: null, keys: { identityFiles: [], passphrase: null } });
  });

  it('--identity files come first, then those of COREPACK_IDENTITY, all resolved; a passphrase names its source, never its value', () => {
    const o = normalizeReplayOptions({ identity: ['k1.txt', '/abs/k2.txt'], passphraseFile: 'pw' }, { COREPACK_IDENTITY: 'e1.txt:/abs/e2.txt' }, '/w');
    expect(o.keys).toEqual({ identityFiles: ['/w/k1.txt', '/abs/k2.txt', '/w/e1.txt', '/abs/e2.txt'], passphrase: { from: 'file', path: '/w/pw' } });
    expect(normalizeReplayOptions({ passphrase: true }, {}).keys.passphrase).toEqual({ from: 'terminal' });
    expect(() => normalizeReplayOptions({ passphrase: true, passphraseFile: '-' }, {})).toThrow(BadOptionError);
  });

  it('--host-thread-db is carried as it is typed, not inverted; --json alone runs no gdb; --dir is resolved once', () => {
    const o = normalizeReplayOptions({ hostThreadDb: true, json: true, dir: 'r' }, { DEBUGINFOD_URLS: 'https://d.example' }, '/w');
    expect(o).toMatchObject({ hostThreadDb: true, runsGdb: false, dir: '/w/r' });
    expect(normalizeReplayOptions({ json: true, batch: true }, {}).runsGdb).toBe(true);
    expect(normalizeReplayOptions({ sandbox: false }, {}).sandbox).toBe(false);
    expect(normalizeReplayOptions({ source: ['.'] }, {}, '/').sourceDirs).toEqual(['/']);
    expect(() => normalizeReplayOptions({ source: ['/nonexistent-src'] }, {})).toThrow(BadOptionError);
    expect(() => normalizeReplayOptions({ lldb: true, gdb: 'gdb' }, {})).toThrow(BadOptionError);
  });

  it('debuginfod: --debuginfod replaces DEBUGINFOD_URLS; libdebuginfod\'s cache directory and timeout', () => {
    const env = { HOME: '/nonexistent-home', DEBUGINFOD_URLS: 'https://d.example/  ftp://x  http://e.example:8002', DEBUGINFOD_TIMEOUT: '3' };
    expect(normalizeReplayOptions({}, env).debuginfod).toEqual({ urls: ['https://d.example', 'http://e.example:8002'], cacheDir: '/nonexistent-home/.cache/debuginfod_client', timeoutMs: 3000 });
    expect(normalizeReplayOptions({ debuginfod: ['http://127.0.0.1:1234/'] }, env).debuginfod?.urls).toEqual(['http://127.0.0.1:1234']);
    expect(normalizeReplayOptions({}, { ...env, DEBUGINFOD_CACHE_PATH: '/c', DEBUGINFOD_TIMEOUT: '' }).debuginfod).toMatchObject({ cacheDir: '/c', timeoutMs: 10_000 });
    expect(normalizeReplayOptions({}, { HOME: '/h', XDG_CACHE_HOME: '/x', DEBUGINFOD_URLS: 'http://a' }).debuginfod?.cacheDir).toBe('/x/debuginfod_client');
    expect(normalizeReplayOptions({}, { DEBUGINFOD_URLS: '  ' }).debuginfod).toBeNull();
    expect(() => normalizeReplayOptions({ debuginfod: ['debuginfod.example'] }, {})).toThrow(BadOptionError);
  });

  it('refuses a --dir gdb cannot hold (a ":"), as a usage error', () => {
    let err: unknown;
    try {
      normalizeReplayOptions({ dir: '/tmp/a:b' }, {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BadOptionError);
    expect(describeError(err).code).toBe(EXIT.USAGE);
  });
});

describe('inspect options', () => {
  it('--json defaults to false', () => {
    expect(normalizeInspectOptions({}, '/w', {})).toEqual({ json: false, keys: { identityFiles: [], passphrase: null } });
    expect(normalizeInspectOptions({ json: true }, '/w', {}).json).toBe(true);
  });
});

describe('gdb arguments after --', () => {
  it('script files named by relative paths become absolute against the directory corepack started in', () => {
    expect(normalizeGdbArgs(['-x', 'a.gdb', '--command=b/c.gdb', '-ix', '/abs.gdb', '-init-command', 'i.gdb'], '/home/dev')).toEqual([
      '-x', '/home/dev/a.gdb', '--command=/home/dev/b/c.gdb', '-ix', '/abs.gdb', '-init-command', '/home/dev/i.gdb',
    ]);
  });
  it('commands and other options are passed as they are', () => {
    const args = ['-ex', 'source x.gdb', '-batch', '--nx', '-x'];
    expect(normalizeGdbArgs(args, '/home/dev')).toEqual(args);
  });
});

describe('one size grammar (util/size.ts) for every option and setting that takes a size', () => {
  // Each reader as the user meets it: --split, --stack-cap, --attach-max, the handler's configuration, the bench's --size.
  const readers: Record<string, (text: string) => number | undefined> = {
    parseSize: (t) => parseSize(t),
    '--split': (t) => attempt(() => (normalizeCollectOptions('/c/core', { split: t }).collect.layers.splitBytes ?? undefined)),
    '--stack-cap': (t) => attempt(() => normalizeCollectOptions('/c/core', { stacksOnly: true, stackCap: t }).collect.miniCore?.stackCap ?? undefined),
    '--attach-max': (t) => attempt(() => normalizeCollectOptions('/c/core', { attachMax: t }).collect.attach.maxBytes),
    'handler config "split"': (t) => attempt(() => validateConfig({ spool: '/s', split: t }, '/etc/h.json', '/st').split ?? undefined),
    'bench --size': (t) => attempt(() => benchSize(t)),
  };
  const attempt = (f: () => number | undefined): number | undefined => {
    try {
      return f();
    } catch {
      return undefined;
    }
  };

  it.each([
    ['64M', 64 * 1024 ** 2],
    ['64MiB', 64 * 1024 ** 2],
    ['64mb', 64 * 1024 ** 2],
    ['1.5G', 1.5 * 1024 ** 3],
    ['512k', 512 * 1024],
    ['2T', 2 * 1024 ** 4],
    [' 8 K ', 8 * 1024],
  ])('%s is %d bytes to every reader', (text, bytes) => {
    for (const [name, read] of Object.entries(readers)) expect(read(text), `${name} ${JSON.stringify(text)}`).toBe(bytes);
  });

  it('none reads a fraction of a byte, a sign, or junk', () => {
    for (const text of ['1.5', '1.1K', '-4K', '4X', 'M', 'lots']) {
      for (const [name, read] of Object.entries(readers)) expect(read(text), `${name} ${JSON.stringify(text)}`).toBeUndefined();
    }
  });

  it('a bare number is bytes, except to the bench (the unit is what people get wrong there)', () => {
    expect(parseSize('262144')).toBe(262144);
    expect(readers['--stack-cap']!('262144')).toBe(262144);
    expect(readers['--split']!('262144')).toBe(262144);
    expect(() => benchSize('64')).toThrow(/unit/);
  });
});
