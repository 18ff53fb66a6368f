/**
 * Progress display for long work: a single updating line with ETA on a terminal,
 * plain lines (one per epoch / stage) when the output is not a terminal.
 * @module
 */

/** Human-readable seconds: 42s, 3m05s, 1h02m. */
export function formatDuration(sec: number): string {
  if (!Number.isFinite(sec) || sec < 0) return '?';
  if (sec < 59.5) return `${sec.toFixed(sec < 10 ? 1 : 0)}s`;
  const whole = Math.round(sec);
  const m = Math.floor(whole / 60);
  if (m < 60) return `${m}m${String(whole % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export interface ProgressSink {
  write(s: string): void;
  isTTY?: boolean;
  columns?: number;
}

/** A progress bar over `total` units of work. */
export class Progress {
  private done = 0;
  private readonly t0 = performance.now();
  private lastLen = 0;
  private readonly tty: boolean;

  constructor(
    readonly label: string,
    /** Units of work in all; may be raised when the amount becomes known. */
    public total: number,
    private readonly out: ProgressSink = process.stderr,
    /** Set false to silence completely (tests). */
    private readonly enabled = true,
  ) {
    this.tty = Boolean(out.isTTY);
  }

  /** Seconds since start. */
  elapsed(): number {
    return (performance.now() - this.t0) / 1000;
  }

  /** Estimated seconds left, from the mean rate so far. */
  eta(): number {
    return this.done > 0 ? (this.elapsed() / this.done) * (this.total - this.done) : NaN;
  }

  /**
   * Report progress `done` of `total` with a status text. On a terminal the line is
   * redrawn in place; otherwise a line is printed only when `line` is true.
   */
  update(done: number, status: string, line = false): void {
    this.done = done;
    if (!this.enabled) return;
    const frac = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const head = `${this.label} ${(frac * 100).toFixed(0).padStart(3)}%`;
    const tail = `${status} | ${formatDuration(this.elapsed())} elapsed, ETA ${formatDuration(this.eta())}`;
    if (this.tty) {
      const width = 20;
      const filled = Math.round(frac * width);
      let s = `${head} [${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${tail}`;
      const cols = this.out.columns ?? 120;
      if (s.length > cols - 1) s = s.slice(0, cols - 1);
      this.out.write(`\r${s}${' '.repeat(Math.max(0, this.lastLen - s.length))}`);
      this.lastLen = s.length;
    } else if (line) {
      this.out.write(`${head} ${tail}\n`);
    }
  }

  /** Finish the bar (newline on a terminal) and print a closing line. */
  finish(status: string): void {
    if (!this.enabled) return;
    if (this.tty) this.out.write(`\r${' '.repeat(this.lastLen)}\r`);
    this.out.write(`${this.label} done: ${status} (${formatDuration(this.elapsed())})\n`);
  }
}
