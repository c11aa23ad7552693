/**
 * collect --attach: a real core of crashme bundled with the customer's logs
 * (a glob, a directory, a pattern matching nothing, a fifo, a file over the
 * cap, a symlink to a file and one to a directory, a name with a newline);
 * GNU tar shows them under attachments/, replay extracts and lists them,
 * inspect lists them. Hostile bundles (written byte by byte) with an
 * attachment path climbing out or an attachment that is a symlink leaving the
 * bundle are refused like any other entry.
 */
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { corepack, expectOneLineError, type CliRun } from './helpers/cli.js';
import { useCrash } from './helpers/crash.js';
import { bundleEntries, compress, sha256, tar, type TarEntry } from './helpers/tarWriter.js';
import { attachmentBundlePath } from '../src/collect/attach.js';
import type { Manifest } from '../src/bundle/manifest.js';

const env = useCrash('segv-main', 'corepack-attach-');
let logs: string;
let out: string;
let bundle: string;
let collected: CliRun;
const NEWLINE_NAME = 'rotated\nold.log';

beforeAll(async () => {
  logs = path.join(env.work, 'var', 'log', 'acme');
  const conf = path.join(env.work, 'etc', 'acme');
  out = path.join(env.work, 'out');
  await fs.mkdir(path.join(logs, 'old'), { recursive: true });
  await fs.mkdir(conf, { recursive: true });
  await fs.mkdir(out);
  await fs.writeFile(path.join(logs, 'server.log'), 'server started\nrequest 3 crashed\n');
  await fs.writeFile(path.join(logs, 'access.log'), 'GET /\n');
  await fs.writeFile(path.join(logs, NEWLINE_NAME), 'yesterday\n');
  await fs.writeFile(path.join(logs, 'old', 'x.log'), 'not matched by *.log\n');
  await execa('mkfifo', [path.join(logs, 'pipe.log')]);
  await fs.truncate(await fs.open(path.join(logs, 'huge.log'), 'w').then(async (h) => (await h.close(), path.join(logs, 'huge.log'))), 3 * 1024 * 1024);
  await fs.symlink('server.log', path.join(logs, 'current.log'));
  await fs.symlink('/etc', path.join(logs, 'etc.log'));
  await fs.writeFile(path.join(conf, 'server.conf'), 'threads = 4\n');
  await fs.mkdir(path.join(conf, 'conf.d'));
  await fs.writeFile(path.join(conf, 'conf.d', 'tls.conf'), 'tls = on\n');
  bundle = path.join(out, 'crash.tbz2');
  // Patterns relative to the working directory, one absolute directory, one matching nothing.
  collected = await corepack(
    ['collect', env.crash.core, '-e', env.program.exe, '-o', bundle, '--attach', 'var/log/acme/*.log', '--attach', conf, '--attach', '/nonexistent/acme/*.conf', '--attach-max', '1M'],
    { cwd: env.work },
  );
});

describe('collect --attach', () => {
  it('bundles the matches under attachments/, never in the sysroot; says what it skipped and why', async () => {
    expect(collected.exitCode, collected.stderr).toBe(0);
    const list = (await execa('tar', ['tjf', bundle])).stdout.split('\n');
    const attached = list.filter((l) => l.startsWith('crash/attachments/')).sort();
    const at = (p: string) => `crash/${attachmentBundlePath(p)}`;
    expect(attached).toEqual(
      [
        at(path.join(logs, 'access.log')),
        at(path.join(logs, 'current.log')),
        `crash/attachments${logs}/rotated_old.log`,
        at(path.join(logs, 'server.log')),
        at(path.join(env.work, 'etc/acme/conf.d/tls.conf')),
        at(path.join(env.work, 'etc/acme/server.conf')),
      ].sort(),
    );
    expect(list.filter((l) => l.includes('/sysroot/') && l.includes('acme'))).toEqual([]);
    const err = collected.stderr;
    expect(err).toContain(`skipped attachment "${path.join(logs, 'pipe.log')}": a fifo (only regular files are attached)`);
    expect(err).toContain(`skipped attachment "${path.join(logs, 'huge.log')}": 3.0 MiB is over the 1.0 MiB cap (--attach-max)`);
    expect(err).toContain(`skipped attachment "${path.join(logs, 'etc.log')}": a symlink to a directory (symlinks are followed only to regular files)`);
    expect(err).toContain('--attach "/nonexistent/acme/*.conf" matched nothing');
    expect(err).toMatch(/attachments: 6, /);
  });

  it('records original path, size and sha256 in the manifest; a symlink by its name, with the file it led to', async () => {
    const m = JSON.parse((await execa('tar', ['xjOf', bundle, 'crash/manifest.json'])).stdout) as Manifest;
    const byPath = new Map(m.attachments!.map((a) => [a.path, a]));
    const server = byPath.get(path.join(logs, 'server.log'))!;
    expect(server).toEqual({ path: path.join(logs, 'server.log'), bundlePath: attachmentBundlePath(path.join(logs, 'server.log')), size: 33, sha256: sha256('server started\nrequest 3 crashed\n'), linkTarget: null });
    expect(byPath.get(path.join(logs, 'current.log'))).toMatchObject({ sha256: server.sha256, linkTarget: path.join(logs, 'server.log') });
    expect(byPath.get(path.join(logs, NEWLINE_NAME))).toMatchObject({ bundlePath: `attachments${logs}/rotated_old.log`, size: 10 });
    expect(m.warnings.filter((w) => /attachment|--attach/.test(w))).toHaveLength(4);
    // SHA256SUMS, the last entry, vouches for the same bytes.
    const sums = (await execa('tar', ['xjOf', bundle, 'crash/SHA256SUMS'])).stdout;
    expect(sums).toContain(`${server.sha256}  ${server.bundlePath}\n`);
  });

  it('replay extracts them, verified, and lists them in its report; inspect lists them', async () => {
    const dir = path.join(env.work, 'replay');
    const run = await corepack(['replay', bundle, '--batch', '--dir', dir]);
    expect(run.exitCode, run.stderr).toBe(0);
    const root = path.join(dir, 'bundle');
    expect(await fs.readFile(path.join(root, attachmentBundlePath(path.join(logs, 'server.log'))), 'utf8')).toBe('server started\nrequest 3 crashed\n');
    // The symlink was followed at collect time: a regular file in the bundle.
    expect((await fs.lstat(path.join(root, attachmentBundlePath(path.join(logs, 'current.log'))))).isFile()).toBe(true);
    expect(run.stdout).toMatch(/^attachments \(6, under .*\/bundle\/attachments\):$/m);
    expect(run.stdout).toContain(`  ${path.join(logs, 'server.log')}  (33 bytes) → ${path.join(root, attachmentBundlePath(path.join(logs, 'server.log')))}`);
    expect(run.stdout).toContain(`  ${JSON.stringify(path.join(logs, NEWLINE_NAME))}  (10 bytes)`);
    const json = JSON.parse((await corepack(['replay', bundle, '--json', '--dir', dir])).stdout);
    expect(json.attachments).toHaveLength(6);
    expect(json.verification.files.filter((f: { bundlePath: string; status: string }) => f.bundlePath.startsWith('attachments/') && f.status === 'ok')).toHaveLength(6);
    const inspect = await corepack(['inspect', bundle]);
    expect(inspect.exitCode, inspect.stderr).toBe(0);
    expect(inspect.stdout).toMatch(/^attachments \(6, /m);
    expect(inspect.stdout).toContain(`${path.join(logs, 'current.log')}  (symlink to ${path.join(logs, 'server.log')})`);
  });

  it("never attaches collect's own output, its parts or temporaries, when a pattern matches them", async () => {
    const b = path.join(out, 'self.tar.gz');
    const run = await corepack(['collect', env.crash.core, '-e', env.program.exe, '-o', b, '--split', '512K', '--attach', 'out/*'], { cwd: env.work });
    expect(run.exitCode, run.stderr).toBe(0);
    const m = JSON.parse((await execa('sh', ['-c', 'cat self.tar.gz.* | tar xzOf - self/manifest.json'], { cwd: out })).stdout) as Manifest;
    const names = (m.attachments ?? []).map((a) => path.basename(a.path));
    expect(names).toContain('crash.tbz2'); // another bundle in the directory is just a file
    expect(names.filter((n) => n.includes('self'))).toEqual([]);
  });

  it('a log that grows while collect runs is taken as long as it was when matched', async () => {
    const log = path.join(env.work, 'growing.log');
    await fs.writeFile(log, 'line 1\n');
    const b = path.join(out, 'growing.tar.gz');
    const writer = setInterval(() => void fs.appendFile(log, 'more\n'), 1);
    let run: CliRun;
    try {
      run = await corepack(['collect', env.crash.core, '-e', env.program.exe, '-o', b, '--attach', log]);
    } finally {
      clearInterval(writer);
    }
    expect(run.exitCode, run.stderr).toBe(0);
    const m = JSON.parse((await execa('tar', ['xzOf', b, `growing/manifest.json`])).stdout) as Manifest;
    const a = m.attachments![0]!;
    const data = Buffer.from((await execa('tar', ['xzOf', b, `growing/${a.bundlePath}`], { encoding: 'buffer', stripFinalNewline: false })).stdout);
    expect(data.length).toBe(a.size);
    expect(sha256(data)).toBe(a.sha256);
    expect(data.subarray(0, 7).toString()).toBe('line 1\n');
    expect((await fs.stat(log)).size).toBeGreaterThan(a.size); // it did grow past what was taken
  });
});

// Schema-1 bundles (checksums in the manifest, no SHA256SUMS last entry) keep these byte-built archives short;
// replay reads both schemas through the same entry policy.
describe('hostile attachments in a bundle', () => {
  const refuse = async (entries: TarEntry[], name: string): Promise<string> => {
    const file = path.join(env.work, name);
    await fs.writeFile(file, await compress(tar(entries), 'gzip'));
    const dir = path.join(env.work, `${name}-replay`);
    const run = await corepack(['replay', file, '--json', '--dir', dir]);
    expect(run.exitCode).toBe(3);
    expect(await fs.readdir(dir).catch(() => [])).not.toContain('bundle');
    return expectOneLineError(run);
  };

  it('refuses an attachment path with ../ (in the manifest and as a tar entry)', async () => {
    const data = 'pwned\n';
    const inManifest = bundleEntries({
      schema: 1,
      edit: (m) => void (m.attachments = [{ path: '/etc/passwd', bundlePath: 'attachments/../../../etc/passwd', size: data.length, sha256: sha256(data), linkTarget: null }]),
    });
    expect(await refuse([...inManifest.entries, { name: 'crash-bundle/attachments/../../../etc/passwd', data }], 'dotdot-manifest.tgz')).toMatch(/attachments\[0\]\.bundlePath "attachments\/..\/..\/..\/etc\/passwd" is not a safe path under attachments\//);
    const listed = bundleEntries({
      schema: 1,
      edit: (m) => void (m.attachments = [{ path: '/var/log/x.log', bundlePath: 'attachments/var/log/x.log', size: data.length, sha256: sha256(data), linkTarget: null }]),
    });
    expect(await refuse([...listed.entries, { name: 'crash-bundle/attachments/../../x.log', data }], 'dotdot-entry.tgz')).toMatch(/entry "crash-bundle\/attachments\/..\/..\/x.log" contains ".."/);
  });

  it('refuses an attachment entry that is a symlink leaving the bundle', async () => {
    const { entries } = bundleEntries({ schema: 1 });
    expect(await refuse([...entries, { name: 'crash-bundle/attachments/etc/shadow', type: 'symlink', linkname: '../../../../../etc/shadow' }], 'symlink-out.tgz')).toMatch(
      /symlink "attachments\/etc\/shadow" is outside sysroot\/ and debug\//,
    );
    // Even one pointing inside: attachments hold regular files only.
    expect(await refuse([...entries, { name: 'crash-bundle/attachments/x.log', type: 'symlink', linkname: '../core/core.1234' }], 'symlink-in.tgz')).toMatch(/symlink "attachments\/x.log" is outside sysroot\/ and debug\//);
  });

  it('refuses an attachment whose bytes differ from its manifest sha256', async () => {
    const { entries } = bundleEntries({
      schema: 1,
      edit: (m) => void (m.attachments = [{ path: '/var/log/x.log', bundlePath: 'attachments/var/log/x.log', size: 4, sha256: sha256('good'), linkTarget: null }]),
    });
    const file = path.join(env.work, 'tampered-attachment.tgz');
    await fs.writeFile(file, await compress(tar([...entries, { name: 'crash-bundle/attachments/var/log/x.log', data: 'evil' }]), 'gzip'));
    const run = await corepack(['replay', file, '--json', '--dir', path.join(env.work, 'tampered-replay')]);
    expect(run.exitCode).toBe(5);
    expect(expectOneLineError(run)).toBe('corepack: error: the bundle is corrupt: 1 file failed verification: "/var/log/x.log" (sha256 mismatch)');
  });
});
