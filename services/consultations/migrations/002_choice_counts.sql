-- The tally of every choice of every survey, for SQL readers (the Grafana dashboard "Consultations"): one row per
-- survey, question and choice — single and multiple choice: each offered choice; scale: 1 to 5 — with how many
-- responses picked it, zeros included. The same counts as survey.ts aggregate(), which a test checks. Free texts are
-- never in it. Recomputed on each read (≈ 1 ms for 600 responses).
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
UNION ALL
SELECT s.id, s.definition ->> 'title', q.position, q.question ->> 'id', q.question ->> 'text', 'scale',
       v, v::text, v::text,
       (SELECT count(*) FROM consultations_responses r
         WHERE r.survey_id = s.id AND r.answers -> (q.question ->> 'id') = to_jsonb(v))::int
  FROM consultations_surveys s
  CROSS JOIN LATERAL jsonb_array_elements(s.definition -> 'questions') WITH ORDINALITY AS q(question, position)
  CROSS JOIN generate_series(1, 5) AS v
 WHERE q.question ->> 'type' = 'scale';
