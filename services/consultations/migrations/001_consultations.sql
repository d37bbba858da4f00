-- Consultations (services/consultations): surveys and their responses, one per citizen.
-- consultations_surveys.definition is the survey as the operator wrote it (survey.ts surveySchema, defaults applied);
-- opens_at and closes_at are its window, written with it, for SQL (the open ones, the closed ones). A survey is
-- public from its creation and changes only while scheduled (before opens_at): once open, operators make a new one.
-- consultations_responses: PRIMARY KEY (survey_id, citizen_id) is the one-response-per-citizen rule. citizen_id is
-- the residents' account id (positive, never reused; no foreign key: another service's table); when an account is
-- deleted its responses take a negative id from consultations_anonymous_seq, unique, linked to no one.

CREATE TABLE IF NOT EXISTS consultations_surveys (
  id bigserial PRIMARY KEY,
  definition jsonb NOT NULL,
  opens_at timestamptz NOT NULL,
  closes_at timestamptz NOT NULL,
  created_by text NOT NULL,
  created_at timestamptz NOT NULL,
  updated_by text NOT NULL,
  updated_at timestamptz NOT NULL,
  CHECK (closes_at > opens_at)
);

CREATE INDEX IF NOT EXISTS consultations_surveys_window_idx ON consultations_surveys (closes_at, opens_at);

CREATE TABLE IF NOT EXISTS consultations_responses (
  survey_id bigint NOT NULL REFERENCES consultations_surveys (id),
  citizen_id bigint NOT NULL CHECK (citizen_id <> 0),
  answers jsonb NOT NULL,
  submitted_at timestamptz NOT NULL,
  PRIMARY KEY (survey_id, citizen_id)
);

-- "Which surveys did I answer" and the eraser look a citizen up across surveys.
CREATE INDEX IF NOT EXISTS consultations_responses_citizen_idx ON consultations_responses (citizen_id);

CREATE SEQUENCE IF NOT EXISTS consultations_anonymous_seq;
