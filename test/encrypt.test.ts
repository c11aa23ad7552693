/**
 * collect --encrypt-to / --passphrase and replay/inspect --identity: real
 * cores of crashme, the real CLI, and the Debian `age` CLI (1.1.1) as the
 * other implementation, both ways: what corepack encrypts, age decrypts, and
 * the other way round. Passphrases typed on a real pseudo-terminal (`script`),
 * for corepack and for age alike.
 */
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, corepack, expectOneLineError } from './helpers/cli.js';
import { useCrash } from './helpers/crash.js';
import { ageRecipients } from '../src/bundle/encrypt.js';
import { EncryptedBundleError } from '../src/bundle/errors.js';

const env = useCrash('segv-main', 'corepack-age-');
let dir: string;
let key: string;
let pub: string;
let otherKey: string;
let otherPub: string;

async function keygen(file: string): Promise<string> {
  await execa('age-keygen', ['-o', file]);
  return (await execa('age-keygen', ['-y', file])).stdout.trim();
}

/** Runs `argv` on a pseudo-terminal, typing `answers` one per prompt that mentions a passphrase. */
async function onTerminal(argv: string[], answers: string[], cwd: string): Promise<{ exitCode: number; output: string }> {
  const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const child = execa('script', ['-qec', quoted, '/dev/null'], { cwd, stdin: 'pipe', reject: false, timeout: 120_000 });
  let output = '';
  let typed = 0;
  child.stdout!.on('data', (d: Buffer) => {
    output += d.toString();
    const prompts = (output.match(/passphrase/gi) ?? []).length;
    while (typed < prompts && typed < answers.length) child.stdin!.write(`${answers[typed++]}\r`);
  });
  const r = await child;
  return { exitCode: r.exitCode ?? -1, output };
}

async function tarList(file: string): Promise<string[]> {
  return (await execa('tar', ['tjf', file])).stdout.split('\n');
}

afterAll(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

beforeAll(async () => {
  dir = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-age-out-')));
  key = path.join(dir, 'key.txt');
  otherKey = path.join(dir, 'other.txt');
  pub = await keygen(key);
  otherPub = await keygen(otherKey);
});

describe('collect --encrypt-to (X25519)', () => {
  let bundle: string;
  beforeAll(async () => {
    const out = path.join(dir, 'x25519');
    await fs.mkdir(out);
    const run = await corepack(['collect', env.crash.core, '-e', env.program.exe, '-o', path.join(out, 'crash.tbz2'), '--encrypt-to', pub]);
    expect(run.exitCode, run.stderr).toBe(0);
    bundle = path.join(out, 'crash.tbz2.age');
    expect(await fs.readdir(out)).toEqual(['crash.tbz2.age']);
  });

  it('writes an age file the age CLI decrypts into a bundle GNU tar lists', async () => {
    expect((await fs.readFile(bundle)).subarray(0, 22).toString('latin1')).toBe('age-encryption.org/v1\n');
    const plain = path.join(dir, 'x25519-plain.tbz2');
    await execa('age', ['-d', '-i', key, '-o', plain, bundle]);
    const list = await tarList(plain);
    expect(list[0]).toBe('crash/manifest.json');
    expect(list).toContain(`crash/sysroot${env.program.exe}`);
  });

  it('replays with --identity, and with the identity in COREPACK_IDENTITY', async () => {
    const run = await corepack(['replay', bundle, '--batch', '--identity', key, '--dir', path.join(dir, 'r1')]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/crash_here/);
    const viaEnv = await corepack(['replay', bundle, '--json', '--dir', path.join(dir, 'r2')], { env: { COREPACK_IDENTITY: `${otherKey}:${key}` } });
    expect(viaEnv.exitCode, viaEnv.stderr).toBe(0);
    expect(JSON.parse(viaEnv.stdout).ok).toBe(true);
  });

  it('without a matching identity: one line saying it is encrypted and for whom, exit 3, nothing extracted; the cache does not bypass it', async () => {
    const none = await corepack(['replay', bundle, '--batch', '--dir', path.join(dir, 'r3')]);
    expect(none.exitCode).toBe(3);
    expect(expectOneLineError(none)).toBe(`corepack: error: ${bundle} is encrypted (age) for 1 recipient (X25519); no identity was given`);
    expect(none.stderr).toMatch(/pass --identity KEYFILE \(or set COREPACK_IDENTITY=KEYFILE\)/);
    expect(await fs.readdir(path.join(dir, 'r3')).catch(() => [])).not.toContain('bundle');
    const wrong = await corepack(['replay', bundle, '--batch', '--identity', otherKey, '--dir', path.join(dir, 'r1')]);
    expect(wrong.exitCode).toBe(3);
    expect(expectOneLineError(wrong)).toBe(`corepack: error: ${bundle} is encrypted (age) for 1 recipient (X25519); none of ${otherKey} matches`);
  });

  it('inspect says the same without a key, and shows the manifest with one', async () => {
    const none = await corepack(['inspect', bundle]);
    expect(none.exitCode).toBe(3);
    expect(expectOneLineError(none)).toBe(`corepack: error: ${bundle} is encrypted (age) for 1 recipient (X25519); no identity was given`);
    const withKey = await corepack(['inspect', bundle, '--identity', key]);
    expect(withKey.exitCode, withKey.stderr).toBe(0);
    expect(withKey.stdout).toContain(`executable:  ${env.program.exe}`);
    const json = await corepack(['inspect', bundle, '--identity', key, '--json']);
    expect(JSON.parse(json.stdout).format).toBe('corepack-bundle');
  });

  it('names no bundled file anywhere in the age file', async () => {
    const bytes = await fs.readFile(bundle);
    for (const needle of [env.program.exe, 'manifest.json', 'libfoo', 'BZh9']) expect(bytes.includes(Buffer.from(needle))).toBe(false);
  });

  it('refuses a tampered or truncated age file as damaged, extracting nothing', async () => {
    const bytes = await fs.readFile(bundle);
    const tampered = Buffer.from(bytes);
    tampered[Math.floor(bytes.length / 2)]! ^= 0x01;
    const t = path.join(dir, 'tampered.tbz2.age');
    await fs.writeFile(t, tampered);
    const run = await corepack(['replay', t, '--batch', '--identity', key, '--dir', path.join(dir, 'r4')]);
    expect(run.exitCode).toBe(3);
    expect(expectOneLineError(run)).toMatch(/the encrypted bundle is damaged, truncated or was altered/);
    expect(await fs.readdir(path.join(dir, 'r4'))).toEqual([]);
    const cut = path.join(dir, 'cut.tbz2.age');
    await fs.writeFile(cut, bytes.subarray(0, bytes.length - 1000));
    const short = await corepack(['replay', cut, '--batch', '--identity', key, '--dir', path.join(dir, 'r5')]);
    expect(short.exitCode).toBe(3);
    expect(expectOneLineError(short)).toMatch(/the encrypted bundle is damaged, truncated or was altered/);
    expect(await fs.readdir(path.join(dir, 'r5'))).toEqual([]);
  });
});

describe('the age CLI and corepack, the other way round', () => {
  it('replays a bundle the age CLI encrypted for an X25519 key', async () => {
    const plain = path.join(dir, 'for-age-cli.tbz2');
    const run = await corepack(['collect', env.crash.core, '-e', env.program.exe, '-o', plain]);
    expect(run.exitCode, run.stderr).toBe(0);
    await execa('age', ['-r', pub, '-o', `${plain}.age`, plain]);
    const replay = await corepack(['replay', `${plain}.age`, '--batch', '--identity', key, '--dir', path.join(dir, 'r6')]);
    expect(replay.exitCode, replay.stderr).toBe(0);
    expect(replay.stdout).toMatch(/crash_here/);
  });

  it('passphrase: typed on a terminal for collect, decrypted by the age CLI on a terminal, and the reverse', async () => {
    const out = path.join(dir, 'pass');
    await fs.mkdir(out);
    const pass = 'correct horse battery staple';
    const collect = await onTerminal([process.execPath, BIN, 'collect', env.crash.core, '-e', env.program.exe, '-o', 'crash.tbz2', '--passphrase'], [pass, pass], out);
    expect(collect.exitCode, collect.output).toBe(0);
    expect(collect.output).not.toContain(pass); // echo off
    const header = (await fs.readFile(path.join(out, 'crash.tbz2.age'))).subarray(0, 200);
    expect(ageRecipients(header).types).toEqual(['scrypt']);
    const dec = await onTerminal(['age', '-d', '-o', 'plain.tbz2', 'crash.tbz2.age'], [pass], out);
    expect(dec.exitCode, dec.output).toBe(0);
    expect((await tarList(path.join(out, 'plain.tbz2')))[0]).toBe('crash/manifest.json');

    // age -p, then corepack with the passphrase from a file, from standard input, and a wrong one.
    const enc = await onTerminal(['age', '-p', '-o', 'by-age.tbz2.age', 'plain.tbz2'], [pass, pass], out);
    expect(enc.exitCode, enc.output).toBe(0);
    await fs.writeFile(path.join(out, 'pw'), `${pass}\n`, { mode: 0o600 });
    const replay = await corepack(['replay', path.join(out, 'by-age.tbz2.age'), '--json', '--passphrase-file', path.join(out, 'pw'), '--dir', path.join(dir, 'r7')]);
    expect(replay.exitCode, replay.stderr).toBe(0);
    const stdin = await execa(process.execPath, [BIN, 'inspect', path.join(out, 'crash.tbz2.age'), '--passphrase-file', '-'], { input: `${pass}\n`, reject: false });
    expect(stdin.exitCode, stdin.stderr).toBe(0);
    expect(stdin.stdout).toContain(`executable:  ${env.program.exe}`);
    await fs.writeFile(path.join(out, 'bad'), 'not it\n');
    const wrong = await corepack(['replay', path.join(out, 'by-age.tbz2.age'), '--batch', '--passphrase-file', path.join(out, 'bad'), '--dir', path.join(dir, 'r8')]);
    expect(wrong.exitCode).toBe(3);
    // A wrong passphrase is named as such, with the advice for a passphrase, not the advice for a wrong key (issue 18, defect 6).
    expect(expectOneLineError(wrong)).toMatch(/is encrypted \(age\) with a passphrase; the passphrase given is not the one it was encrypted with/);
    expect(wrong.stderr).toMatch(/^corepack: check the passphrase with the sender and pass it again/m);
    expect(wrong.stderr).not.toMatch(/another key|public key/);
    const none = await corepack(['inspect', path.join(out, 'by-age.tbz2.age')]);
    expect(expectOneLineError(none)).toMatch(/is encrypted \(age\) with a passphrase; no passphrase was given/);
  });
});

describe('recipients, and composition with --split', () => {
  it('encrypts for every recipient of --encrypt-to and --recipients-file; split parts of the age file join and replay', async () => {
    const out = path.join(dir, 'multi');
    await fs.mkdir(out);
    const recipients = path.join(dir, 'recipients.txt');
    await fs.writeFile(recipients, `# the vendor's support team\n${otherPub}\n\n`);
    const run = await corepack(['collect', env.crash.core, '-e', env.program.exe, '-o', path.join(out, 'crash.tbz2'), '--encrypt-to', pub, '--recipients-file', recipients, '--split', '128K']);
    expect(run.exitCode, run.stderr).toBe(0);
    const names = (await fs.readdir(out)).sort();
    const parts = names.filter((n) => /^crash\.tbz2\.age\.\d{3}$/.test(n));
    expect(parts.length).toBeGreaterThan(2);
    expect(names).toEqual([...parts, 'crash.tbz2.age-parts.sha256'].sort());
    // Without corepack: join, decrypt with either key, untar.
    for (const k of [key, otherKey]) {
      const { stdout } = await execa('sh', ['-c', `cat crash.tbz2.age.* | age -d -i '${k}' | tar tjf -`], { cwd: out });
      expect(stdout.split('\n')[0]).toBe('crash/manifest.json');
    }
    const last = parts[parts.length - 1]!;
    const inspect = await corepack(['inspect', path.join(out, last)]);
    expect(expectOneLineError(inspect)).toBe(`corepack: error: ${path.join(out, last)} is encrypted (age) for 2 recipients (X25519); no identity was given`);
    const shown = await corepack(['inspect', path.join(out, last), '--identity', key]);
    expect(shown.exitCode, shown.stderr).toBe(0);
    expect(shown.stdout).toContain(`split:       ${parts.length} parts of at most 128.0 KiB, index crash.tbz2.age-parts.sha256\nencrypted:   age, for 2 recipients (X25519)\n`);
    const replay = await corepack(['replay', path.join(out, parts[0]!), '--batch', '--identity', otherKey, '--dir', path.join(dir, 'r9')]);
    expect(replay.exitCode, replay.stderr).toBe(0);
    expect(replay.stdout).toMatch(/crash_here/);
  });

  it('refuses a bad recipient, an SSH recipient and recipients with a passphrase as usage errors, before writing anything', async () => {
    const out = path.join(dir, 'bad');
    await fs.mkdir(out);
    const o = path.join(out, 'b.tbz2');
    // One character changed: bech32's checksum always catches that.
    const typo = await corepack(['collect', env.crash.core, '-o', o, '--encrypt-to', `${pub.slice(0, -1)}${pub.endsWith('q') ? 'p' : 'q'}`]);
    expect(typo.exitCode).toBe(2);
    expect(expectOneLineError(typo)).toMatch(/not a valid age recipient/);
    const ssh = await corepack(['collect', env.crash.core, '-o', o, '--encrypt-to', 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN']);
    expect(ssh.exitCode).toBe(2);
    expect(expectOneLineError(ssh)).toMatch(/SSH recipients are not supported by corepack; encrypt with the age CLI/);
    const both = await corepack(['collect', env.crash.core, '-o', o, '--encrypt-to', pub, '--passphrase-file', key]);
    expect(both.exitCode).toBe(2);
    const plainAge = await corepack(['collect', env.crash.core, '-o', `${o}.age`]);
    expect(plainAge.exitCode).toBe(2);
    expect(expectOneLineError(plainAge)).toMatch(/names an encrypted bundle, but no recipient was given/);
    expect(await fs.readdir(out)).toEqual([]);
  });

  it('counts recipients by type from the header alone', () => {
    const head = Buffer.from('age-encryption.org/v1\n-> X25519 abc\nbody\n-> X25519 def\nbody\n-> ssh-ed25519 Zm9v ghi\nbody\n--- mac\n');
    const r = ageRecipients(head);
    expect(r.types).toEqual(['X25519', 'X25519', 'ssh-ed25519']);
    expect(EncryptedBundleError.forWhom(r)).toBe('for 3 recipients (2 X25519, 1 ssh-ed25519)');
  });
});

describe('nothing in the clear on disk', () => {
  it('every file in the output directory is ciphertext while collect runs and after, and TMPDIR stays empty', async () => {
    const out = path.join(dir, 'scan');
    const tmp = path.join(dir, 'scan-tmp');
    await fs.mkdir(out);
    await fs.mkdir(tmp);
    const child = execa(process.execPath, [BIN, 'collect', env.crash.core, '-e', env.program.exe, '-o', path.join(out, 'crash.tar.gz'), '--encrypt-to', pub], { reject: false, env: { TMPDIR: tmp } });
    let running = true;
    void child.finally(() => (running = false));
    const seen = new Set<string>();
    const plaintext: string[] = [];
    const scan = async (): Promise<void> => {
      for (const name of await fs.readdir(out)) {
        const bytes = await fs.readFile(path.join(out, name)).catch(() => undefined);
        if (!bytes || bytes.length === 0) continue;
        seen.add(name);
        // Ciphertext starts with the age header; gzip, bzip2, zstd or tar bytes would be the bundle in the clear.
        if (!bytes.subarray(0, Math.min(bytes.length, 22)).equals(Buffer.from('age-encryption.org/v1\n').subarray(0, Math.min(bytes.length, 22)))) plaintext.push(name);
        if (bytes.includes(Buffer.from('manifest.json')) || bytes.includes(Buffer.from(env.program.exe))) plaintext.push(name);
      }
    };
    while (running) await scan();
    const r = await child;
    expect(r.exitCode, String(r.stderr)).toBe(0);
    await scan();
    expect(plaintext).toEqual([]);
    expect([...seen].some((n) => n.includes('.corepack-tmp-'))).toBe(true); // the scan did see the file being written
    expect(await fs.readdir(out)).toEqual(['crash.tar.gz.age']);
    expect(await fs.readdir(tmp)).toEqual([]);
  });
});

describe('faults with the byte layers', () => {
  let big: string;
  beforeAll(async () => {
    // The real core padded with a 2 GiB hole: long enough to interrupt.
    big = path.join(dir, 'big.core');
    await fs.copyFile(env.crash.core, big);
    await fs.truncate(big, 2 * 1024 ** 3);
  });

  it('SIGTERM while writing encrypted parts: exit 143, not a part, index or temporary left', async () => {
    const out = path.join(dir, 'term');
    await fs.mkdir(out);
    const child = execa(process.execPath, [BIN, 'collect', big, '-e', env.program.exe, '-o', path.join(out, 'b.tbz2'), '--encrypt-to', pub, '--split', '4K'], { reject: false });
    const end = Date.now() + 60_000;
    while ((await fs.readdir(out)).length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    expect((await fs.readdir(out)).some((n) => n.includes('.corepack-tmp-'))).toBe(true); // in the writing phase
    child.kill('SIGTERM');
    const r = await child;
    expect(r.exitCode, String(r.stderr)).toBe(143);
    expect(await fs.readdir(out)).toEqual([]);
  });

  it('a file size limit under an encrypted bundle: exit 7 naming the output, nothing left', async () => {
    const out = path.join(dir, 'fsize');
    await fs.mkdir(out);
    const o = path.join(out, 'b.tbz2');
    const r = await execa('bash', ['-c', 'ulimit -f 64; exec "$@"', 'bash', process.execPath, BIN, 'collect', env.crash.core, '-e', env.program.exe, '-o', o, '--encrypt-to', pub], { reject: false });
    expect(r.exitCode, r.stderr).toBe(7);
    expect(r.stderr).toMatch(new RegExp(`^corepack: error: cannot write ${o.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.age: file size limit reached; no bundle was written$`, 'm'));
    expect(await fs.readdir(out)).toEqual([]);
  });
});

describe('with --stacks-only', () => {
  it('a mini core, encrypted and split, joins, decrypts with the age CLI and replays from a part', async () => {
    const out = path.join(dir, 'mini');
    await fs.mkdir(out);
    const run = await corepack(['collect', env.crash.core, '-e', env.program.exe, '-o', path.join(out, 'crash.tbz2'), '--stacks-only', '--encrypt-to', pub, '--split', '64K']);
    expect(run.exitCode, run.stderr).toBe(0);
    const names = (await fs.readdir(out)).sort();
    const parts = names.filter((n) => /^crash\.tbz2\.age\.\d{3}$/.test(n));
    expect(names).toEqual([...parts, 'crash.tbz2.age-parts.sha256'].sort()); // the mini core's temporary is gone too
    const { stdout } = await execa('sh', ['-c', `cat crash.tbz2.age.* | age -d -i '${key}' | tar xjOf - crash/manifest.json`], { cwd: out });
    expect(JSON.parse(stdout).miniCore.cutFrom.path).toBe(env.crash.core);
    const replay = await corepack(['replay', path.join(out, parts[parts.length - 1]!), '--batch', '--identity', key, '--dir', path.join(dir, 'r-mini')]);
    expect(replay.exitCode, replay.stderr).toBe(0);
    expect(replay.stdout).toMatch(/crash_here/);
  });
});
