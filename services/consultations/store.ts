import { AppError } from '../../core/errors.ts';
import type { SqlExecutor, SqlStore } from '../../core/store/store.ts';
import {
  type Answers,
  aggregate,
  type ResponseInput,
  type ResponseIssue,
  responseInvalidError,
  type Survey,
  type SurveyPhase,
  type SurveyResults,
  surveyPhase,
  validateResponse,
} from './survey.ts';

/**
 * The consultations store (migrations component `consultations`): surveys and their responses. Times are epoch ms in
 * and out; the caller passes "now" (its clock), so the store reads no clock.
 *
 * One response per citizen: the primary key (survey_id, citizen_id) and `INSERT … ON CONFLICT DO NOTHING` — a second
 * submission inserts nothing and is refused, never replaces the first, so a result never moves under a citizen's
 * feet, and two submissions racing each other cannot both land. A survey changes only while scheduled: a response is
 * taken only while open, under a share lock on the survey's row, so an edit and a response never cross.
 *
 * An operator may end a survey early (`close`, migration 004): an open one closes now (its `closes_at` moves to then,
 * the definition keeps the planned `closesAt`), a scheduled one is cancelled (it never opens, and is shown to no one
 * but operators). Under the survey's row lock, after any response in flight: no response lands after the close.
 *
 * Results read every response of the survey in one query and tally them in process (survey.ts `aggregate`): the
 * cycling-routes survey's 600 responses are a few hundred kilobytes, a few milliseconds. Past some 100,000 responses
 * the tally would move to SQL (GROUP BY over `jsonb_array_elements_text`) or be kept once the survey closes.
 */

/** A survey as stored. */
export interface StoredSurvey {
  readonly id: number;
  /** The definition, as the operator wrote it (defaults applied). */
  readonly survey: Survey;
  /** The operator token's name that created it. */
  readonly createdBy: string;
  readonly createdMs: number;
  /** Who last changed it (while it was scheduled), and when. */
  readonly updatedBy: string;
  readonly updatedMs: number;
  /** An operator ended it early (closed while open, or cancelled before it opened), or null: it runs its window. */
  readonly endedEarly: EarlyEnd | null;
}

/**
 * How an operator ended a survey early. `closed`: it was open and closed at `atMs` — the stored survey's `closesAt`
 * is then that time, `plannedClosesAt` the one it was created with. `cancelled`: it had not opened and never will.
 */
export interface EarlyEnd {
  readonly action: 'closed' | 'cancelled';
  /** The operator token's name. */
  readonly by: string;
  readonly atMs: number;
  readonly reason: string | null;
  /** The `closesAt` of the definition, as planned. */
  readonly plannedClosesAt: string;
}

/** Where a stored survey stands: its window's phase ({@link surveyPhase}), or `cancelled` (it never opens). */
export type ConsultationPhase = SurveyPhase | 'cancelled';

/** A stored survey's phase at `nowMs`: `cancelled` once cancelled, else from its window (closed early: shorter). */
export function phaseOf(s: Pick<StoredSurvey, 'survey' | 'endedEarly'>, nowMs: number): ConsultationPhase {
  return s.endedEarly?.action === 'cancelled' ? 'cancelled' : surveyPhase(s.survey, nowMs);
}

/** A survey with how many citizens answered it. */
export interface SurveySummary extends StoredSurvey {
  readonly respondents: number;
}

/** An open survey as a signed-in citizen sees it: whether they answered, and when (null: not yet). */
export interface CitizenSurvey extends StoredSurvey {
  readonly answeredMs: number | null;
}

/** Filters of {@link ConsultationsStore.list}; the phase is as of `nowMs`. */
export interface SurveyFilter {
  readonly nowMs: number;
  readonly phase?: ConsultationPhase | undefined;
  /** 1–500 (default 100). */
  readonly limit?: number | undefined;
}

/** What a submission came to: accepted, or why not (with the error to answer). */
export type SubmitResult =
  | { readonly outcome: 'accepted'; readonly submittedMs: number }
  | { readonly outcome: 'already-answered'; readonly error: AppError }
  | { readonly outcome: 'closed'; readonly phase: 'scheduled' | 'closed' | 'cancelled'; readonly error: AppError }
  | { readonly outcome: 'invalid'; readonly issues: readonly ResponseIssue[]; readonly error: AppError };

/**
 * What an operator's early end came to: an open survey `closed` now, a scheduled one `cancelled`, or refused — it had
 * closed or been cancelled already (`ERR_CONSULTATION_ALREADY_CLOSED`, HTTP 409), nothing changed.
 */
export type CloseResult =
  | { readonly outcome: 'closed' | 'cancelled'; readonly survey: SurveySummary }
  | { readonly outcome: 'already-closed'; readonly survey: SurveySummary; readonly error: AppError };

/** The free-text answers of a survey's free-text questions, a page each (oldest first), with no citizen id. */
export interface FreeTexts {
  readonly questions: readonly {
    readonly questionId: string;
    readonly text: string;
    /** How many respondents answered it (all pages). */
    readonly answered: number;
    readonly texts: readonly string[];
  }[];
}

/** Paging of {@link ConsultationsStore.freeTexts}. */
export interface FreeTextPage {
  /** Only this question (default: every free-text question). */
  readonly questionId?: string | undefined;
  /** Texts per question, 1–1000. */
  readonly limit: number;
  readonly offset: number;
}

/** The consultations store. */
export interface ConsultationsStore {
  /** Stores a new survey. Throws ERR_CONSULTATION_SURVEY_INVALID when it closes before `nowMs`. */
  create(survey: Survey, by: string, nowMs: number): Promise<StoredSurvey>;
  /**
   * Replaces a survey's definition while it is scheduled. Throws ERR_CONSULTATION_NOT_FOUND, ERR_CONSULTATION_CONFLICT
   * once it has opened or was cancelled (a new survey instead), ERR_CONSULTATION_SURVEY_INVALID when the new one
   * closes before `nowMs`.
   */
  replace(id: number, survey: Survey, by: string, nowMs: number): Promise<StoredSurvey>;
  /**
   * Ends a survey early, at `nowMs`, for operator `by` with an optional reason: closes it when open (responses are
   * refused from then on, its results become public), cancels it when scheduled (it never opens). Throws
   * ERR_CONSULTATION_NOT_FOUND for an unknown survey.
   */
  close(id: number, by: string, reason: string | null, nowMs: number): Promise<CloseResult>;
  /** A survey and its respondent count, or undefined. */
  get(id: number): Promise<SurveySummary | undefined>;
  /**
   * Surveys (of a phase, cancelled ones included when no phase is asked), the latest to open first; open ones soonest
   * to close first, closed ones latest closed first, cancelled ones latest cancelled first.
   */
  list(filter: SurveyFilter): Promise<SurveySummary[]>;
  /** The surveys open at `nowMs` (never a cancelled one), soonest to close first, and whether `citizenId` answered. */
  openFor(citizenId: number, nowMs: number): Promise<CitizenSurvey[]>;
  /**
   * Records a citizen's response, once: refused when the survey is not open at `nowMs` (closed), when the answers do
   * not fit (invalid, every issue), when the citizen answered already (the first is kept). Throws
   * ERR_CONSULTATION_NOT_FOUND for an unknown survey.
   */
  submit(surveyId: number, citizenId: number, input: ResponseInput, nowMs: number): Promise<SubmitResult>;
  /** A survey's results (every response read, tallied by `aggregate`), or undefined for an unknown survey. */
  results(id: number): Promise<{ readonly survey: SurveySummary; readonly results: SurveyResults } | undefined>;
  /** The free-text answers of a survey, or undefined for an unknown survey. Throws ERR_CONSULTATION_NOT_FOUND for a question that is not one of its free-text questions. */
  freeTexts(id: number, page: FreeTextPage): Promise<FreeTexts | undefined>;
  /** Unlinks a deleted account's responses (see {@link anonymiseResponses}); returns how many. */
  anonymise(citizenId: number): Promise<number>;
}

interface SurveyRow {
  id: number;
  definition: Survey;
  created_by: string;
  created_at: Date | string;
  updated_by: string;
  updated_at: Date | string;
  closes_at: Date | string;
  closed_early_at: Date | string | null;
  cancelled_at: Date | string | null;
  ended_by: string | null;
  end_reason: string | null;
  respondents?: number | string;
  answered_at?: Date | string | null;
}

const COLUMNS =
  'id, definition, created_by, created_at, updated_by, updated_at, ' +
  'closes_at, closed_early_at, cancelled_at, ended_by, end_reason';
/** {@link COLUMNS} of `s`, for queries that join. */
const S_COLUMNS = COLUMNS.split(', ')
  .map((c) => `s.${c}`)
  .join(', ');
const RESPONDENTS = '(SELECT count(*) FROM consultations_responses r WHERE r.survey_id = s.id) AS respondents';
/** The phases of the window as of $1 (never a cancelled survey); cancelled is {@link CANCELLED_WHERE}, at any time. */
const PHASE_WHERE: Record<SurveyPhase, string> = {
  scheduled: 's.cancelled_at IS NULL AND s.opens_at > $1',
  open: 's.cancelled_at IS NULL AND s.opens_at <= $1 AND s.closes_at > $1',
  closed: 's.cancelled_at IS NULL AND s.closes_at <= $1',
};
const CANCELLED_WHERE = 's.cancelled_at IS NOT NULL';
const PHASE_ORDER: Record<ConsultationPhase | 'any', string> = {
  scheduled: 's.opens_at, s.id',
  open: 's.closes_at, s.id',
  closed: 's.closes_at DESC, s.id DESC',
  cancelled: 's.cancelled_at DESC, s.id DESC',
  any: 's.opens_at DESC, s.id DESC',
};

const iso = (ms: number) => new Date(ms).toISOString();
const msOf = (v: Date | string) => (v instanceof Date ? v.getTime() : Date.parse(v));

function earlyEnd(row: SurveyRow): EarlyEnd | null {
  const at = row.closed_early_at ?? row.cancelled_at;
  if (at === null || row.ended_by === null) return null;
  return {
    action: row.closed_early_at !== null ? 'closed' : 'cancelled',
    by: row.ended_by,
    atMs: msOf(at),
    reason: row.end_reason,
    plannedClosesAt: row.definition.closesAt,
  };
}

function toStored(row: SurveyRow): StoredSurvey {
  const endedEarly = earlyEnd(row);
  return {
    id: Number(row.id),
    // Closed early: the window it had, up to when it closed (closes_at), for the phase and whoever reads it.
    survey:
      endedEarly?.action === 'closed' ? { ...row.definition, closesAt: iso(msOf(row.closes_at)) } : row.definition,
    createdBy: row.created_by,
    createdMs: msOf(row.created_at),
    updatedBy: row.updated_by,
    updatedMs: msOf(row.updated_at),
    endedEarly,
  };
}

function toSummary(row: SurveyRow): SurveySummary {
  return { ...toStored(row), respondents: Number(row.respondents ?? 0) };
}

/** Why a survey that has ended is ended: closed (early or not), or cancelled — for error messages. */
function endedText(s: StoredSurvey): string {
  const end = s.endedEarly;
  if (end?.action === 'cancelled') return `was cancelled at ${iso(end.atMs)}`;
  return `closed at ${s.survey.closesAt}${end ? ' (closed early)' : ''}`;
}

/** ERR_CONSULTATION_NOT_FOUND (404) for survey `id`. */
export function surveyNotFound(id: number): AppError {
  return new AppError(
    'ERR_CONSULTATION_NOT_FOUND',
    `survey: ${id} (no such survey; GET /api/consultations lists them)`,
  );
}

function assertStillOpenable(survey: Survey, nowMs: number): void {
  if (Date.parse(survey.closesAt) <= nowMs) {
    throw new AppError(
      'ERR_CONSULTATION_SURVEY_INVALID',
      `closesAt: ${survey.closesAt} is past (a survey must close after now, ${iso(nowMs)})`,
    );
  }
}

function assertCitizenId(citizenId: number): void {
  // Account ids are positive (residents_accounts.id, bigserial); negative ones are anonymised responses.
  if (!Number.isSafeInteger(citizenId) || citizenId <= 0) {
    throw new RangeError(`citizenId: ${citizenId} (a residents account id, a positive integer)`);
  }
}

/**
 * On account deletion, in its transaction: the citizen's responses take a new negative id each, from a sequence —
 * unique, so the primary key (and one-response-per-citizen for everyone else) holds; linked to no one, so the tally
 * stays and nothing leads back to the person. Their submission time is cut to the day, so it cannot be matched with a
 * request log. Returns how many responses were unlinked.
 */
export async function anonymiseResponses(tx: SqlExecutor, citizenId: number): Promise<number> {
  assertCitizenId(citizenId);
  const res = await tx.query(
    `UPDATE consultations_responses
     SET citizen_id = -nextval('consultations_anonymous_seq'), submitted_at = date_trunc('day', submitted_at)
     WHERE citizen_id = $1`,
    [citizenId],
  );
  return res.rowCount;
}

/** Creates the consultations store on `store` (migrations: `consultationsMigrations`). */
export function createConsultationsStore(store: SqlStore): ConsultationsStore {
  async function getSummary(db: SqlExecutor, id: number): Promise<SurveySummary | undefined> {
    const res = await db.query<SurveyRow>(
      `SELECT ${COLUMNS}, ${RESPONDENTS} FROM consultations_surveys s WHERE id = $1`,
      [id],
    );
    const row = res.rows[0];
    return row ? toSummary(row) : undefined;
  }

  return {
    async create(survey, by, nowMs) {
      assertStillOpenable(survey, nowMs);
      const res = await store.query<SurveyRow>(
        `INSERT INTO consultations_surveys (definition, opens_at, closes_at, created_by, created_at, updated_by, updated_at)
         VALUES ($1, $2, $3, $4, $5, $4, $5) RETURNING ${COLUMNS}`,
        [JSON.stringify(survey), iso(Date.parse(survey.opensAt)), iso(Date.parse(survey.closesAt)), by, iso(nowMs)],
      );
      return toStored(res.rows[0] as SurveyRow);
    },

    async replace(id, survey, by, nowMs) {
      assertStillOpenable(survey, nowMs);
      return store.transaction(async (tx) => {
        // The row lock waits for a response in flight (FOR SHARE in submit), then the window is checked on the
        // latest row: a survey that opened meanwhile is not changed.
        const res = await tx.query<SurveyRow>(
          `UPDATE consultations_surveys
           SET definition = $2, opens_at = $3, closes_at = $4, updated_by = $5, updated_at = $6
           WHERE id = $1 AND opens_at > $6 AND cancelled_at IS NULL RETURNING ${COLUMNS}`,
          [
            id,
            JSON.stringify(survey),
            iso(Date.parse(survey.opensAt)),
            iso(Date.parse(survey.closesAt)),
            by,
            iso(nowMs),
          ],
        );
        const row = res.rows[0];
        if (row) return toStored(row);
        const current = await getSummary(tx, id);
        if (!current) throw surveyNotFound(id);
        if (current.endedEarly?.action === 'cancelled') {
          throw new AppError(
            'ERR_CONSULTATION_CONFLICT',
            `survey: ${id} ${endedText(current)} (a cancelled survey does not change: create a new one)`,
          );
        }
        throw new AppError(
          'ERR_CONSULTATION_CONFLICT',
          `survey: ${id} opened at ${current.survey.opensAt} (a survey cannot change once open: create a new one)`,
        );
      });
    },

    async close(id, by, reason, nowMs) {
      return store.transaction(async (tx): Promise<CloseResult> => {
        // The row lock waits for responses in flight (FOR SHARE in submit); a second close waits for the first, then
        // reads the row it left.
        const locked = await tx.query<SurveyRow>(
          `SELECT ${COLUMNS} FROM consultations_surveys WHERE id = $1 FOR UPDATE`,
          [id],
        );
        const row = locked.rows[0];
        if (!row) throw surveyNotFound(id);
        const current = toStored(row);
        const phase = phaseOf(current, nowMs);
        if (phase === 'closed' || phase === 'cancelled') {
          const survey = (await getSummary(tx, id)) as SurveySummary;
          return {
            outcome: 'already-closed',
            survey,
            error: new AppError(
              'ERR_CONSULTATION_ALREADY_CLOSED',
              `survey: ${id} ${endedText(current)} (only an open survey can be closed, a scheduled one cancelled)`,
            ),
          };
        }
        if (phase === 'scheduled') {
          await tx.query(
            'UPDATE consultations_surveys SET cancelled_at = $2, ended_by = $3, end_reason = $4 WHERE id = $1',
            [id, iso(nowMs), by, reason],
          );
          return { outcome: 'cancelled', survey: (await getSummary(tx, id)) as SurveySummary };
        }
        // Open: it closes now — or just after the latest response, should one have been stamped a little later than
        // this request's clock — so every response stays inside the window.
        const latest = await tx.query<{ at: Date | string | null }>(
          'SELECT max(submitted_at) AS at FROM consultations_responses WHERE survey_id = $1',
          [id],
        );
        const latestMs = latest.rows[0]?.at ? msOf(latest.rows[0].at) : Number.NEGATIVE_INFINITY;
        const closesMs = Math.max(nowMs, latestMs + 1);
        await tx.query(
          `UPDATE consultations_surveys SET closes_at = $2, closed_early_at = $3, ended_by = $4, end_reason = $5
           WHERE id = $1`,
          [id, iso(closesMs), iso(nowMs), by, reason],
        );
        return { outcome: 'closed', survey: (await getSummary(tx, id)) as SurveySummary };
      });
    },

    get: (id) => getSummary(store, id),

    async list(filter) {
      const limit = Math.min(Math.max(filter.limit ?? 100, 1), 500);
      const { phase } = filter;
      const res =
        phase === undefined || phase === 'cancelled'
          ? await store.query<SurveyRow>(
              `SELECT ${COLUMNS}, ${RESPONDENTS} FROM consultations_surveys s
               ${phase ? `WHERE ${CANCELLED_WHERE}` : ''} ORDER BY ${PHASE_ORDER[phase ?? 'any']} LIMIT $1`,
              [limit],
            )
          : await store.query<SurveyRow>(
              `SELECT ${COLUMNS}, ${RESPONDENTS} FROM consultations_surveys s WHERE ${PHASE_WHERE[phase]}
               ORDER BY ${PHASE_ORDER[phase]} LIMIT $2`,
              [iso(filter.nowMs), limit],
            );
      return res.rows.map(toSummary);
    },

    async openFor(citizenId, nowMs) {
      assertCitizenId(citizenId);
      const res = await store.query<SurveyRow>(
        `SELECT ${S_COLUMNS}, r.submitted_at AS answered_at
         FROM consultations_surveys s
         LEFT JOIN consultations_responses r ON r.survey_id = s.id AND r.citizen_id = $2
         WHERE ${PHASE_WHERE.open} ORDER BY ${PHASE_ORDER.open}`,
        [iso(nowMs), citizenId],
      );
      return res.rows.map((row) => ({
        ...toStored(row),
        answeredMs: row.answered_at ? msOf(row.answered_at) : null,
      }));
    },

    async submit(surveyId, citizenId, input, nowMs) {
      assertCitizenId(citizenId);
      return store.transaction(async (tx): Promise<SubmitResult> => {
        const res = await tx.query<SurveyRow>(`SELECT ${COLUMNS} FROM consultations_surveys WHERE id = $1 FOR SHARE`, [
          surveyId,
        ]);
        const row = res.rows[0];
        if (!row) throw surveyNotFound(surveyId);
        const stored = toStored(row);
        const { survey } = stored;
        const phase = phaseOf(stored, nowMs);
        if (phase !== 'open') {
          const window = `answers are taken from ${survey.opensAt} until ${survey.closesAt}`;
          const why =
            phase === 'scheduled'
              ? `is not open yet (${window})`
              : phase === 'cancelled'
                ? 'was cancelled (it never opens)'
                : `is closed (${stored.endedEarly ? 'closed early; ' : ''}${window})`;
          return {
            outcome: 'closed',
            phase,
            error: new AppError('ERR_CONSULTATION_CLOSED', `survey: ${surveyId} ${why}`),
          };
        }
        const check = validateResponse(survey, input);
        if (!check.ok) return { outcome: 'invalid', issues: check.issues, error: responseInvalidError(check.issues) };
        const answers: Answers = check.answers;
        const inserted = await tx.query(
          `INSERT INTO consultations_responses (survey_id, citizen_id, answers, submitted_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (survey_id, citizen_id) DO NOTHING`,
          [surveyId, citizenId, JSON.stringify(answers), iso(nowMs)],
        );
        if (inserted.rowCount === 0) {
          return {
            outcome: 'already-answered',
            error: new AppError(
              'ERR_CONSULTATION_ALREADY_ANSWERED',
              `survey: ${surveyId} already answered from this account (one response per citizen, kept as first sent)`,
            ),
          };
        }
        return { outcome: 'accepted', submittedMs: nowMs };
      });
    },

    async results(id) {
      const survey = await getSummary(store, id);
      if (!survey) return undefined;
      // Every response in one query (see the header: fine at this size); the order makes `aggregate` deterministic.
      const res = await store.query<{ citizen_id: number | string; answers: Answers }>(
        `SELECT citizen_id, answers FROM consultations_responses WHERE survey_id = $1 ORDER BY submitted_at, citizen_id`,
        [id],
      );
      const results = aggregate(
        survey.survey,
        res.rows.map((row) => ({ citizenId: String(row.citizen_id), answers: row.answers })),
      );
      return { survey: { ...survey, respondents: results.respondents }, results };
    },

    async freeTexts(id, page) {
      const survey = await getSummary(store, id);
      if (!survey) return undefined;
      const questions = survey.survey.questions.filter(
        (q) => q.type === 'free-text' && (page.questionId === undefined || q.id === page.questionId),
      );
      if (page.questionId !== undefined && questions.length === 0) {
        throw new AppError(
          'ERR_CONSULTATION_NOT_FOUND',
          `question: ${page.questionId} (not a free-text question of survey ${id})`,
        );
      }
      const out: FreeTexts['questions'][number][] = [];
      for (const question of questions) {
        const count = await store.query<{ n: number | string }>(
          `SELECT count(*) AS n FROM consultations_responses WHERE survey_id = $1 AND answers->>$2::text IS NOT NULL`,
          [id, question.id],
        );
        const texts = await store.query<{ text: string }>(
          `SELECT answers->>$2::text AS text FROM consultations_responses WHERE survey_id = $1 AND answers->>$2::text IS NOT NULL
           ORDER BY submitted_at, citizen_id LIMIT $3 OFFSET $4`,
          [id, question.id, page.limit, page.offset],
        );
        out.push({
          questionId: question.id,
          text: question.text,
          answered: Number(count.rows[0]?.n ?? 0),
          texts: texts.rows.map((row) => row.text),
        });
      }
      return { questions: out };
    },

    anonymise: (citizenId) => store.transaction((tx) => anonymiseResponses(tx, citizenId)),
  };
}
