/**
 * Turns SIGINT/SIGTERM into an AbortSignal for long commands, so they can
 * clean up (remove temporary files, stop child processes) and exit with 130
 * or 143 instead of dying mid-write.
 */
import { InterruptedError } from '../util/errors.js';

export async function interruptible<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onInt = (): void => ac.abort(new InterruptedError('SIGINT'));
  const onTerm = (): void => ac.abort(new InterruptedError('SIGTERM'));
  // Past a file size limit (ulimit -f) the kernel sends SIGXFSZ, whose default
  // action kills us mid-write; with a handler the write fails with EFBIG
  // instead, and the command can remove its temporary file and say why.
  const onXfsz = (): void => {};
  // `on`, not `once`: execa's child cleanup (signal-exit) re-raises a signal
  // when it finds no other listener left, which would kill us mid-cleanup.
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  process.on('SIGXFSZ', onXfsz);
  try {
    return await run(ac.signal);
  } finally {
    process.removeListener('SIGINT', onInt);
    process.removeListener('SIGTERM', onTerm);
    process.removeListener('SIGXFSZ', onXfsz);
  }
}
