import { fc, test } from '@fast-check/vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../core/errors.ts';
import { openStore } from '../../core/store/open.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { openTestStore } from '../../test/helpers/postgres.ts';
import { consultationsMigrations } from './index.ts';
import { createConsultationsStore, phaseOf } from './store.ts';
import { aggregate, type StoredResponse } from './survey.ts';
import { CLOSES_MS, cyclingSurvey, DAY_MS, MINUTE_MS, OPENS_MS } from './test-helpers.ts';

const DURING = OPENS_MS + DAY_MS;

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

describe.each(['pglite', 'postgres'] as const)('consultations store on %s', (engine) => {
  it('keeps the first response and refuses the second as already-answered when a citizen submits twice', async () => {
    const consultations = createConsultationsStore(await openTestStore(engine, [consultationsMigrations]));
    const { id } = await consultations.create(cyclingSurvey(), 'otto', OPENS_MS - DAY_MS);
    const first = await consultations.submit(id, 42, { answers: { usage: 'daily', safety: 2 } }, DURING);
    expect(first).toEqual({ outcome: 'accepted', submittedMs: DURING });
    const second = await consultations.submit(id, 42, { answers: { usage: 'never', safety: 5 } }, DURING + 1);
    expect(second.outcome).toBe('already-answered');
    expect(second.outcome === 'already-answered' && second.error.code).toBe('ERR_CONSULTATION_ALREADY_ANSWERED');
    const { results } = (await consultations.results(id)) ?? {};
    expect(results?.respondents).toBe(1);
    expect(results?.questions[0]).toMatchObject({ choices: [{ value: 'daily', count: 1 }, {}, { count: 0 }] });
    expect(results?.questions[2]).toMatchObject({ mean: 2 });
  });

  it('accepts exactly one of three submissions racing for the same citizen', async () => {
    const consultations = createConsultationsStore(await openTestStore(engine, [consultationsMigrations]));
    const { id } = await consultations.create(cyclingSurvey(), 'otto', OPENS_MS - DAY_MS);
    const outcomes = await Promise.all(
      ['daily', 'weekly', 'never'].map((usage) =>
        consultations.submit(id, 7, { answers: { usage, safety: 3 } }, DURING),
      ),
    );
    expect(outcomes.map((o) => o.outcome).sort()).toEqual(['accepted', 'already-answered', 'already-answered']);
    expect((await consultations.get(id))?.respondents).toBe(1);
  });

  it('closes an open survey at once and cancels a scheduled one, keeping who, when and why, when an operator ends them early', async () => {
    const sql = await openTestStore(engine, [consultationsMigrations]);
    const consultations = createConsultationsStore(sql);
    const open = await consultations.create(cyclingSurvey(), 'otto', OPENS_MS - DAY_MS);
    const later = await consultations.create(
      cyclingSurvey({ title: 'Plus tard', opensAt: '2026-07-01T00:00:00Z', closesAt: '2026-08-01T00:00:00Z' }),
      'otto',
      OPENS_MS - DAY_MS,
    );
    expect((await consultations.submit(open.id, 1, { answers: { usage: 'daily', safety: 2 } }, DURING)).outcome).toBe(
      'accepted',
    );

    const closed = await consultations.close(open.id, 'olga', 'Budget voté', DURING + MINUTE_MS);
    expect(closed.outcome).toBe('closed');
    expect(closed.survey).toMatchObject({
      respondents: 1,
      survey: { closesAt: new Date(DURING + MINUTE_MS).toISOString(), opensAt: '2026-05-01T00:00:00+02:00' },
      endedEarly: {
        action: 'closed',
        by: 'olga',
        atMs: DURING + MINUTE_MS,
        reason: 'Budget voté',
        plannedClosesAt: '2026-06-01T00:00:00+02:00',
      },
    });
    expect(phaseOf(closed.survey, DURING + MINUTE_MS)).toBe('closed');
    expect(phaseOf(closed.survey, DURING + MINUTE_MS - 1)).toBe('open');
    const refused = await consultations.submit(
      open.id,
      2,
      { answers: { usage: 'daily', safety: 2 } },
      DURING + MINUTE_MS,
    );
    expect(refused).toMatchObject({ outcome: 'closed', phase: 'closed', error: { code: 'ERR_CONSULTATION_CLOSED' } });

    const cancelled = await consultations.close(later.id, 'olga', null, DURING);
    expect(cancelled.outcome).toBe('cancelled');
    expect(cancelled.survey.survey).toEqual(later.survey);
    expect(cancelled.survey.endedEarly).toEqual({
      action: 'cancelled',
      by: 'olga',
      atMs: DURING,
      reason: null,
      plannedClosesAt: '2026-08-01T00:00:00Z',
    });
    const inJuly = Date.parse('2026-07-15T00:00:00Z');
    expect(phaseOf(cancelled.survey, inJuly)).toBe('cancelled');
    expect(await consultations.openFor(1, inJuly)).toEqual([]);
    expect((await consultations.list({ nowMs: inJuly, phase: 'open' })).map((s) => s.id)).toEqual([]);
    expect((await consultations.list({ nowMs: inJuly, phase: 'cancelled' })).map((s) => s.id)).toEqual([later.id]);
    expect((await consultations.list({ nowMs: inJuly, phase: 'closed' })).map((s) => s.id)).toEqual([open.id]);
    expect(await consultations.submit(later.id, 3, { answers: { usage: 'daily', safety: 2 } }, inJuly)).toMatchObject({
      outcome: 'closed',
      phase: 'cancelled',
    });
    const edit = await rejection(
      consultations.replace(
        later.id,
        cyclingSurvey({ opensAt: '2026-07-02T00:00:00Z', closesAt: '2026-08-01T00:00:00Z' }),
        'olga',
        DURING,
      ),
    );
    expect(edit.code).toBe('ERR_CONSULTATION_CONFLICT');
    expect(edit.message).toContain('was cancelled');

    // Once ended, never again: the first end is kept.
    for (const id of [open.id, later.id]) {
      const again = await consultations.close(id, 'oscar', 'encore', inJuly);
      expect(again.outcome).toBe('already-closed');
      expect(again.outcome === 'already-closed' && again.error.code).toBe('ERR_CONSULTATION_ALREADY_CLOSED');
      expect(again.survey.endedEarly?.by).toBe('olga');
    }
    expect((await rejection(consultations.close(999_999, 'olga', null, DURING))).code).toBe(
      'ERR_CONSULTATION_NOT_FOUND',
    );

    // The Grafana views leave the cancelled survey out, and show the other one's window as it closed.
    const views = await sql.query<{ survey_id: string; closes_at: Date }>(
      'SELECT survey_id, closes_at FROM consultations_survey_list ORDER BY survey_id',
    );
    expect(views.rows.map((r) => [Number(r.survey_id), r.closes_at.getTime()])).toEqual([
      [open.id, DURING + MINUTE_MS],
    ]);
    const counted = await sql.query<{ survey_id: string }>(
      'SELECT DISTINCT survey_id FROM consultations_choice_counts',
    );
    expect(counted.rows.map((r) => Number(r.survey_id))).toEqual([open.id]);
  });

  it('closes a survey at the very millisecond it opens, an empty window, when an operator closes it then', async () => {
    const consultations = createConsultationsStore(await openTestStore(engine, [consultationsMigrations]));
    const { id } = await consultations.create(cyclingSurvey(), 'otto', OPENS_MS - DAY_MS);
    const closed = await consultations.close(id, 'olga', null, OPENS_MS);
    expect(closed).toMatchObject({
      outcome: 'closed',
      survey: { survey: { closesAt: new Date(OPENS_MS).toISOString() } },
    });
    expect((await consultations.submit(id, 1, { answers: { usage: 'daily', safety: 2 } }, OPENS_MS)).outcome).toBe(
      'closed',
    );
  });

  it('keeps every response inside the window when one was stamped after the time the close was asked at', async () => {
    const consultations = createConsultationsStore(await openTestStore(engine, [consultationsMigrations]));
    const { id } = await consultations.create(cyclingSurvey(), 'otto', OPENS_MS - DAY_MS);
    // A response whose request read the clock a little after the operator's: it commits first (the lock's order).
    await consultations.submit(id, 1, { answers: { usage: 'daily', safety: 2 } }, DURING + 5);
    const closed = await consultations.close(id, 'olga', null, DURING);
    expect(closed.outcome === 'closed' && closed.survey.survey.closesAt).toBe(new Date(DURING + 6).toISOString());
    expect(closed.survey.endedEarly?.atMs).toBe(DURING);
    expect((await consultations.results(id))?.results.respondents).toBe(1);
  });

  it('tallies 600 respondents to the hand-computed counts when the cycling survey fills up, in SQL too', async () => {
    const sql = await openTestStore(engine, [consultationsMigrations]);
    const consultations = createConsultationsStore(sql);
    const { id } = await consultations.create(cyclingSurvey(), 'otto', OPENS_MS - DAY_MS);
    const refused: string[] = [];
    for (let i = 1; i <= 600; i++) {
      const answers: Record<string, string | string[] | number> = {
        usage: i % 4 === 0 ? 'never' : i % 2 === 0 ? 'weekly' : 'daily',
        safety: (i % 5) + 1,
      };
      if (i % 3 === 0) answers.priorities = ['lanes', 'parking'];
      if (i % 3 === 1) answers.priorities = ['lanes'];
      if (i % 10 === 0) answers.comment = `Plus de pistes, réponse ${i}`;
      const result = await consultations.submit(id, 1000 + i, { answers }, DURING + i * MINUTE_MS);
      if (result.outcome !== 'accepted') refused.push(`${i}: ${result.outcome}`);
      // Every hundredth citizen tries again with other answers: refused, the first kept.
      if (i % 100 === 0) {
        const again = await consultations.submit(id, 1000 + i, { answers: { usage: 'daily', safety: 1 } }, DURING);
        if (again.outcome !== 'already-answered') refused.push(`${i} again: ${again.outcome}`);
      }
    }
    expect(refused).toEqual([]);
    const found = await consultations.results(id);
    expect(found?.survey.respondents).toBe(600);
    expect(found?.results).toEqual({
      respondents: 600,
      duplicatesIgnored: 0,
      invalidAnswersIgnored: 0,
      questions: [
        {
          questionId: 'usage',
          type: 'single-choice',
          answered: 600,
          choices: [
            { value: 'daily', label: 'Tous les jours', count: 300, percent: 50 },
            { value: 'weekly', label: 'Chaque semaine', count: 150, percent: 25 },
            { value: 'never', label: 'Jamais', count: 150, percent: 25 },
          ],
        },
        {
          questionId: 'priorities',
          type: 'multiple-choice',
          answered: 400,
          choices: [
            { value: 'lanes', label: 'Pistes séparées', count: 400, percent: 66.7 },
            { value: 'parking', label: 'Stationnement vélo', count: 200, percent: 33.3 },
            { value: 'lighting', label: 'Éclairage', count: 0, percent: 0 },
            { value: 'signage', label: 'Signalisation', count: 0, percent: 0 },
          ],
        },
        {
          questionId: 'safety',
          type: 'scale',
          answered: 600,
          mean: 3,
          median: 3,
          distribution: [1, 2, 3, 4, 5].map((value) => ({ value, count: 120, percent: 20 })),
        },
        { questionId: 'comment', type: 'free-text', answered: 60 },
      ],
    });
    const texts = await consultations.freeTexts(id, { limit: 1000, offset: 0 });
    expect(texts?.questions[0]?.texts).toHaveLength(60);
    expect(texts?.questions[0]?.texts[0]).toBe('Plus de pistes, réponse 10');

    // The view the Grafana dashboard reads (migrations/002) counts exactly what aggregate() counts.
    const view = await sql.query<{ question_id: string; choice_id: string; choice: string; responses: number }>(
      `SELECT question_id, choice_id, choice, responses FROM consultations_choice_counts
        WHERE survey_id = $1 ORDER BY question_position, choice_position`,
      [id],
    );
    const expected = (found?.results.questions ?? []).flatMap((q) =>
      q.type === 'scale'
        ? q.distribution.map((d) => ({
            question_id: q.questionId,
            choice_id: String(d.value),
            choice: String(d.value),
            responses: d.count,
          }))
        : q.type === 'free-text'
          ? []
          : q.choices.map((c) => ({
              question_id: q.questionId,
              choice_id: c.value,
              choice: c.label,
              responses: c.count,
            })),
    );
    expect(expected).toHaveLength(12);
    expect(view.rows).toEqual(expected);
  });
});

describe('consultations store', () => {
  let store: SqlStore;
  beforeAll(async () => {
    store = await openStore({ pgliteDir: 'memory://' }, [consultationsMigrations]);
  });
  afterAll(() => store?.close());

  it('refuses responses as closed before opensAt and from closesAt on, and stores none', async () => {
    const consultations = createConsultationsStore(store);
    const { id } = await consultations.create(cyclingSurvey(), 'otto', OPENS_MS - DAY_MS);
    const answers = { answers: { usage: 'daily', safety: 4 } };
    const early = await consultations.submit(id, 1, answers, OPENS_MS - 1);
    expect(early).toMatchObject({ outcome: 'closed', phase: 'scheduled' });
    expect(early.outcome === 'closed' && early.error.message).toBe(
      `survey: ${id} is not open yet (answers are taken from 2026-05-01T00:00:00+02:00 until 2026-06-01T00:00:00+02:00)`,
    );
    const late = await consultations.submit(id, 1, answers, CLOSES_MS);
    expect(late).toMatchObject({ outcome: 'closed', phase: 'closed', error: { code: 'ERR_CONSULTATION_CLOSED' } });
    expect((await consultations.get(id))?.respondents).toBe(0);
    expect((await consultations.submit(id, 1, answers, OPENS_MS)).outcome).toBe('accepted');
    expect((await consultations.submit(id, 2, answers, CLOSES_MS - 1)).outcome).toBe('accepted');
  });

  it('reports every issue and stores nothing when the answers do not fit', async () => {
    const consultations = createConsultationsStore(store);
    const { id } = await consultations.create(cyclingSurvey(), 'otto', OPENS_MS - DAY_MS);
    const result = await consultations.submit(
      id,
      1,
      { answers: { usage: 'monthly', priorities: ['lanes', 'parking', 'lighting'], color: 'blue' } },
      DURING,
    );
    expect(result.outcome).toBe('invalid');
    if (result.outcome !== 'invalid') return;
    expect(result.issues.map((issue) => `${issue.questionId}:${issue.code}`)).toEqual([
      'color:unknown-question',
      'usage:choice-not-offered',
      'priorities:too-many-picks',
      'safety:missing-required',
    ]);
    expect(result.error.code).toBe('ERR_CONSULTATION_RESPONSE_INVALID');
    expect(result.error.message).toContain('safety: an answer is required');
    expect((await consultations.get(id))?.respondents).toBe(0);
    // Refused answers leave the citizen free to answer properly.
    expect((await consultations.submit(id, 1, { answers: { usage: 'daily', safety: 1 } }, DURING)).outcome).toBe(
      'accepted',
    );
  });

  it('throws ERR_CONSULTATION_NOT_FOUND when the survey does not exist', async () => {
    const consultations = createConsultationsStore(store);
    const error = await rejection(consultations.submit(999_999, 1, { answers: {} }, DURING));
    expect(error.code).toBe('ERR_CONSULTATION_NOT_FOUND');
    expect(await consultations.get(999_999)).toBeUndefined();
    expect(await consultations.results(999_999)).toBeUndefined();
  });

  it('changes a survey while scheduled and refuses with ERR_CONSULTATION_CONFLICT once it has opened', async () => {
    const consultations = createConsultationsStore(store);
    const { id } = await consultations.create(cyclingSurvey(), 'otto', OPENS_MS - DAY_MS);
    const changed = await consultations.replace(id, cyclingSurvey({ title: 'Pistes 2026' }), 'olga', OPENS_MS - 1);
    expect(changed).toMatchObject({ id, createdBy: 'otto', updatedBy: 'olga', updatedMs: OPENS_MS - 1 });
    expect((await consultations.get(id))?.survey.title).toBe('Pistes 2026');
    const conflict = await rejection(
      consultations.replace(id, cyclingSurvey({ title: 'Trop tard' }), 'olga', OPENS_MS),
    );
    expect(conflict.code).toBe('ERR_CONSULTATION_CONFLICT');
    expect(conflict.message).toContain('create a new one');
    expect((await consultations.get(id))?.survey.title).toBe('Pistes 2026');
    expect((await rejection(consultations.replace(999_999, cyclingSurvey(), 'olga', 0))).code).toBe(
      'ERR_CONSULTATION_NOT_FOUND',
    );
  });

  it('refuses a survey that has already closed with ERR_CONSULTATION_SURVEY_INVALID', async () => {
    const consultations = createConsultationsStore(store);
    const error = await rejection(consultations.create(cyclingSurvey(), 'otto', CLOSES_MS));
    expect(error.code).toBe('ERR_CONSULTATION_SURVEY_INVALID');
  });

  it('lists surveys by phase with their respondent counts, and tells a citizen which open ones they answered', async () => {
    const consultations = createConsultationsStore(await openTestStore('pglite', [consultationsMigrations]));
    const now = OPENS_MS + DAY_MS;
    const past = await consultations.create(
      cyclingSurvey({ title: 'Passée', opensAt: '2026-04-01T00:00:00Z', closesAt: '2026-04-30T00:00:00Z' }),
      'otto',
      Date.parse('2026-03-01T00:00:00Z'),
    );
    const open = await consultations.create(cyclingSurvey({ title: 'Ouverte' }), 'otto', OPENS_MS - DAY_MS);
    const later = await consultations.create(
      cyclingSurvey({ title: 'Plus tard', opensAt: '2026-07-01T00:00:00Z', closesAt: '2026-08-01T00:00:00Z' }),
      'otto',
      now,
    );
    await consultations.submit(open.id, 5, { answers: { usage: 'daily', safety: 3 } }, now);
    await consultations.submit(open.id, 6, { answers: { usage: 'daily', safety: 3 } }, now);
    const titles = async (phase?: 'scheduled' | 'open' | 'closed') =>
      (await consultations.list({ nowMs: now, phase })).map((s) => `${s.survey.title}:${s.respondents}`);
    expect(await titles()).toEqual(['Plus tard:0', 'Ouverte:2', 'Passée:0']);
    expect(await titles('open')).toEqual(['Ouverte:2']);
    expect(await titles('scheduled')).toEqual(['Plus tard:0']);
    expect(await titles('closed')).toEqual(['Passée:0']);
    expect((await consultations.openFor(5, now)).map((s) => [s.id, s.answeredMs])).toEqual([[open.id, now]]);
    expect((await consultations.openFor(8, now)).map((s) => [s.id, s.answeredMs])).toEqual([[open.id, null]]);
    expect([past.id, later.id]).not.toContain(open.id);
  });

  it('unlinks a deleted account’s responses and keeps the tally when the account is erased', async () => {
    const consultations = createConsultationsStore(store);
    const a = await consultations.create(cyclingSurvey(), 'otto', OPENS_MS - DAY_MS);
    const b = await consultations.create(cyclingSurvey({ title: 'Autre' }), 'otto', OPENS_MS - DAY_MS);
    const at = Date.parse('2026-05-12T14:37:21.123Z');
    for (const citizen of [11, 12]) {
      await consultations.submit(a.id, citizen, { answers: { usage: 'weekly', safety: 4, comment: 'ok' } }, at);
    }
    await consultations.submit(b.id, 11, { answers: { usage: 'never', safety: 2 } }, at);
    const before = await consultations.results(a.id);

    expect(await consultations.anonymise(11)).toBe(2);
    // A second erased citizen on the same survey: both anonymous rows stay (the key holds with negative ids).
    expect(await consultations.anonymise(12)).toBe(1);
    expect(await consultations.anonymise(12)).toBe(0);

    const rows = await store.query<{ citizen_id: number; submitted_at: Date }>(
      'SELECT citizen_id, submitted_at FROM consultations_responses WHERE survey_id = ANY($1) ORDER BY citizen_id',
      [[a.id, b.id]],
    );
    expect(rows.rows).toHaveLength(3);
    expect(rows.rows.every((row) => row.citizen_id < 0)).toBe(true);
    expect(new Set(rows.rows.map((row) => row.citizen_id)).size).toBe(3);
    expect(rows.rows.map((row) => row.submitted_at.toISOString().slice(11))).toEqual(Array(3).fill('00:00:00.000Z'));
    expect(await consultations.results(a.id)).toEqual(before);
    const mine = (await consultations.openFor(11, at)).filter((s) => s.id === a.id || s.id === b.id);
    expect(mine.map((s) => s.answeredMs)).toEqual([null, null]);
    expect((await consultations.freeTexts(a.id, { limit: 10, offset: 0 }))?.questions[0]?.texts).toEqual(['ok', 'ok']);
  });

  it('pages the free texts per question, oldest first, and refuses a question that is not free text', async () => {
    const consultations = createConsultationsStore(store);
    const { id } = await consultations.create(cyclingSurvey(), 'otto', OPENS_MS - DAY_MS);
    for (let i = 1; i <= 5; i++) {
      const answers = { usage: 'daily', safety: 3, ...(i === 3 ? {} : { comment: `  avis ${i}  ` }) };
      await consultations.submit(id, 100 + i, { answers }, DURING + i * MINUTE_MS);
    }
    expect(await consultations.freeTexts(id, { questionId: 'comment', limit: 2, offset: 1 })).toEqual({
      questions: [{ questionId: 'comment', text: 'Un commentaire ?', answered: 4, texts: ['avis 2', 'avis 4'] }],
    });
    const error = await rejection(consultations.freeTexts(id, { questionId: 'usage', limit: 2, offset: 0 }));
    expect(error.code).toBe('ERR_CONSULTATION_NOT_FOUND');
    expect(await consultations.freeTexts(999_999, { limit: 1, offset: 0 })).toBeUndefined();
  });

  const submissionsArb = fc.array(
    fc.record({
      citizen: fc.integer({ min: 1, max: 8 }),
      usage: fc.constantFrom('daily', 'weekly', 'never', 'monthly'),
      safety: fc.integer({ min: 0, max: 5 }),
    }),
    { maxLength: 25 },
  );

  test.prop([submissionsArb], { numRuns: 15 })(
    'tallies the first valid response of each citizen when citizens submit any sequence',
    async (submissions) => {
      const consultations = createConsultationsStore(store);
      const survey = cyclingSurvey();
      const { id } = await consultations.create(survey, 'otto', OPENS_MS - DAY_MS);
      for (const [i, s] of submissions.entries()) {
        await consultations.submit(id, s.citizen, { answers: { usage: s.usage, safety: s.safety } }, DURING + i);
      }
      // The model: a response that fits and is the citizen's first that fits is kept; every other is refused.
      const kept = new Map<number, StoredResponse>();
      for (const s of submissions) {
        const fits = s.usage !== 'monthly' && s.safety >= 1;
        if (fits && !kept.has(s.citizen)) {
          kept.set(s.citizen, { citizenId: String(s.citizen), answers: { usage: s.usage, safety: s.safety } });
        }
      }
      expect((await consultations.results(id))?.results).toEqual(aggregate(survey, kept.values()));
    },
  );
});
