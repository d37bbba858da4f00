import type { Command } from '../command.ts';

/**
 * The single-stage commands of the distributed deployment (CONTRACTS.md §2). They need a bus shared between
 * processes (Apache Kafka) or the HTTP API, which later versions bring; until then they say so and exit non-zero.
 */
function stage(name: string, summary: string, missing: string): Command {
  return {
    name,
    summary,
    help: `vigie ${name}

${summary}. Runs one part of the distributed deployment; it needs ${missing}, which this version does not have
yet: use vigie start to run every stage in one process.`,
    options: {},
    async run() {
      process.stderr.write(`vigie ${name}: needs ${missing}, not available in this version; use vigie start\n`);
      return 2;
    },
  };
}

const KAFKA = 'the Kafka bus (VIGIE_KAFKA_BROKERS)';

/** `vigie ingest`: the MQTT ingest stage alone. */
export const ingest = stage('ingest', 'the MQTT ingest stage alone', KAFKA);
/** `vigie process`: the processors alone. */
export const processStage = stage('process', 'the processors alone', KAFKA);
/** `vigie alert`: the alerting stage alone. */
export const alert = stage('alert', 'the alerting stage alone', KAFKA);
/** `vigie serve`: the HTTP API and web console. */
export const serve = stage('serve', 'the HTTP API and web console', 'the HTTP API of the citizen services');
