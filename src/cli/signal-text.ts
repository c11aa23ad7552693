/** How every command names a signal; its own module so replay names one without loading inspect's. */
import type { SignalInfo } from '../core/model.js';
import { hex } from '../util/text.js';

/** "SIGSEGV (11), SEGV_MAPERR, fault address 0x0". */
export function signalText(sig: SignalInfo): string {
  const parts = [`${sig.name ?? 'signal'} (${sig.signo})`];
  if (sig.codeName ?? sig.code !== undefined) parts.push(sig.codeName ?? `code ${sig.code}`);
  if (sig.addr !== undefined) parts.push(`fault address ${hex(sig.addr)}`);
  return parts.join(', ');
}
