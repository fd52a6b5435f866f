/**
 * A progress bar on stderr for long kvctl commands (`snapshot save` and
 * `restore`): redrawn in place on a terminal, a single summary line
 * otherwise (logs and CI output stay readable).
 *
 * @packageDocumentation
 */
import type { KvctlWritable } from './io.js';
import { humanBytes } from './table.js';

/** Options of {@link ProgressBar}. */
export interface ProgressBarOptions {
  /** What is being done, at the start of the line (`Saving snapshot`). */
  readonly label: string;
  /** The unit counted (`keys`, `bytes`); `bytes` are shown as `1.2 MB`. */
  readonly unit: string;
  /** Least time between redraws, in ms. @defaultValue 100 */
  readonly intervalMs?: number;
  /** Clock in ms. @defaultValue `performance.now` */
  readonly now?: () => number;
}

/**
 * Draws `label [=====>    ]  45%  450/1000 keys  1.2 MB` on a terminal,
 * at most every `intervalMs`; does nothing until {@link ProgressBar.finish}
 * when `out` is not a terminal.
 */
export class ProgressBar {
  private readonly tty: boolean;
  private readonly now: () => number;
  private readonly intervalMs: number;
  private lastDraw = -Infinity;
  private drawn = false;
  private readonly started: number;

  constructor(
    private readonly out: KvctlWritable,
    private readonly opts: ProgressBarOptions,
  ) {
    this.tty = out.isTTY === true;
    this.now = opts.now ?? (() => performance.now());
    this.intervalMs = opts.intervalMs ?? 100;
    this.started = this.now();
  }

  /** Reports `done` of `total` (unknown: no bar, just the count), with `bytes` moved so far. */
  update(done: number, total: number | undefined, bytes?: number): void {
    if (!this.tty) return;
    const t = this.now();
    if (t - this.lastDraw < this.intervalMs) return;
    this.lastDraw = t;
    this.draw(done, total, bytes);
  }

  /** Ends the bar: a last full redraw and a newline on a terminal, else `summary` as one line. */
  finish(done: number, total: number | undefined, bytes: number | undefined, summary: string): void {
    if (this.tty) {
      this.draw(done, total, bytes);
      this.out.write('\n');
    } else {
      const secs = ((this.now() - this.started) / 1000).toFixed(1);
      this.out.write(`${summary} in ${secs}s\n`);
    }
  }

  /** Ends the bar after a failure: on a terminal, moves to a fresh line so the error reads cleanly. */
  abandon(): void {
    if (this.tty && this.drawn) this.out.write('\n');
  }

  private count(n: number): string {
    return this.opts.unit === 'bytes' ? humanBytes(n) : String(n);
  }

  private draw(done: number, total: number | undefined, bytes: number | undefined): void {
    const width = Math.max(40, this.out.columns ?? 80);
    const tail =
      (total !== undefined ? `${this.count(done)}/${this.count(total)}` : this.count(done)) +
      (this.opts.unit === 'bytes' ? '' : ` ${this.opts.unit}`) +
      (bytes !== undefined && this.opts.unit !== 'bytes' ? `  ${humanBytes(bytes)}` : '');
    let line: string;
    if (total !== undefined && total > 0) {
      const frac = Math.min(1, done / total);
      const pct = `${Math.floor(frac * 100)}%`.padStart(4);
      const room = Math.max(10, width - this.opts.label.length - tail.length - pct.length - 8);
      const filled = Math.floor(frac * room);
      const bar = '='.repeat(filled) + (filled < room ? '>' : '') + ' '.repeat(Math.max(0, room - filled - 1));
      line = `${this.opts.label} [${bar}] ${pct}  ${tail}`;
    } else {
      line = `${this.opts.label}  ${tail}`;
    }
    this.out.write(`\r${line.slice(0, width - 1)}\x1b[K`);
    this.drawn = true;
  }
}
