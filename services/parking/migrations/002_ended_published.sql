-- SMS sessions once over are produced to parking-sessions.v1 (the mobility account bills them): when that was done.
-- At least once: the sweep produces, then marks; a crash in between produces again (the reference identifies it).
ALTER TABLE parking_sessions ADD COLUMN IF NOT EXISTS ended_published_at timestamptz;

CREATE INDEX IF NOT EXISTS parking_sessions_unpublished_idx ON parking_sessions (id)
  WHERE status <> 'running' AND source = 'sms' AND ended_published_at IS NULL;
