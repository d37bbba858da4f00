-- Operators' bearer tokens (services/http/auth.ts). Only a SHA-256 of each token's secret is kept: a copy of the
-- database gives no usable token. A name is unique among the tokens not revoked.

CREATE TABLE IF NOT EXISTS http_operator_tokens (
  id bigserial PRIMARY KEY,
  name text NOT NULL,
  role text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
  secret_sha256 text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);

CREATE UNIQUE INDEX IF NOT EXISTS http_operator_tokens_active_name_idx ON http_operator_tokens (name)
  WHERE revoked_at IS NULL;
