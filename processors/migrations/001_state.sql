-- Per-device processor state (engine snapshot: reorder buffer, model, detectors, alert lifecycles), checkpointed
-- by processors/runner.ts in one batched upsert at most every checkpointIntervalMs and on close.
CREATE TABLE IF NOT EXISTS processor_state (
  device_id text PRIMARY KEY,
  state jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
