import { fileURLToPath } from 'node:url';
import { migrationsFromDir } from '../../core/store/migrate.ts';

/** Consultations (issue 8): surveys, one response per citizen, aggregated results. */
export {
  type ConsultationRoutesDeps,
  consultationCitizenRoutes,
  consultationEraser,
  consultationRoutes,
  PUBLIC_REQUESTS_PER_MINUTE_PER_IP,
  PublicResultsSchema,
  PublicSurveySchema,
  ResultsSchema,
  resultsCsv,
  SurveyDetailSchema,
} from './routes.ts';
export {
  anonymiseResponses,
  type CitizenSurvey,
  type CloseResult,
  type ConsultationPhase,
  type ConsultationsStore,
  createConsultationsStore,
  type EarlyEnd,
  type FreeTextPage,
  type FreeTexts,
  phaseOf,
  type StoredSurvey,
  type SubmitResult,
  type SurveyFilter,
  type SurveySummary,
} from './store.ts';
export * from './survey.ts';

/** The consultations' SQL migrations (surveys, responses), component `consultations`, for `openStore`. */
export const consultationsMigrations = migrationsFromDir(
  'consultations',
  fileURLToPath(new URL('./migrations', import.meta.url)),
);
