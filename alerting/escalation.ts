import { createHash } from 'node:crypto';
import { z } from 'zod';
import { type AlertTransition, Severity } from '../core/contracts/index.ts';
import type { SqlExecutor } from '../core/store/store.ts';
import type { StoredMessage } from './delivery-log.ts';
import { formatDateTime, type Locale } from './messages.ts';
import { parseAddress } from './subscriptions.ts';

/**
 * Escalation (issue 6): an alert nobody has acknowledged after a step's delay is sent to that step's recipients —
 * e.g. the team's email at once (the router's usual messages), the on-call phone after 30 min, the supervisor after
 * 2 h. Steps are scheduled when an alert opens (wall clock of the alerting stage, so a controlled clock drives the
 * tests) and taken by the sweep when due: an alert acknowledged or resolved by then escalates no further. A step due
 * for several alerts at once gives each recipient one message listing them (a district-wide event is one SMS).
 */

/** One escalation step: after `afterMinutes` unacknowledged, these phone numbers and email addresses hear of it. */
const stepSchema = z.strictObject({
  afterMinutes: z
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 60),
  to: z
    .array(z.string().min(3).max(254))
    .min(1)
    .max(20)
    .superRefine((list, ctx) => {
      for (const [i, a] of list.entries()) {
        try {
          parseAddress(a);
        } catch {
          ctx.addIssue({ code: 'custom', path: [i], message: `${a}: an E.164 phone number or an email address` });
        }
      }
    }),
});
/** One escalation step. */
export type EscalationStep = z.output<typeof stepSchema>;

/**
 * Reads steps written `30=+33612345678;120=chef@ville.fr,+33698765432` (minutes, `=`, recipients separated by
 * commas; steps separated by semicolons), as the environment gives them; an array passes through.
 */
function parseSteps(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  if (value.trim() === '') return [];
  return value.split(';').map((part) => {
    const [minutes = '', recipients = ''] = part.split('=', 2);
    return {
      afterMinutes: Number(minutes.trim()),
      to: recipients
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    };
  });
}

/** Escalation settings. */
export const escalationSchema = z.strictObject({
  steps: z
    .preprocess(
      parseSteps,
      z
        .array(stepSchema)
        .max(5)
        .refine(
          (steps) => steps.every((s, i) => i === 0 || s.afterMinutes > (steps[i - 1]?.afterMinutes ?? 0)),
          'steps in rising order of minutes',
        ),
    )
    .default([])
    .describe(
      'Escalation steps for unacknowledged alerts: "30=+33612345678;120=chef@ville.fr" (minutes=recipients; steps separated by ";"); empty: none',
    ),
  minSeverity: Severity.default('warning').describe(
    'Least severity of the alerts that escalate (info, warning, critical)',
  ),
});
/** Escalation settings, parsed. */
export type EscalationConfig = z.output<typeof escalationSchema>;

const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

/** Schedules the steps of an alert that opened at `nowMs` (once: a redelivered transition adds nothing). */
export async function scheduleEscalation(
  db: SqlExecutor,
  config: EscalationConfig,
  t: AlertTransition,
  nowMs: number,
): Promise<void> {
  if (t.state !== 'open' || SEVERITY_RANK[t.severity] < SEVERITY_RANK[config.minSeverity]) return;
  for (const [step, s] of config.steps.entries()) {
    await db.query(
      `INSERT INTO alerting_escalations (alert_id, step, due_at) VALUES ($1, $2, $3)
       ON CONFLICT (alert_id, step) DO NOTHING`,
      [t.alertId, step, new Date(nowMs + s.afterMinutes * 60_000).toISOString()],
    );
  }
}

/** Cancels the steps still to come of an alert (resolved, or silenced). */
export async function cancelEscalation(db: SqlExecutor, alertId: string): Promise<void> {
  await db.query(
    `UPDATE alerting_escalations SET status = 'cancelled', updated_at = now()
     WHERE alert_id = $1 AND status = 'scheduled'`,
    [alertId],
  );
}

/** An alert whose escalation step is due. */
export interface DueEscalation {
  readonly alertId: string;
  readonly step: number;
  readonly deviceId: string;
  readonly type: string;
  readonly severity: string;
  readonly summary: string;
  readonly openedAt: string;
}

/**
 * Takes the steps due at `nowMs`: those of alerts still unacknowledged and unresolved are marked sent and
 * returned, the others cancelled. Run it in the transaction that queues the messages: a step is taken once.
 */
export async function takeDueEscalations(tx: SqlExecutor, nowMs: number): Promise<DueEscalation[]> {
  const now = new Date(nowMs).toISOString();
  await tx.query(
    `UPDATE alerting_escalations e SET status = 'cancelled', updated_at = now()
     FROM alerting_alerts a
     WHERE e.alert_id = a.alert_id AND e.status = 'scheduled' AND e.due_at <= $1
       AND (a.acknowledged_at IS NOT NULL OR a.resolved_at IS NOT NULL)`,
    [now],
  );
  const res = await tx.query<{
    alert_id: string;
    step: number;
    device_id: string;
    type: string;
    severity: string;
    summary: string;
    opened_at: Date;
  }>(
    `UPDATE alerting_escalations e SET status = 'sent', updated_at = now()
     FROM alerting_alerts a
     WHERE e.alert_id = a.alert_id AND e.status = 'scheduled' AND e.due_at <= $1
       AND a.acknowledged_at IS NULL AND a.resolved_at IS NULL
     RETURNING e.alert_id, e.step, a.device_id, a.type, a.severity, a.summary, a.opened_at`,
    [now],
  );
  return res.rows
    .map((r) => ({
      alertId: r.alert_id,
      step: Number(r.step),
      deviceId: r.device_id,
      type: r.type,
      severity: r.severity,
      summary: r.summary,
      openedAt: new Date(r.opened_at).toISOString(),
    }))
    .sort((a, b) => a.step - b.step || a.openedAt.localeCompare(b.openedAt) || a.alertId.localeCompare(b.alertId));
}

/** One escalation message to queue: its idempotency key, what it is about, and the message. */
export interface EscalationMessage {
  readonly key: string;
  readonly subject: string;
  readonly message: StoredMessage;
}

/**
 * The messages of the steps taken: per step and recipient, one message for all its alerts. The key names the step,
 * the recipient and the alerts (a hash), so the same step taken again queues nothing more.
 */
export function escalationMessages(
  config: EscalationConfig,
  due: readonly DueEscalation[],
  options: { locale: Locale; timeZone: string },
): EscalationMessage[] {
  const out: EscalationMessage[] = [];
  const bySteps = new Map<number, DueEscalation[]>();
  for (const d of due) bySteps.set(d.step, [...(bySteps.get(d.step) ?? []), d]);
  for (const [step, alerts] of bySteps) {
    const s = config.steps[step];
    if (!s) continue; // steps removed from the configuration since: nobody to tell
    const ids = createHash('sha256')
      .update(alerts.map((a) => a.alertId).join('\n'))
      .digest('hex')
      .slice(0, 16);
    for (const raw of s.to) {
      const { channel, address } = parseAddress(raw);
      const message: StoredMessage =
        channel === 'sms'
          ? { kind: 'sms', to: address, body: escalationSms(step, s.afterMinutes, alerts, options.locale) }
          : { kind: 'email', to: address, ...escalationEmail(step, s.afterMinutes, alerts, options) };
      out.push({
        key: `escalation:${step + 1}:${ids}:${channel}:${address}`,
        subject: alerts.length === 1 ? (alerts[0]?.alertId ?? '') : `escalation:${step + 1}:${ids}`,
        message,
      });
    }
  }
  return out;
}

function escalationSms(step: number, minutes: number, alerts: readonly DueEscalation[], locale: Locale): string {
  const fr = locale === 'fr';
  const first = alerts[0];
  if (alerts.length === 1 && first) {
    const head = fr
      ? `Vigie ESCALADE ${step + 1}: ${first.type} ${first.deviceId} non acquittee depuis ${minutes} min.`
      : `Vigie ESCALATION ${step + 1}: ${first.type} ${first.deviceId} unacknowledged for ${minutes} min.`;
    return `${head} ${first.summary}`.slice(0, 320);
  }
  const counts = countByType(alerts);
  return fr
    ? `Vigie ESCALADE ${step + 1}: ${alerts.length} alertes non acquittees depuis ${minutes} min (${counts}).`
    : `Vigie ESCALATION ${step + 1}: ${alerts.length} alerts unacknowledged for ${minutes} min (${counts}).`;
}

function escalationEmail(
  step: number,
  minutes: number,
  alerts: readonly DueEscalation[],
  options: { locale: Locale; timeZone: string },
): { subject: string; text: string } {
  const fr = options.locale === 'fr';
  const first = alerts[0];
  const what =
    alerts.length === 1 && first
      ? `${first.type} – ${first.deviceId}`
      : fr
        ? `${alerts.length} alertes (${countByType(alerts)})`
        : `${alerts.length} alerts (${countByType(alerts)})`;
  const subject = fr
    ? `[Vigie] Escalade ${step + 1} : ${what}, non acquittée depuis ${minutes} min`
    : `[Vigie] Escalation ${step + 1}: ${what}, unacknowledged for ${minutes} min`;
  const lines = alerts.map(
    (a) =>
      `- ${a.alertId} (${a.severity}) ${fr ? 'ouverte le' : 'opened'} ${formatDateTime(a.openedAt, options.locale, options.timeZone)} : ${a.summary}`,
  );
  const text = [
    fr
      ? `Ces alertes n'ont été acquittées par personne depuis ${minutes} minutes :`
      : `Nobody has acknowledged these alerts for ${minutes} minutes:`,
    '',
    ...lines,
    '',
    fr
      ? "Acquittez-les dans la console ou par l'API (POST /api/alerts/{id}/acknowledge) pour arrêter l'escalade."
      : 'Acknowledge them in the console or through the API (POST /api/alerts/{id}/acknowledge) to stop the escalation.',
    '',
  ].join('\n');
  return { subject, text };
}

function countByType(alerts: readonly DueEscalation[]): string {
  const counts = new Map<string, number>();
  for (const a of alerts) counts.set(a.type, (counts.get(a.type) ?? 0) + 1);
  return [...counts]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([type, n]) => `${n} ${type}`)
    .join(', ');
}
