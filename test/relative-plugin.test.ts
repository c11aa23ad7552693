/**
 * A plugin dlopen()ed by a relative path ("./libplugin.so") keeps that
 * relative l_name, and gdb resolves a relative library name against its own
 * working directory before anything else. Replayed from a directory holding
 * another libplugin.so, gdb would load that file, from outside the bundle.
 * Real kernel core, real gdb; the control proves the hazard first.
 */
import { execa } from 'execa';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../src/bundle/manifest.js';
import { makeCore } from './helpers/crash.js';
import { corepack, type CliRun } from './helpers/cli.js';
import { buildDecoyPlugin, buildNativeApp, type NativeApp } from './helpers/foreign.js';

let top: string;
let app: NativeApp;
let runDir: string; // where the program ran, with ./libplugin.so
let decoyDir: string; // the developer's directory, with a different libplugin.so
let bundle: string;
let collected: CliRun;
let manifest: Manifest;
let replay: CliRun;
let replayDir: string;

const DECOY = 'decoy_function_from_the_wrong_file';

beforeAll(async () => {
  top = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'corepack-relplugin-')));
  app = await buildNativeApp(path.join(top, 'app'));
  runDir = path.join(top, 'run');
  decoyDir = path.join(top, 'developer');
  await fs.mkdir(runDir);
  await fs.mkdir(decoyDir);
  await fs.copyFile(app.plugin, path.join(runDir, 'libplugin.so'));
  await buildDecoyPlugin(path.join(decoyDir, 'libplugin.so'));
  const { core } = await makeCore([app.exe, './libplugin.so'], { cwd: runDir, signal: 'SIGSEGV' });
  bundle = path.join(top, 'relplugin.tbz2');
  collected = await corepack(['collect', core, '-o', bundle]);
  manifest = JSON.parse((await corepack(['inspect', bundle, '--json'])).stdout) as Manifest;
  replayDir = path.join(top, 'replay');
  replay = await corepack(['replay', bundle, '--batch', '--dir', replayDir, '--', '-ex', `info address ${DECOY}`, '-ex', 'info address plugin_value'], { cwd: decoyDir });
});

afterAll(async () => {
  if (top) await fs.rm(top, { recursive: true, force: true });
});

describe('a plugin dlopen()ed as ./libplugin.so', () => {
  it('collect: exact; the mapped file is bundled with the relative name recorded as its alias', () => {
    expect(collected.exitCode, collected.stderr).toBe(0);
    const plugin = manifest.files.find((f) => f.path === path.join(runDir, 'libplugin.so'));
    expect(plugin?.status).toBe('ok');
    expect(plugin?.aliases).toContain('./libplugin.so');
    // No link is made for it: a relative name has no place in the sysroot.
    expect(manifest.links.some((l) => l.path.includes('./'))).toBe(false);
  });

  it('control: gdb run in the developer\'s directory loads the decoy ./libplugin.so from there', async () => {
    const r = await execa('gdb', ['-batch', '-nx', '-x', path.join(replayDir, 'replay.gdb'), '-ex', `info address ${DECOY}`], { cwd: decoyDir, reject: false });
    expect(String(r.stdout)).toMatch(new RegExp(`Symbol "${DECOY}" is (at|a function at)`));
  });

  it('replay runs gdb in an empty directory: the bundled plugin is loaded, the decoy is not', () => {
    expect(replay.exitCode, `${replay.stdout}\n${replay.stderr}`).toBe(0);
    expect(replay.stderr).toMatch(new RegExp(`No symbol "${DECOY}" in current context`));
    expect(replay.stdout).toMatch(/Symbol "plugin_value" is a function at/);
  });
});
