-- Residents' consent (issue 6): double opt-in, SMS STOP/START per number, the consent log, unsubscribe links and
-- Twilio delivery-status callbacks.

-- A subscription is `pending` until its confirmation code comes back, `confirmed` once it does (or at once when an
-- operator holds the resident's consent on paper), `unsubscribed` after an unsubscribe link. Rows made before this
-- migration were made by operators (`vigie subscribe`, the demo): they stay confirmed; new rows start pending.
ALTER TABLE alerting_subscriptions ADD COLUMN IF NOT EXISTS status text NOT NULL DEFAULT 'confirmed'
  CHECK (status IN ('pending', 'confirmed', 'unsubscribed'));

ALTER TABLE alerting_subscriptions ALTER COLUMN status SET DEFAULT 'pending';

-- sha256 of `<address>:<code>`; the code itself is never stored.
ALTER TABLE alerting_subscriptions ADD COLUMN IF NOT EXISTS confirm_code_hash text;

ALTER TABLE alerting_subscriptions ADD COLUMN IF NOT EXISTS confirm_expires_at timestamptz;

ALTER TABLE alerting_subscriptions ADD COLUMN IF NOT EXISTS confirm_attempts integer NOT NULL DEFAULT 0;

ALTER TABLE alerting_subscriptions ADD COLUMN IF NOT EXISTS confirmed_at timestamptz;

CREATE INDEX IF NOT EXISTS alerting_subscriptions_address_idx ON alerting_subscriptions (channel, address);

-- Numbers that sent STOP (or ARRET, …): no SMS at all goes to them until they send START. One row per number, so
-- STOP holds for every subscription of the number, present and future, and for messages already queued.
CREATE TABLE IF NOT EXISTS alerting_sms_optouts (
  address text PRIMARY KEY,
  stopped_at timestamptz NOT NULL,
  source text NOT NULL,
  message_sid text
);

-- Every consent change, kept as the record of who agreed to what, when and how (append-only).
CREATE TABLE IF NOT EXISTS alerting_consent_log (
  id bigserial PRIMARY KEY,
  channel text NOT NULL CHECK (channel IN ('sms', 'email')),
  address text NOT NULL,
  action text NOT NULL CHECK (action IN ('requested', 'confirmed', 'stopped', 'started', 'unsubscribed', 'removed')),
  source text NOT NULL CHECK (source IN ('sms', 'web', 'operator', 'cli')),
  subscription_id bigint,
  device_id text,
  message_sid text,
  at timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS alerting_consent_log_address_idx ON alerting_consent_log (address, id);

-- The provider's latest delivery status (Twilio's MessageStatus), from the status callbacks.
ALTER TABLE alerting_deliveries ADD COLUMN IF NOT EXISTS provider_status text;

ALTER TABLE alerting_deliveries ADD COLUMN IF NOT EXISTS provider_status_at timestamptz;

CREATE INDEX IF NOT EXISTS alerting_deliveries_provider_idx ON alerting_deliveries (provider_message_id)
  WHERE provider_message_id IS NOT NULL;

-- Every status callback, in arrival order. Keyed by the provider's message id, which joins it to its delivery row
-- (alerting_deliveries.provider_message_id) — a callback can arrive before the router has stored that id, so there
-- is no foreign key. A status repeated for a message (a retried webhook) is kept once.
CREATE TABLE IF NOT EXISTS alerting_delivery_status (
  id bigserial PRIMARY KEY,
  provider_message_id text NOT NULL,
  status text NOT NULL,
  error_code text,
  received_at timestamptz NOT NULL,
  UNIQUE (provider_message_id, status)
);

-- Settings the alerting stage generates once and keeps (the unsubscribe links' secret when none is configured).
CREATE TABLE IF NOT EXISTS alerting_settings (
  key text PRIMARY KEY,
  value text NOT NULL
);
