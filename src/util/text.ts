/** Small text checks and formats shared by every layer above src/util. */

/**
 * C0 controls and DEL: a newline (or any of these) in a path would end a gdb
 * script line or a report line, so paths from a bundle may hold none.
 */
// eslint-disable-next-line no-control-regex
const C0_CONTROL = /[\u0000-\u001f\u007f]/;
/** Also C1 controls and the Unicode line and paragraph separators, which some readers take as line breaks. */
// eslint-disable-next-line no-control-regex
const ANY_LINE_BREAKER = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** True when `s` holds a C0 control character or DEL. */
export function hasControlChar(s: string): boolean {
  return C0_CONTROL.test(s);
}

/** True when `s` holds anything a line-oriented reader might split on (C0, DEL, C1, U+2028/9). */
export function hasLineBreaker(s: string): boolean {
  return ANY_LINE_BREAKER.test(s);
}

/**
 * "0x7f12ab", the way addresses and numbers in hex appear everywhere; "?"
 * when unknown. `width` pads the digits with zeros ("0x00007f12ab…").
 */
export function hex(v: bigint | number | undefined, width = 0): string {
  return v === undefined ? '?' : `0x${v.toString(16).padStart(width, '0')}`;
}

/** "\\x1b": a byte or character code shown as a C-style hex escape. */
export function hexEscape(code: number): string {
  return `\\x${code.toString(16).padStart(2, '0')}`;
}

/** `s` as one word of a POSIX shell command line: as it is when that is safe, else in single quotes. */
export function shellWord(s: string): string {
  return /^[A-Za-z0-9._+/=:@%,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
