-- Invoice numbers: one continuous series per year of issue, without gaps (billing.ts InvoiceNumber). The counter's row
-- is locked by the transaction that issues an invoice and moved only when the invoice is inserted, so a rollback
-- leaves no hole and two issuers take turns. (A PostgreSQL sequence would leave holes on rollback.)
CREATE TABLE IF NOT EXISTS mobility_invoice_counters (
  year integer PRIMARY KEY,
  last integer NOT NULL CHECK (last >= 0)
);
