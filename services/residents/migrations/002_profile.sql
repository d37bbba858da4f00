-- The citizen account's profile (issue 8): what the citizen chose to tell the city, all optional.
ALTER TABLE residents_accounts ADD COLUMN IF NOT EXISTS display_name text;
ALTER TABLE residents_accounts ADD COLUMN IF NOT EXISTS locale text NOT NULL DEFAULT 'fr' CHECK (locale IN ('fr', 'en'));
ALTER TABLE residents_accounts ADD COLUMN IF NOT EXISTS postal_address text;
