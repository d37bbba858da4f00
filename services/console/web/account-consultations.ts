import { ApiError, call } from './api.ts';
import type { CitizenSession } from './citizen-session.ts';
import { h, notice, replace } from './dom.ts';
import { dateTime } from './format.ts';

/**
 * "Mon compte" — the city's consultations open now: each survey as a form (one fieldset per question: radios,
 * checkboxes, a 1–5 scale, a text), answered once; an answered survey says when. The API checks everything again
 * (400 with one issue per question, shown beside it; 409 once answered or closed).
 */

type Question =
  | {
      readonly id: string;
      readonly text: string;
      readonly required: boolean;
      readonly type: 'single-choice' | 'multiple-choice';
      readonly choices: ReadonlyArray<{ readonly id: string; readonly label: string }>;
      readonly maxPicks?: number;
    }
  | {
      readonly id: string;
      readonly text: string;
      readonly required: boolean;
      readonly type: 'scale';
      readonly minLabel?: string;
      readonly maxLabel?: string;
    }
  | {
      readonly id: string;
      readonly text: string;
      readonly required: boolean;
      readonly type: 'free-text';
      readonly maxLength: number;
    };

interface CitizenSurvey {
  readonly id: number;
  readonly title: string;
  readonly description: string;
  readonly closesAt: string;
  readonly questions: readonly Question[];
  readonly answered: boolean;
  readonly answeredAt: string | null;
}

/** The consultations section of "Mon compte". */
export function consultationsSection(session: CitizenSession, timeZone: string) {
  return async (body: HTMLElement): Promise<void> => {
    const { surveys } = await call<{ surveys: CitizenSurvey[] }>('GET', '/api/me/consultations');
    replace(
      body,
      surveys.length === 0
        ? h('p', { class: 'muted', 'data-test': 'no-survey' }, 'Aucune consultation en cours.')
        : null,
      ...surveys.map((s) => surveyCard(session, s, timeZone)),
    );
  };
}

function surveyCard(session: CitizenSession, survey: CitizenSurvey, timeZone: string): HTMLElement {
  const box = h('div', { class: 'survey', 'data-test': 'survey' });
  const head = [
    h('h3', {}, survey.title),
    survey.description ? h('p', {}, survey.description) : null,
    h('p', { class: 'hint' }, `Jusqu’au ${dateTime(survey.closesAt, timeZone)}.`),
  ];
  if (survey.answered) {
    replace(
      box,
      ...head,
      notice('success', `Vous avez répondu le ${dateTime(survey.answeredAt ?? survey.closesAt, timeZone)}. Merci !`),
    );
    return box;
  }
  const problems = new Map<string, HTMLElement>();
  const fieldsets = survey.questions.map((q) => {
    const problem = h('div', {});
    problems.set(q.id, problem);
    return h(
      'fieldset',
      { class: 'field', 'data-question': q.id },
      h('legend', {}, q.text, q.required ? ' *' : ''),
      ...inputs(survey.id, q),
      problem,
    );
  });
  const feedback = h('div', {});
  const button = h('button', { type: 'submit', 'data-test': 'survey-send' }, 'Envoyer mes réponses');

  async function send(event: Event): Promise<void> {
    event.preventDefault();
    for (const p of problems.values()) replace(p);
    const form = event.currentTarget as HTMLFormElement;
    const answers: Record<string, string | string[] | number | null> = {};
    for (const q of survey.questions) answers[q.id] = answerOf(form, survey.id, q);
    button.disabled = true;
    try {
      await call('POST', `/api/me/consultations/${survey.id}/responses`, { body: { answers }, csrf: session.csrf });
      replace(box, ...head, notice('success', 'Merci ! Votre réponse est enregistrée.'));
    } catch (err) {
      if (session.lost(err)) return;
      button.disabled = false;
      if (err instanceof ApiError && err.code === 'ERR_CONSULTATION_RESPONSE_INVALID') {
        const issues = (err.body as { error?: { issues?: Array<{ path: string; message: string }> } } | null)?.error
          ?.issues;
        for (const issue of issues ?? []) {
          const target = problems.get(issue.path.replace(/^body\.answers\./, ''));
          if (target) replace(target, notice('error', issueText(issue.message)));
        }
        replace(feedback, notice('error', 'Vérifiez les réponses signalées.'));
      } else if (err instanceof ApiError && err.code === 'ERR_CONSULTATION_ALREADY_ANSWERED') {
        replace(box, ...head, notice('info', 'Vous avez déjà répondu à cette consultation.'));
      } else if (err instanceof ApiError && err.code === 'ERR_CONSULTATION_CLOSED') {
        replace(box, ...head, notice('info', 'Cette consultation est close.'));
      } else {
        replace(feedback, notice('error', session.errorText(err)));
      }
    }
  }

  replace(
    box,
    ...head,
    h(
      'form',
      { novalidate: true, 'data-test': 'survey-form', onsubmit: (e) => void send(e) },
      ...fieldsets,
      feedback,
      button,
    ),
  );
  return box;
}

/** The inputs of one question, named `s<survey>-<question>`. */
function inputs(surveyId: number, q: Question): HTMLElement[] {
  const name = `s${surveyId}-${q.id}`;
  if (q.type === 'free-text') {
    return [h('textarea', { name, rows: 3, maxlength: q.maxLength, 'aria-label': q.text })];
  }
  const option = (type: 'radio' | 'checkbox', value: string, text: string) =>
    h('label', {}, h('input', { type, name, value }), ` ${text}`);
  if (q.type === 'scale') {
    return [
      h(
        'div',
        { class: 'choices scale' },
        ...[1, 2, 3, 4, 5].map((v) =>
          option(
            'radio',
            String(v),
            v === 1 && q.minLabel ? `1 (${q.minLabel})` : v === 5 && q.maxLabel ? `5 (${q.maxLabel})` : String(v),
          ),
        ),
      ),
    ];
  }
  const type = q.type === 'single-choice' ? 'radio' : 'checkbox';
  const hint =
    q.type === 'multiple-choice' && q.maxPicks !== undefined
      ? h('p', { class: 'hint' }, `${q.maxPicks} choix au plus.`)
      : null;
  return [
    ...(hint ? [hint] : []),
    h('div', { class: 'choices' }, ...q.choices.map((c) => option(type, c.id, c.label))),
  ];
}

/** The answer of one question as the API takes it; null when left out. */
function answerOf(form: HTMLFormElement, surveyId: number, q: Question): string | string[] | number | null {
  const name = `s${surveyId}-${q.id}`;
  if (q.type === 'free-text') {
    const text = (form.elements.namedItem(name) as HTMLTextAreaElement | null)?.value.trim() ?? '';
    return text === '' ? null : text;
  }
  const checked = [...form.querySelectorAll<HTMLInputElement>(`input[name="${name}"]:checked`)].map((i) => i.value);
  if (q.type === 'multiple-choice') return checked.length === 0 ? null : checked;
  const one = checked[0];
  if (one === undefined) return null;
  return q.type === 'scale' ? Number(one) : one;
}

/** The API's issue in French when it is one a citizen can fix (the page's own checks make the others rare). */
function issueText(message: string): string {
  if (/an answer is required/.test(message)) return 'Cette question demande une réponse.';
  const picks = /\(at most (\d+)\)$/.exec(message);
  if (/ picks \(at most/.test(message) && picks) return `Cochez ${picks[1]} choix au plus.`;
  if (/ characters \(at most/.test(message) && picks) return `Réponse trop longue : ${picks[1]} caractères au plus.`;
  return `Réponse refusée (${message}).`;
}
