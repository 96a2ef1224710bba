/**
 * A one-line progress bar on a terminal, or a log line every 10% otherwise (CI, log files).
 */
export type Progress = { start(label: string, total: number): void; advance(n: number): void; done(): void };

export function progressBar(out: NodeJS.WriteStream = process.stderr): Progress {
  let label = '';
  let total = 0;
  let done = 0;
  let lastDecile = -1;
  const render = (final: boolean) => {
    const ratio = total === 0 ? 1 : Math.min(1, done / total);
    if (out.isTTY) {
      const width = 30;
      const filled = Math.round(ratio * width);
      out.write(
        `\r${label.padEnd(10)} [${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${(ratio * 100).toFixed(0).padStart(3)}% ${done}/${total}${final ? '\n' : ''}`,
      );
      return;
    }
    const decile = Math.floor(ratio * 10);
    if (decile !== lastDecile || final) {
      lastDecile = decile;
      out.write(`${label}: ${done}/${total} (${(ratio * 100).toFixed(0)}%)\n`);
    }
  };
  return {
    start(l, t) {
      label = l;
      total = t;
      done = 0;
      lastDecile = -1;
      render(false);
    },
    advance(n) {
      done += n;
      render(false);
    },
    done() {
      render(true);
    },
  };
}

export const silentProgress: Progress = { start() {}, advance() {}, done() {} };
