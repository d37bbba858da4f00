-- An operator ends a survey early (POST /api/consultations/:id/close): an open survey is closed now — closes_at
-- becomes that time (the definition keeps the planned closesAt) and closed_early_at records it; a scheduled one is
-- cancelled — cancelled_at, it never opens, its window stays as planned. ended_by is the operator token's name,
-- end_reason what they gave (optional). A survey ends early once at most: closed or cancelled, never both.
ALTER TABLE consultations_surveys
  ADD COLUMN IF NOT EXISTS closed_early_at timestamptz,
  ADD COLUMN IF NOT EXISTS cancelled_at timestamptz,
  ADD COLUMN IF NOT EXISTS ended_by text,
  ADD COLUMN IF NOT EXISTS end_reason text;

ALTER TABLE consultations_surveys
  ADD CONSTRAINT consultations_surveys_ended_once CHECK (closed_early_at IS NULL OR cancelled_at IS NULL),
  ADD CONSTRAINT consultations_surveys_ended_by CHECK (
    (ended_by IS NULL) = (closed_early_at IS NULL AND cancelled_at IS NULL)
    AND (end_reason IS NULL OR ended_by IS NOT NULL)
  );

-- Closed at the very millisecond it opened, a survey's window is empty: closes_at = opens_at, only when closed early.
-- (001's unnamed CHECK (closes_at > opens_at) is named consultations_surveys_check by PostgreSQL.)
ALTER TABLE consultations_surveys DROP CONSTRAINT IF EXISTS consultations_surveys_check;

ALTER TABLE consultations_surveys
  ADD CONSTRAINT consultations_surveys_window CHECK (
    closes_at > opens_at OR (closes_at = opens_at AND closed_early_at IS NOT NULL)
  );

-- The Grafana views (002, 003) leave cancelled surveys out: they never opened, nobody answered them. Same columns,
-- so the grants to vigie_grafana stay.
CREATE OR REPLACE VIEW consultations_survey_list AS
SELECT s.id AS survey_id, s.definition ->> 'title' AS title, s.opens_at, s.closes_at,
       (SELECT count(*) FROM consultations_responses r WHERE r.survey_id = s.id)::int AS respondents
  FROM consultations_surveys s
 WHERE s.cancelled_at IS NULL;

CREATE OR REPLACE VIEW consultations_choice_counts AS
SELECT s.id AS survey_id,
       s.definition ->> 'title' AS survey,
       q.position AS question_position,
       q.question ->> 'id' AS question_id,
       q.question ->> 'text' AS question,
       q.question ->> 'type' AS question_type,
       c.position AS choice_position,
       c.choice ->> 'id' AS choice_id,
       c.choice ->> 'label' AS choice,
       (SELECT count(*) FROM consultations_responses r
         WHERE r.survey_id = s.id
           AND (r.answers -> (q.question ->> 'id') = to_jsonb(c.choice ->> 'id')
                OR (jsonb_typeof(r.answers -> (q.question ->> 'id')) = 'array'
                    AND r.answers -> (q.question ->> 'id') ? (c.choice ->> 'id'))))::int AS responses
  FROM consultations_surveys s
  CROSS JOIN LATERAL jsonb_array_elements(s.definition -> 'questions') WITH ORDINALITY AS q(question, position)
  CROSS JOIN LATERAL jsonb_array_elements(q.question -> 'choices') WITH ORDINALITY AS c(choice, position)
 WHERE q.question ->> 'type' IN ('single-choice', 'multiple-choice')
   AND s.cancelled_at IS NULL
UNION ALL
SELECT s.id, s.definition ->> 'title', q.position, q.question ->> 'id', q.question ->> 'text', 'scale',
       v, v::text, v::text,
       (SELECT count(*) FROM consultations_responses r
         WHERE r.survey_id = s.id AND r.answers -> (q.question ->> 'id') = to_jsonb(v))::int
  FROM consultations_surveys s
  CROSS JOIN LATERAL jsonb_array_elements(s.definition -> 'questions') WITH ORDINALITY AS q(question, position)
  CROSS JOIN generate_series(1, 5) AS v
 WHERE q.question ->> 'type' = 'scale'
   AND s.cancelled_at IS NULL;
