import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { alertingMigrations } from '../../alerting/index.ts';
import { ManualClock } from '../../core/clock.ts';
import { Metrics } from '../../core/metrics.ts';
import { openTestStore } from '../../test/helpers/postgres.ts';
import { httpMigrations } from '../http/index.ts';
import { residentsMigrations } from '../residents/index.ts';
import { type Browser, type CallOptions, startResidentsServer } from '../residents/test-helpers.ts';
import {
  consultationCitizenRoutes,
  consultationEraser,
  consultationRoutes,
  consultationsMigrations,
  PUBLIC_REQUESTS_PER_MINUTE_PER_IP,
} from './index.ts';
import { CLOSES_MS, CYCLING, DAY_MS, MINUTE_MS, OPENS_MS } from './test-helpers.ts';

const email = () => `citizen-${randomBytes(4).toString('hex')}@example.org`;

type Who = 'viewer' | 'operator';

/**
 * The consultations' routes on the shared HTTP server, beside the residents' (the citizen account: a real sign-in
 * with a code from the memory bus), with operator tokens of each role; the clock is the day before the survey opens.
 */
async function setup() {
  const store = await openTestStore('pglite', [
    httpMigrations,
    alertingMigrations,
    residentsMigrations,
    consultationsMigrations,
  ]);
  const clock = new ManualClock(OPENS_MS - DAY_MS);
  const metrics = new Metrics();
  const server = await startResidentsServer({
    store,
    clock,
    citizenPlugins: [consultationCitizenRoutes({ store, clock, metrics })],
    accountErasers: [consultationEraser({ metrics })],
    plugins: [consultationRoutes({ store, clock, metrics })],
  });
  const tokens: Record<Who, string> = {
    viewer: (await server.app.operatorTokens.create('vera', 'viewer')).token,
    operator: (await server.app.operatorTokens.create('otto', 'operator')).token,
  };
  /** A call with `who`'s bearer token. */
  const as = (who: Who, options: CallOptions = {}): CallOptions => ({
    ...options,
    headers: { ...options.headers, authorization: `Bearer ${tokens[who]}` },
  });
  /** Creates the cycling survey (or another) as an operator; its id. */
  const createSurvey = async (overrides: Record<string, unknown> = {}) => {
    const res = await server.call('POST', '/api/consultations', as('operator', { json: { ...CYCLING, ...overrides } }));
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    return res.body.id as number;
  };
  /** A citizen's response. */
  const answer = (browser: Browser, id: number, answers: Record<string, unknown>) =>
    server.call('POST', `/api/me/consultations/${id}/responses`, { as: browser, json: { answers } });
  const outcomes = async () =>
    Object.fromEntries(
      await Promise.all(
        ['accepted', 'already-answered', 'closed', 'invalid'].map(
          async (outcome) => [outcome, await metrics.value('consultations_responses_total', { outcome })] as const,
        ),
      ),
    );
  return { ...server, store, clock, metrics, as, createSurvey, answer, outcomes };
}

describe('consultation routes', () => {
  it('lists every consultation route in /docs/json with its tag, a bearer token on operator routes and a session on the citizen’s', async () => {
    const { call } = await setup();
    const doc = await call('GET', '/docs/json');
    expect(doc.status).toBe(200);
    const paths = doc.body.paths as Record<
      string,
      Record<string, { tags: string[]; security?: Array<Record<string, string[]>> }>
    >;
    const routes = Object.entries(paths)
      .filter(([path]) => path.includes('consultations'))
      .flatMap(([path, methods]) =>
        Object.entries(methods).map(
          ([method, op]) =>
            `${method.toUpperCase()} ${path} ${op.tags.join()} ${op.security?.flatMap((s) => Object.keys(s)).join() ?? '-'}`,
        ),
      );
    expect(routes.sort()).toEqual([
      'GET /api/consultations consultations bearerAuth',
      'GET /api/consultations/{id} consultations bearerAuth',
      'GET /api/consultations/{id}/free-texts consultations bearerAuth',
      'GET /api/consultations/{id}/results consultations bearerAuth',
      'GET /api/consultations/{id}/results.csv consultations bearerAuth',
      'GET /api/me/consultations my consultations citizenSession',
      'GET /api/public/consultations consultations -',
      'GET /api/public/consultations/{id}/results consultations -',
      'POST /api/consultations consultations bearerAuth',
      'POST /api/consultations/{id}/close consultations bearerAuth',
      'POST /api/me/consultations/{id}/responses my consultations citizenSession',
      'PUT /api/consultations/{id} consultations bearerAuth',
    ]);
  });

  it('refuses operator routes without a token (401) and below their role (403)', async () => {
    const { call, as } = await setup();
    const none = await call('GET', '/api/consultations');
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ error: { code: 'ERR_HTTP_UNAUTHORIZED' } });
    expect(none.headers['www-authenticate']).toBe('Bearer realm="vigie"');
    const forged = await call('GET', '/api/consultations', { headers: { authorization: 'Bearer vigie_1_nope' } });
    expect(forged.status).toBe(401);
    for (const [method, url] of [
      ['GET', '/api/consultations/1'],
      ['GET', '/api/consultations/1/results'],
      ['GET', '/api/consultations/1/results.csv'],
      ['GET', '/api/consultations/1/free-texts'],
      ['POST', '/api/consultations'],
      ['PUT', '/api/consultations/1'],
      ['POST', '/api/consultations/1/close'],
    ] as const) {
      expect((await call(method, url, { json: method === 'GET' ? undefined : CYCLING })).status, url).toBe(401);
    }
    for (const [method, url] of [
      ['POST', '/api/consultations'],
      ['PUT', '/api/consultations/1'],
      ['GET', '/api/consultations/1/free-texts'],
      ['POST', '/api/consultations/1/close'],
    ] as const) {
      const json = method === 'GET' ? undefined : url.endsWith('/close') ? { reason: 'essai' } : CYCLING;
      const res = await call(method, url, as('viewer', { json }));
      expect(res.status, url).toBe(403);
      expect(res.body, url).toMatchObject({
        error: { code: 'ERR_HTTP_FORBIDDEN', message: 'role: viewer (this needs operator or above)' },
      });
    }
  });

  it('creates a survey as an operator, shows it with its phase and respondents, and changes it only while scheduled', async () => {
    const { call, as, clock, createSurvey } = await setup();
    const bad = await call(
      'POST',
      '/api/consultations',
      as('operator', { json: { ...CYCLING, closesAt: CYCLING.opensAt } }),
    );
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { code: 'ERR_HTTP_VALIDATION', issues: [{ path: 'body.closesAt' }] } });
    const over = await call(
      'POST',
      '/api/consultations',
      as('operator', { json: { ...CYCLING, opensAt: '2026-01-01T00:00:00Z', closesAt: '2026-02-01T00:00:00Z' } }),
    );
    expect(over.status).toBe(400);
    expect(over.body).toMatchObject({ error: { code: 'ERR_CONSULTATION_SURVEY_INVALID' } });

    const id = await createSurvey();
    const detail = await call('GET', `/api/consultations/${id}`, as('viewer'));
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({
      id,
      phase: 'scheduled',
      title: 'Itinéraires cyclables',
      opensAt: CYCLING.opensAt,
      closesAt: CYCLING.closesAt,
      respondents: 0,
      createdBy: 'otto',
      updatedBy: 'otto',
      createdAt: new Date(OPENS_MS - DAY_MS).toISOString(),
    });
    expect((detail.body.questions as unknown[])[3]).toEqual({
      id: 'comment',
      type: 'free-text',
      text: 'Un commentaire ?',
      required: false,
      maxLength: 200,
    });

    const changed = await call(
      'PUT',
      `/api/consultations/${id}`,
      as('operator', { json: { ...CYCLING, title: 'Pistes cyclables 2026' } }),
    );
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({ id, title: 'Pistes cyclables 2026', phase: 'scheduled' });

    clock.set(OPENS_MS);
    const list = await call('GET', '/api/consultations', as('viewer'));
    expect(list.body).toEqual({
      surveys: [
        {
          id,
          phase: 'open',
          title: 'Pistes cyclables 2026',
          description: CYCLING.description,
          opensAt: CYCLING.opensAt,
          closesAt: CYCLING.closesAt,
          questionCount: 4,
          respondents: 0,
          createdBy: 'otto',
          createdAt: new Date(OPENS_MS - DAY_MS).toISOString(),
          endedEarly: null,
        },
      ],
    });
    expect((await call('GET', '/api/consultations?phase=scheduled', as('viewer'))).body).toEqual({ surveys: [] });
    const late = await call('PUT', `/api/consultations/${id}`, as('operator', { json: CYCLING }));
    expect(late.status).toBe(409);
    expect(late.body).toMatchObject({ error: { code: 'ERR_CONSULTATION_CONFLICT' } });
    expect((await call('GET', `/api/consultations/${id}`, as('viewer'))).body.title).toBe('Pistes cyclables 2026');
    const missing = await call('GET', '/api/consultations/987654', as('viewer'));
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: { code: 'ERR_CONSULTATION_NOT_FOUND' } });
  });

  it('keeps the first response of a citizen and refuses the second with 409 ERR_CONSULTATION_ALREADY_ANSWERED', async () => {
    const { call, as, clock, createSurvey, signIn, answer, outcomes } = await setup();
    const id = await createSurvey();
    clock.set(OPENS_MS + DAY_MS);
    const citizen = await signIn(email());
    const before = await call('GET', '/api/me/consultations', { as: citizen });
    expect(before.status).toBe(200);
    expect(before.body.surveys).toEqual([
      expect.objectContaining({ id, phase: 'open', answered: false, answeredAt: null, questions: expect.any(Array) }),
    ]);

    const first = await answer(citizen, id, { usage: 'weekly', priorities: ['parking'], safety: 2 });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ surveyId: id, submittedAt: new Date(OPENS_MS + DAY_MS).toISOString() });
    clock.advance(MINUTE_MS);
    const second = await answer(citizen, id, { usage: 'daily', safety: 5 });
    expect(second.status).toBe(409);
    expect(second.body).toEqual({
      error: {
        code: 'ERR_CONSULTATION_ALREADY_ANSWERED',
        message: `survey: ${id} already answered from this account (one response per citizen, kept as first sent)`,
      },
    });

    const after = await call('GET', '/api/me/consultations', { as: citizen });
    expect(after.body.surveys).toEqual([
      expect.objectContaining({ id, answered: true, answeredAt: new Date(OPENS_MS + DAY_MS).toISOString() }),
    ]);
    const results = await call('GET', `/api/consultations/${id}/results`, as('viewer'));
    expect(results.body).toMatchObject({
      respondents: 1,
      questions: [
        { questionId: 'usage', choices: [{ count: 0 }, { value: 'weekly', count: 1 }, { count: 0 }] },
        { questionId: 'priorities', choices: [{ count: 0 }, { value: 'parking', count: 1 }, {}, {}] },
        { questionId: 'safety', mean: 2 },
        {},
      ],
    });
    expect(await outcomes()).toEqual({ accepted: 1, 'already-answered': 1, closed: 0, invalid: 0 });
  });

  it('refuses a response with 409 ERR_CONSULTATION_CLOSED before the survey opens and once it has closed', async () => {
    const { call, clock, createSurvey, signIn, answer, outcomes } = await setup();
    const id = await createSurvey();
    const early = await signIn(email());
    expect((await call('GET', '/api/me/consultations', { as: early })).body).toEqual({ surveys: [] });
    const scheduled = await answer(early, id, { usage: 'daily', safety: 3 });
    expect(scheduled.status).toBe(409);
    expect(scheduled.body).toMatchObject({ error: { code: 'ERR_CONSULTATION_CLOSED' } });
    expect((scheduled.body.error as { message: string }).message).toContain('is not open yet');

    // Sessions last 30 days: the citizens of the last minute sign in then.
    clock.set(CLOSES_MS - MINUTE_MS);
    const late = await signIn(email());
    const last = await signIn(email());
    expect((await answer(late, id, { usage: 'daily', safety: 3 })).status).toBe(201);
    clock.set(CLOSES_MS);
    const closed = await answer(last, id, { usage: 'daily', safety: 3 });
    expect(closed.status).toBe(409);
    expect((closed.body.error as { message: string }).message).toBe(
      `survey: ${id} is closed (answers are taken from ${CYCLING.opensAt} until ${CYCLING.closesAt})`,
    );
    expect((await call('GET', '/api/me/consultations', { as: late })).body).toEqual({ surveys: [] });
    const unknown = await answer(late, 987654, { usage: 'daily' });
    expect(unknown.status).toBe(404);
    expect(await outcomes()).toEqual({ accepted: 1, 'already-answered': 0, closed: 2, invalid: 0 });
  });

  it('refuses answers that do not fit with 400 ERR_CONSULTATION_RESPONSE_INVALID and one issue per question', async () => {
    const { clock, createSurvey, signIn, answer, outcomes, call, as } = await setup();
    const id = await createSurvey();
    clock.set(OPENS_MS);
    const citizen = await signIn(email());
    const res = await answer(citizen, id, {
      usage: 'monthly',
      priorities: ['lanes', 'lanes'],
      safety: 7,
      comment: 'x'.repeat(201),
      colour: 'bleu',
    });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: {
        code: 'ERR_CONSULTATION_RESPONSE_INVALID',
        message: expect.stringContaining('usage: "monthly" is not offered (one of daily, weekly, never)'),
        issues: [
          { path: 'body.answers.colour', message: 'colour: no such question in this survey' },
          { path: 'body.answers.usage', message: 'usage: "monthly" is not offered (one of daily, weekly, never)' },
          { path: 'body.answers.priorities', message: 'priorities: a choice is picked twice' },
          { path: 'body.answers.safety', message: 'safety: 7 (an integer from 1 to 5)' },
          { path: 'body.answers.comment', message: 'comment: 201 characters (at most 200)' },
        ],
      },
    });
    const shape = await answer(citizen, id, { usage: { nested: true } });
    expect(shape.status).toBe(400);
    expect(shape.body).toMatchObject({ error: { code: 'ERR_HTTP_VALIDATION' } });
    // Nothing stored: the citizen may still answer.
    expect((await answer(citizen, id, { usage: 'never', safety: 1 })).status).toBe(201);
    expect((await call('GET', `/api/consultations/${id}`, as('viewer'))).body.respondents).toBe(1);
    expect(await outcomes()).toEqual({ accepted: 1, 'already-answered': 0, closed: 0, invalid: 1 });
  });

  it('refuses the citizen routes without a session (401) and a response without the CSRF token (403)', async () => {
    const { call, clock, createSurvey, signIn, outcomes } = await setup();
    const id = await createSurvey();
    clock.set(OPENS_MS);
    expect((await call('GET', '/api/me/consultations')).status).toBe(401);
    const anonymous = await call('POST', `/api/me/consultations/${id}/responses`, { json: { answers: {} } });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toMatchObject({ error: { code: 'ERR_RESIDENT_UNAUTHORIZED' } });
    const citizen = await signIn(email());
    const noCsrf = await call('POST', `/api/me/consultations/${id}/responses`, {
      as: citizen,
      csrf: null,
      json: { answers: { usage: 'daily', safety: 3 } },
    });
    expect(noCsrf.status).toBe(403);
    expect(noCsrf.body).toMatchObject({ error: { code: 'ERR_RESIDENT_CSRF_FORBIDDEN' } });
    expect(await outcomes()).toEqual({ accepted: 0, 'already-answered': 0, closed: 0, invalid: 0 });
  });

  it('gives viewers the hand-computed results and their CSV, and operators alone the free texts, without ids', async () => {
    const { call, as, clock, createSurvey, signIn, answer } = await setup();
    const id = await createSurvey();
    clock.set(OPENS_MS + DAY_MS);
    const responses = [
      { usage: 'daily', priorities: ['lanes', 'lighting'], safety: 2, comment: '  Plus de pistes  ' },
      { usage: 'weekly', priorities: ['lanes'], safety: 4, comment: '' },
      { usage: 'daily', safety: 5, comment: '=Éclairer le pont, "vite"' },
    ];
    for (const answers of responses) {
      expect((await answer(await signIn(email()), id, answers)).status).toBe(201);
      clock.advance(MINUTE_MS);
    }

    const results = await call('GET', `/api/consultations/${id}/results`, as('viewer'));
    expect(results.status).toBe(200);
    expect(results.body).toEqual({
      surveyId: id,
      title: 'Itinéraires cyclables',
      phase: 'open',
      opensAt: CYCLING.opensAt,
      closesAt: CYCLING.closesAt,
      respondents: 3,
      duplicatesIgnored: 0,
      invalidAnswersIgnored: 0,
      questions: [
        {
          questionId: 'usage',
          text: 'À quelle fréquence faites-vous du vélo en ville ?',
          type: 'single-choice',
          answered: 3,
          choices: [
            { value: 'daily', label: 'Tous les jours', count: 2, percent: 66.7 },
            { value: 'weekly', label: 'Chaque semaine', count: 1, percent: 33.3 },
            { value: 'never', label: 'Jamais', count: 0, percent: 0 },
          ],
        },
        {
          questionId: 'priorities',
          text: 'Vos priorités ?',
          type: 'multiple-choice',
          answered: 2,
          choices: [
            { value: 'lanes', label: 'Pistes séparées', count: 2, percent: 66.7 },
            { value: 'parking', label: 'Stationnement vélo', count: 0, percent: 0 },
            { value: 'lighting', label: 'Éclairage', count: 1, percent: 33.3 },
            { value: 'signage', label: 'Signalisation', count: 0, percent: 0 },
          ],
        },
        {
          questionId: 'safety',
          text: 'Vous sentez-vous en sécurité ?',
          type: 'scale',
          answered: 3,
          mean: 3.67,
          median: 4,
          distribution: [
            { value: 1, count: 0, percent: 0 },
            { value: 2, count: 1, percent: 33.3 },
            { value: 3, count: 0, percent: 0 },
            { value: 4, count: 1, percent: 33.3 },
            { value: 5, count: 1, percent: 33.3 },
          ],
        },
        { questionId: 'comment', text: 'Un commentaire ?', type: 'free-text', answered: 2 },
      ],
    });
    expect(JSON.stringify(results.body)).not.toContain('pistes  ');

    const csv = await call('GET', `/api/consultations/${id}/results.csv`, as('viewer'));
    expect(csv.status).toBe(200);
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(csv.headers['content-disposition']).toBe(`attachment; filename="consultation-${id}-results.csv"`);
    expect(csv.raw.toString('utf8').split('\r\n')).toEqual([
      'question_id,question_type,question,answered,value,label,count,percent,mean,median',
      'usage,single-choice,À quelle fréquence faites-vous du vélo en ville ?,3,daily,Tous les jours,2,66.7,,',
      'usage,single-choice,À quelle fréquence faites-vous du vélo en ville ?,3,weekly,Chaque semaine,1,33.3,,',
      'usage,single-choice,À quelle fréquence faites-vous du vélo en ville ?,3,never,Jamais,0,0,,',
      'priorities,multiple-choice,Vos priorités ?,2,lanes,Pistes séparées,2,66.7,,',
      'priorities,multiple-choice,Vos priorités ?,2,parking,Stationnement vélo,0,0,,',
      'priorities,multiple-choice,Vos priorités ?,2,lighting,Éclairage,1,33.3,,',
      'priorities,multiple-choice,Vos priorités ?,2,signage,Signalisation,0,0,,',
      'safety,scale,Vous sentez-vous en sécurité ?,3,1,,0,0,3.67,4',
      'safety,scale,Vous sentez-vous en sécurité ?,3,2,,1,33.3,3.67,4',
      'safety,scale,Vous sentez-vous en sécurité ?,3,3,,0,0,3.67,4',
      'safety,scale,Vous sentez-vous en sécurité ?,3,4,,1,33.3,3.67,4',
      'safety,scale,Vous sentez-vous en sécurité ?,3,5,,1,33.3,3.67,4',
      'comment,free-text,Un commentaire ?,2,,,,,,',
      '',
    ]);

    const texts = await call('GET', `/api/consultations/${id}/free-texts`, as('operator'));
    expect(texts.status).toBe(200);
    expect(texts.headers['cache-control']).toBe('private, no-store');
    expect(texts.body).toEqual({
      surveyId: id,
      questions: [
        {
          questionId: 'comment',
          text: 'Un commentaire ?',
          answered: 2,
          texts: ['Plus de pistes', '=Éclairer le pont, "vite"'],
        },
      ],
    });
    const viewer = await call('GET', `/api/consultations/${id}/free-texts`, as('viewer'));
    expect(viewer.status).toBe(403);
    expect(JSON.stringify(viewer.body)).not.toContain('pistes');
    const notFreeText = await call('GET', `/api/consultations/${id}/free-texts?questionId=usage`, as('operator'));
    expect(notFreeText.status).toBe(404);
  });

  it('publishes the open surveys with their questions, and their results only once closed, without free texts', async () => {
    const { call, clock, createSurvey, signIn, answer } = await setup();
    const id = await createSurvey();
    expect((await call('GET', '/api/public/consultations')).body).toEqual({ surveys: [] });
    const hidden = await call('GET', `/api/public/consultations/${id}/results`);
    expect(hidden.status).toBe(404);

    clock.set(OPENS_MS + DAY_MS);
    const open = await call('GET', '/api/public/consultations');
    expect(open.status).toBe(200);
    expect(open.body.surveys).toEqual([
      {
        id,
        phase: 'open',
        title: CYCLING.title,
        description: CYCLING.description,
        opensAt: CYCLING.opensAt,
        closesAt: CYCLING.closesAt,
        questions: expect.arrayContaining([expect.objectContaining({ id: 'usage', required: true })]),
      },
    ]);
    expect(JSON.stringify(open.body)).not.toMatch(/respondents|createdBy|otto/);
    await answer(await signIn(email()), id, { usage: 'never', safety: 1, comment: 'Trop de voitures' });
    const whileOpen = await call('GET', `/api/public/consultations/${id}/results`);
    expect(whileOpen.status).toBe(404);
    expect(whileOpen.body).toMatchObject({
      error: {
        code: 'ERR_CONSULTATION_NOT_FOUND',
        message: `survey: ${id} has no published results (results are public once a survey has closed)`,
      },
    });

    clock.set(CLOSES_MS);
    const results = await call('GET', `/api/public/consultations/${id}/results`);
    expect(results.status).toBe(200);
    expect(results.body).toMatchObject({ surveyId: id, phase: 'closed', respondents: 1 });
    expect(results.body.questions).toContainEqual({
      questionId: 'comment',
      text: 'Un commentaire ?',
      type: 'free-text',
      answered: 1,
    });
    expect(Object.keys(results.body)).not.toContain('duplicatesIgnored');
    expect(JSON.stringify(results.body)).not.toContain('voitures');
    expect((await call('GET', '/api/public/consultations')).body).toEqual({ surveys: [] });
    const closed = await call('GET', '/api/public/consultations?phase=closed');
    expect((closed.body.surveys as { id: number }[]).map((s) => s.id)).toEqual([id]);
    expect((await call('GET', '/api/public/consultations/987654/results')).status).toBe(404);
  });

  it('answers 429 past a public route’s limit for one address, and goes on serving the others', async () => {
    const { call } = await setup();
    for (let i = 0; i < PUBLIC_REQUESTS_PER_MINUTE_PER_IP; i++) {
      const ok = await call('GET', '/api/public/consultations', { ip: '10.0.0.1' });
      if (ok.status !== 200) throw new Error(`request ${i + 1}: ${ok.status}`);
    }
    const refused = await call('GET', '/api/public/consultations', { ip: '10.0.0.1' });
    const error = (refused.body as { error?: { code?: string } }).error;
    expect([refused.status, error?.code]).toEqual([429, 'ERR_CONSULTATION_RATE_LIMITED']);
    expect((await call('GET', '/api/public/consultations', { ip: '10.0.0.2' })).status).toBe(200);
  });

  it('keeps a deleted account’s response in the tally, linked to no one, when the citizen deletes their account', async () => {
    const { call, as, clock, createSurvey, signIn, answer, store } = await setup();
    const id = await createSurvey();
    clock.set(OPENS_MS + DAY_MS);
    const address = email();
    const citizen = await signIn(address);
    expect((await answer(citizen, id, { usage: 'daily', safety: 4 })).status).toBe(201);
    const accounts = await store.query<{ id: number }>('SELECT id FROM residents_accounts WHERE address = $1', [
      address,
    ]);
    const accountId = accounts.rows[0]?.id as number;

    const deleted = await call('DELETE', '/api/me/account', { as: citizen });
    expect(deleted.status).toBe(204);
    const rows = await store.query<{ citizen_id: number }>(
      'SELECT citizen_id FROM consultations_responses WHERE survey_id = $1',
      [id],
    );
    expect(rows.rows).toHaveLength(1);
    expect(rows.rows[0]?.citizen_id).toBeLessThan(0);
    expect(accountId).toBeGreaterThan(0);
    const results = await call('GET', `/api/consultations/${id}/results`, as('viewer'));
    expect(results.body).toMatchObject({
      respondents: 1,
      questions: [{ choices: [{ value: 'daily', count: 1 }, {}, {}] }, {}, {}, {}],
    });

    // Known limit (README): an account made again is a new citizen, who may answer again.
    const again = await signIn(address);
    expect((await call('GET', '/api/me/consultations', { as: again })).body.surveys).toEqual([
      expect.objectContaining({ id, answered: false }),
    ]);
  });

  it('closes an open survey now when an operator closes it early: later responses get 409, its results are public, who, when and why are kept', async () => {
    const { call, as, clock, createSurvey, signIn, answer, outcomes } = await setup();
    const id = await createSurvey();
    clock.set(OPENS_MS + DAY_MS);
    const first = await signIn(email());
    const late = await signIn(email());
    expect((await answer(first, id, { usage: 'daily', safety: 4, comment: 'Enfin' })).status).toBe(201);

    // A viewer may not, nor anyone without a token: the survey stays open.
    const byViewer = await call('POST', `/api/consultations/${id}/close`, as('viewer', { json: {} }));
    expect(byViewer.status).toBe(403);
    expect((await call('POST', `/api/consultations/${id}/close`, { json: {} })).status).toBe(401);
    expect((await call('GET', `/api/consultations/${id}`, as('viewer'))).body).toMatchObject({
      phase: 'open',
      endedEarly: null,
    });
    const tooLong = await call(
      'POST',
      `/api/consultations/${id}/close`,
      as('operator', { json: { reason: 'x'.repeat(501) } }),
    );
    expect(tooLong.status).toBe(400);
    expect(tooLong.body).toMatchObject({ error: { code: 'ERR_HTTP_VALIDATION', issues: [{ path: 'body.reason' }] } });

    clock.advance(MINUTE_MS);
    const closedAt = new Date(OPENS_MS + DAY_MS + MINUTE_MS).toISOString();
    const closed = await call(
      'POST',
      `/api/consultations/${id}/close`,
      as('operator', { json: { reason: '  Assez de réponses pour décider.  ' } }),
    );
    expect(closed.status, JSON.stringify(closed.body)).toBe(200);
    expect(closed.body).toMatchObject({
      id,
      phase: 'closed',
      opensAt: CYCLING.opensAt,
      closesAt: closedAt,
      respondents: 1,
      endedEarly: {
        action: 'closed',
        by: 'otto',
        at: closedAt,
        reason: 'Assez de réponses pour décider.',
        plannedClosesAt: CYCLING.closesAt,
      },
    });
    const detail = await call('GET', `/api/consultations/${id}`, as('viewer'));
    expect(detail.body).toEqual(closed.body);
    const list = await call('GET', '/api/consultations?phase=closed', as('viewer'));
    expect(list.body.surveys).toEqual([
      expect.objectContaining({ id, phase: 'closed', closesAt: closedAt, endedEarly: closed.body.endedEarly }),
    ]);
    expect((await call('GET', '/api/consultations?phase=open', as('viewer'))).body).toEqual({ surveys: [] });

    clock.advance(1);
    const refused = await answer(late, id, { usage: 'never', safety: 1 });
    expect(refused.status).toBe(409);
    expect(refused.body).toEqual({
      error: {
        code: 'ERR_CONSULTATION_CLOSED',
        message: `survey: ${id} is closed (closed early; answers are taken from ${CYCLING.opensAt} until ${closedAt})`,
      },
    });
    expect((await call('GET', '/api/me/consultations', { as: late })).body).toEqual({ surveys: [] });

    // Public as any closed survey, weeks before its planned end.
    const results = await call('GET', `/api/public/consultations/${id}/results`);
    expect(results.status).toBe(200);
    expect(results.body).toMatchObject({ surveyId: id, phase: 'closed', closesAt: closedAt, respondents: 1 });
    expect(JSON.stringify(results.body)).not.toMatch(/Enfin|otto|décider/);
    const publicClosed = await call('GET', '/api/public/consultations?phase=closed');
    expect(publicClosed.body.surveys).toEqual([expect.objectContaining({ id, phase: 'closed', closesAt: closedAt })]);
    expect(JSON.stringify(publicClosed.body)).not.toMatch(/endedEarly|otto|décider/);
    expect(await outcomes()).toEqual({ accepted: 1, 'already-answered': 0, closed: 1, invalid: 0 });
  });

  it('cancels a scheduled survey when an operator closes it before it opens: it never opens, and only operators see it', async () => {
    const { call, as, clock, createSurvey, signIn, answer } = await setup();
    const id = await createSurvey();
    const kept = await createSurvey({ title: 'Parcs et jardins' });
    const cancelled = await call('POST', `/api/consultations/${id}/close`, as('operator'));
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    expect(cancelled.body).toMatchObject({
      id,
      phase: 'cancelled',
      opensAt: CYCLING.opensAt,
      closesAt: CYCLING.closesAt,
      endedEarly: {
        action: 'cancelled',
        by: 'otto',
        at: new Date(OPENS_MS - DAY_MS).toISOString(),
        reason: null,
        plannedClosesAt: CYCLING.closesAt,
      },
    });
    const changed = await call('PUT', `/api/consultations/${id}`, as('operator', { json: CYCLING }));
    expect(changed.status).toBe(409);
    expect(changed.body).toMatchObject({ error: { code: 'ERR_CONSULTATION_CONFLICT' } });

    // Past its opensAt: still cancelled, shown to operators only.
    clock.set(OPENS_MS + DAY_MS);
    expect((await call('GET', `/api/consultations/${id}`, as('viewer'))).body).toMatchObject({ phase: 'cancelled' });
    const all = await call('GET', '/api/consultations', as('viewer'));
    expect((all.body.surveys as { id: number; phase: string }[]).map((s) => [s.id, s.phase])).toEqual([
      [kept, 'open'],
      [id, 'cancelled'],
    ]);
    const onlyCancelled = await call('GET', '/api/consultations?phase=cancelled', as('viewer'));
    expect((onlyCancelled.body.surveys as { id: number }[]).map((s) => s.id)).toEqual([id]);
    expect(
      (
        (await call('GET', '/api/consultations?phase=open', as('viewer'))).body.surveys as {
          id: number;
        }[]
      ).map((s) => s.id),
    ).toEqual([kept]);

    const citizen = await signIn(email());
    const mine = await call('GET', '/api/me/consultations', { as: citizen });
    expect((mine.body.surveys as { id: number }[]).map((s) => s.id)).toEqual([kept]);
    const refused = await answer(citizen, id, { usage: 'daily', safety: 3 });
    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({
      error: { code: 'ERR_CONSULTATION_CLOSED', message: `survey: ${id} was cancelled (it never opens)` },
    });
    const publicOpen = await call('GET', '/api/public/consultations');
    expect((publicOpen.body.surveys as { id: number }[]).map((s) => s.id)).toEqual([kept]);

    // Nor once its window has passed: never among the closed ones, no public results.
    clock.set(CLOSES_MS + DAY_MS);
    const publicClosed = await call('GET', '/api/public/consultations?phase=closed');
    expect((publicClosed.body.surveys as { id: number }[]).map((s) => s.id)).toEqual([kept]);
    expect((await call('GET', `/api/public/consultations/${id}/results`)).status).toBe(404);
    expect((await call('GET', `/api/public/consultations/${kept}/results`)).status).toBe(200);
  });

  it('refuses to close a survey already closed or cancelled with 409 ERR_CONSULTATION_ALREADY_CLOSED, and an unknown one with 404', async () => {
    const { call, as, clock, createSurvey } = await setup();
    const open = await createSurvey();
    const scheduled = await createSurvey({ opensAt: '2026-05-10T00:00:00+02:00' });
    const ended = await createSurvey({ closesAt: '2026-05-02T00:00:00+02:00' });
    clock.set(OPENS_MS + DAY_MS);
    const close = (id: number, reason?: string) =>
      call('POST', `/api/consultations/${id}/close`, as('operator', { json: reason === undefined ? {} : { reason } }));

    expect((await close(open, 'première')).status).toBe(200);
    const twice = await close(open, 'seconde');
    expect(twice.status).toBe(409);
    expect(twice.body).toEqual({
      error: {
        code: 'ERR_CONSULTATION_ALREADY_CLOSED',
        message: `survey: ${open} closed at ${new Date(OPENS_MS + DAY_MS).toISOString()} (closed early) (only an open survey can be closed, a scheduled one cancelled)`,
      },
    });
    expect((await call('GET', `/api/consultations/${open}`, as('viewer'))).body.endedEarly).toMatchObject({
      reason: 'première',
    });

    expect((await close(scheduled)).body).toMatchObject({ phase: 'cancelled' });
    const cancelledTwice = await close(scheduled);
    expect(cancelledTwice.status).toBe(409);
    expect(cancelledTwice.body).toMatchObject({
      error: { code: 'ERR_CONSULTATION_ALREADY_CLOSED', message: expect.stringContaining('was cancelled at') },
    });

    // Closed at the end of its window: nothing to close.
    clock.set(Date.parse('2026-05-02T00:00:00+02:00'));
    const afterEnd = await close(ended);
    expect(afterEnd.status).toBe(409);
    expect(afterEnd.body).toMatchObject({ error: { code: 'ERR_CONSULTATION_ALREADY_CLOSED' } });
    expect((await call('GET', `/api/consultations/${ended}`, as('viewer'))).body.endedEarly).toBeNull();

    const unknown = await close(987654);
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ error: { code: 'ERR_CONSULTATION_NOT_FOUND' } });
  });
});
