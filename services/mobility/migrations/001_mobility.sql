-- The mobility account (services/mobility, issue 8 part 2): accounts, their usage events (one row per usageId, the
-- idempotency key), the monthly invoices (written once, never changed: a trigger refuses UPDATE and DELETE), the
-- invoice emails still to hand to notifications.v1 (the outbox), and the billing runs claimed once across instances.

CREATE TABLE IF NOT EXISTS mobility_accounts (
  account_id text PRIMARY KEY CHECK (account_id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$'),
  name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 120),
  email text NOT NULL CHECK (char_length(email) BETWEEN 3 AND 254),
  phone text CHECK (phone ~ '^\+[1-9][0-9]{7,14}$'),
  locale text NOT NULL DEFAULT 'fr' CHECK (locale IN ('fr', 'en')),
  status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'closed')),
  created_at timestamptz NOT NULL,
  created_by text NOT NULL
);

-- A usage event as parsed (times to the millisecond); a second copy of a usageId is not inserted.
CREATE TABLE IF NOT EXISTS mobility_usage (
  usage_id text PRIMARY KEY,
  account_id text NOT NULL REFERENCES mobility_accounts (account_id),
  kind text NOT NULL CHECK (kind IN ('transit-validation', 'bike-rental', 'car-share-trip', 'parking-session')),
  started_at timestamptz NOT NULL,
  ended_at timestamptz,
  details jsonb NOT NULL,
  received_at timestamptz NOT NULL,
  CHECK (ended_at IS NULL OR ended_at >= started_at)
);

CREATE INDEX IF NOT EXISTS mobility_usage_account_idx ON mobility_usage (account_id, started_at);

-- One invoice per account and local month (UNIQUE): a rerun or a second instance inserts nothing (ON CONFLICT).
CREATE TABLE IF NOT EXISTS mobility_invoices (
  invoice_number text PRIMARY KEY,
  account_id text NOT NULL REFERENCES mobility_accounts (account_id),
  month text NOT NULL CHECK (month ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
  time_zone text NOT NULL,
  tariff_id text NOT NULL,
  lines jsonb NOT NULL,
  subtotals jsonb NOT NULL,
  caps jsonb NOT NULL,
  usage_counts jsonb NOT NULL,
  total_cents integer NOT NULL CHECK (total_cents >= 0),
  issued_at timestamptz NOT NULL,
  UNIQUE (account_id, month)
);

CREATE OR REPLACE FUNCTION mobility_invoices_immutable() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'mobility_invoices: invoice % is issued and never changed (a correction is a credit note)', OLD.invoice_number; END $$;

DROP TRIGGER IF EXISTS mobility_invoices_immutable ON mobility_invoices;

CREATE TRIGGER mobility_invoices_immutable BEFORE UPDATE OR DELETE ON mobility_invoices
  FOR EACH ROW EXECUTE FUNCTION mobility_invoices_immutable();

-- The invoice emails (only for invoices with lines): pending → sending (claimed by an instance, retaken when stale)
-- → queued on notifications.v1 (whose delivery log sends it once per key), or failed (not a valid notification).
CREATE TABLE IF NOT EXISTS mobility_invoice_emails (
  invoice_number text PRIMARY KEY REFERENCES mobility_invoices (invoice_number),
  state text NOT NULL CHECK (state IN ('pending', 'sending', 'queued', 'failed')),
  claimed_by text,
  claimed_at timestamptz,
  queued_at timestamptz,
  error text
);

CREATE INDEX IF NOT EXISTS mobility_invoice_emails_open_idx ON mobility_invoice_emails (invoice_number)
  WHERE state IN ('pending', 'sending');

-- One row per billed month, taken by the first instance (INSERT … ON CONFLICT); an unfinished claim older than the
-- claim timeout (a crash) may be taken again — the invoices it inserted stay, and the rerun inserts only the others.
CREATE TABLE IF NOT EXISTS mobility_billing_runs (
  month text PRIMARY KEY,
  instance text NOT NULL,
  started_at timestamptz NOT NULL,
  finished_at timestamptz,
  invoices integer,
  emails integer
);
