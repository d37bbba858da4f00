-- Alerting: who hears about which device, the minimal lifecycle record of each alert, and the delivery log
-- whose primary key is the idempotency key (a replay or a restart never sends the same message twice).

CREATE TABLE IF NOT EXISTS alerting_subscriptions (
  id bigserial PRIMARY KEY,
  device_id text NOT NULL,
  channel text NOT NULL CHECK (channel IN ('sms', 'email')),
  address text NOT NULL,
  locale text NOT NULL DEFAULT 'fr' CHECK (locale IN ('fr', 'en')),
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (device_id, channel, address)
);

CREATE TABLE IF NOT EXISTS alerting_alerts (
  alert_id text PRIMARY KEY,
  device_id text NOT NULL,
  kind text NOT NULL,
  type text NOT NULL,
  state text NOT NULL CHECK (state IN ('open', 'update', 'resolved')),
  severity text NOT NULL,
  summary text NOT NULL,
  details jsonb NOT NULL DEFAULT '{}'::jsonb,
  opened_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  resolved_at timestamptz
);

CREATE INDEX IF NOT EXISTS alerting_alerts_device_idx ON alerting_alerts (device_id, type);

CREATE TABLE IF NOT EXISTS alerting_deliveries (
  idempotency_key text PRIMARY KEY,
  alert_id text NOT NULL,
  transition_state text NOT NULL CHECK (transition_state IN ('open', 'update', 'resolved')),
  channel text NOT NULL CHECK (channel IN ('sms', 'email')),
  recipient text NOT NULL,
  locale text NOT NULL CHECK (locale IN ('fr', 'en')),
  status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'rejected', 'failed')),
  attempts integer NOT NULL DEFAULT 0,
  provider_message_id text,
  last_error text,
  message jsonb NOT NULL,
  source jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS alerting_deliveries_pending_idx ON alerting_deliveries (status) WHERE status = 'pending';

CREATE INDEX IF NOT EXISTS alerting_deliveries_alert_idx ON alerting_deliveries (alert_id);
