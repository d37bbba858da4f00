-- The alert lifecycle (issue 6): who acknowledged and who resolved an alert, and its history. `state` stays the state
-- of the detector's last transition (open, update, resolved); the lifecycle state operators see is derived:
-- resolved when resolved_at is set (by the detector or by hand), acknowledged when acknowledged_at is set, else open.

ALTER TABLE alerting_alerts ADD COLUMN IF NOT EXISTS acknowledged_at timestamptz;

ALTER TABLE alerting_alerts ADD COLUMN IF NOT EXISTS acknowledged_by text;

ALTER TABLE alerting_alerts ADD COLUMN IF NOT EXISTS resolved_by text;

-- The list's order and its keyset paging (newest first), and the open/acknowledged views.
CREATE INDEX IF NOT EXISTS alerting_alerts_opened_idx ON alerting_alerts (opened_at DESC, alert_id DESC);

CREATE INDEX IF NOT EXISTS alerting_alerts_unresolved_idx ON alerting_alerts (opened_at DESC, alert_id DESC)
  WHERE resolved_at IS NULL;

-- One row per event of an alert, in the order recorded (id). Detector events have `actor` NULL and a `dedupe_key`
-- (alert id, state, event time), so a redelivered or replayed transition adds nothing; operator events name the
-- operator (the token's name) and have no dedupe key.
CREATE TABLE IF NOT EXISTS alerting_alert_events (
  id bigserial PRIMARY KEY,
  alert_id text NOT NULL,
  event text NOT NULL CHECK (event IN ('opened', 'updated', 'acknowledged', 'resolved', 'comment')),
  actor text,
  at timestamptz NOT NULL,
  text text,
  dedupe_key text UNIQUE,
  recorded_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS alerting_alert_events_alert_idx ON alerting_alert_events (alert_id, id);
