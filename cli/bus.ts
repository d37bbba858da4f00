import { Kafka, logLevel } from 'kafkajs';
import { createKafkaBus } from '../core/bus/kafka.ts';
import { createMemoryBus } from '../core/bus/memory.ts';
import type { Bus } from '../core/bus/port.ts';
import { KINDS, TOPICS } from '../core/contracts/index.ts';
import { AppError } from '../core/errors.ts';
import type { Logger } from '../core/logging.ts';
import type { KafkaConfig } from './config.ts';

/** The bus a command runs on, with what it is for banners and logs. */
export interface OpenedBus {
  readonly bus: Bus;
  readonly kind: 'memory' | 'kafka';
  /** For people: `in-process` or `Kafka at host:port[ (namespace ns)]`. */
  readonly description: string;
  /** In-process bus only: messages produced but not yet committed by `groupId` on `topic`. */
  readonly lag?: (groupId: string, topic: string) => number;
}

/** Every topic the stages use (CONTRACTS.md §5): readings and events of each kind, alerts, dead letters, notifications, inbound SMS. */
export function pipelineTopics(): string[] {
  return [
    ...KINDS.map(TOPICS.readings),
    ...KINDS.map(TOPICS.events),
    TOPICS.alerts,
    TOPICS.deadLetters,
    TOPICS.notifications,
    TOPICS.inboundSms,
  ];
}

/**
 * Opens the bus of `config`: Kafka when `kafka.brokers` is set (client id `<clientId>-<stage>`, kafkajs logging
 * through `logger`), otherwise the in-process bus; then makes sure every pipeline topic exists.
 * Throws a retryable `ERR_BUS_UNAVAILABLE` when the brokers cannot be reached.
 */
export async function openBus(
  config: { readonly kafka: KafkaConfig },
  logger: Logger,
  stage: string,
): Promise<OpenedBus> {
  const { kafka } = config;
  let opened: OpenedBus;
  if (kafka.brokers) {
    const bus = await createKafkaBus({
      brokers: kafka.brokers,
      clientId: `${kafka.clientId}-${stage}`,
      logger: logger.child({ component: 'kafka' }),
      defaultPartitions: kafka.partitions,
      ...(kafka.namespace ? { namespace: kafka.namespace } : {}),
    });
    const where = `Kafka at ${kafka.brokers.join(',')}${kafka.namespace ? ` (namespace ${kafka.namespace})` : ''}`;
    opened = { bus, kind: 'kafka', description: where };
  } else {
    const bus = createMemoryBus({
      onHandlerError: (err, where) =>
        logger.error({ err, ...where }, 'bus handler failed; batch will be delivered again'),
    });
    opened = { bus, kind: 'memory', description: 'in-process', lag: (groupId, topic) => bus.lag(groupId, topic) };
  }
  try {
    for (const topic of pipelineTopics()) {
      await opened.bus.ensureTopic(topic, { partitions: kafka.partitions });
    }
  } catch (err) {
    await opened.bus.close().catch(() => {});
    throw err;
  }
  return opened;
}

/**
 * Deletes the topics and consumer groups of a Kafka namespace (benchmarks and tests clean up after themselves).
 * Refuses the empty namespace: that would be the whole cluster.
 */
export async function dropKafkaNamespace(kafka: KafkaConfig): Promise<void> {
  if (!kafka.brokers) return;
  if (!kafka.namespace) {
    throw new AppError('ERR_CONFIG_INVALID', 'VIGIE_KAFKA_NAMESPACE="": refusing to drop every topic of the cluster');
  }
  const client = new Kafka({
    clientId: `${kafka.clientId}-cleanup`,
    brokers: kafka.brokers,
    logLevel: logLevel.NOTHING,
  });
  const admin = client.admin();
  await admin.connect();
  try {
    const { groups } = await admin.listGroups();
    const prefix = `${kafka.namespace}.`;
    const ours = groups.map((g) => g.groupId).filter((id) => id.startsWith(prefix));
    if (ours.length > 0) await admin.deleteGroups(ours).catch(() => {}); // a group still shutting down stays
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics });
  } finally {
    await admin.disconnect();
  }
}
