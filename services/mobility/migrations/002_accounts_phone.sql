-- Parking sessions paid by SMS find their account by the driver's phone (services/mobility/parking-usage.ts).
CREATE INDEX IF NOT EXISTS mobility_accounts_phone_idx ON mobility_accounts (phone) WHERE phone IS NOT NULL;
