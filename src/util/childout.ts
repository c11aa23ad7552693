/**
 * A child process's stdout that keeps every byte until it is read.
 *
 * When a child exits, Node resumes each of its stdio streams that has no
 * 'readable' listener (child_process flushStdio), and a resumed stream with
 * no 'data' listener drops what it holds. A decompressor that writes a small
 * output and exits before its consumer starts reading (unpacking starts after
 * mkdtemp and open) thus handed over nothing: "it decompresses to nothing",
 * seen for a 2 KB zstd file in a loaded full run. Piped into a PassThrough at
 * once, the bytes wait there instead (the pipe keeps backpressure).
 */
import type { ChildProcess } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';

export function retainedStdout(child: ChildProcess): Readable {
  const out = new PassThrough({ highWaterMark: 1 << 20 });
  child.stdout!.pipe(out);
  // A child killed mid-write (an interrupt, a failure elsewhere) can reset its end of the socket: that
  // is no news of its own (the exit status says how it ended), and unhandled it would end the process.
  child.stdout!.on('error', () => out.end());
  // A destroyed consumer side stops the child's stream too, as reading it directly would.
  out.on('close', () => child.stdout!.destroy());
  return out;
}
