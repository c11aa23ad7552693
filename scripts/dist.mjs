#!/usr/bin/env node
// npm run dist: the single executables of issue 19.
//   1. tsc has built dist/ (the npm script runs it first);
//   2. esbuild bundles bin/corepack.js and everything it imports into one
//      CommonJS script, with the build info defined in;
//   3. the official Node.js 24 binaries for linux-x64 and linux-arm64, fetched
//      once with `npm pack node-linux-ARCH@24` into ~/.cache/corepack-dist
//      (COREPACK_DIST_CACHE) — never by npm ci;
//   4. a SEA preparation blob (the script, templates/ as assets), injected
//      with postject into a copy of each binary;
//   5. dist/release/corepack-crash-VERSION-linux-{x64,arm64}, an .xz of each
//      (xz, else Node's zlib gzip: said in one line), and SHA256SUMS.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { buildInfo } from './build-info.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const release = path.join(root, 'dist', 'release');
const cache = process.env.COREPACK_DIST_CACHE ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'corepack-dist');
const NODE_MAJOR = 24;
const ARCHES = (process.env.COREPACK_DIST_ARCHES ?? 'x64,arm64').split(',');
const FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const TEMPLATES = ['replay.gdb', 'replay.lldb', 'report.py'];

const log = (s) => process.stderr.write(`dist: ${s}\n`);
const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...opts });

/** The official Node.js binary for `arch`, from the npm registry, cached: its path. */
function nodeBinary(arch) {
  fs.mkdirSync(cache, { recursive: true });
  const pkg = `node-linux-${arch}`;
  const have = fs.readdirSync(cache).filter((f) => f.startsWith(`${pkg}-${NODE_MAJOR}.`) && f.endsWith('.tgz')).sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  let tgz = have.at(-1);
  if (!tgz || process.env.COREPACK_DIST_REFRESH) {
    log(`fetching ${pkg}@${NODE_MAJOR} from the npm registry into ${cache}`);
    const out = JSON.parse(run('npm', ['pack', `${pkg}@${NODE_MAJOR}`, '--json', '--pack-destination', cache], { cwd: cache }));
    tgz = out[0].filename;
  }
  const version = /-(\d+\.\d+\.\d+)\.tgz$/.exec(tgz)[1];
  const dir = path.join(cache, `${pkg}-${version}`);
  const bin = path.join(dir, 'package', 'bin', 'node');
  if (!fs.existsSync(bin)) {
    fs.mkdirSync(dir, { recursive: true });
    run('tar', ['-xzf', path.join(cache, tgz), '-C', dir, 'package/bin/node']);
  }
  return { bin, version };
}

async function sha256(file) {
  const h = createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) h.update(chunk);
  return h.digest('hex');
}

function which(name) {
  for (const d of (process.env.PATH ?? '').split(':')) {
    if (d && fs.existsSync(path.join(d, name))) return path.join(d, name);
  }
  return null;
}

async function compressed(file) {
  if (which('xz')) {
    run('xz', ['-T0', '-6', '-k', '-f', file]);
    return `${file}.xz`;
  }
  log(`xz is not installed (Debian xz-utils): writing ${path.basename(file)}.gz with Node's zlib instead`);
  await pipeline(fs.createReadStream(file), createGzip({ level: 9 }), fs.createWriteStream(`${file}.gz`));
  return `${file}.gz`;
}

/** Every file the executables are made of, and the Node versions: when unchanged, the last build stands (the tests rely on it). */
function inputsKey(nodes) {
  const h = createHash('sha256');
  const files = [
    ...fs.readdirSync(path.join(root, 'dist'), { recursive: true }).filter((f) => f.endsWith('.js') && !/^(bench|release)\//.test(f)).map((f) => path.join('dist', f)),
    ...TEMPLATES.map((t) => path.join('templates', t)),
    'scripts/dist.mjs', 'scripts/sea-entry.mjs', 'package.json', 'package-lock.json',
  ].sort();
  for (const f of files) h.update(`${f}\0`).update(fs.readFileSync(path.join(root, f))).update('\0');
  h.update(JSON.stringify(nodes.map((n) => n.version)));
  return h.digest('hex');
}

async function main() {
  const info = buildInfo();
  const nodes = ARCHES.map((arch) => ({ arch, ...nodeBinary(arch) }));
  const keyFile = path.join(release, '.inputs-sha256');
  const key = inputsKey(nodes);
  const names = ARCHES.map((a) => `corepack-crash-${info.version}-linux-${a}`);
  const sums = fs.existsSync(path.join(release, 'SHA256SUMS')) ? fs.readFileSync(path.join(release, 'SHA256SUMS'), 'utf8') : '';
  if (!process.env.COREPACK_DIST_REBUILD && fs.existsSync(keyFile) && fs.readFileSync(keyFile, 'utf8').trim() === key && names.every((n) => sums.includes(`  ${n}\n`) && fs.existsSync(path.join(release, n)))) {
    log(`dist/release is up to date with its inputs (${key.slice(0, 12)}): nothing to do (COREPACK_DIST_REBUILD=1 builds anyway)`);
    return;
  }
  fs.rmSync(keyFile, { force: true });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'corepack-dist-'));
  try {
    const bundle = path.join(work, 'corepack-crash.cjs');
    const esbuild = await import('esbuild');
    const built = await esbuild.build({
      entryPoints: [path.join(root, 'scripts', 'sea-entry.mjs')],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: `node${NODE_MAJOR}`,
      outfile: bundle,
      define: { COREPACK_BUILD_INFO: JSON.stringify(info) },
      logLevel: 'error',
      legalComments: 'none',
      metafile: true,
    });
    const inputs = Object.keys(built.metafile.inputs).length;
    log(`bundled ${inputs} modules into one script (${(fs.statSync(bundle).size / 1024).toFixed(0)} KiB)`);
    const assets = Object.fromEntries(TEMPLATES.map((t) => [`templates/${t}`, path.join(root, 'templates', t)]));
    fs.mkdirSync(release, { recursive: true });
    const outputs = [];
    for (const { arch, ...node } of nodes) {
      const blob = path.join(work, `sea-${arch}.blob`);
      const config = path.join(work, `sea-${arch}.json`);
      fs.writeFileSync(config, JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useSnapshot: false, useCodeCache: false, assets }));
      // The blob is made by a Node of the same version as the binary it goes into (no code cache: any architecture).
      const maker = nodeBinary(process.arch === 'arm64' ? 'arm64' : 'x64').bin;
      run(maker, ['--experimental-sea-config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
      const out = path.join(release, `corepack-crash-${info.version}-linux-${arch}`);
      fs.rmSync(out, { force: true });
      fs.copyFileSync(node.bin, `${out}.tmp`);
      fs.chmodSync(`${out}.tmp`, 0o755);
      const postject = path.join(root, 'node_modules', 'postject', 'dist', 'cli.js');
      // postject's ELF writer warns about note sections it leaves alone: shown only if it fails.
      const r = spawnSync(process.execPath, [postject, `${out}.tmp`, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', FUSE], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`postject failed for ${arch}: ${r.stderr || r.stdout}`);
      fs.renameSync(`${out}.tmp`, out);
      log(`${path.relative(root, out)}: Node.js ${node.version}, ${(fs.statSync(out).size / 1024 / 1024).toFixed(1)} MiB`);
      outputs.push(out);
    }
    for (const out of [...outputs]) outputs.push(await compressed(out));
    const sums = [];
    for (const f of outputs) sums.push(`${await sha256(f)}  ${path.basename(f)}`);
    fs.writeFileSync(path.join(release, 'SHA256SUMS'), `${sums.join('\n')}\n`);
    for (const f of outputs.slice(ARCHES.length)) log(`${path.relative(root, f)}: ${(fs.statSync(f).size / 1024 / 1024).toFixed(1)} MiB`);
    log(`${path.relative(root, path.join(release, 'SHA256SUMS'))}: ${outputs.length} files`);
    fs.writeFileSync(keyFile, `${key}\n`);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`dist: error: ${err.message}\n`);
  process.exit(1);
});
