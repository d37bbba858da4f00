import { type Survey, type SurveyInput, surveySchema } from './survey.ts';

/** When the test survey opens: Friday 1 May 2026, midnight in Mulhouse (UTC+2). */
export const OPENS_MS = Date.parse('2026-05-01T00:00:00+02:00');
/** When it closes: 1 June 2026, midnight in Mulhouse. */
export const CLOSES_MS = Date.parse('2026-06-01T00:00:00+02:00');
/** One minute, one day, in ms. */
export const MINUTE_MS = 60_000;
export const DAY_MS = 86_400_000;

/** The cycling-routes survey (one of each question type), as an operator would post it. */
export const CYCLING: SurveyInput = {
  title: 'Itinéraires cyclables',
  description: 'Votre avis sur les pistes cyclables de Mulhouse.',
  opensAt: '2026-05-01T00:00:00+02:00',
  closesAt: '2026-06-01T00:00:00+02:00',
  questions: [
    {
      id: 'usage',
      type: 'single-choice',
      text: 'À quelle fréquence faites-vous du vélo en ville ?',
      required: true,
      choices: [
        { id: 'daily', label: 'Tous les jours' },
        { id: 'weekly', label: 'Chaque semaine' },
        { id: 'never', label: 'Jamais' },
      ],
    },
    {
      id: 'priorities',
      type: 'multiple-choice',
      text: 'Vos priorités ?',
      maxPicks: 2,
      choices: [
        { id: 'lanes', label: 'Pistes séparées' },
        { id: 'parking', label: 'Stationnement vélo' },
        { id: 'lighting', label: 'Éclairage' },
        { id: 'signage', label: 'Signalisation' },
      ],
    },
    { id: 'safety', type: 'scale', text: 'Vous sentez-vous en sécurité ?', required: true },
    { id: 'comment', type: 'free-text', text: 'Un commentaire ?', maxLength: 200 },
  ],
};

/** The cycling survey parsed, with `overrides` (another window, another title). */
export function cyclingSurvey(overrides: Partial<SurveyInput> = {}): Survey {
  return surveySchema.parse({ ...CYCLING, ...overrides });
}
