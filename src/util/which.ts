/** Finding a program the way a shell does: the first executable file of that name on $PATH. */
import { access, constants as fsConstants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/** True when `file` exists and this process may execute it. */
export async function isExecutable(file: string): Promise<boolean> {
  try {
    await access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The full path of `name` on PATH, or undefined. A name with a slash is a path
 * already and is only checked, as execvp does.
 */
export async function which(name: string, path: string | undefined = process.env.PATH): Promise<string | undefined> {
  if (name.includes('/')) return (await isExecutable(name)) ? name : undefined;
  for (const dir of (path ?? '').split(delimiter)) {
    if (!dir) continue; // an empty entry means the cwd to a shell: not a place to find tools
    const full = join(dir, name);
    if (await isExecutable(full)) return full;
  }
  return undefined;
}
