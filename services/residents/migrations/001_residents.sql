-- Residents' own area (issue 7, "my water meter"): accounts signed in with a one-time code, their sessions, the meters
-- they linked with a subscriber code, and a read model of meters' consumption from rollups.v1. No foreign key to the
-- alerting tables (another component's): those are read, never joined by constraint.

-- One account per address: an E.164 phone number (channel sms) or a lower-cased email address (channel email),
-- created the first time a code for it is verified.
CREATE TABLE IF NOT EXISTS residents_accounts (
  id bigserial PRIMARY KEY,
  channel text NOT NULL CHECK (channel IN ('sms', 'email')),
  address text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL,
  last_sign_in_at timestamptz NOT NULL
);

-- The live sign-in code of an address (one at a time: asking again replaces it), stored hashed.
CREATE TABLE IF NOT EXISTS residents_sign_in_codes (
  address text PRIMARY KEY,
  channel text NOT NULL CHECK (channel IN ('sms', 'email')),
  code_sha256 text NOT NULL,
  expires_at timestamptz NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  created_at timestamptz NOT NULL
);

-- Sessions: only the SHA-256 of the cookie's 256-bit secret is stored.
CREATE TABLE IF NOT EXISTS residents_sessions (
  id_sha256 text PRIMARY KEY,
  account_id bigint NOT NULL REFERENCES residents_accounts (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz
);

CREATE INDEX IF NOT EXISTS residents_sessions_account_idx ON residents_sessions (account_id);

-- Meters a resident linked with the subscriber code printed on the bill.
CREATE TABLE IF NOT EXISTS resident_meters (
  account_id bigint NOT NULL REFERENCES residents_accounts (id) ON DELETE CASCADE,
  device_id text NOT NULL,
  linked_at timestamptz NOT NULL,
  PRIMARY KEY (account_id, device_id)
);

-- Water meters' consumption per hour and per local day (rollups.v1, scope device); a later record replaces it.
CREATE TABLE IF NOT EXISTS residents_consumption (
  device_id text NOT NULL,
  period text NOT NULL CHECK (period IN ('hour', 'day')),
  start timestamptz NOT NULL,
  consumption_l double precision NOT NULL,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (device_id, period, start)
);
