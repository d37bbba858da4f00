-- A driver's own sessions, newest first (GET /api/me/parking in the citizen account).
CREATE INDEX IF NOT EXISTS parking_sessions_phone_history_idx ON parking_sessions (phone, created_at DESC)
  WHERE phone IS NOT NULL;
