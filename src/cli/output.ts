/** Tables for people, JSON for scripts. */

export type OutputMode = 'table' | 'json';

export interface Table {
  readonly columns: readonly string[];
  readonly rows: readonly (readonly (string | number | boolean | undefined)[])[];
}

/** What a command produced: JSON for `--output json`, a table or text otherwise. */
export interface Result {
  readonly json: unknown;
  readonly table?: Table;
  readonly text?: string;
  /** Print `text` whatever the output mode (it already is in the format asked for). */
  readonly raw?: boolean;
  /** Exit with this code after printing (default 0). */
  readonly exitCode?: number;
}

export function renderTable(t: Table): string {
  const cells = t.rows.map((r) => r.map((c) => (c === undefined ? '-' : String(c))));
  const widths = t.columns.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  const out = [line(t.columns), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)];
  if (cells.length === 0) out.push('(none)');
  return out.join('\n') + '\n';
}

export function render(result: Result, mode: OutputMode): string {
  if (result.raw && result.text !== undefined) return result.text;
  if (mode === 'json') return JSON.stringify(result.json, null, 2) + '\n';
  if (result.table !== undefined) return renderTable(result.table) + (result.text !== undefined ? result.text : '');
  if (result.text !== undefined) return result.text.endsWith('\n') || result.text === '' ? result.text : result.text + '\n';
  return JSON.stringify(result.json, null, 2) + '\n';
}

/** A two-column table of fields, for one object. */
export function fields(entries: readonly (readonly [string, string | number | boolean | undefined])[]): Table {
  return { columns: ['FIELD', 'VALUE'], rows: entries.map(([k, v]) => [k, v]) };
}
