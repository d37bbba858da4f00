import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { AppError } from '../../core/errors.ts';
import {
  aggregate,
  assertValidResponse,
  type StoredResponse,
  type SurveyInput,
  surveyPhase,
  surveySchema,
  validateResponse,
} from './survey.ts';
import { CYCLING as SHARED_CYCLING } from './test-helpers.ts';

/** The shared cycling survey a year earlier, its comment cut to 20 characters (for the too-long cases). */
const CYCLING: SurveyInput = {
  ...SHARED_CYCLING,
  opensAt: '2025-05-01T00:00:00+02:00',
  closesAt: '2025-06-01T00:00:00+02:00',
  questions: SHARED_CYCLING.questions.map((q) => (q.id === 'comment' ? { ...q, maxLength: 20 } : q)),
};
const survey = surveySchema.parse(CYCLING);

describe('consultations survey', () => {
  it('applies defaults when optional fields are left out', () => {
    const { description: _given, ...withoutDescription } = CYCLING;
    const parsed = surveySchema.parse({
      ...withoutDescription,
      questions: [{ id: 'q', type: 'free-text', text: 'Avis ?' }],
    });
    expect(parsed.description).toBe('');
    expect(parsed.questions[0]).toEqual({
      id: 'q',
      type: 'free-text',
      text: 'Avis ?',
      required: false,
      maxLength: 1000,
    });
  });

  it('rejects a survey when dates, ids or maxPicks contradict each other, naming the fields', () => {
    const usage = CYCLING.questions[0] as Extract<SurveyInput['questions'][number], { type: 'single-choice' }>;
    const result = surveySchema.safeParse({
      ...CYCLING,
      closesAt: CYCLING.opensAt,
      questions: [
        usage,
        { ...usage, choices: [usage.choices[0], usage.choices[0]] },
        { id: 'many', type: 'multiple-choice', text: 'x', maxPicks: 3, choices: usage.choices.slice(0, 2) },
        { id: 'bad', type: 'scale', text: 'x', extra: true },
      ],
    });
    expect(result.success).toBe(false);
    const messages = result.error?.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('\n');
    expect(messages).toContain('closesAt: closesAt');
    expect(messages).toContain('questions.1.id: duplicate question id usage');
    expect(messages).toContain('questions.1.choices.1.id: duplicate choice id daily');
    expect(messages).toContain('questions.2.maxPicks: maxPicks (3) exceeds the 2 choices of many');
    expect(messages).toContain('extra');
  });

  it('tells the phase when now is before, inside or after the window', () => {
    const opens = Date.parse(survey.opensAt);
    const closes = Date.parse(survey.closesAt);
    expect(surveyPhase(survey, opens - 1)).toBe('scheduled');
    expect(surveyPhase(survey, opens)).toBe('open');
    expect(surveyPhase(survey, closes - 1)).toBe('open');
    expect(surveyPhase(survey, closes)).toBe('closed');
  });
});

describe('consultations response', () => {
  it('keeps answers, trims texts and drops blanks when the response fits', () => {
    const check = validateResponse(survey, {
      answers: { usage: 'daily', priorities: [], safety: 4, comment: '  Plus de pistes  ' },
    });
    expect(check).toEqual({ ok: true, answers: { usage: 'daily', safety: 4, comment: 'Plus de pistes' } });
  });

  it('reports every issue at once when the response does not fit', () => {
    const check = validateResponse(survey, {
      answers: {
        usage: 'monthly',
        priorities: ['lanes', 'parking', 'lighting'],
        color: 'blue',
        comment: 'x'.repeat(21),
      },
    });
    expect(check.ok).toBe(false);
    if (check.ok) return;
    expect(check.issues.map((issue) => [issue.questionId, issue.code])).toEqual([
      ['color', 'unknown-question'],
      ['usage', 'choice-not-offered'],
      ['priorities', 'too-many-picks'],
      ['safety', 'missing-required'],
      ['comment', 'too-long'],
    ]);
    expect(check.issues[1]?.message).toBe('usage: "monthly" is not offered (one of daily, weekly, never)');
    expect(check.issues[2]?.message).toBe('priorities: 3 picks (at most 2)');
  });

  it('refuses wrong types, duplicate picks and values off the scale', () => {
    const codes = (answers: Record<string, unknown>) => {
      const check = validateResponse(survey, { answers: { usage: 'daily', safety: 3, ...answers } as never });
      return check.ok ? [] : check.issues.map((issue) => issue.code);
    };
    expect(codes({ usage: ['daily'] })).toEqual(['wrong-type']);
    expect(codes({ priorities: 'lanes' })).toEqual(['wrong-type']);
    expect(codes({ priorities: ['lanes', 'lanes'] })).toEqual(['duplicate-choice']);
    expect(codes({ priorities: ['bridges'] })).toEqual(['choice-not-offered']);
    for (const safety of [0, 6, 2.5]) expect(codes({ safety }), String(safety)).toEqual(['out-of-range']);
    expect(codes({ safety: '3' })).toEqual(['wrong-type']);
    expect(codes({ safety: null })).toEqual(['missing-required']);
    expect(codes({ comment: 'é'.repeat(20) })).toEqual([]);
  });

  it('throws ERR_CONSULTATION_RESPONSE_INVALID listing the issues when asserted', () => {
    expect(assertValidResponse(survey, { answers: { usage: 'never', safety: 1 } })).toEqual({
      usage: 'never',
      safety: 1,
    });
    let error: unknown;
    try {
      assertValidResponse(survey, { answers: { usage: 'never' } });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('ERR_CONSULTATION_RESPONSE_INVALID');
    expect((error as AppError).message).toContain('safety: an answer is required');
  });
});

describe('consultations aggregate', () => {
  it('matches hand-computed results when a citizen answered twice (last wins)', () => {
    const responses: StoredResponse[] = [
      {
        citizenId: 'c1',
        answers: { usage: 'daily', priorities: ['lanes', 'lighting'], safety: 2, comment: 'Plus de pistes' },
      },
      { citizenId: 'c2', answers: { usage: 'weekly', priorities: ['lanes'], safety: 4 } },
      { citizenId: 'c3', answers: { usage: 'daily', safety: 5 } },
      { citizenId: 'c4', answers: { usage: 'never', priorities: ['parking', 'lanes'], safety: 1, comment: 'x' } },
      { citizenId: 'c2', answers: { usage: 'daily', priorities: ['signage'], safety: 3 } },
    ];
    expect(aggregate(survey, responses)).toEqual({
      respondents: 4,
      duplicatesIgnored: 1,
      invalidAnswersIgnored: 0,
      questions: [
        {
          questionId: 'usage',
          type: 'single-choice',
          answered: 4,
          choices: [
            { value: 'daily', label: 'Tous les jours', count: 3, percent: 75 },
            { value: 'weekly', label: 'Chaque semaine', count: 0, percent: 0 },
            { value: 'never', label: 'Jamais', count: 1, percent: 25 },
          ],
        },
        {
          questionId: 'priorities',
          type: 'multiple-choice',
          answered: 3,
          choices: [
            { value: 'lanes', label: 'Pistes séparées', count: 2, percent: 50 },
            { value: 'parking', label: 'Stationnement vélo', count: 1, percent: 25 },
            { value: 'lighting', label: 'Éclairage', count: 1, percent: 25 },
            { value: 'signage', label: 'Signalisation', count: 1, percent: 25 },
          ],
        },
        {
          questionId: 'safety',
          type: 'scale',
          answered: 4,
          mean: 2.75,
          median: 2.5,
          distribution: [
            { value: 1, count: 1, percent: 25 },
            { value: 2, count: 1, percent: 25 },
            { value: 3, count: 1, percent: 25 },
            { value: 4, count: 0, percent: 0 },
            { value: 5, count: 1, percent: 25 },
          ],
        },
        { questionId: 'comment', type: 'free-text', answered: 2 },
      ],
    });
  });

  it('rounds to one decimal and takes the middle value when respondents are odd', () => {
    const results = aggregate(survey, [
      { citizenId: 'a', answers: { usage: 'daily', safety: 1 } },
      { citizenId: 'b', answers: { usage: 'daily', safety: 2 } },
      { citizenId: 'c', answers: { usage: 'weekly', safety: 4 } },
    ]);
    const [usage, , safety] = results.questions;
    expect(usage?.type === 'single-choice' && usage.choices.map((choice) => choice.percent)).toEqual([66.7, 33.3, 0]);
    expect(safety?.type === 'scale' && [safety.mean, safety.median]).toEqual([2.33, 2]);
  });

  it('gives zeros and null statistics when nobody responded', () => {
    const results = aggregate(survey, []);
    expect(results.respondents).toBe(0);
    const [usage, , safety] = results.questions;
    expect(usage?.type === 'single-choice' && usage.choices.every((c) => c.count === 0 && c.percent === 0)).toBe(true);
    expect(safety?.type === 'scale' && [safety.answered, safety.mean, safety.median]).toEqual([0, null, null]);
  });

  it('counts answers that no longer fit the survey instead of tallying them', () => {
    const results = aggregate(survey, [
      { citizenId: 'a', answers: { usage: 'monthly', safety: 9, removed: 'x' } },
      { citizenId: 'b', answers: { usage: 'daily', safety: 3 } },
    ]);
    expect(results.respondents).toBe(2);
    expect(results.invalidAnswersIgnored).toBe(3);
    expect(results.questions[0]?.answered).toBe(1);
    expect(results.questions[2]?.answered).toBe(1);
  });

  const responsesArb = fc.array(
    fc.record({
      citizenId: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g'),
      answers: fc.record({
        usage: fc.constantFrom('daily', 'weekly', 'never'),
        safety: fc.integer({ min: 1, max: 5 }),
        priorities: fc.subarray(['lanes', 'parking', 'lighting', 'signage'], { minLength: 1, maxLength: 2 }),
      }),
    }),
    { maxLength: 40 },
  );

  test.prop([responsesArb])('counts each respondent once when citizens answer several times', (responses) => {
    const results = aggregate(survey, responses);
    const lastWins = new Map(responses.map((response) => [response.citizenId, response]));
    expect(results.respondents).toBe(lastWins.size);
    expect(results.duplicatesIgnored).toBe(responses.length - lastWins.size);
    expect(aggregate(survey, [...lastWins.values()])).toEqual({ ...results, duplicatesIgnored: 0 });
    const [usage, , safety] = results.questions;
    if (usage?.type !== 'single-choice' || safety?.type !== 'scale') throw new Error('unexpected question order');
    expect(usage.choices.reduce((sum, choice) => sum + choice.count, 0)).toBe(results.respondents);
    expect(safety.distribution.reduce((sum, tally) => sum + tally.count, 0)).toBe(results.respondents);
    const percentSum = usage.choices.reduce((sum, choice) => sum + choice.percent, 0);
    if (results.respondents > 0) expect(Math.abs(percentSum - 100)).toBeLessThanOrEqual(0.15);
  });
});
