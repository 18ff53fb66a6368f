import { describe, expect, it } from 'vitest';
import { formatNumber, markdownTable, meanStdColumns, summarize, toCsv } from '../../src/report/table.js';

describe('toCsv', () => {
  it('quotes commas, quotes and line breaks per RFC 4180', () => {
    const csv = toCsv([
      { name: 'a,b', note: 'say "hi"', v: 1 },
      { name: 'plain', note: 'two\nlines', v: null },
    ]);
    expect(csv).toBe('name,note,v\r\n"a,b","say ""hi""",1\r\nplain,"two\nlines",\r\n');
  });

  it('writes numbers with full precision and honours the column order', () => {
    const x = 0.1 + 0.2;
    const csv = toCsv([{ a: x, b: 1e-17, c: 'z' }], ['c', 'a', 'missing']);
    expect(csv).toBe(`c,a,missing\r\nz,${String(x)},\r\n`);
    expect(Number(csv.split('\r\n')[1].split(',')[1])).toBe(x);
  });

  it('uses the union of keys in first-seen order', () => {
    expect(toCsv([{ a: 1 }, { b: 2, a: 3 }])).toBe('a,b\r\n1,\r\n3,2\r\n');
  });
});

describe('markdownTable', () => {
  it('formats numbers, right-aligns numeric columns and escapes pipes', () => {
    const md = markdownTable(
      [
        { method: 'snr|vd', acc: 0.98123456, n: 3 },
        { method: 'magnitude', acc: 0.5, n: null },
      ],
      ['method', 'acc', 'n'],
      { digits: 3 },
    );
    expect(md).toBe('| method | acc | n |\n| --- | ---: | ---: |\n| snr\\|vd | 0.981 | 3 |\n| magnitude | 0.500 |  |\n');
  });

  it('uses exponent notation for tiny values', () => {
    expect(formatNumber(1e-5, 4)).toBe('1.000e-5');
    expect(formatNumber(0.12345, 2)).toBe('0.12');
    expect(formatNumber(42, 2)).toBe('42');
  });
});

describe('summarize', () => {
  const rows = [
    { method: 'vd', ratio: 4, seed: 0, acc: 0.9, ece: 0.02 },
    { method: 'vd', ratio: 4, seed: 1, acc: 0.92, ece: null },
    { method: 'vd', ratio: 4, seed: 2, acc: 0.94, ece: 0.04 },
    { method: 'mag', ratio: 4, seed: 0, acc: 0.8, ece: 0.1 },
    { method: 'vd', ratio: 8, seed: 0, acc: 0.85, ece: 0.05 },
  ];
  const s = summarize(rows, ['method', 'ratio'], ['acc', 'ece']);

  it('groups in first-appearance order with mean and sample std', () => {
    expect(s.map((r) => [r.method, r.ratio, r.n])).toEqual([
      ['vd', 4, 3],
      ['mag', 4, 1],
      ['vd', 8, 1],
    ]);
    expect(s[0].acc_mean).toBeCloseTo(0.92, 12);
    // Sample std of 0.90, 0.92, 0.94: sqrt((0.02² + 0 + 0.02²)/2) = 0.02 (population std would be 0.01633).
    expect(s[0].acc_std).toBeCloseTo(0.02, 12);
  });

  it('skips missing values and leaves the std of a single value empty', () => {
    expect(s[0].ece_n).toBe(2);
    expect(s[0].ece_mean).toBeCloseTo(0.03, 12);
    expect(s[0].ece_std).toBeCloseTo(Math.SQRT2 * 0.01, 12);
    expect(s[1].acc_std).toBeNull();
    expect(s[1].acc_mean).toBe(0.8);
  });

  it('adds the 95 % Student-t interval of the mean, null for a single value', () => {
    // acc 0.90, 0.92, 0.94: t_{0.975,2} = 4.30265273 (table), half width 4.30265273 · 0.02 / √3 = 0.049682.
    expect(s[0].acc_ci_low).toBeCloseTo(0.92 - (4.30265273 * 0.02) / Math.sqrt(3), 7);
    expect(s[0].acc_ci_high).toBeCloseTo(0.92 + (4.30265273 * 0.02) / Math.sqrt(3), 7);
    // ece 0.02, 0.04 (the null skipped): std √2·0.01, t_{0.975,1} = 12.7062047, half width 12.7062047 · 0.01 = 0.127062.
    expect(s[0].ece_ci_low).toBeCloseTo(0.03 - 0.127062047, 7);
    expect(s[0].ece_ci_high).toBeCloseTo(0.03 + 0.127062047, 7);
    expect(s[1].acc_ci_low).toBeNull();
    expect(s[1].acc_ci_high).toBeNull();
    expect(Object.keys(s[0]).filter((k) => k.startsWith('acc_'))).toEqual(['acc_mean', 'acc_std', 'acc_ci_low', 'acc_ci_high', 'acc_n']);
  });

  it('formats the interval and shows a single value as having no spread', () => {
    const d = meanStdColumns(s, ['method', 'ratio'], ['acc', 'ece'], 3, { ci: true, showMissing: true });
    expect(d[0].acc).toBe('0.920 ± 0.020 [0.870, 0.970]');
    expect(d[0].ece).toBe('0.030 ± 0.014 [−0.097, 0.157] (n = 2)'.replace('−', '-'));
    expect(d[1].acc).toBe('0.800 ± –');
  });

  it('formats mean ± std columns', () => {
    const d = meanStdColumns(s, ['method', 'ratio'], ['acc'], 3);
    expect(d[0]).toEqual({ method: 'vd', ratio: 4, n: 3, acc: '0.920 ± 0.020' });
    expect(d[1].acc).toBe('0.800');
  });

  it('distinguishes a number key from its string', () => {
    const g = summarize(
      [
        { k: 1, v: 1 },
        { k: '1', v: 2 },
      ],
      ['k'],
      ['v'],
    );
    expect(g).toHaveLength(2);
  });
});
