import { h } from './dom.ts';

/**
 * A survey's results drawn as bars (HTML and CSS: readable by screen readers, no chart library): for each choice
 * its count and its share of the respondents; for a scale its mean, median and distribution; a free-text question
 * by how many answered it. Shared by the console and the citizens' page once a survey is closed.
 */

/** One question's results, as the consultations API answers them. */
export type QuestionResult =
  | {
      readonly questionId: string;
      readonly text: string;
      readonly answered: number;
      readonly type: 'single-choice' | 'multiple-choice';
      readonly choices: ReadonlyArray<{ readonly label: string; readonly count: number; readonly percent: number }>;
    }
  | {
      readonly questionId: string;
      readonly text: string;
      readonly answered: number;
      readonly type: 'scale';
      readonly mean: number | null;
      readonly median: number | null;
      readonly distribution: ReadonlyArray<{
        readonly value: number;
        readonly count: number;
        readonly percent: number;
      }>;
    }
  | { readonly questionId: string; readonly text: string; readonly answered: number; readonly type: 'free-text' };

/** A survey's results. */
export interface SurveyResults {
  readonly surveyId: number;
  readonly title: string;
  readonly respondents: number;
  readonly questions: readonly QuestionResult[];
}

const decimal = new Intl.NumberFormat('fr-FR', { maximumFractionDigits: 2 });
const pct = new Intl.NumberFormat('fr-FR', { maximumFractionDigits: 1 });

/** One bar: its label, the count and percent, and the bar itself (width = percent, capped at 100). */
function bar(text: string, count: number, percent: number): HTMLElement {
  const fill = h('span', { class: 'result-fill' });
  // Through the CSSOM: the pages' Content-Security-Policy refuses style attributes.
  fill.style.width = `${Math.min(100, Math.max(0, percent))}%`;
  return h(
    'li',
    { class: 'result-bar', 'data-test': 'result-bar' },
    h('span', { class: 'result-label' }, text),
    h('span', { class: 'result-count' }, `${count} · ${pct.format(percent)} %`),
    h('span', { class: 'result-track', 'aria-hidden': 'true' }, fill),
  );
}

/** The results of one question. */
function question(q: QuestionResult): HTMLElement {
  const head = h('h3', {}, q.text);
  const answered = h('p', { class: 'hint' }, `${q.answered} réponse${q.answered > 1 ? 's' : ''}`);
  if (q.type === 'free-text') {
    return h(
      'div',
      { class: 'result', 'data-test': 'result' },
      head,
      answered,
      h('p', { class: 'muted' }, 'Réponses libres : lues par les services de la ville.'),
    );
  }
  if (q.type === 'scale') {
    return h(
      'div',
      { class: 'result', 'data-test': 'result' },
      head,
      answered,
      h(
        'p',
        {},
        q.mean === null ? 'Pas encore de note.' : `Moyenne ${decimal.format(q.mean)} / 5 · médiane ${q.median ?? '—'}`,
      ),
      h('ul', { class: 'result-bars' }, ...q.distribution.map((d) => bar(String(d.value), d.count, d.percent))),
    );
  }
  return h(
    'div',
    { class: 'result', 'data-test': 'result' },
    head,
    answered,
    h('ul', { class: 'result-bars' }, ...q.choices.map((c) => bar(c.label, c.count, c.percent))),
  );
}

/** Every question's results, with the number of respondents. */
export function surveyResults(results: SurveyResults): HTMLElement {
  return h(
    'div',
    { class: 'results', 'data-test': 'survey-results' },
    h('p', { 'data-test': 'respondents' }, `${results.respondents} participant${results.respondents > 1 ? 's' : ''}`),
    ...results.questions.map(question),
  );
}
