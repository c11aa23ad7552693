/**
 * The first bytes of a stream, and the stream again from its first byte:
 * what a reader needs to tell a form by its head (a tar header, an age
 * header, an ELF core) without consuming what the next reader gets. One
 * implementation for the bundle side (bundle/source.ts) and the input side
 * (input/locate.ts), which differ only in how they stop their producer.
 */
export interface Peeked {
  /** The first `n` bytes (fewer when the stream ended before them). */
  head: Buffer;
  /** Every byte of the stream, from the first, the head included. */
  rest: AsyncGenerator<Buffer>;
}

/** Reads chunks of `source` until `n` bytes have come or it ended; rejects as the source does. */
export async function peekHead(source: AsyncIterable<Buffer>, n: number): Promise<Peeked> {
  const it = source[Symbol.asyncIterator]();
  const first: Buffer[] = [];
  let have = 0;
  let ended = false;
  while (have < n) {
    const r = await it.next();
    if (r.done) {
      ended = true;
      break;
    }
    first.push(r.value);
    have += r.value.length;
  }
  async function* rest(): AsyncGenerator<Buffer> {
    yield* first;
    if (ended) return;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
  }
  return { head: Buffer.concat(first).subarray(0, n), rest: rest() };
}
