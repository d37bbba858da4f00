-- Closing a mobility account (services/mobility, POST …/accounts/:id/close): when, by whom (an operator token's name,
-- or 'citizen' when the holder closed it), and why. Usage started at or after closed_at is refused; the month of the
-- close is billed once, up to closed_at, and no month after it. A row closed before this migration (status 'closed',
-- closed_at null) keeps the old rule: billed only for a month it used.
ALTER TABLE mobility_accounts ADD COLUMN IF NOT EXISTS closed_at timestamptz;
ALTER TABLE mobility_accounts ADD COLUMN IF NOT EXISTS closed_by text CHECK (char_length(closed_by) BETWEEN 1 AND 120);
ALTER TABLE mobility_accounts ADD COLUMN IF NOT EXISTS close_reason text CHECK (char_length(close_reason) BETWEEN 1 AND 500);
ALTER TABLE mobility_accounts ADD CONSTRAINT mobility_accounts_closed_check
  CHECK (closed_at IS NULL OR (status = 'closed' AND closed_by IS NOT NULL));
