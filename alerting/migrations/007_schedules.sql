-- Schedules (issue 6, alerting/schedules/): each meter's daily water consumption, read from rollups.v1 for the
-- residents' monthly summary, and the claims that make a scheduled run happen once across alerting instances.

-- One row per water meter and local day (VIGIE_TZ): the latest day rollup (a later record replaces the earlier one).
CREATE TABLE IF NOT EXISTS alerting_consumption_daily (
  device_id text NOT NULL,
  day date NOT NULL,
  consumption_l double precision NOT NULL,
  night_min_flow_lph double precision,
  updated_at timestamptz NOT NULL,
  PRIMARY KEY (device_id, day)
);

-- One row per schedule and period (`digest` / 2026-11-26, `monthly-summary` / 2026-10), taken by the first instance
-- (INSERT … ON CONFLICT): the others skip it. A claim left unfinished for 15 minutes (a crash) may be taken again;
-- the messages it queued keep their idempotency keys, so retaking it sends nothing twice.
CREATE TABLE IF NOT EXISTS alerting_schedule_runs (
  schedule text NOT NULL,
  period text NOT NULL,
  instance text NOT NULL,
  started_at timestamptz NOT NULL,
  finished_at timestamptz,
  queued integer,
  PRIMARY KEY (schedule, period)
);
