/** Exit codes for the input layer's errors (src/input/errors.ts): one table, read by describeError. */
import { CoreInputError, MissingToolError, NoCoreFoundError, NoSpaceError } from '../input/errors.js';
import { EXIT } from './exit.js';

const TABLE: ReadonlyArray<[new (...args: never[]) => Error, number, string | undefined]> = [
  [CoreInputError, EXIT.BAD_INPUT, undefined],
  [NoCoreFoundError, EXIT.BAD_INPUT, 'run corepack list to see the cores found, or name the core'],
  [MissingToolError, EXIT.MISSING_TOOL, undefined],
  [NoSpaceError, EXIT.WRITE_FAILED, 'set TMPDIR to a directory with more free space'],
];

export function describeInputError(err: unknown): { message: string; hint?: string; code: number } | undefined {
  for (const [cls, code, hint] of TABLE) if (err instanceof cls) return { message: err.message, ...(hint ? { hint } : {}), code };
  return undefined;
}
