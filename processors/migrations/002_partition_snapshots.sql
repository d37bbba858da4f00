-- Processor state per partition (processors/runner.ts, "State"): a partition's snapshot is its devices' states
-- (processor_device_state) plus the offset they cover and the engine clock (processor_partitions), written in one
-- transaction. `epoch` fences instances: whoever loads a partition bumps it, and a checkpoint is written only under
-- the epoch it loaded, so an instance that lost the partition can never overwrite its new owner's snapshot.
-- `log_id` names the bus log the offset belongs to (the in-process bus starts a new log in every process).
-- 001's processor_state held device states without the offset they covered: it cannot be resumed exactly, so it
-- is dropped (detection state restarts from the readings still on the bus).
CREATE TABLE IF NOT EXISTS processor_partitions (
  group_id text NOT NULL,
  topic text NOT NULL,
  partition integer NOT NULL,
  epoch bigint NOT NULL,
  log_id text,
  next_offset bigint,
  clock jsonb,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_id, topic, partition)
);

CREATE TABLE IF NOT EXISTS processor_device_state (
  group_id text NOT NULL,
  topic text NOT NULL,
  partition integer NOT NULL,
  device_id text NOT NULL,
  state jsonb NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (group_id, topic, partition, device_id)
);

DROP TABLE IF EXISTS processor_state;
