import type { Bus, BusMessage, Subscription } from '../../core/bus/port.ts';
import { AlertTransition, DeviceInfo, TOPICS } from '../../core/contracts/index.ts';
import type { AppError } from '../../core/errors.ts';
import type { Logger } from '../../core/logging.ts';
import type { Metrics } from '../../core/metrics.ts';
import { deadLetter, parseOrDeadLetter } from './dead-letter.ts';
import type { ReportStore } from './store.ts';

/**
 * Lamp-out alerts open public-lighting reports by themselves: consumes alerts.v1 and devices.v1 (group
 * `reports-alerts`). A `lamp-out` transition in state `open` opens one report (source `alert`, sourceRef the
 * alertId, deviceId the lamp, placed where devices.v1 says the lamp is) — not a second while one is open for that
 * lamp (a unique index decides, across instances too); its `resolved` transition resolves the lamp's open report
 * with a note, by `alerting`. Other alert types and `update` transitions are skipped on purpose (counted).
 * devices.v1 is read for the streetlights' positions only. Records that do not parse are dead-lettered
 * (ERR_REPORT_ALERT_JSON / _SCHEMA, ERR_REPORT_DEVICE_JSON / _SCHEMA).
 */

/** The consumer group of alerts.v1 and devices.v1. */
export const ALERTS_GROUP_ID = 'reports-alerts';

/** The note a report gets when its lamp-out alert resolves. */
export const LAMP_BACK_NOTE = 'Lampe rallumée : alerte lamp-out résolue automatiquement.';

/** Consumes lamp-out alerts into reports. */
export function createLampOutIntake(deps: {
  readonly bus: Bus;
  readonly reports: ReportStore;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Called after a batch that changed reports (the notifier's flush). */
  readonly changed?: () => Promise<unknown>;
}): { start(): Promise<void>; close(): Promise<void> } {
  const { bus, reports, logger } = deps;
  const outcomes = deps.metrics.counter(
    'reports_alerts_total',
    'Alert transitions read by the reports service, by outcome (opened, duplicate, resolved, skipped, dead-lettered)',
    ['outcome'],
  );
  let subscription: Subscription | undefined;

  async function refuse(m: BusMessage, letter: Parameters<typeof deadLetter>[2]): Promise<void> {
    outcomes.inc({ outcome: 'dead-lettered' });
    logger.error({ topic: m.topic, offset: m.offset, errorCode: letter.errorCode }, letter.message);
    await deadLetter(bus, m, letter);
  }

  async function onDevice(m: BusMessage): Promise<void> {
    const parsed = parseOrDeadLetter(m, DeviceInfo, {
      json: 'ERR_REPORT_DEVICE_JSON',
      schema: 'ERR_REPORT_DEVICE_SCHEMA',
    });
    if (!parsed.ok) return refuse(m, parsed.letter);
    const d = parsed.value;
    if (d.kind !== 'streetlight') return;
    await reports.upsertDevice({ deviceId: d.deviceId, latitude: d.lat, longitude: d.lon, updatedAt: d.updatedAt });
  }

  async function onAlert(m: BusMessage): Promise<boolean> {
    const parsed = parseOrDeadLetter(m, AlertTransition, {
      json: 'ERR_REPORT_ALERT_JSON',
      schema: 'ERR_REPORT_ALERT_SCHEMA',
    });
    if (!parsed.ok) {
      await refuse(m, parsed.letter);
      return false;
    }
    const t = parsed.value;
    if (t.type !== 'lamp-out' || t.state === 'update') {
      outcomes.inc({ outcome: 'skipped' });
      return false;
    }
    if (t.state === 'open') {
      const position = await reports.devicePosition(t.deviceId);
      const { created } = await reports.create({
        category: 'public-lighting',
        text: `${t.summary || 'Lampe éteinte'} (${t.deviceId})`.slice(0, 2000),
        ...(position ? { ...position, locationSource: 'device' as const } : {}),
        source: 'alert',
        sourceRef: t.alertId,
        deviceId: t.deviceId,
        by: 'alerting',
      });
      outcomes.inc({ outcome: created ? 'opened' : 'duplicate' });
      return created;
    }
    const open = await reports.openForDevice(t.deviceId);
    if (open?.source !== 'alert') {
      outcomes.inc({ outcome: 'skipped' });
      return false;
    }
    try {
      await reports.transition(open.id, 'resolve', 'alerting', { note: LAMP_BACK_NOTE });
    } catch (err) {
      // An operator closed it in between: nothing left to resolve.
      if ((err as AppError).code !== 'ERR_REPORT_CONFLICT') throw err;
      outcomes.inc({ outcome: 'skipped' });
      return false;
    }
    outcomes.inc({ outcome: 'resolved' });
    return true;
  }

  return {
    async start() {
      await bus.ensureTopic(TOPICS.alerts);
      await bus.ensureTopic(TOPICS.devices);
      await bus.ensureTopic(TOPICS.deadLetters);
      subscription = await bus.subscribe({
        groupId: ALERTS_GROUP_ID,
        topics: [TOPICS.alerts, TOPICS.devices],
        fromBeginning: true,
        handler: async (messages) => {
          let changed = false;
          for (const m of messages) {
            if (m.topic === TOPICS.devices) await onDevice(m);
            else if (await onAlert(m)) changed = true;
          }
          if (changed) await deps.changed?.();
        },
      });
    },
    async close() {
      const sub = subscription;
      subscription = undefined;
      await sub?.close();
    },
  };
}
