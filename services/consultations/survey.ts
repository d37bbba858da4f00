/**
 * Consultations (issue 8): a survey's definition, a citizen's response checked against it, and the aggregated results
 * the console and the dashboard show. Pure functions; the store enforces one response per citizen (README).
 *
 * Question types: `single-choice`, `multiple-choice` (at most `maxPicks`), `scale` (an integer 1–5) and `free-text`
 * (at most `maxLength` characters). Free texts are counted, never aggregated: reading them is a person's job.
 */
import { z } from 'zod';
import { AppError } from '../../core/errors.ts';

const ID = /^[a-z0-9][a-z0-9-]{0,39}$/;
const idSchema = z.string().regex(ID, 'an id: lower-case letters, digits and -, 1–40 characters');

/** Lowest and highest value of a scale question. */
export const SCALE_MIN = 1;
/** Highest value of a scale question. */
export const SCALE_MAX = 5;

const choiceSchema = z.strictObject({
  id: idSchema.describe('Stable id of the choice, stored in responses'),
  label: z.string().trim().min(1).max(200).describe('What the citizen reads'),
});

const base = {
  id: idSchema.describe('Stable id of the question, the key of its answer'),
  text: z.string().trim().min(1).max(500).describe('The question'),
  required: z.boolean().default(false).describe('Whether a response must answer it'),
};

const choices = z.array(choiceSchema).min(2).max(30);

/** One question of a survey. */
export const questionSchema = z.discriminatedUnion('type', [
  z.strictObject({ ...base, type: z.literal('single-choice'), choices }),
  z.strictObject({
    ...base,
    type: z.literal('multiple-choice'),
    choices,
    maxPicks: z.number().int().min(1).optional().describe('Most choices one response may pick (default: all)'),
  }),
  z.strictObject({
    ...base,
    type: z.literal('scale'),
    minLabel: z.string().trim().max(100).optional().describe('What 1 means, e.g. « pas du tout »'),
    maxLabel: z.string().trim().max(100).optional().describe('What 5 means, e.g. « tout à fait »'),
  }),
  z.strictObject({
    ...base,
    type: z.literal('free-text'),
    maxLength: z.number().int().min(1).max(10_000).default(1000).describe('Most characters of the answer (1000)'),
  }),
]);
/** One question. */
export type Question = z.output<typeof questionSchema>;

/** A survey as an operator writes it: questions in display order, open from `opensAt` (inclusive) to `closesAt`. */
export const surveySchema = z
  .strictObject({
    title: z.string().trim().min(1).max(200),
    description: z.string().trim().max(5000).default(''),
    opensAt: z.iso.datetime({ offset: true }),
    closesAt: z.iso.datetime({ offset: true }),
    questions: z.array(questionSchema).min(1).max(100),
  })
  .superRefine((survey, ctx) => {
    if (Date.parse(survey.closesAt) <= Date.parse(survey.opensAt)) {
      ctx.addIssue({
        code: 'custom',
        path: ['closesAt'],
        message: `closesAt (${survey.closesAt}) must be after opensAt (${survey.opensAt})`,
      });
    }
    const questionIds = new Set<string>();
    for (const [index, question] of survey.questions.entries()) {
      if (questionIds.has(question.id)) {
        ctx.addIssue({
          code: 'custom',
          path: ['questions', index, 'id'],
          message: `duplicate question id ${question.id}`,
        });
      }
      questionIds.add(question.id);
      if (question.type !== 'single-choice' && question.type !== 'multiple-choice') continue;
      const choiceIds = new Set<string>();
      for (const [choiceIndex, choice] of question.choices.entries()) {
        if (choiceIds.has(choice.id)) {
          ctx.addIssue({
            code: 'custom',
            path: ['questions', index, 'choices', choiceIndex, 'id'],
            message: `duplicate choice id ${choice.id} in question ${question.id}`,
          });
        }
        choiceIds.add(choice.id);
      }
      if (question.type === 'multiple-choice' && question.maxPicks !== undefined) {
        if (question.maxPicks > question.choices.length) {
          ctx.addIssue({
            code: 'custom',
            path: ['questions', index, 'maxPicks'],
            message: `maxPicks (${question.maxPicks}) exceeds the ${question.choices.length} choices of ${question.id}`,
          });
        }
      }
    }
  });
/** A survey's definition. */
export type Survey = z.output<typeof surveySchema>;
/** A survey's definition before defaults. */
export type SurveyInput = z.input<typeof surveySchema>;

/** Where a survey stands at `nowMs`. */
export type SurveyPhase = 'scheduled' | 'open' | 'closed';

/** `scheduled` before `opensAt`, `open` from `opensAt` (inclusive) to `closesAt` (exclusive), then `closed`. */
export function surveyPhase(survey: Pick<Survey, 'opensAt' | 'closesAt'>, nowMs: number): SurveyPhase {
  if (nowMs < Date.parse(survey.opensAt)) return 'scheduled';
  return nowMs < Date.parse(survey.closesAt) ? 'open' : 'closed';
}

/** An answer: a choice id, several choice ids, a scale value or a text; `null` means "not answered". */
const answerSchema = z.union([z.string().max(20_000), z.array(z.string().max(100)).max(100), z.number(), z.null()]);

/** A response as it arrives from outside: answers by question id (shape only; {@link validateResponse} does the rest). */
export const responseInputSchema = z.strictObject({
  answers: z.record(z.string().max(100), answerSchema),
});
/** A response as it arrives. */
export type ResponseInput = z.output<typeof responseInputSchema>;

/** Answers once validated: unanswered questions are absent; texts are trimmed. */
export type Answers = Readonly<Record<string, string | readonly string[] | number>>;

/** Why a response does not fit its survey. */
export type ResponseIssueCode =
  | 'unknown-question'
  | 'missing-required'
  | 'wrong-type'
  | 'choice-not-offered'
  | 'duplicate-choice'
  | 'too-many-picks'
  | 'out-of-range'
  | 'too-long';

/** One problem with a response, on one question. */
export interface ResponseIssue {
  readonly questionId: string;
  readonly code: ResponseIssueCode;
  readonly message: string;
}

/** The outcome of {@link validateResponse}. */
export type ResponseCheck =
  | { readonly ok: true; readonly answers: Answers }
  | { readonly ok: false; readonly issues: readonly ResponseIssue[] };

const isBlank = (answer: unknown) =>
  answer === null ||
  answer === undefined ||
  (typeof answer === 'string' && answer.trim() === '') ||
  (Array.isArray(answer) && answer.length === 0);

function checkAnswer(question: Question, answer: unknown): { value: Answers[string] } | { issue: ResponseIssue } {
  const issue = (code: ResponseIssueCode, message: string) => ({
    issue: { questionId: question.id, code, message: `${question.id}: ${message}` },
  });
  switch (question.type) {
    case 'single-choice': {
      if (typeof answer !== 'string') return issue('wrong-type', 'expects one choice id (a string)');
      if (!question.choices.some((choice) => choice.id === answer)) {
        return issue('choice-not-offered', `${JSON.stringify(answer)} is not offered (${choiceList(question)})`);
      }
      return { value: answer };
    }
    case 'multiple-choice': {
      if (!Array.isArray(answer) || answer.some((pick) => typeof pick !== 'string')) {
        return issue('wrong-type', 'expects a list of choice ids');
      }
      const picks = answer as string[];
      const unknown = picks.find((pick) => !question.choices.some((choice) => choice.id === pick));
      if (unknown !== undefined) {
        return issue('choice-not-offered', `${JSON.stringify(unknown)} is not offered (${choiceList(question)})`);
      }
      if (new Set(picks).size !== picks.length) return issue('duplicate-choice', 'a choice is picked twice');
      const maxPicks = question.maxPicks ?? question.choices.length;
      if (picks.length > maxPicks) return issue('too-many-picks', `${picks.length} picks (at most ${maxPicks})`);
      return { value: picks };
    }
    case 'scale': {
      if (typeof answer !== 'number') return issue('wrong-type', `expects a number from ${SCALE_MIN} to ${SCALE_MAX}`);
      if (!Number.isInteger(answer) || answer < SCALE_MIN || answer > SCALE_MAX) {
        return issue('out-of-range', `${answer} (an integer from ${SCALE_MIN} to ${SCALE_MAX})`);
      }
      return { value: answer };
    }
    case 'free-text': {
      if (typeof answer !== 'string') return issue('wrong-type', 'expects a text');
      const text = answer.trim();
      const chars = [...text].length;
      if (chars > question.maxLength) return issue('too-long', `${chars} characters (at most ${question.maxLength})`);
      return { value: text };
    }
  }
}

function choiceList(question: { choices: readonly { id: string }[] }): string {
  return `one of ${question.choices.map((choice) => choice.id).join(', ')}`;
}

/** Checks a response against its survey, reporting every issue at once (unknown, missing, not offered, too many…). */
export function validateResponse(survey: Survey, input: ResponseInput): ResponseCheck {
  const issues: ResponseIssue[] = [];
  const answers: Record<string, Answers[string]> = {};
  const byId = new Map(survey.questions.map((question) => [question.id, question]));
  for (const questionId of Object.keys(input.answers)) {
    if (!byId.has(questionId)) {
      issues.push({
        questionId,
        code: 'unknown-question',
        message: `${questionId}: no such question in this survey`,
      });
    }
  }
  for (const question of survey.questions) {
    const answer = Object.hasOwn(input.answers, question.id) ? input.answers[question.id] : undefined;
    if (isBlank(answer)) {
      if (question.required) {
        issues.push({
          questionId: question.id,
          code: 'missing-required',
          message: `${question.id}: an answer is required`,
        });
      }
      continue;
    }
    const checked = checkAnswer(question, answer);
    if ('issue' in checked) issues.push(checked.issue);
    else answers[question.id] = checked.value;
  }
  return issues.length > 0 ? { ok: false, issues } : { ok: true, answers };
}

/** {@link validateResponse} for routes: the answers, or `ERR_CONSULTATION_RESPONSE_INVALID` listing every issue (400). */
export function assertValidResponse(survey: Survey, input: ResponseInput): Answers {
  const check = validateResponse(survey, input);
  if (check.ok) return check.answers;
  throw responseInvalidError(check.issues);
}

/** `ERR_CONSULTATION_RESPONSE_INVALID` (400) listing `issues`, for a caller that reports the issues too. */
export function responseInvalidError(issues: readonly ResponseIssue[]): AppError {
  return new AppError(
    'ERR_CONSULTATION_RESPONSE_INVALID',
    `survey response: ${issues.map((issue) => issue.message).join('; ')} (answers must fit the survey's questions)`,
  );
}

/** One citizen's stored response, as `aggregate` reads it. */
export interface StoredResponse {
  readonly citizenId: string;
  readonly answers: Answers;
}

/** How many respondents gave one value, and what share of all respondents that is (0–100, one decimal). */
export interface Tally<V> {
  readonly value: V;
  readonly count: number;
  readonly percent: number;
}

/** The results of one question. `answered` counts respondents who answered it. */
export type QuestionResult =
  | {
      readonly questionId: string;
      readonly type: 'single-choice' | 'multiple-choice';
      readonly answered: number;
      readonly choices: readonly (Tally<string> & { readonly label: string })[];
    }
  | {
      readonly questionId: string;
      readonly type: 'scale';
      readonly answered: number;
      /** Mean of the answers, two decimals; null when nobody answered. */
      readonly mean: number | null;
      /** Median of the answers (the mean of the middle two for an even count); null when nobody answered. */
      readonly median: number | null;
      readonly distribution: readonly Tally<number>[];
    }
  | { readonly questionId: string; readonly type: 'free-text'; readonly answered: number };

/** A survey's results. */
export interface SurveyResults {
  /** Distinct citizens who responded. */
  readonly respondents: number;
  /** Earlier responses of a citizen that a later one replaced (should be 0: the store keeps one per citizen). */
  readonly duplicatesIgnored: number;
  /** Answers that no longer fit the survey (unknown question, choice not offered, wrong type), not counted. */
  readonly invalidAnswersIgnored: number;
  /** One entry per question, in the survey's order. */
  readonly questions: readonly QuestionResult[];
}

const percentOf = (count: number, total: number) => (total === 0 ? 0 : Math.round((count * 1000) / total) / 10);

/**
 * Aggregates responses: per choice the count (zeros included) and percent of all respondents (so a multiple-choice
 * question may sum past 100 and an optional one below); per scale the mean, median and distribution; per free-text
 * question only how many answered. A citizen counted once: a later response in `responses` replaces an earlier one.
 */
export function aggregate(survey: Survey, responses: Iterable<StoredResponse>): SurveyResults {
  const latest = new Map<string, Answers>();
  let total = 0;
  for (const response of responses) {
    total += 1;
    latest.delete(response.citizenId);
    latest.set(response.citizenId, response.answers);
  }
  const respondents = latest.size;
  let invalidAnswersIgnored = 0;
  const known = new Set(survey.questions.map((question) => question.id));
  for (const answers of latest.values()) {
    invalidAnswersIgnored += Object.keys(answers).filter((id) => !known.has(id)).length;
  }

  const questions = survey.questions.map((question) => {
    const values: Answers[string][] = [];
    for (const answers of latest.values()) {
      if (!Object.hasOwn(answers, question.id)) continue;
      const checked = checkAnswer(question, answers[question.id]);
      if ('issue' in checked) invalidAnswersIgnored += 1;
      else values.push(checked.value);
    }
    return questionResult(question, values, respondents);
  });
  return { respondents, duplicatesIgnored: total - respondents, invalidAnswersIgnored, questions };
}

/** One question's results from its valid answers; percentages are of all respondents. */
function questionResult(question: Question, values: readonly Answers[string][], respondents: number): QuestionResult {
  switch (question.type) {
    case 'single-choice':
    case 'multiple-choice': {
      const counts = new Map(question.choices.map((choice) => [choice.id, 0]));
      for (const value of values) {
        for (const pick of typeof value === 'string' ? [value] : (value as readonly string[])) {
          counts.set(pick, (counts.get(pick) ?? 0) + 1);
        }
      }
      return {
        questionId: question.id,
        type: question.type,
        answered: values.length,
        choices: question.choices.map((choice) => {
          const count = counts.get(choice.id) ?? 0;
          return { value: choice.id, label: choice.label, count, percent: percentOf(count, respondents) };
        }),
      };
    }
    case 'scale': {
      const numbers = (values as number[]).toSorted((a, b) => a - b);
      const n = numbers.length;
      const sum = numbers.reduce((acc, value) => acc + value, 0);
      const middle = Math.floor(n / 2);
      const median =
        n === 0
          ? null
          : n % 2 === 1
            ? (numbers[middle] as number)
            : ((numbers[middle - 1] as number) + (numbers[middle] as number)) / 2;
      const distribution: Tally<number>[] = [];
      for (let value = SCALE_MIN; value <= SCALE_MAX; value += 1) {
        const count = numbers.filter((answer) => answer === value).length;
        distribution.push({ value, count, percent: percentOf(count, respondents) });
      }
      return {
        questionId: question.id,
        type: 'scale',
        answered: n,
        mean: n === 0 ? null : Math.round((sum * 100) / n) / 100,
        median,
        distribution,
      };
    }
    case 'free-text':
      return { questionId: question.id, type: 'free-text', answered: values.length };
  }
}
