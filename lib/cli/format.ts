// Output helpers shared by the CLI commands: an injectable output object (so tests run
// the CLI in-process), aligned text tables, byte sizes and colors.

export interface CliOutput {
  out(text: string): void;
  err(text: string): void;
  /** Colors are used only on a terminal and when NO_COLOR is unset (https://no-color.org). */
  color: boolean;
  /** stderr is a terminal: progress bars redraw in place (otherwise a few plain lines). */
  interactive?: boolean;
}

export function processOutput(): CliOutput {
  const noColor = process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== '';
  return {
    out: (s) => process.stdout.write(s),
    err: (s) => process.stderr.write(s),
    color: process.stdout.isTTY === true && !noColor,
    interactive: process.stderr.isTTY === true,
  };
}

export interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

const sgr = (open: number, close: number) => (s: string) => `\x1b[${open}m${s}\x1b[${close}m`;
const plain = (s: string) => s;

export function style(enabled: boolean): Style {
  if (!enabled) return { bold: plain, dim: plain, red: plain, green: plain, yellow: plain, cyan: plain };
  return { bold: sgr(1, 22), dim: sgr(2, 22), red: sgr(31, 39), green: sgr(32, 39), yellow: sgr(33, 39), cyan: sgr(36, 39) };
}

// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

/** Printed width of a string, ignoring color escapes. */
export function visibleLength(s: string): number {
  return s.replace(ANSI, '').length;
}

export interface Column {
  header: string;
  align?: 'left' | 'right';
}

/** Rows of cells as aligned columns separated by two spaces, with a header and a rule. */
export function table(columns: readonly Column[], rows: readonly (readonly string[])[], st: Style = style(false)): string {
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => visibleLength(r[i] ?? ''))));
  const pad = (s: string, i: number) => {
    const fill = ' '.repeat(widths[i] - visibleLength(s));
    return columns[i].align === 'right' ? fill + s : s + fill;
  };
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => pad(c, i))
      .join('  ')
      .trimEnd();
  const out = [st.bold(line(columns.map((c) => c.header))), st.dim(widths.map((w) => '-'.repeat(w)).join('  '))];
  for (const r of rows) out.push(line(columns.map((_, i) => r[i] ?? '')));
  return out.join('\n') + '\n';
}

/** "label  value" lines with the labels padded to one width. */
export function keyValues(pairs: readonly (readonly [string, string])[], st: Style = style(false)): string {
  const w = Math.max(0, ...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${st.bold(k.padEnd(w))}  ${v}`).join('\n') + '\n';
}

/** Byte count in binary units: 512 B, 1.5 KiB, 11.6 MiB. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = Math.abs(n);
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  const s = u === 0 ? String(v) : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
  return `${n < 0 ? '-' : ''}${s} ${units[u]}`;
}

/** Integer with thousands separators: 3145728 -> "3,145,728". */
export function formatCount(n: number): string {
  return Math.round(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Short count: 3145728 -> "3.15M". */
export function formatShortCount(n: number): string {
  const steps: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'B'],
    [1e6, 'M'],
    [1e3, 'K'],
  ];
  for (const [f, s] of steps) if (Math.abs(n) >= f) return `${(n / f).toPrecision(3)}${s}`;
  return String(n);
}

export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
