import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { type Clock, SYSTEM_CLOCK } from '../../core/clock.ts';
import { AppError } from '../../core/errors.ts';
import { Metrics } from '../../core/metrics.ts';
import type { SqlStore } from '../../core/store/store.ts';
import type { AccountEraser, CitizenPlugin } from '../http/citizen.ts';
import { useRateLimits } from '../http/rate-limit.ts';
import { BEARER_SECURITY, CITIZEN_SECURITY, errorBody, errorResponses, type HttpPlugin } from '../http/server.ts';
import {
  anonymiseResponses,
  type ConsultationsStore,
  createConsultationsStore,
  phaseOf,
  type StoredSurvey,
  type SurveySummary,
  surveyNotFound,
} from './store.ts';
import {
  type QuestionResult,
  questionSchema,
  responseInputSchema,
  type Survey,
  type SurveyResults,
  surveySchema,
} from './survey.ts';

/**
 * The consultations API (issue 8). Operators (bearer tokens, services/http/auth.ts): a `viewer` reads surveys and
 * their results (counts, never free texts; also as CSV), an `operator` creates surveys, changes them while scheduled,
 * ends them early (closes an open one, cancels a scheduled one) and reads the free-text answers (no citizen ids).
 * Public: the open surveys with their questions, the closed ones, and a survey's results once closed. Citizens (the
 * residents' session, services/http/citizen.ts): the open surveys and whether they answered, and one response each.
 *
 * Refusals of a response are 409 `ERR_CONSULTATION_ALREADY_ANSWERED` and `ERR_CONSULTATION_CLOSED`, and of an early
 * end 409 `ERR_CONSULTATION_ALREADY_CLOSED`, answered here: the server's status-by-suffix table
 * (services/http/server.ts `httpStatusOf`) does not know those codes. An invalid response is 400
 * `ERR_CONSULTATION_RESPONSE_INVALID` with one issue per question (`body.answers.<id>`).
 */

const TAG = 'consultations';
const CITIZEN_TAG = 'my consultations';
/** Closed surveys' results kept in memory (they never change: no response once closed, no edit once open). */
const CLOSED_RESULTS_CACHED = 64;
/** Closed surveys the public list shows, the latest closed first. */
const PUBLIC_CLOSED_LISTED = 50;
/** Requests one IP address may make per minute to each public route, counted in this process. */
export const PUBLIC_REQUESTS_PER_MINUTE_PER_IP = 120;

/** The rate limit of the public routes: 429 ERR_CONSULTATION_RATE_LIMITED past it. */
const PUBLIC_RATE_LIMIT = {
  rateLimit: {
    max: PUBLIC_REQUESTS_PER_MINUTE_PER_IP,
    timeWindow: 60_000,
    errorResponseBuilder: (_request: FastifyRequest, ctx: { max: number; after: string }) =>
      new AppError(
        'ERR_CONSULTATION_RATE_LIMITED',
        `public consultations: more than ${ctx.max} requests a minute from this address (try again in ${ctx.after})`,
      ),
  },
};

const IsoTimestamp = z.iso.datetime({ offset: true });
const Phase = z
  .enum(['scheduled', 'open', 'closed', 'cancelled'])
  .describe('scheduled before opensAt, open until closesAt, closed; cancelled before it opened (operators only)');
const IdParams = z.strictObject({
  id: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).describe('The survey id'),
});

const surveyFields = {
  id: z.number().int(),
  phase: Phase,
  title: z.string(),
  description: z.string(),
  opensAt: IsoTimestamp.describe('Answers taken from this time (inclusive)'),
  closesAt: IsoTimestamp.describe('… until this time (exclusive); closed early, when it closed'),
};

/** How an operator ended a survey early, or null (it runs its window). */
const EarlyEndSchema = z
  .object({
    action: z
      .enum(['closed', 'cancelled'])
      .describe('closed: it was open, and closed at `at`; cancelled: it had not opened, and never will'),
    by: z.string().describe('The operator token that did it'),
    at: IsoTimestamp,
    reason: z.string().nullable().describe('What the operator gave, if anything'),
    plannedClosesAt: IsoTimestamp.describe('The closesAt it was made with'),
  })
  .nullable()
  .describe('Set when an operator closed it early or cancelled it (POST /api/consultations/:id/close)')
  .meta({ id: 'ConsultationEarlyEnd' });

/** A survey as citizens see it: its window and its questions, in order. */
export const PublicSurveySchema = z
  .object({ ...surveyFields, questions: z.array(questionSchema) })
  .meta({ id: 'ConsultationSurvey' });

/** A survey as operators see it: the public view, who made it and how many answered. */
export const SurveyDetailSchema = PublicSurveySchema.extend({
  respondents: z.number().int().describe('Citizens who answered'),
  createdBy: z.string().describe('The operator token that created it'),
  createdAt: IsoTimestamp,
  updatedBy: z.string(),
  updatedAt: IsoTimestamp,
  endedEarly: EarlyEndSchema,
}).meta({ id: 'ConsultationSurveyDetail' });

const SurveyListItem = z
  .object({
    ...surveyFields,
    questionCount: z.number().int(),
    respondents: z.number().int(),
    createdBy: z.string(),
    createdAt: IsoTimestamp,
    endedEarly: EarlyEndSchema,
  })
  .meta({ id: 'ConsultationSurveyListItem' });

const CitizenSurveySchema = PublicSurveySchema.extend({
  answered: z.boolean().describe('You answered it (once: a response cannot be changed)'),
  answeredAt: IsoTimestamp.nullable(),
}).meta({ id: 'ConsultationCitizenSurvey' });

const questionResultBase = {
  questionId: z.string(),
  text: z.string().describe('The question'),
  answered: z.number().int().describe('Respondents who answered it'),
};
const QuestionResultSchema = z.union([
  z.object({
    ...questionResultBase,
    type: z.enum(['single-choice', 'multiple-choice']),
    choices: z.array(
      z.object({
        value: z.string().describe('The choice id'),
        label: z.string(),
        count: z.number().int(),
        percent: z.number().describe('Of all respondents, one decimal (multiple choice may pass 100)'),
      }),
    ),
  }),
  z.object({
    ...questionResultBase,
    type: z.literal('scale'),
    mean: z.number().nullable().describe('Two decimals; null when nobody answered'),
    median: z.number().nullable(),
    distribution: z.array(z.object({ value: z.number().int(), count: z.number().int(), percent: z.number() })),
  }),
  z.object({ ...questionResultBase, type: z.literal('free-text') }),
]);

/** A survey's results as the public sees them once it is closed: counts only. */
export const PublicResultsSchema = z
  .object({
    surveyId: z.number().int(),
    title: z.string(),
    phase: Phase,
    opensAt: IsoTimestamp,
    closesAt: IsoTimestamp,
    respondents: z.number().int(),
    questions: z.array(QuestionResultSchema).describe('In the survey’s order; free texts are counted, never shown'),
  })
  .meta({ id: 'ConsultationResults' });

/** A survey's results for the console: the public view and the store's checks. */
export const ResultsSchema = PublicResultsSchema.extend({
  duplicatesIgnored: z.number().int().describe('Should be 0: the store keeps one response per citizen'),
  invalidAnswersIgnored: z.number().int().describe('Should be 0: answers are checked when given'),
}).meta({ id: 'ConsultationResultsDetail' });

const FreeTextsSchema = z
  .object({
    surveyId: z.number().int(),
    questions: z.array(
      z.object({
        questionId: z.string(),
        text: z.string(),
        answered: z.number().int().describe('Texts given (all pages)'),
        texts: z.array(z.string()).describe('A page of them, oldest first; never who wrote them'),
      }),
    ),
  })
  .meta({ id: 'ConsultationFreeTexts' });

const ResponseAccepted = z.object({ surveyId: z.number().int(), submittedAt: IsoTimestamp });

/** Most characters of the reason an operator gives for ending a survey early. */
const REASON_MAX = 500;
const CloseBody = z
  .strictObject({
    reason: z
      .string()
      .trim()
      .max(REASON_MAX)
      .optional()
      .describe(`Why, kept with the survey (at most ${REASON_MAX} characters; operators read it)`),
  })
  .nullish();

/** What the consultation routes need. */
export interface ConsultationRoutesDeps {
  readonly store: SqlStore;
  /** Where `consultations_responses_total` is counted (default: a registry of its own). */
  readonly metrics?: Metrics | undefined;
  readonly clock?: Clock | undefined;
}

const iso = (ms: number) => new Date(ms).toISOString();

function publicSurvey(s: StoredSurvey, nowMs: number) {
  return {
    id: s.id,
    phase: phaseOf(s, nowMs),
    title: s.survey.title,
    description: s.survey.description,
    opensAt: s.survey.opensAt,
    closesAt: s.survey.closesAt,
    questions: s.survey.questions,
  };
}

function surveyDetail(s: SurveySummary, nowMs: number) {
  return {
    ...publicSurvey(s, nowMs),
    respondents: s.respondents,
    createdBy: s.createdBy,
    createdAt: iso(s.createdMs),
    updatedBy: s.updatedBy,
    updatedAt: iso(s.updatedMs),
    endedEarly: s.endedEarly && {
      action: s.endedEarly.action,
      by: s.endedEarly.by,
      at: iso(s.endedEarly.atMs),
      reason: s.endedEarly.reason,
      plannedClosesAt: s.endedEarly.plannedClosesAt,
    },
  };
}

/** The results of each question with the question's text (what the console and a citizen page show). */
function withTexts(survey: Survey, questions: readonly QuestionResult[]): z.output<typeof QuestionResultSchema>[] {
  const texts = new Map(survey.questions.map((q) => [q.id, q.text]));
  return questions.map((q) => {
    const text = texts.get(q.questionId) ?? '';
    switch (q.type) {
      case 'single-choice':
      case 'multiple-choice':
        return { ...q, text, choices: q.choices.map((c) => ({ ...c })) };
      case 'scale':
        return { ...q, text, distribution: q.distribution.map((d) => ({ ...d })) };
      default:
        return { ...q, text };
    }
  });
}

function publicResults(s: StoredSurvey, results: SurveyResults, nowMs: number) {
  return {
    surveyId: s.id,
    title: s.survey.title,
    phase: phaseOf(s, nowMs),
    opensAt: s.survey.opensAt,
    closesAt: s.survey.closesAt,
    respondents: results.respondents,
    questions: withTexts(s.survey, results.questions),
  };
}

/** One CSV field (RFC 4180); a text a spreadsheet would run as a formula is prefixed with `'`. */
function csvField(value: string | number | null): string {
  if (value === null) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** The results as CSV: one row per choice or scale value, one per free-text question (its count only). */
export function resultsCsv(survey: Survey, results: SurveyResults): string {
  const rows: (string | number | null)[][] = [
    ['question_id', 'question_type', 'question', 'answered', 'value', 'label', 'count', 'percent', 'mean', 'median'],
  ];
  for (const q of withTexts(survey, results.questions)) {
    const head = [q.questionId, q.type, q.text, q.answered];
    if (q.type === 'single-choice' || q.type === 'multiple-choice') {
      for (const c of q.choices) rows.push([...head, c.value, c.label, c.count, c.percent, null, null]);
    } else if (q.type === 'scale') {
      for (const d of q.distribution) rows.push([...head, d.value, null, d.count, d.percent, q.mean, q.median]);
    } else {
      rows.push([...head, null, null, null, null, null, null]);
    }
  }
  return `${rows.map((row) => row.map(csvField).join(',')).join('\r\n')}\r\n`;
}

/** Closed surveys' results, bounded (the oldest entry goes first). */
function closedResultsCache(consultations: ConsultationsStore, clock: Clock) {
  const cache = new Map<number, { survey: SurveySummary; results: SurveyResults }>();
  return async (id: number) => {
    const hit = cache.get(id);
    if (hit) return hit;
    const found = await consultations.results(id);
    if (found && phaseOf(found.survey, clock.nowMs()) === 'closed') {
      if (cache.size >= CLOSED_RESULTS_CACHED) cache.delete(cache.keys().next().value as number);
      cache.set(id, found);
    }
    return found;
  };
}

/** Operators' and public consultation routes, as a fastify plugin for `startHttp({ plugins })`. */
export function consultationRoutes(deps: ConsultationRoutesDeps): HttpPlugin {
  const clock = deps.clock ?? SYSTEM_CLOCK;
  const consultations = createConsultationsStore(deps.store);
  const resultsOf = closedResultsCache(consultations, clock);

  return async (app) => {
    await useRateLimits(app);
    const viewer = app.authorize('viewer');
    const operator = app.authorize('operator');

    app.post(
      '/api/consultations',
      {
        onRequest: operator,
        schema: {
          tags: [TAG],
          summary: 'Create a survey',
          description:
            'A survey with its window (opensAt inclusive, closesAt exclusive) and its questions in order. It is ' +
            'public from now on, and takes answers while open. It can be changed until it opens; after that, make ' +
            'a new one. Operator.',
          security: BEARER_SECURITY,
          body: surveySchema,
          response: { 201: SurveyDetailSchema, ...errorResponses(400, 401, 403) },
        },
      },
      async (request, reply) => {
        const nowMs = clock.nowMs();
        const created = await consultations.create(request.body, operatorName(request), nowMs);
        return reply.code(201).send(surveyDetail({ ...created, respondents: 0 }, nowMs));
      },
    );

    app.put(
      '/api/consultations/:id',
      {
        onRequest: operator,
        schema: {
          tags: [TAG],
          summary: 'Change a scheduled survey',
          description:
            'Replaces the whole definition of a survey that has not opened yet (409 ERR_CONSULTATION_CONFLICT once ' +
            'it has: answers already given must keep meaning what they meant). Operator.',
          security: BEARER_SECURITY,
          params: IdParams,
          body: surveySchema,
          response: { 200: SurveyDetailSchema, ...errorResponses(400, 401, 403, 404, 409) },
        },
      },
      async (request) => {
        const nowMs = clock.nowMs();
        const { id } = request.params;
        const changed = await consultations.replace(id, request.body, operatorName(request), nowMs);
        return surveyDetail({ ...changed, respondents: 0 }, nowMs);
      },
    );

    app.post(
      '/api/consultations/:id/close',
      {
        onRequest: operator,
        schema: {
          tags: [TAG],
          summary: 'Close a survey now, or cancel a scheduled one',
          description:
            'An open survey closes now: responses get 409 ERR_CONSULTATION_CLOSED from then on and its results ' +
            'become public, like any closed survey. A survey that has not opened yet is cancelled: it never opens, ' +
            'and only operators see it (phase cancelled). Who did it, when and the reason are kept (endedEarly). A ' +
            'survey already closed or cancelled: 409 ERR_CONSULTATION_ALREADY_CLOSED. Operator.',
          security: BEARER_SECURITY,
          params: IdParams,
          body: CloseBody,
          response: { 200: SurveyDetailSchema, ...errorResponses(400, 401, 403, 404, 409) },
        },
      },
      async (request, reply) => {
        const nowMs = clock.nowMs();
        const { id } = request.params;
        const reason = request.body?.reason || null;
        const result = await consultations.close(id, operatorName(request), reason, nowMs);
        if (result.outcome === 'already-closed') return refuse(reply, 409, result.error);
        request.log.info(
          { surveyId: id, by: operatorName(request) },
          result.outcome === 'closed' ? 'consultations: survey closed early' : 'consultations: survey cancelled',
        );
        return surveyDetail(result.survey, nowMs);
      },
    );

    app.get(
      '/api/consultations',
      {
        onRequest: viewer,
        schema: {
          tags: [TAG],
          summary: 'List surveys',
          description:
            'Surveys with their phase and respondent count: all of them (cancelled ones too) the latest to open ' +
            'first, or one phase (open ones soonest to close first, closed ones latest closed first, cancelled ones ' +
            'latest cancelled first). Viewer.',
          security: BEARER_SECURITY,
          querystring: z.strictObject({
            phase: Phase.optional().describe('Only surveys in this phase now'),
            limit: z.coerce.number().int().min(1).max(500).default(100).describe('At most this many, 1–500'),
          }),
          response: { 200: z.object({ surveys: z.array(SurveyListItem) }), ...errorResponses(400, 401, 403) },
        },
      },
      async (request) => {
        const nowMs = clock.nowMs();
        const list = await consultations.list({ nowMs, phase: request.query.phase, limit: request.query.limit });
        return {
          surveys: list.map((s) => {
            const { questions, ...rest } = surveyDetail(s, nowMs);
            return { ...rest, questionCount: questions.length };
          }),
        };
      },
    );

    app.get(
      '/api/consultations/:id',
      {
        onRequest: viewer,
        schema: {
          tags: [TAG],
          summary: 'A survey',
          description:
            'Its definition, phase and respondent count; endedEarly when an operator closed or cancelled it. Viewer.',
          security: BEARER_SECURITY,
          params: IdParams,
          response: { 200: SurveyDetailSchema, ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (request) => {
        const found = await consultations.get(request.params.id);
        if (!found) throw surveyNotFound(request.params.id);
        return surveyDetail(found, clock.nowMs());
      },
    );

    app.get(
      '/api/consultations/:id/results',
      {
        onRequest: viewer,
        schema: {
          tags: [TAG],
          summary: 'A survey’s results',
          description:
            'Respondents; per choice its count and percent of all respondents; per scale the mean, median and ' +
            'distribution; per free-text question how many answered (the texts: /free-texts, operators). Live ' +
            'while the survey is open. Viewer.',
          security: BEARER_SECURITY,
          params: IdParams,
          response: { 200: ResultsSchema, ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (request) => {
        const found = await resultsOf(request.params.id);
        if (!found) throw surveyNotFound(request.params.id);
        return {
          ...publicResults(found.survey, found.results, clock.nowMs()),
          duplicatesIgnored: found.results.duplicatesIgnored,
          invalidAnswersIgnored: found.results.invalidAnswersIgnored,
        };
      },
    );

    app.get(
      '/api/consultations/:id/results.csv',
      {
        onRequest: viewer,
        schema: {
          tags: [TAG],
          summary: 'A survey’s results as CSV',
          description:
            'One row per choice and per scale value (count, percent of respondents; mean and median on scale ' +
            'rows), one per free-text question (its count). UTF-8, comma-separated, CRLF. Viewer.',
          security: BEARER_SECURITY,
          params: IdParams,
          produces: ['text/csv'],
          response: { 200: z.string().describe('text/csv'), ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (request, reply) => {
        const found = await resultsOf(request.params.id);
        if (!found) throw surveyNotFound(request.params.id);
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="consultation-${found.survey.id}-results.csv"`)
          .send(resultsCsv(found.survey.survey, found.results));
      },
    );

    app.get(
      '/api/consultations/:id/free-texts',
      {
        onRequest: operator,
        schema: {
          tags: [TAG],
          summary: 'The free-text answers of a survey',
          description:
            'For people to read: per free-text question, how many answered and a page of the texts, oldest first. ' +
            'Never who wrote them. Operator (a viewer token gets 403).',
          security: BEARER_SECURITY,
          params: IdParams,
          querystring: z.strictObject({
            questionId: z.string().max(40).optional().describe('Only this question'),
            limit: z.coerce.number().int().min(1).max(1000).default(200).describe('Texts per question, 1–1000'),
            offset: z.coerce.number().int().min(0).default(0).describe('Texts skipped per question'),
          }),
          response: { 200: FreeTextsSchema, ...errorResponses(400, 401, 403, 404) },
        },
      },
      async (request, reply) => {
        const { id } = request.params;
        const found = await consultations.freeTexts(id, request.query);
        if (!found) throw surveyNotFound(id);
        reply.header('cache-control', 'private, no-store');
        return { surveyId: id, questions: found.questions.map((q) => ({ ...q, texts: [...q.texts] })) };
      },
    );

    app.get(
      '/api/public/consultations',
      {
        config: PUBLIC_RATE_LIMIT,
        schema: {
          tags: [TAG],
          summary: 'Open (or closed) surveys (public)',
          description:
            'What a citizen page shows: the surveys open now with their questions, soonest to close first; with ' +
            `phase=closed, the ${PUBLIC_CLOSED_LISTED} latest closed (their results: /results). Answering needs ` +
            'a citizen account (POST /api/me/consultations/:id/responses).',
          querystring: z.strictObject({
            phase: z.enum(['open', 'closed']).default('open').describe('open (default) or closed'),
          }),
          response: { 200: z.object({ surveys: z.array(PublicSurveySchema) }), ...errorResponses(400, 429) },
        },
      },
      async (request) => {
        const nowMs = clock.nowMs();
        const phase = request.query.phase;
        const list = await consultations.list({ nowMs, phase, limit: PUBLIC_CLOSED_LISTED });
        return { surveys: list.map((s) => publicSurvey(s, nowMs)) };
      },
    );

    app.get(
      '/api/public/consultations/:id/results',
      {
        config: PUBLIC_RATE_LIMIT,
        schema: {
          tags: [TAG],
          summary: 'A closed survey’s results (public)',
          description:
            'Counts and percentages once the survey has closed; free texts are counted, never shown. Before it ' +
            'closes, the same 404 as an unknown survey.',
          params: IdParams,
          response: { 200: PublicResultsSchema, ...errorResponses(400, 404, 429) },
        },
      },
      async (request) => {
        const { id } = request.params;
        const nowMs = clock.nowMs();
        const found = await resultsOf(id);
        if (!found || phaseOf(found.survey, nowMs) !== 'closed') {
          throw notPublished(id);
        }
        return publicResults(found.survey, found.results, nowMs);
      },
    );
  };
}

function notPublished(id: number): AppError {
  return new AppError(
    'ERR_CONSULTATION_NOT_FOUND',
    `survey: ${id} has no published results (results are public once a survey has closed)`,
  );
}

/** The operator token's name, what a survey records as its author. */
function operatorName(request: FastifyRequest): string {
  const name = request.operator?.name;
  if (!name) throw new Error('consultation routes: an operator route without authorize()');
  return name;
}

/** Answers a refused response: its status, the error and the issues of an invalid one. */
function refuse(reply: FastifyReply, status: 400 | 409, error: AppError, issues?: { path: string; message: string }[]) {
  return reply
    .code(status)
    .type('application/json; charset=utf-8')
    .send(errorBody(error.code, error.message, issues));
}

/**
 * The citizens' consultation routes under `/api/me/consultations`, for the residents' scope (`citizenPlugins` of
 * `residentRoutes`): its session hook guards every one, and POST needs its CSRF token.
 */
export function consultationCitizenRoutes(deps: ConsultationRoutesDeps): CitizenPlugin {
  const clock = deps.clock ?? SYSTEM_CLOCK;
  const metrics = deps.metrics ?? new Metrics();
  const consultations = createConsultationsStore(deps.store);
  const responses = metrics.counter(
    'consultations_responses_total',
    'Survey responses submitted, by outcome: accepted, already-answered, closed, invalid',
    ['outcome'],
  );

  return async (parent, auth) => {
    const app = parent.withTypeProvider<ZodTypeProvider>();
    app.addHook('onRequest', auth.session);

    app.get(
      '/api/me/consultations',
      {
        schema: {
          security: CITIZEN_SECURITY,
          tags: [CITIZEN_TAG],
          summary: 'The surveys open now, and whether I answered',
          description: 'Open surveys with their questions, soonest to close first. Resident session.',
          response: { 200: z.object({ surveys: z.array(CitizenSurveySchema) }), ...errorResponses(401) },
        },
      },
      async (request) => {
        const nowMs = clock.nowMs();
        const list = await consultations.openFor(auth.citizen(request).id, nowMs);
        return {
          surveys: list.map((s) => ({
            ...publicSurvey(s, nowMs),
            answered: s.answeredMs !== null,
            answeredAt: s.answeredMs === null ? null : iso(s.answeredMs),
          })),
        };
      },
    );

    app.post(
      '/api/me/consultations/:id/responses',
      {
        schema: {
          security: CITIZEN_SECURITY,
          tags: [CITIZEN_TAG],
          summary: 'Answer a survey (once)',
          description:
            'Answers by question id: a choice id, a list of choice ids, a number 1–5 or a text; null or absent ' +
            'for a question left out. One response per citizen, which cannot be changed: a second gets 409 ' +
            'ERR_CONSULTATION_ALREADY_ANSWERED. Outside the survey’s window, 409 ERR_CONSULTATION_CLOSED. Answers ' +
            'that do not fit, 400 ERR_CONSULTATION_RESPONSE_INVALID with one issue per question. Resident session ' +
            'and its x-csrf-token.',
          params: IdParams,
          body: responseInputSchema,
          response: { 201: ResponseAccepted, ...errorResponses(400, 401, 403, 404, 409) },
        },
      },
      async (request, reply) => {
        const { id } = request.params;
        const result = await consultations.submit(id, auth.citizen(request).id, request.body, clock.nowMs());
        responses.inc({ outcome: result.outcome });
        switch (result.outcome) {
          case 'accepted':
            return reply.code(201).send({ surveyId: id, submittedAt: iso(result.submittedMs) });
          case 'invalid':
            return refuse(
              reply,
              400,
              result.error,
              result.issues.map((issue) => ({ path: `body.answers.${issue.questionId}`, message: issue.message })),
            );
          case 'closed':
          case 'already-answered':
            return refuse(reply, 409, result.error);
        }
      },
    );
  };
}

/**
 * What account deletion does to consultations (`accountErasers` of `residentRoutes`): the citizen's responses stay
 * in the tally under a new anonymous id each (store.ts `anonymiseResponses`).
 */
export function consultationEraser(deps: { readonly metrics?: Metrics | undefined } = {}): AccountEraser {
  const metrics = deps.metrics ?? new Metrics();
  const anonymised = metrics.counter(
    'consultations_responses_anonymised_total',
    'Survey responses unlinked from a deleted account (kept in the tally)',
  );
  return async (tx, citizenId) => {
    const count = await anonymiseResponses(tx, citizenId);
    anonymised.inc(count);
  };
}
