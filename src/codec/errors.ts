/**
 * The one error of the codec layer: a compressor or decompressor (a program,
 * or the built-in zlib) failed. Decompressing, that means the data is bad
 * (truncated, corrupt); compressing, that the output could not be made.
 * A missing program is util's MissingToolError.
 */
export type CodecMode = 'compress' | 'decompress';

export class CodecError extends Error {
  override readonly name = 'CodecError';
  constructor(
    /** "lbzip2", "zstd", "zlib". */
    readonly program: string,
    readonly mode: CodecMode,
    /** What the program said, or how it ended ("exited with code 2: ..."). */
    readonly detail: string,
    options?: ErrorOptions,
    /** When it wrote our output file itself: the errno its complaint names (ENOSPC, EFBIG), if any. */
    readonly outputErrno?: string,
  ) {
    super(`${program} ${mode === 'compress' ? 'compression' : 'decompression'} failed: ${detail}`, options);
  }
}
