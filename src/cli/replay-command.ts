/**
 * The replay command collect and inspect tell the user to run. Node.js <= 24
 * puts its own, unrelated `corepack` on PATH (and `npx corepack` outside a
 * checkout reaches it), so the command uses the alias that always reaches
 * this tool, and names the key option an encrypted bundle needs.
 */
import { basename } from 'node:path';
import { shellWord } from '../util/text.js';

/** The name that always reaches this tool. */
export const TOOL_NAME = 'corepack-crash';

/** What decrypting the bundle takes: an age identity, a passphrase, or nothing. */
export type KeyNeed = 'identity' | 'passphrase' | null;

/** The key need of a bundle encrypted for these age stanza types (undefined: not encrypted). */
export function keyNeedOf(recipientTypes: readonly string[] | undefined): KeyNeed {
  if (recipientTypes === undefined) return null;
  return recipientTypes.includes('scrypt') ? 'passphrase' : 'identity';
}

/** "corepack-crash replay 'core 1.tbz2.age' --identity KEYFILE": the file by its name, as the developer receives it. */
export function replayCommand(bundle: string, key: KeyNeed, extra: readonly string[] = []): string {
  const keyArgs = key === 'identity' ? ['--identity', 'KEYFILE'] : key === 'passphrase' ? ['--passphrase'] : [];
  return [TOOL_NAME, 'replay', shellWord(basename(bundle)), ...keyArgs, ...extra].join(' ');
}
