/**
 * One line to the system log per crash handled: a pipe handler's standard
 * output and error go nowhere, so this is where an administrator learns what
 * happened (and `handler status` shows the captures log besides).
 *
 * The syslog socket /dev/log when there is one (through logger(1): Node has
 * no Unix datagram sockets), else the kernel log /dev/kmsg, which dmesg and
 * journald read. Never throws, never waits long: logging must not make a
 * crash worse.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile } from 'node:fs/promises';
import { hexEscape } from '../util/text.js';

export type LogLevel = 'info' | 'warning' | 'err';

const LEVELS: Record<LogLevel, number> = { err: 3, warning: 4, info: 6 };
/** LOG_DAEMON. */
const FACILITY = 3;
const LOG_TIMEOUT_MS = 2000;
const MAX_LINE = 900;

/** The line as written: one line, control characters shown as escapes, bounded. */
export function logLine(message: string): string {
  // eslint-disable-next-line no-control-regex
  const flat = message.replace(/[\x00-\x1f\x7f]/g, (c) => hexEscape(c.charCodeAt(0)));
  return flat.length > MAX_LINE ? `${flat.slice(0, MAX_LINE)}…` : flat;
}

export async function systemLog(level: LogLevel, message: string, opts: { devLog?: string; kmsg?: string } = {}): Promise<'syslog' | 'kmsg' | 'none'> {
  const line = logLine(message);
  const devLog = opts.devLog ?? '/dev/log';
  if (existsSync(devLog)) {
    const ok = await new Promise<boolean>((resolve) => {
      const child = spawn('logger', ['--socket', devLog, '--id', String(process.pid), '-t', 'corepack', '-p', `daemon.${level}`, '--', line], { stdio: 'ignore' });
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(false);
      }, LOG_TIMEOUT_MS);
      child.once('error', () => {
        clearTimeout(timer);
        resolve(false);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve(code === 0);
      });
    });
    if (ok) return 'syslog';
  }
  try {
    await appendFile(opts.kmsg ?? '/dev/kmsg', `<${(FACILITY << 3) | LEVELS[level]}>corepack[${process.pid}]: ${line}\n`);
    return 'kmsg';
  } catch {
    return 'none';
  }
}
