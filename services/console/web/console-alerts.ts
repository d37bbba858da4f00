import { ApiError } from './api.ts';
import type { Alert, ConsoleContext, ConsoleView } from './console-context.ts';
import { h, notice, replace, table } from './dom.ts';
import { ALERT_TYPE_LABELS, ago, dateTime, KIND_LABELS, label, STATE_LABELS } from './format.ts';

/**
 * The open alerts, worst first: acknowledge (an operator takes charge) and resolve (with an optional note) — the
 * alert lifecycle API (alerting/api/routes.ts). Viewers see the list without the buttons.
 */

const SEVERITY_RANK: Readonly<Record<string, number>> = { critical: 0, warning: 1, info: 2 };

/** The alerts view. */
export function alertsView(ctx: ConsoleContext): ConsoleView {
  const status = h('div', { 'aria-live': 'polite' });
  const body = h('tbody');
  const filter = h(
    'select',
    { 'aria-label': 'Alertes affichées', onchange: () => void refresh() },
    h('option', { value: 'active' }, 'Ouvertes et prises en charge'),
    h('option', { value: 'open' }, 'Ouvertes seulement'),
    h('option', { value: 'acknowledged' }, 'Prises en charge seulement'),
  );
  const element = h(
    'section',
    { 'aria-labelledby': 'alerts-title' },
    h('h1', { id: 'alerts-title' }, 'Alertes en cours'),
    h('div', { class: 'row' }, filter),
    status,
    table({ 'data-test': 'alerts' }, ['Gravité', 'Alerte', 'Équipement', 'Ouverte', 'Suivi', 'Actions'], body),
  );

  const act = async (alert: Alert, action: 'acknowledge' | 'resolve', note?: string) => {
    try {
      await ctx.api('POST', `/api/alerts/${encodeURIComponent(alert.alertId)}/${action}`, note ? { note } : {});
      replace(
        status,
        notice(
          'success',
          `${action === 'acknowledge' ? 'Alerte prise en charge' : 'Alerte résolue'} : ${alert.alertId}`,
        ),
      );
    } catch (err) {
      replace(status, notice('error', err instanceof ApiError ? err.message : String(err)));
    }
    await refresh();
  };

  const actions = (alert: Alert) => {
    if (!ctx.canAct) return h('span', { class: 'muted' }, 'Lecture seule');
    const cell = h('div', { class: 'actions' });
    const resolveForm = () => {
      const note = h('input', { type: 'text', 'aria-label': 'Note de résolution (facultative)', placeholder: 'Note' });
      replace(
        cell,
        note,
        h('button', { type: 'button', onclick: () => void act(alert, 'resolve', note.value.trim()) }, 'Confirmer'),
        h('button', { type: 'button', class: 'secondary', onclick: () => replace(cell, ...buttons()) }, 'Annuler'),
      );
      note.focus();
    };
    const buttons = () => [
      alert.state === 'open'
        ? h('button', { type: 'button', onclick: () => void act(alert, 'acknowledge') }, 'Acquitter')
        : null,
      h('button', { type: 'button', class: 'secondary', onclick: resolveForm }, 'Résoudre'),
    ];
    replace(cell, ...buttons());
    return cell;
  };

  const row = (a: Alert) =>
    h(
      'tr',
      { 'data-alert': a.alertId },
      h('td', {}, h('span', { class: `badge ${a.severity}` }, label(STATE_LABELS, a.severity))),
      h('td', {}, h('strong', {}, label(ALERT_TYPE_LABELS, a.type)), h('div', { class: 'muted' }, a.summary)),
      h(
        'td',
        {},
        a.kind === 'water-meter' ? h('a', { href: `#compteur/${a.deviceId}` }, a.deviceId) : a.deviceId,
        h('div', { class: 'muted' }, label(KIND_LABELS, a.kind)),
      ),
      h('td', {}, dateTime(a.openedAt, ctx.timeZone), h('div', { class: 'muted' }, ago(a.openedAt))),
      h(
        'td',
        { 'data-test': 'alert-state' },
        a.state === 'acknowledged' ? `Prise en charge par ${a.acknowledgedBy ?? '?'}` : label(STATE_LABELS, a.state),
      ),
      h('td', {}, actions(a)),
    );

  let loading: Promise<void> | undefined;
  const load = async () => {
    const states = filter.value === 'active' ? ['open', 'acknowledged'] : [filter.value];
    const pages = await Promise.all(
      states.map((s) => ctx.api<{ alerts: Alert[]; total: number }>('GET', `/api/alerts?state=${s}&limit=200`)),
    );
    const alerts = pages
      .flatMap((p) => p.alerts)
      .sort(
        (a, b) =>
          (SEVERITY_RANK[a.severity] ?? 3) - (SEVERITY_RANK[b.severity] ?? 3) || b.openedAt.localeCompare(a.openedAt),
      );
    const total = pages.reduce((n, p) => n + p.total, 0);
    // Keep a note being typed: redraw only when nobody is editing in the table.
    if (body.contains(document.activeElement) && document.activeElement?.tagName === 'INPUT') return;
    replace(
      body,
      ...(alerts.length === 0
        ? [h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'Aucune alerte en cours.'))]
        : alerts.map(row)),
      total > alerts.length
        ? h(
            'tr',
            {},
            h('td', { colspan: 6, class: 'muted' }, `${total - alerts.length} alertes de plus non affichées.`),
          )
        : null,
    );
  };
  const refresh = () => {
    loading ??= load().finally(() => {
      loading = undefined;
    });
    return loading;
  };

  return { element, show: () => undefined, refresh };
}
