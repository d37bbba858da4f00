/** Consultations (issue 8): surveys, validated responses, aggregated results. */
export * from './survey.ts';
