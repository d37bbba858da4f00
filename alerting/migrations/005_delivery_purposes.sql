-- Escalation, grouping, several instances (issue 6). The delivery log now carries every message Vigie sends, not
-- only alert transitions: a `purpose` (alert, escalation, a grouped message, a digest, a monthly summary, a
-- confirmation code, a failure report to operators); `transition_state` and `source` are set for alert transitions
-- only. A row being delivered is leased by one instance (`lease_owner` until `lease_until`): another instance leaves
-- it alone until the lease runs out (a crash), then reconciles with the provider before any resend. Operator messages
-- held to be grouped carry a `group_key` (state, type and district) and become `grouped` into one message.

ALTER TABLE alerting_deliveries ADD COLUMN IF NOT EXISTS purpose text NOT NULL DEFAULT 'alert';

ALTER TABLE alerting_deliveries DROP CONSTRAINT IF EXISTS alerting_deliveries_purpose_check;

ALTER TABLE alerting_deliveries ADD CONSTRAINT alerting_deliveries_purpose_check
  CHECK (purpose IN ('alert', 'escalation', 'group', 'digest', 'summary', 'confirmation', 'report'));

ALTER TABLE alerting_deliveries ALTER COLUMN transition_state DROP NOT NULL;

ALTER TABLE alerting_deliveries ALTER COLUMN source DROP NOT NULL;

ALTER TABLE alerting_deliveries DROP CONSTRAINT IF EXISTS alerting_deliveries_status_check;

ALTER TABLE alerting_deliveries ADD CONSTRAINT alerting_deliveries_status_check
  CHECK (status IN ('pending', 'sent', 'rejected', 'failed', 'scheduled', 'suppressed', 'cancelled', 'grouped'));

ALTER TABLE alerting_deliveries ADD COLUMN IF NOT EXISTS lease_owner text;

ALTER TABLE alerting_deliveries ADD COLUMN IF NOT EXISTS lease_until timestamptz;

ALTER TABLE alerting_deliveries ADD COLUMN IF NOT EXISTS group_key text;

CREATE INDEX IF NOT EXISTS alerting_deliveries_grouped_idx ON alerting_deliveries (group_key, not_before)
  WHERE status = 'scheduled' AND group_key IS NOT NULL;

-- Where each device is, from devices.v1 (compacted): the district that groups operator messages and that silences
-- and maintenance windows match.
CREATE TABLE IF NOT EXISTS alerting_devices (
  device_id text PRIMARY KEY,
  kind text NOT NULL,
  district text,
  active boolean NOT NULL,
  updated_at timestamptz NOT NULL
);

-- Escalation steps of each alert opened: due at `due_at` (wall clock) unless the alert is acknowledged or resolved
-- by then. A step is taken by one instance (UPDATE … WHERE status = 'scheduled').
CREATE TABLE IF NOT EXISTS alerting_escalations (
  alert_id text NOT NULL,
  step integer NOT NULL,
  due_at timestamptz NOT NULL,
  status text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'sent', 'cancelled')),
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (alert_id, step)
);

CREATE INDEX IF NOT EXISTS alerting_escalations_due_idx ON alerting_escalations (due_at) WHERE status = 'scheduled';
