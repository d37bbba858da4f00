-- The citizen document vault (services/vault). citizen_id is the residents' account id (residents_accounts.id), with
-- no foreign key: the vault never reads another service's tables, and its audit log outlives the account.
-- vault_keys holds each citizen's data key, only wrapped by a master key (key_id): deleting the row destroys every
-- document of that citizen (crypto-shredding). vault_documents holds the blobs (version ‖ IV ‖ ciphertext ‖ tag,
-- bound to citizen and document id). vault_shares holds the nonces of live share links (revoked ones keep
-- revoked_at until they expire). vault_audit is append-only: a trigger refuses UPDATE, DELETE and TRUNCATE.

CREATE TABLE IF NOT EXISTS vault_keys (
  citizen_id bigint PRIMARY KEY,
  key_id text NOT NULL CHECK (char_length(key_id) BETWEEN 1 AND 32),
  wrapped bytea NOT NULL,
  created_at timestamptz NOT NULL,
  rewrapped_at timestamptz
);

CREATE INDEX IF NOT EXISTS vault_keys_key_id_idx ON vault_keys (key_id);

CREATE TABLE IF NOT EXISTS vault_documents (
  id uuid PRIMARY KEY,
  citizen_id bigint NOT NULL,
  type text NOT NULL CHECK (char_length(type) <= 40),
  file_name text NOT NULL CHECK (char_length(file_name) BETWEEN 1 AND 120),
  content_type text NOT NULL CHECK (char_length(content_type) <= 100),
  size_bytes integer NOT NULL CHECK (size_bytes >= 0),
  blob bytea NOT NULL,
  created_at timestamptz NOT NULL
);

CREATE INDEX IF NOT EXISTS vault_documents_citizen_idx ON vault_documents (citizen_id, created_at DESC, id);

CREATE TABLE IF NOT EXISTS vault_shares (
  nonce text PRIMARY KEY,
  document_id uuid NOT NULL REFERENCES vault_documents (id) ON DELETE CASCADE,
  citizen_id bigint NOT NULL,
  service text NOT NULL CHECK (char_length(service) BETWEEN 1 AND 63),
  created_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL,
  revoked_at timestamptz
);

CREATE INDEX IF NOT EXISTS vault_shares_document_idx ON vault_shares (document_id, expires_at);

CREATE INDEX IF NOT EXISTS vault_shares_citizen_idx ON vault_shares (citizen_id);

CREATE TABLE IF NOT EXISTS vault_audit (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL,
  -- The document's owner; null only for a refused link whose owner cannot be trusted (forged, malformed).
  citizen_id bigint,
  document_id uuid,
  action text NOT NULL CHECK (char_length(action) <= 40),
  actor text NOT NULL CHECK (char_length(actor) <= 80),
  outcome text NOT NULL CHECK (outcome IN ('allowed', 'denied', 'failed')),
  reason text CHECK (char_length(reason) <= 40),
  CHECK ((outcome = 'allowed') = (reason IS NULL))
);

CREATE INDEX IF NOT EXISTS vault_audit_citizen_idx ON vault_audit (citizen_id, id DESC);

-- One line: the migration runner splits statements on a `;` at a line end.
CREATE OR REPLACE FUNCTION vault_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'vault_audit is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege'; END $$;

CREATE TRIGGER vault_audit_no_update_delete BEFORE UPDATE OR DELETE ON vault_audit
  FOR EACH ROW EXECUTE FUNCTION vault_audit_append_only();

CREATE TRIGGER vault_audit_no_truncate BEFORE TRUNCATE ON vault_audit
  FOR EACH STATEMENT EXECUTE FUNCTION vault_audit_append_only();
