import { escapeHtml } from '../../core/html.ts';
import type { Locale } from '../messages.ts';

/** Small text helpers shared by the schedules' messages (pure). */

const INTL_LOCALE: Record<Locale, string> = { fr: 'fr-FR', en: 'en-GB' };

/** A local date `YYYY-MM-DD` written `DD/MM/YYYY` (fr and en-GB alike). */
export function slashDate(date: string): string {
  const [y, m, d] = date.split('-');
  return `${d}/${m}/${y}`;
}

/** A month `YYYY-MM` in words: fr "novembre 2026", en "November 2026". */
export function monthName(month: string, locale: Locale): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return new Intl.DateTimeFormat(INTL_LOCALE[locale], { month: 'long', year: 'numeric', timeZone: 'UTC' }).format(
    Date.UTC(y, m - 1, 15),
  );
}

/** An instant as a short local day and time: "26/11 03:15". */
export function shortDateTime(ms: number, locale: Locale, timeZone: string): string {
  return new Intl.DateTimeFormat(INTL_LOCALE[locale], {
    day: '2-digit',
    month: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
    timeZone,
  })
    .format(ms)
    .replace(',', '')
    .replace(/[\u00a0\u202f]/g, ' ');
}

/** Lines of a text table: columns padded to their widest cell, two spaces apart, each line indented. */
export function textTable(rows: readonly (readonly string[])[], indent = '  '): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map(
    (row) => `${indent}${row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')}`,
  );
}

/** A simple HTML table (cells escaped). */
export function htmlTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const th = head.map((h) => `<th style="text-align:left;padding:2px 8px">${escapeHtml(h)}</th>`).join('');
  const trs = rows
    .map((r) => `<tr>${r.map((c) => `<td style="padding:2px 8px">${escapeHtml(c)}</td>`).join('')}</tr>`)
    .join('\n');
  return `<table style="border-collapse:collapse"><thead><tr>${th}</tr></thead><tbody>\n${trs}\n</tbody></table>`;
}
