/**
 * Turns SIGINT/SIGTERM into an AbortSignal for long commands, so they can
 * clean up (remove temporary files, stop child processes) and exit with 130
 * or 143 instead of dying mid-write.
 */
import { CliError, EXIT } from './exit.js';

export async function interruptible<T>(run: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const onInt = (): void => ac.abort(new CliError('interrupted by SIGINT; no partial output was left behind', EXIT.INTERRUPTED));
  const onTerm = (): void => ac.abort(new CliError('terminated by SIGTERM; no partial output was left behind', EXIT.TERMINATED));
  process.once('SIGINT', onInt);
  process.once('SIGTERM', onTerm);
  try {
    return await run(ac.signal);
  } finally {
    process.removeListener('SIGINT', onInt);
    process.removeListener('SIGTERM', onTerm);
  }
}
