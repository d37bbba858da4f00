-- Messages services ask the alerting stage to send (notifications.v1: a report's status, a sign-in code, a receipt)
-- are queued in the delivery log with purpose `notice`.

ALTER TABLE alerting_deliveries DROP CONSTRAINT IF EXISTS alerting_deliveries_purpose_check;

ALTER TABLE alerting_deliveries ADD CONSTRAINT alerting_deliveries_purpose_check
  CHECK (purpose IN ('alert', 'escalation', 'group', 'digest', 'summary', 'confirmation', 'report', 'notice'));
