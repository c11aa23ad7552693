/**
 * A one-line progress bar on stderr, drawn only when stderr is a terminal
 * (never in logs, pipes or CI), at most ten times a second.
 */
export interface Progress {
  update(label: string, done: number, total: number): void;
  done(): void;
}

const WIDTH = 30;

function human(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

export { human as humanBytes };

export function progressBar(stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY) return { update() {}, done() {} };
  let last = 0;
  let drawn = false;
  return {
    update(label, done, total) {
      const now = Date.now();
      if (now - last < 100 && done < total) return;
      last = now;
      const frac = total > 0 ? Math.min(1, done / total) : 0;
      const fill = Math.round(frac * WIDTH);
      stream.write(`\r${label.padEnd(10)} [${'#'.repeat(fill)}${'.'.repeat(WIDTH - fill)}] ${String(Math.round(frac * 100)).padStart(3)}%  ${human(done)} / ${human(total)}\x1b[K`);
      drawn = true;
    },
    done() {
      if (drawn) stream.write('\r\x1b[K');
      drawn = false;
    },
  };
}
