import type { ConsoleContext, ConsoleView } from './console-context.ts';
import { h, notice, replace } from './dom.ts';
import { dateTime } from './format.ts';
import { type SurveyResults, surveyResults } from './survey-results.ts';

/**
 * The consultations (services/consultations): every survey with its phase and how many answered, one opened beside
 * the list with its results as bars and the link to its CSV. Operators create surveys through the API
 * (`POST /api/consultations`); free texts are read there too (`…/free-texts`, operators only).
 */

interface SurveyItem {
  readonly id: number;
  readonly title: string;
  readonly phase: 'scheduled' | 'open' | 'closed';
  readonly opensAt: string;
  readonly closesAt: string;
  readonly respondents: number;
  readonly questionCount: number;
}

const PHASE_LABELS: Readonly<Record<SurveyItem['phase'], string>> = {
  scheduled: 'À venir',
  open: 'En cours',
  closed: 'Terminée',
};

/** The consultations view: `#consultations` lists them, `#consultations/12` opens one. */
export function consultationsView(ctx: ConsoleContext): ConsoleView {
  const list = h('div', { 'data-test': 'surveys' });
  const detail = h('div', { 'data-test': 'survey-detail' });
  const element = h('section', { class: 'split' }, list, detail);
  let opened: number | null = null;

  async function drawList(): Promise<void> {
    const { surveys } = await ctx.api<{ surveys: SurveyItem[] }>('GET', '/api/consultations');
    replace(
      list,
      h('h2', {}, 'Consultations'),
      surveys.length === 0
        ? h('p', { class: 'muted' }, 'Aucune consultation pour le moment.')
        : h(
            'table',
            {},
            h('thead', {}, h('tr', {}, h('th', {}, 'Consultation'), h('th', {}, 'État'), h('th', {}, 'Participants'))),
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
      h('h2', {}, survey.title),
      h(
        'p',
        { class: 'hint' },
        `${PHASE_LABELS[survey.phase]} · du ${dateTime(survey.opensAt, ctx.timeZone)} au ${dateTime(survey.closesAt, ctx.timeZone)}`,
      ),
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
      opened = Number.isInteger(id) && id > 0 ? id : null;
      void refresh();
    },
    refresh,
  };
}
