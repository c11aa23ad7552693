/** Reading `corepack replay --batch` output in tests: its `=== name ===` sections and gdb's backtraces. */

/** Function names of a backtrace, innermost first. */
export function frames(bt: string): string[] {
  return [...bt.matchAll(/^#\d+\s+(?:0x[0-9a-f]+ in )?(\S+) \(/gm)].map((m) => m[1]!);
}

/** The text between `=== name ===` and the next section marker; throws naming the section when it is absent. */
export function section(out: string, name: string): string {
  const start = out.indexOf(`=== ${name} ===\n`);
  if (start < 0) throw new Error(`no "${name}" section in:\n${out}`);
  const body = out.slice(start + name.length + 9);
  const end = body.search(/^=== .* ===$/m);
  return end < 0 ? body : body.slice(0, end);
}
