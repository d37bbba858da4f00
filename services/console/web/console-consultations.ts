import { ApiError } from './api.ts';
import type { ConsoleContext, ConsoleView } from './console-context.ts';
import { h, notice, replace, table } from './dom.ts';
import { dateTime } from './format.ts';
import { type SurveyResults, surveyResults } from './survey-results.ts';

/**
 * The consultations (services/consultations): every survey with its phase and how many answered, one opened beside
 * the list with its results as bars and the link to its CSV. An operator (not a viewer) may close an open survey now
 * or cancel a scheduled one (`POST /api/consultations/:id/close`), after confirming, with an optional reason.
 * Operators create surveys through the API (`POST /api/consultations`); free texts are read there too
 * (`…/free-texts`, operators only).
 */

interface SurveyItem {
  readonly id: number;
  readonly title: string;
  readonly phase: 'scheduled' | 'open' | 'closed' | 'cancelled';
  readonly opensAt: string;
  readonly closesAt: string;
  readonly respondents: number;
  readonly questionCount: number;
  /** Set when an operator closed it early or cancelled it. */
  readonly endedEarly: {
    readonly action: 'closed' | 'cancelled';
    readonly by: string;
    readonly at: string;
    readonly reason: string | null;
    readonly plannedClosesAt: string;
  } | null;
}

const PHASE_LABELS: Readonly<Record<SurveyItem['phase'], string>> = {
  scheduled: 'À venir',
  open: 'En cours',
  closed: 'Terminée',
  cancelled: 'Annulée',
};

/** Most characters of the reason (the API's limit). */
const REASON_MAX_LENGTH = 500;

/** The consultations view: `#consultations` lists them, `#consultations/12` opens one. */
export function consultationsView(ctx: ConsoleContext): ConsoleView {
  const list = h('div', { 'data-test': 'surveys' });
  const detail = h('div', { 'data-test': 'survey-detail' });
  const element = h('section', { class: 'split' }, list, detail);
  /** The outcome of the last close or cancel, kept across redraws of the detail. */
  const status = h('div', { 'data-test': 'survey-status' });
  let opened: number | null = null;
  /** A close or cancel is being confirmed: the periodic refresh leaves the detail alone meanwhile. */
  let confirming = false;

  /** What an operator ended early, and why: one line under the dates. */
  function endedLine(survey: SurveyItem): HTMLElement | null {
    const end = survey.endedEarly;
    if (!end) return null;
    const what = end.action === 'closed' ? 'Close avant terme' : 'Annulée';
    const planned =
      end.action === 'closed' ? ` (clôture prévue le ${dateTime(end.plannedClosesAt, ctx.timeZone)})` : '';
    return h(
      'p',
      { class: 'hint', 'data-test': 'survey-ended' },
      `${what} par ${end.by} le ${dateTime(end.at, ctx.timeZone)}${planned}`,
      end.reason ? ` — motif : ${end.reason}` : '',
    );
  }

  async function close(survey: SurveyItem, reason: string): Promise<void> {
    confirming = false;
    try {
      // The server decides from the phase it reads: a survey that opened meanwhile is closed, not cancelled.
      const ended = await ctx.api<SurveyItem>(
        'POST',
        `/api/consultations/${survey.id}/close`,
        reason ? { reason } : {},
      );
      replace(
        status,
        notice(
          'success',
          ended.phase === 'cancelled'
            ? `Consultation annulée : ${survey.title}`
            : `Consultation close : ${survey.title}`,
        ),
      );
    } catch (err) {
      replace(status, notice('error', err instanceof ApiError ? err.message : String(err)));
    }
    await refresh();
  }

  /** "Clore maintenant" on an open survey, "Annuler" on a scheduled one, each confirmed first; operators only. */
  function closeActions(survey: SurveyItem): HTMLElement | null {
    if (!ctx.canAct || (survey.phase !== 'open' && survey.phase !== 'scheduled')) return null;
    const cancelling = survey.phase === 'scheduled';
    const cell = h('div', { class: 'actions spaced', 'data-test': 'survey-close' });
    const ask = () => {
      confirming = true;
      const reason = h('input', {
        type: 'text',
        maxlength: REASON_MAX_LENGTH,
        'aria-label': 'Motif (facultatif)',
        placeholder: 'Motif (facultatif)',
      });
      replace(
        cell,
        h(
          'p',
          { class: 'hint' },
          cancelling
            ? 'Annuler cette consultation ? Elle ne s’ouvrira jamais et ne sera plus visible des habitants.'
            : 'Clore cette consultation maintenant ? Plus aucune réponse ne sera acceptée, ' +
                'et ses résultats deviendront publics.',
        ),
        reason,
        h(
          'button',
          { type: 'button', onclick: () => void close(survey, reason.value.trim()) },
          cancelling ? 'Confirmer l’annulation' : 'Confirmer la clôture',
        ),
        h(
          'button',
          {
            type: 'button',
            class: 'secondary',
            onclick: () => {
              confirming = false;
              replace(cell, button());
            },
          },
          'Retour',
        ),
      );
      reason.focus();
    };
    const button = () =>
      h(
        'button',
        { type: 'button', class: cancelling ? 'secondary' : null, onclick: ask },
        cancelling ? 'Annuler' : 'Clore maintenant',
      );
    replace(cell, button());
    return cell;
  }

  async function drawList(): Promise<void> {
    const { surveys } = await ctx.api<{ surveys: SurveyItem[] }>('GET', '/api/consultations');
    replace(
      list,
      h('h2', {}, 'Consultations'),
      surveys.length === 0
        ? h('p', { class: 'muted' }, 'Aucune consultation pour le moment.')
        : table(
            {},
            ['Consultation', 'État', 'Participants'],
            h(
              'tbody',
              {},
              ...surveys.map((s) =>
                h(
                  'tr',
                  { 'data-test': 'survey', 'aria-current': s.id === opened ? 'true' : null },
                  h('td', {}, h('a', { href: `#consultations/${s.id}` }, s.title)),
                  h('td', {}, PHASE_LABELS[s.phase]),
                  h('td', { 'data-test': 'survey-respondents' }, String(s.respondents)),
                ),
              ),
            ),
          ),
    );
  }

  async function drawDetail(): Promise<void> {
    if (confirming) return;
    if (opened === null) {
      replace(detail, h('p', { class: 'muted' }, 'Choisissez une consultation pour voir ses résultats.'));
      return;
    }
    const [survey, results] = await Promise.all([
      ctx.api<SurveyItem>('GET', `/api/consultations/${opened}`),
      ctx.api<SurveyResults>('GET', `/api/consultations/${opened}/results`),
    ]);
    replace(
      detail,
      status,
      h('h2', {}, survey.title),
      h(
        'p',
        { class: 'hint' },
        `${PHASE_LABELS[survey.phase]} · du ${dateTime(survey.opensAt, ctx.timeZone)} au ${dateTime(survey.closesAt, ctx.timeZone)}`,
      ),
      endedLine(survey),
      closeActions(survey),
      surveyResults(results),
      h(
        'p',
        {},
        h(
          'button',
          {
            type: 'button',
            class: 'secondary',
            'data-test': 'survey-csv',
            onclick: () =>
              void ctx.download(`/api/consultations/${survey.id}/results.csv`, `consultation-${survey.id}.csv`),
          },
          'Télécharger les résultats (CSV)',
        ),
      ),
    );
  }

  async function refresh(): Promise<void> {
    try {
      await Promise.all([drawList(), drawDetail()]);
    } catch (err) {
      replace(detail, notice('error', `Les consultations n’ont pas pu être chargées : ${(err as Error).message}`));
    }
  }

  return {
    element,
    show(argument) {
      const id = Number(argument);
      const next = Number.isInteger(id) && id > 0 ? id : null;
      if (next !== opened) replace(status);
      opened = next;
      confirming = false;
      void refresh();
    },
    refresh,
  };
}
