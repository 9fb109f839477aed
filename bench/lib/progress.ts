/**
 * A progress bar on stderr: one redrawn line on a terminal, one line per
 * phase change otherwise (CI logs). Shows the step number, the scenario, its
 * current phase, a bar for the phase, the running figure and elapsed time.
 */
import type { Live } from './live.js';

function clock(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

export class Progress {
  private timer: NodeJS.Timeout | undefined;
  private readonly t0 = Date.now();
  private lastPhase = '';
  private readonly tty = Boolean(process.stderr.isTTY);
  private step = 0;
  private title = '';
  private live: Live | undefined;

  constructor(private readonly steps: number) {}

  /** Starts showing `live` as step `title`. */
  begin(title: string, live: Live): void {
    this.step++;
    this.title = title;
    this.live = live;
    this.lastPhase = '';
    this.timer ??= setInterval(() => this.draw(), 200);
    this.draw();
  }

  /** Ends the current step with a one-line outcome. */
  end(outcome: string): void {
    this.clear();
    process.stderr.write(`[${this.step}/${this.steps}] ${this.title}: ${outcome}\n`);
    this.live = undefined;
  }

  /** Prints a message above the bar. */
  log(message: string): void {
    this.clear();
    process.stderr.write(`${message}\n`);
    this.draw();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.clear();
  }

  private clear(): void {
    if (this.tty) process.stderr.write('\r\x1b[2K');
  }

  private draw(): void {
    const live = this.live;
    if (!live) return;
    const head = `[${this.step}/${this.steps}] ${this.title}`;
    if (!this.tty) {
      if (live.phase !== this.lastPhase) {
        this.lastPhase = live.phase;
        process.stderr.write(`${head}: ${live.phase}…\n`);
      }
      return;
    }
    const frac = live.total > 0 ? Math.max(0, Math.min(1, live.done / live.total)) : 0;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const line = `${head} ${bar} ${String(Math.round(frac * 100)).padStart(3)}% ${live.phase}${
      live.note ? `, ${live.note}` : ''
    }  ${clock(Date.now() - this.t0)}`;
    const cols = process.stderr.columns || 120;
    process.stderr.write(`\r\x1b[2K${line.slice(0, cols - 1)}`);
  }
}
