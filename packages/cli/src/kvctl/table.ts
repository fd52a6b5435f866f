/**
 * ASCII tables as etcdctl v3 draws them (olekukonko/tablewriter: centred
 * headers, right-aligned cells).
 *
 * @packageDocumentation
 */

/** Renders `header` and `rows` as etcdctl's `-w table`. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = '+' + widths.map((w) => '-'.repeat(w + 2)).join('+') + '+\n';
  const centre = (s: string, w: number): string => {
    const gap = w - s.length;
    const left = Math.floor(gap / 2);
    return ' '.repeat(left) + s + ' '.repeat(gap - left);
  };
  const head = '|' + header.map((h, i) => ` ${centre(h, widths[i]!)} `).join('|') + '|\n';
  const body = rows.map((r) => '|' + widths.map((w, i) => ` ${(r[i] ?? '').padStart(w)} `).join('|') + '|\n').join('');
  return line + head + line + body + line;
}

/** go-humanize's `Bytes` (SI units): `20 kB`, `2.0 kB`, `512 B`. */
export function humanBytes(n: number): string {
  if (n < 10) return `${n} B`;
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  const e = Math.min(Math.floor(Math.log(n) / Math.log(1000)), units.length - 1);
  const val = Math.floor((n / 1000 ** e) * 10 + 0.5) / 10;
  return `${val < 10 ? val.toFixed(1) : val.toFixed(0)} ${units[e]}`;
}
