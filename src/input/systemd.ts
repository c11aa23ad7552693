/**
 * systemd-coredump's storage: /var/lib/systemd/coredump/
 * core.COMM.UID.BOOTID.PID.USEC[.zst|.lz4|.xz], mode 0640, with the facts
 * about the crash in extended attributes user.coredump.*.
 *
 * COMM is escaped: '.', '/', space and unprintable bytes become \xNN, so the
 * name splits at dots unambiguously.
 */
import { hexEscape } from '../util/text.js';

export interface SystemdCoreName {
  comm: string;
  uid: number;
  bootId: string;
  pid: number;
  /** Microseconds since the epoch (the crash time). */
  usec: number;
}

const NAME = /^core\.(.+)\.(\d+)\.([0-9a-f]{32})\.(\d+)\.(\d+)(?:\.(zst|lz4|xz))?$/;

/** Undoes systemd's \xNN escaping of the command name. */
export function unescapeComm(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const m = /^\\x([0-9a-fA-F]{2})/.exec(s.slice(i, i + 4));
    if (m) {
      bytes.push(parseInt(m[1]!, 16));
      i += 3;
    } else bytes.push(...Buffer.from(s[i]!, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Escapes a command name as systemd-coredump does for the file name. */
export function escapeComm(comm: string): string {
  let out = '';
  for (const b of Buffer.from(comm, 'utf8')) {
    const c = String.fromCharCode(b);
    out += b < 0x20 || b >= 0x7f || c === '.' || c === '/' || c === ' ' || c === '\\' ? hexEscape(b) : c;
  }
  return out;
}

export function parseSystemdCoreName(base: string): SystemdCoreName | undefined {
  const m = NAME.exec(base);
  if (!m) return undefined;
  return { comm: unescapeComm(m[1]!), uid: Number(m[2]), bootId: m[3]!, pid: Number(m[4]), usec: Number(m[5]) };
}

/**
 * The user.coredump.* extended attributes, read with getfattr (Debian
 * package attr): Node has no xattr call. Missing getfattr, a filesystem
 * without xattrs, or a file without them all give {} — the attributes are a
 * bonus, the core is in the file.
 */
export async function readCoredumpXattrs(path: string): Promise<Record<string, string>> {
  // Loaded here, not at start-up: only a systemd-stored core needs it (execa is ~260 modules).
  const { execa } = await import('execa');
  const r = await execa('getfattr', ['--absolute-names', '-d', '-m', '^user\\.coredump\\.', '-e', 'base64', '--', path], {
    reject: false,
    stdin: 'ignore',
    timeout: 10_000,
  });
  if (r.exitCode !== 0 || typeof r.stdout !== 'string') return {};
  const out: Record<string, string> = {};
  for (const line of r.stdout.split('\n')) {
    const m = /^user\.coredump\.([a-z_]+)=0s(.*)$/.exec(line);
    if (m) out[m[1]!] = Buffer.from(m[2]!, 'base64').toString('utf8').replace(/\0+$/, '');
  }
  return out;
}
