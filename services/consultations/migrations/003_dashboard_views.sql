-- What the Grafana dashboard "Consultations" reads, and nothing more: the surveys with their respondents, the
-- responses per day, and the choice counts (002). Never a citizen id, an answer or a free text. When the role
-- vigie_grafana exists (docker-compose's PostgreSQL creates it, infra/postgres/), it may read these views only.
CREATE OR REPLACE VIEW consultations_survey_list AS
SELECT s.id AS survey_id, s.definition ->> 'title' AS title, s.opens_at, s.closes_at,
       (SELECT count(*) FROM consultations_responses r WHERE r.survey_id = s.id)::int AS respondents
  FROM consultations_surveys s;

CREATE OR REPLACE VIEW consultations_daily_responses AS
SELECT survey_id, date_trunc('day', submitted_at) AS day, count(*)::int AS responses
  FROM consultations_responses
 GROUP BY survey_id, date_trunc('day', submitted_at);

DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'vigie_grafana') THEN GRANT SELECT ON consultations_survey_list, consultations_daily_responses, consultations_choice_counts TO vigie_grafana; END IF; END $$;
