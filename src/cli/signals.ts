/**
 * Turns SIGINT/SIGTERM into an AbortSignal for long commands, so they can
 * clean up (remove temporary files, stop child processes) and exit with 130
 * or 143 instead of dying mid-write; and, before a command has taken them
 * over, ends corepack at once with the same words.
 */
import { InterruptedError, type InterruptSignal } from '../util/errors.js';
import { EXIT } from './exit.js';

type Listeners = Record<InterruptSignal, () => void>;
let early: Listeners | null = null;
let taken = false;

/**
 * From the first line of bin/corepack.js until a command takes the signals
 * over: a SIGINT or SIGTERM then ends corepack at once (nothing has been
 * written yet) and says so. Without it Node's default action ends the
 * process without a word while its modules still load (the first 0.2 s,
 * longer on a loaded machine). Safe to call twice.
 */
export function exitOnEarlyInterrupt(): void {
  if (early || taken) return;
  const stop = (signal: InterruptSignal) => (): void => {
    process.stderr.write(`corepack: error: ${new InterruptedError(signal).message}\n`);
    process.exit(signal === 'SIGTERM' ? EXIT.TERMINATED : EXIT.INTERRUPTED);
  };
  early = { SIGINT: stop('SIGINT'), SIGTERM: stop('SIGTERM') };
  process.on('SIGINT', early.SIGINT);
  process.on('SIGTERM', early.SIGTERM);
}

/**
 * The command handles the signals itself from now on (interruptible, or a
 * command that writes as soon as it starts): the early exit is removed for good.
 */
export function takeOverInterrupts(): void {
  taken = true;
  if (!early) return;
  process.removeListener('SIGINT', early.SIGINT);
  process.removeListener('SIGTERM', early.SIGTERM);
  early = null;
}

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
  // Added first, removed second: no moment without a listener.
  takeOverInterrupts();
  try {
    return await run(ac.signal);
  } finally {
    process.removeListener('SIGINT', onInt);
    process.removeListener('SIGTERM', onTerm);
    process.removeListener('SIGXFSZ', onXfsz);
  }
}
