/**
 * Reading a passphrase where `ps` cannot see it: from the terminal (echo off)
 * or from a file or descriptor (its first line). Never from the command line.
 */
import * as fs from 'node:fs';
import * as tty from 'node:tty';
import { BadOptionError, InterruptedError } from '../util/errors.js';

export type PassphraseSource = { from: 'terminal' } | { from: 'file'; path: string };

/** The first line of `path` ("-": standard input; /dev/fd/N: a descriptor). */
function fromFile(path: string): string {
  let text: string;
  try {
    text = fs.readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (err) {
    throw new BadOptionError('--passphrase-file', path, `cannot read the passphrase from ${path}: ${(err as Error).message}`, 'name a readable file, - for standard input, or /dev/fd/N');
  }
  return text.split(/\r?\n/)[0] ?? '';
}

/** One line typed on /dev/tty with echo off. */
function fromTerminal(prompt: string): Promise<string> {
  let fd: number;
  try {
    fd = fs.openSync('/dev/tty', 'r+');
  } catch {
    return Promise.reject(new BadOptionError('--passphrase', '', '--passphrase reads the passphrase from a terminal, and there is none', 'pass --passphrase-file FILE (or - for standard input) instead'));
  }
  const input = new tty.ReadStream(fd);
  const output = new tty.WriteStream(fs.openSync('/dev/tty', 'w'));
  input.setRawMode(true);
  output.write(prompt);
  return new Promise<string>((resolve, reject) => {
    let typed = '';
    const finish = (err?: Error) => {
      input.setRawMode(false);
      input.removeAllListeners('data');
      output.write('\n');
      input.destroy();
      output.destroy();
      if (err) reject(err);
      else resolve(typed);
    };
    input.on('data', (buf: Buffer) => {
      for (const ch of buf.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003') return finish(new InterruptedError('SIGINT'));
        if (ch === '\u0004' && typed === '') return finish();
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else typed += ch;
      }
    });
  });
}

/**
 * The passphrase from `source`. `confirm` (collect) asks twice on a terminal,
 * since a typo would make the bundle unreadable for everyone.
 */
export async function readPassphrase(source: PassphraseSource, confirm: boolean): Promise<string> {
  let pass: string;
  if (source.from === 'file') pass = fromFile(source.path);
  else {
    pass = await fromTerminal('corepack: passphrase: ');
    if (confirm && pass !== '' && (await fromTerminal('corepack: passphrase again: ')) !== pass) {
      throw new BadOptionError('--passphrase', '', 'the two passphrases typed differ', 'run it again and type the same passphrase twice');
    }
  }
  if (pass === '') throw new BadOptionError(source.from === 'file' ? '--passphrase-file' : '--passphrase', '', 'the passphrase is empty', 'use a long random passphrase, or --encrypt-to with the vendor\'s age key');
  return pass;
}
