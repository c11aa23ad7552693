/** Facts about the machine a bundle was made on, for the manifest. */
import { readFile } from 'node:fs/promises';
import { hostname, machine, release, version, type } from 'node:os';
import { capture } from '../util/capture.js';
import type { HostInfo } from '../bundle/manifest.js';

/** /etc/os-release as key → value (quotes removed). */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    out[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1');
  }
  return out;
}

async function libcVersion(): Promise<string | null> {
  // No getconf (not glibc, or a minimal system) is a non-zero exit here.
  const r = await capture('getconf', ['GNU_LIBC_VERSION'], { timeoutMs: 5000 });
  return r.exitCode === 0 && r.stdout.trim() ? r.stdout.trim() : null;
}

export async function hostInfo(): Promise<HostInfo> {
  let osRelease: Record<string, string> = {};
  for (const p of ['/etc/os-release', '/usr/lib/os-release']) {
    try {
      osRelease = parseOsRelease(await readFile(p, 'utf8'));
      break;
    } catch {
      // try the next one
    }
  }
  return {
    hostname: hostname(),
    uname: { sysname: type(), release: release(), version: version(), machine: machine() },
    osRelease,
    libc: await libcVersion(),
  };
}
