-- Residents' delivery policy (alerting/resident-policy.ts): messages held until a time (quiet hours, the all-clear
-- once a condition has settled), suppressed on purpose (flapping, daily cap) or cancelled before they were due, and
-- what each resident was last told about each device and alert type.

ALTER TABLE alerting_deliveries DROP CONSTRAINT IF EXISTS alerting_deliveries_status_check;

ALTER TABLE alerting_deliveries ADD CONSTRAINT alerting_deliveries_status_check
  CHECK (status IN ('pending', 'sent', 'rejected', 'failed', 'scheduled', 'suppressed', 'cancelled'));

ALTER TABLE alerting_deliveries ADD COLUMN IF NOT EXISTS not_before timestamptz;

CREATE INDEX IF NOT EXISTS alerting_deliveries_scheduled_idx ON alerting_deliveries (not_before)
  WHERE status = 'scheduled';

CREATE INDEX IF NOT EXISTS alerting_deliveries_recipient_idx ON alerting_deliveries (channel, recipient, not_before);

CREATE TABLE IF NOT EXISTS alerting_resident_notices (
  channel text NOT NULL,
  recipient text NOT NULL,
  device_id text NOT NULL,
  type text NOT NULL,
  told_open boolean NOT NULL,
  alert_id text NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (channel, recipient, device_id, type)
);
