/**
 * COREPACK_TRACE=FILE: one line per costly step that reads a whole input
 * (a compressor or decompressor started, a decryption begun), appended to
 * FILE. For people asking why a command is slow, and for the tests that
 * count how often an input is decompressed or decrypted.
 */
import { appendFileSync } from 'node:fs';

export function trace(event: string): void {
  const file = process.env.COREPACK_TRACE;
  if (!file) return;
  try {
    appendFileSync(file, `${process.pid} ${event}\n`);
  } catch {
    // A trace that cannot be written must never change what the command does.
  }
}
