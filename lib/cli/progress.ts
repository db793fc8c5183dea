// Progress on stderr: a bar redrawn in place on a terminal; on a pipe or in a log, one
// line per 10% so CI output stays short. Elapsed time and a rate-based ETA come with it.
import type { CliOutput } from './format';

const BAR_WIDTH = 24;
const REDRAW_MS = 80;

export class Progress {
  private completed = 0;
  private readonly start = Date.now();
  private lastDraw = 0;
  private lastDecile = -1;
  private finished = false;

  constructor(
    private readonly output: CliOutput,
    private readonly label: string,
    private readonly total: number,
  ) {}

  /** Advances by n steps; `detail` (e.g. the layer name) is shown after the counts. */
  tick(n = 1, detail = ''): void {
    if (this.finished) return;
    this.completed = Math.min(this.total, this.completed + n);
    if (this.completed === this.total) this.done(detail);
    else this.draw(detail, false);
  }

  /** Marks the work complete and ends the line. */
  done(detail = ''): void {
    if (this.finished) return;
    this.completed = this.total;
    this.draw(detail, true);
    this.finished = true;
  }

  private draw(detail: string, force: boolean): void {
    const now = Date.now();
    const fraction = this.total > 0 ? this.completed / this.total : 1;
    const elapsed = (now - this.start) / 1000;
    const eta = fraction > 0 && fraction < 1 ? elapsed * (1 / fraction - 1) : 0;
    const counts = `${this.completed}/${this.total}`;
    const times = fraction < 1 ? `${elapsed.toFixed(1)}s, ~${eta.toFixed(0)}s left` : `${elapsed.toFixed(1)}s`;
    const suffix = detail ? ` ${detail}` : '';
    if (this.output.interactive) {
      if (!force && now - this.lastDraw < REDRAW_MS) return;
      this.lastDraw = now;
      const filled = Math.round(fraction * BAR_WIDTH);
      const bar = '█'.repeat(filled) + '░'.repeat(BAR_WIDTH - filled);
      const end = fraction >= 1 ? '\n' : '';
      this.output.err(`\r\x1b[2K${this.label} ${bar} ${counts} (${times})${suffix}${end}`);
      return;
    }
    const decile = Math.floor(fraction * 10);
    if (decile === this.lastDecile && !(force && fraction >= 1 && this.lastDecile < 10)) return;
    this.lastDecile = decile;
    this.output.err(`${this.label} ${Math.round(fraction * 100)}% ${counts} (${times})${suffix}\n`);
  }
}
