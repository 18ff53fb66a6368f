/**
 * Reading the CSV files the project writes (RFC 4180, see report/table.ts `toCsv`) back into
 * records for the HTML report: empty fields become null, fields that read as numbers become
 * numbers (`NaN` stays NaN, `Infinity` ±∞), everything else stays text.
 * @module
 */

export type CsvRecord = Record<string, string | number | null>;

/** Split RFC 4180 text into rows of fields (quoted fields may hold commas, quotes and line breaks). */
export function parseCsvFields(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
      } else field += ch;
      i++;
      continue;
    }
    if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      row.push(field);
      field = '';
      rows.push(row);
      row = [];
      if (ch === '\r' && text[i + 1] === '\n') i++;
    } else field += ch;
    i++;
  }
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$|^[+-]?Infinity$|^NaN$/;

/** Records keyed by the header line's names. */
export function parseCsv(text: string): CsvRecord[] {
  const [head, ...rest] = parseCsvFields(text);
  if (!head) return [];
  return rest.filter((r) => !(r.length === 1 && r[0] === '')).map((r) => Object.fromEntries(head.map((h, j) => [h, convert(r[j] ?? '')])));
}

function convert(s: string): string | number | null {
  if (s === '') return null;
  return NUMBER.test(s) ? Number(s) : s;
}
