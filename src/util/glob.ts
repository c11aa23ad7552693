/**
 * fast-glob, loaded on first use. Its module graph (micromatch, braces,
 * @nodelib) is ~20 ms of loading that a plain collect, inspect or replay
 * never uses: only --attach patterns and a directory scan for cores need it.
 */
type FastGlob = typeof import('fast-glob');

let loaded: Promise<FastGlob> | undefined;

export function fastGlob(): Promise<FastGlob> {
  loaded ??= import('fast-glob').then((m) => (m as unknown as { default: FastGlob }).default ?? m);
  return loaded;
}
