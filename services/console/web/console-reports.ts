import { ApiError } from './api.ts';
import type { ConsoleContext, ConsoleView } from './console-context.ts';
import { h, notice, replace, table } from './dom.ts';
import { ago, CATEGORY_LABELS, dateTime, label, REPORT_STATUS_LABELS } from './format.ts';

/**
 * The reports queue (services/reports): open reports oldest first, one opened beside the list with its photo, place,
 * history and the actions its status allows — assign to a team, start, resolve or reject with a note (the reporter
 * gets an SMS or email at each step; the note is shown to them).
 */

/** A report as `/api/reports` shows it. */
interface Report {
  readonly id: number;
  readonly reference: string;
  readonly category: string;
  readonly text: string;
  readonly latitude: number | null;
  readonly longitude: number | null;
  readonly address: string | null;
  readonly contact: { channel: string; address: string } | null;
  readonly source: string;
  readonly status: string;
  readonly assignee: string | null;
  readonly note: string | null;
  readonly hasPhoto: boolean;
  readonly createdAt: string;
}

interface ReportDetail extends Report {
  readonly history: ReadonlyArray<{
    status: string;
    at: string;
    by: string;
    assignee: string | null;
    note: string | null;
  }>;
  readonly photoUrl: string | null;
}

const OPEN = new Set(['received', 'assigned', 'in-progress']);
const SOURCE_LABELS: Readonly<Record<string, string>> = { web: 'Web', sms: 'SMS', alert: 'Alerte' };
/** Who changed a status, when not an operator (whose token name is shown). */
const BY_LABELS: Readonly<Record<string, string>> = { citizen: 'habitant', sms: 'SMS', alerting: 'alerte' };

/** The reports view. */
export function reportsView(ctx: ConsoleContext): ConsoleView {
  const status = h('div', { 'aria-live': 'polite' });
  const body = h('tbody');
  const detail = h('div', { 'data-test': 'report-detail' });
  const filter = h(
    'select',
    { 'aria-label': 'Signalements affichés', onchange: () => void refresh() },
    h('option', { value: 'open' }, 'À traiter'),
    h('option', { value: 'closed' }, 'Clos'),
    h('option', { value: 'all' }, 'Tous'),
  );
  const element = h(
    'section',
    { 'aria-labelledby': 'reports-title' },
    h('h1', { id: 'reports-title' }, 'Signalements'),
    h('div', { class: 'row' }, filter),
    status,
    h(
      'div',
      { class: 'split' },
      table({ 'data-test': 'reports' }, ['Référence', 'Catégorie', 'Signalement', 'Statut', 'Reçu'], body),
      detail,
    ),
  );
  let openId: number | undefined;

  const act = async (report: ReportDetail, action: string, payload: Record<string, string>) => {
    try {
      await ctx.api('POST', `/api/reports/${report.id}/${action}`, payload);
      replace(status, notice('success', `${report.reference} : ${actionDone[action] ?? action}`));
    } catch (err) {
      replace(status, notice('error', err instanceof ApiError ? err.message : String(err)));
    }
    await Promise.all([refresh(), openReport(report.id)]);
  };
  const actionDone: Readonly<Record<string, string>> = {
    assign: 'assigné',
    start: 'travaux commencés',
    resolve: 'résolu',
    reject: 'rejeté',
  };

  const actionForms = (r: ReportDetail) => {
    if (!ctx.canAct || !OPEN.has(r.status)) return null;
    const assignee = h('input', {
      type: 'text',
      name: 'assignee',
      'aria-label': 'Équipe ou personne',
      placeholder: 'Équipe (ex. Voirie Nord)',
      value: r.assignee ?? '',
    });
    const note = h('textarea', {
      name: 'note',
      'aria-label': 'Note pour l’habitant',
      placeholder: 'Note pour l’habitant',
    });
    const needNote = (action: string) => () => {
      const text = note.value.trim();
      if (!text) {
        replace(status, notice('error', 'Écrivez une note : elle est envoyée à l’habitant.'));
        note.focus();
        return;
      }
      void act(r, action, { note: text });
    };
    return h(
      'div',
      { class: 'card' },
      h('h2', {}, 'Traiter'),
      h(
        'div',
        { class: 'row' },
        assignee,
        h(
          'button',
          {
            type: 'button',
            onclick: () => {
              const who = assignee.value.trim();
              if (!who) {
                replace(status, notice('error', 'Indiquez l’équipe ou la personne.'));
                assignee.focus();
                return;
              }
              void act(r, 'assign', { assignee: who });
            },
          },
          r.status === 'received' ? 'Assigner' : 'Réassigner',
        ),
        r.status === 'assigned'
          ? h('button', { type: 'button', class: 'secondary', onclick: () => void act(r, 'start', {}) }, 'Démarrer')
          : null,
      ),
      h('label', {}, 'Note (envoyée à l’habitant)'),
      note,
      h(
        'div',
        { class: 'actions' },
        h('button', { type: 'button', onclick: needNote('resolve') }, 'Résoudre'),
        h('button', { type: 'button', class: 'danger', onclick: needNote('reject') }, 'Rejeter'),
      ),
    );
  };

  const place = (r: Report) =>
    r.address ??
    (r.latitude !== null && r.longitude !== null
      ? `${r.latitude.toFixed(5)}, ${r.longitude.toFixed(5)}`
      : 'Lieu inconnu');

  const openReport = async (id: number) => {
    openId = id;
    let r: ReportDetail;
    try {
      r = await ctx.api<ReportDetail>('GET', `/api/reports/${id}`);
    } catch (err) {
      replace(detail, notice('error', err instanceof ApiError ? err.message : String(err)));
      return;
    }
    replace(
      detail,
      h(
        'div',
        { class: 'card' },
        h('h2', {}, `${r.reference} · ${label(CATEGORY_LABELS, r.category)}`),
        h(
          'p',
          {},
          h('span', { class: 'badge status', 'data-test': 'report-status' }, label(REPORT_STATUS_LABELS, r.status)),
          r.assignee ? ` ${r.assignee}` : '',
        ),
        h('p', {}, r.text),
        h(
          'p',
          { class: 'muted' },
          `${place(r)} · ${label(SOURCE_LABELS, r.source)} · ${dateTime(r.createdAt, ctx.timeZone)}`,
        ),
        r.contact
          ? h('p', { class: 'muted' }, `Contact : ${r.contact.address}`)
          : h('p', { class: 'muted' }, 'Sans contact'),
        r.photoUrl ? h('img', { class: 'photo', src: r.photoUrl, alt: `Photo du signalement ${r.reference}` }) : null,
        h('h2', {}, 'Historique'),
        h(
          'ol',
          {},
          ...r.history.map((e) =>
            h(
              'li',
              {},
              `${dateTime(e.at, ctx.timeZone)} — ${label(REPORT_STATUS_LABELS, e.status)} (${label(BY_LABELS, e.by)})`,
              e.assignee ? ` → ${e.assignee}` : '',
              e.note ? h('div', { class: 'muted' }, e.note) : null,
            ),
          ),
        ),
      ),
      actionForms(r),
    );
  };

  let loading: Promise<void> | undefined;
  const load = async () => {
    const page = await ctx.api<{ reports: Report[]; total: number }>('GET', '/api/reports?limit=200');
    const shown = page.reports
      .filter((r) =>
        filter.value === 'open' ? OPEN.has(r.status) : filter.value === 'closed' ? !OPEN.has(r.status) : true,
      )
      .sort((a, b) =>
        filter.value === 'open' ? a.createdAt.localeCompare(b.createdAt) : b.createdAt.localeCompare(a.createdAt),
      );
    replace(
      body,
      ...(shown.length === 0
        ? [h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'Aucun signalement.'))]
        : shown.map((r) =>
            h(
              'tr',
              { 'data-report': r.reference, ...(r.id === openId ? { 'aria-current': 'true' } : {}) },
              h('td', {}, h('a', { href: `#signalements/${r.id}` }, r.reference)),
              h('td', {}, label(CATEGORY_LABELS, r.category)),
              h(
                'td',
                {},
                r.text.length > 80 ? `${r.text.slice(0, 80)}…` : r.text,
                h('div', { class: 'muted' }, place(r)),
              ),
              h(
                'td',
                {},
                h('span', { class: 'badge status' }, label(REPORT_STATUS_LABELS, r.status)),
                r.assignee ? h('div', { class: 'muted' }, r.assignee) : null,
              ),
              h('td', {}, ago(r.createdAt)),
            ),
          )),
    );
  };
  const refresh = () => {
    loading ??= load().finally(() => {
      loading = undefined;
    });
    return loading;
  };

  return {
    element,
    show(argument) {
      const id = Number(argument);
      if (Number.isSafeInteger(id) && id > 0) void openReport(id);
    },
    refresh,
  };
}
