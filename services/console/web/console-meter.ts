import { ApiError } from './api.ts';
import { type BarChart, barChart } from './chart.ts';
import type { Alert, ConsoleContext, ConsoleView } from './console-context.ts';
import { h, notice, replace } from './dom.ts';
import { ALERT_TYPE_LABELS, dateTime, label, STATE_LABELS, volume } from './format.ts';

/**
 * One device's series (the console's read model of rollups): a water meter's consumption by hour over 7 days or by
 * day over 90 days — a leak shows as a floor under the night hours — with its alerts. The numbers are also in a
 * table (hidden visually) for screen readers.
 */

interface Series {
  readonly deviceId: string;
  readonly kind: string;
  readonly period: 'hour' | 'day';
  readonly points: ReadonlyArray<{ start: string; values: Record<string, number> }>;
}

/** The metric charted for each kind, and its unit. */
const METRIC: Readonly<Record<string, { key: string; unit: string; label: string }>> = {
  'water-meter': { key: 'consumptionL', unit: 'L', label: 'Consommation' },
  streetlight: { key: 'energyWh', unit: 'Wh', label: 'Énergie' },
  'parking-meter': { key: 'revenueCents', unit: 'c', label: 'Recettes' },
};

/** The device view. */
export function meterView(ctx: ConsoleContext): ConsoleView {
  const input = h('input', { type: 'text', name: 'deviceId', 'aria-label': 'Équipement', placeholder: 'WM-000123' });
  const period = h(
    'select',
    { 'aria-label': 'Période', onchange: () => void load() },
    h('option', { value: 'hour' }, 'Par heure, 7 jours'),
    h('option', { value: 'day' }, 'Par jour, 90 jours'),
  );
  const status = h('div', { 'aria-live': 'polite' });
  const title = h('h2', {});
  const chartBox = h('div', { class: 'chart' });
  const table = h('table', { class: 'sr-only', 'data-test': 'series' });
  const alerts = h('ul', { 'data-test': 'device-alerts' });
  const element = h(
    'section',
    { 'aria-labelledby': 'meter-title' },
    h('h1', { id: 'meter-title' }, 'Consommation d’un équipement'),
    h(
      'form',
      {
        class: 'row',
        onsubmit: (e: Event) => {
          e.preventDefault();
          const id = input.value.trim();
          if (id) ctx.go(`#compteur/${id}`);
        },
      },
      input,
      period,
      h('button', { type: 'submit' }, 'Afficher'),
    ),
    status,
    h('div', { class: 'card' }, title, chartBox, table),
    h('h2', {}, 'Alertes de l’équipement'),
    alerts,
  );
  let chart: BarChart | undefined;
  let deviceId = '';

  const load = async () => {
    if (!deviceId) return;
    replace(status);
    let series: Series;
    let deviceAlerts: Alert[];
    try {
      [series, { alerts: deviceAlerts }] = await Promise.all([
        ctx.api<Series>('GET', `/api/console/devices/${encodeURIComponent(deviceId)}/series?period=${period.value}`),
        ctx.api<{ alerts: Alert[] }>('GET', `/api/alerts?deviceId=${encodeURIComponent(deviceId)}&limit=20`),
      ]);
    } catch (err) {
      replace(
        status,
        notice(
          'error',
          err instanceof ApiError && err.status === 404
            ? `Aucun équipement ${deviceId} (ni données ni description).`
            : err instanceof Error
              ? err.message
              : String(err),
        ),
      );
      return;
    }
    const metric = METRIC[series.kind] ?? {
      key: Object.keys(series.points[0]?.values ?? {})[0] ?? '',
      unit: '',
      label: 'Valeur',
    };
    const bars = series.points.map((p) => ({ startMs: Date.parse(p.start), value: p.values[metric.key] ?? 0 }));
    const total = bars.reduce((s, b) => s + b.value, 0);
    title.textContent = `${deviceId} — ${metric.label}${
      series.kind === 'water-meter' && bars.length > 0 ? ` : ${volume(total)} sur la période` : ''
    }`;
    chart ??= barChart(chartBox, { unit: metric.unit, timeZone: ctx.timeZone, label: metric.label });
    chart.update(bars, series.period === 'hour' ? 3600 : 86_400);
    replace(
      table,
      h('caption', {}, `${metric.label} de ${deviceId}`),
      h('tr', {}, h('th', {}, 'Début'), h('th', {}, `${metric.label} (${metric.unit})`)),
      ...series.points.map((p) =>
        h('tr', {}, h('td', {}, dateTime(p.start, ctx.timeZone)), h('td', {}, String(p.values[metric.key] ?? ''))),
      ),
    );
    replace(
      alerts,
      ...(deviceAlerts.length === 0
        ? [h('li', { class: 'muted' }, 'Aucune alerte.')]
        : deviceAlerts.map((a) =>
            h(
              'li',
              {},
              h('span', { class: `badge ${a.severity}` }, label(STATE_LABELS, a.severity)),
              ` ${label(ALERT_TYPE_LABELS, a.type)} — ${dateTime(a.openedAt, ctx.timeZone)} — ${label(STATE_LABELS, a.state)}`,
              h('div', { class: 'muted' }, a.summary),
            ),
          )),
    );
  };

  return {
    element,
    show(argument) {
      const id = decodeURIComponent(argument);
      if (id && id !== deviceId) {
        deviceId = id;
        input.value = id;
        void load();
      }
    },
    refresh: load,
  };
}
