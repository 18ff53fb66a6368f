import { describe, expect, it } from 'vitest';
import { formatDuration, Progress } from '../../src/experiment/progress.js';

describe('progress', () => {
  it('formats durations without impossible values like 6m60s', () => {
    expect(formatDuration(5.25)).toBe('5.3s');
    expect(formatDuration(42)).toBe('42s');
    expect(formatDuration(419.6)).toBe('7m00s');
    expect(formatDuration(59.7)).toBe('1m00s');
    expect(formatDuration(3725)).toBe('1h02m');
    expect(formatDuration(NaN)).toBe('?');
  });

  it('prints plain lines only when asked, off a terminal; redraws in place on one', () => {
    const out: string[] = [];
    const p = new Progress('train', 10, { write: (s) => void out.push(s), isTTY: false });
    p.update(1, 'step');
    expect(out).toEqual([]);
    p.update(5, 'epoch 5', true);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatch(/^train {2}50% epoch 5 \| .* elapsed, ETA .*\n$/);
    const tty: string[] = [];
    const q = new Progress('train', 4, { write: (s) => void tty.push(s), isTTY: true, columns: 200 });
    q.update(2, 'half');
    expect(tty[0]).toMatch(/^\rtrain {2}50% \[█{10}░{10}\] half/);
    q.finish('ok');
    expect(tty.at(-1)).toMatch(/^train done: ok/);
  });
});
