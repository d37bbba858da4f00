import { createHash } from 'node:crypto';
import type { AlertTransition } from '../core/contracts/index.ts';
import type { SqlExecutor } from '../core/store/store.ts';
import type { StoredMessage } from './delivery-log.ts';
import type { Locale } from './messages.ts';

/**
 * Grouping of operator messages (issue 6): a district-wide event — a power cut silencing 200 meters, a feeder
 * cabinet switching off a street's lamps — gives each operator one message, not two hundred. An operator message
 * waits `groupWaitSeconds` in a group keyed by its transition's state, alert type and district; messages of the same
 * group arriving meanwhile join it. When the group is due, the sweep takes it whole (one instance: the UPDATE's row
 * locks): a group of one is sent as it is, a larger one becomes one message listing every alert, and its members are
 * marked `grouped`.
 */

/** The group of an operator message about `t` in `district`. */
export function groupKeyOf(t: AlertTransition, district: string): string {
  return `${t.state}|${t.type}|${district}`;
}

/** When a message joining group `groupKey` of one recipient goes out: the group's time, or `nowMs + waitMs`. */
export async function groupDueMs(
  db: SqlExecutor,
  recipient: { channel: string; address: string },
  groupKey: string,
  nowMs: number,
  waitMs: number,
): Promise<number> {
  const res = await db.query<{ due: Date | null }>(
    `SELECT min(not_before) AS due FROM alerting_deliveries
     WHERE status = 'scheduled' AND group_key = $1 AND channel = $2 AND recipient = $3`,
    [groupKey, recipient.channel, recipient.address],
  );
  const due = res.rows[0]?.due;
  return due ? new Date(due).getTime() : nowMs + waitMs;
}

/** A group taken by the sweep: its members' keys and messages, oldest first. */
export interface DueGroup {
  readonly channel: 'sms' | 'email';
  readonly recipient: string;
  readonly groupKey: string;
  readonly locale: Locale;
  readonly members: ReadonlyArray<{
    readonly key: string;
    readonly alertId: string;
    readonly message: StoredMessage;
    /** The transition's origin, as the router stored it (what a failure dead-letters). */
    readonly source: unknown;
  }>;
}

/**
 * Takes every group due at `nowMs` (its earliest member due): members are marked `grouped`. Run it in the
 * transaction that queues what replaces them, so a group is taken once and nothing is lost.
 */
export async function takeDueGroups(tx: SqlExecutor, nowMs: number): Promise<DueGroup[]> {
  const res = await tx.query<{
    idempotency_key: string;
    alert_id: string;
    channel: 'sms' | 'email';
    recipient: string;
    group_key: string;
    locale: Locale;
    message: StoredMessage | string;
    source: unknown;
  }>(
    `UPDATE alerting_deliveries d SET status = 'grouped', updated_at = now()
     WHERE d.status = 'scheduled' AND d.group_key IS NOT NULL
       AND (d.channel, d.recipient, d.group_key) IN (
         SELECT channel, recipient, group_key FROM alerting_deliveries
         WHERE status = 'scheduled' AND group_key IS NOT NULL
         GROUP BY channel, recipient, group_key HAVING min(not_before) <= $1)
     RETURNING d.idempotency_key, d.alert_id, d.channel, d.recipient, d.group_key, d.locale, d.message, d.source`,
    [new Date(nowMs).toISOString()],
  );
  const groups = new Map<string, DueGroup & { members: Array<DueGroup['members'][number]> }>();
  const rows = [...res.rows].sort((a, b) => a.idempotency_key.localeCompare(b.idempotency_key));
  for (const row of rows) {
    const id = `${row.channel}\n${row.recipient}\n${row.group_key}`;
    let g = groups.get(id);
    if (!g) {
      g = { channel: row.channel, recipient: row.recipient, groupKey: row.group_key, locale: row.locale, members: [] };
      groups.set(id, g);
    }
    const message = typeof row.message === 'string' ? (JSON.parse(row.message) as StoredMessage) : row.message;
    const source = typeof row.source === 'string' ? (JSON.parse(row.source) as unknown) : row.source;
    g.members.push({ key: row.idempotency_key, alertId: row.alert_id, message, source });
  }
  return [...groups.values()];
}

/** Most alerts listed by name in one grouped message; the rest are counted. */
const MAX_LISTED = 50;

/** The one message that replaces a group of several: its idempotency key and content. */
export function groupedMessage(group: DueGroup): { key: string; message: StoredMessage } {
  const [state = '', type = '', district = ''] = group.groupKey.split('|');
  const fr = group.locale === 'fr';
  const n = group.members.length;
  const verb = fr
    ? ({ open: 'ouvertes', update: 'mises à jour', resolved: 'résolues' } as Record<string, string>)[state]
    : ({ open: 'opened', update: 'updated', resolved: 'resolved' } as Record<string, string>)[state];
  const where = fr ? `quartier ${district}` : `district ${district}`;
  const subject = fr
    ? `[Vigie] ${n} alertes « ${type} » ${verb} – ${where}`
    : `[Vigie] ${n} "${type}" alerts ${verb} – ${where}`;
  const listed = group.members.slice(0, MAX_LISTED).map((m) => {
    const line = m.message.kind === 'email' ? m.message.subject : m.message.body;
    return `- ${m.alertId}: ${line}`;
  });
  const more = n - listed.length;
  const text = [
    fr
      ? `${n} alertes du même type ${verb} ensemble dans le ${where} : un événement commun est probable (coupure, travaux, armoire).`
      : `${n} alerts of the same type ${verb} together in ${where}: a common cause is likely (an outage, works, a cabinet).`,
    '',
    ...listed,
    ...(more > 0 ? [fr ? `… et ${more} autres.` : `… and ${more} more.`] : []),
    '',
  ].join('\n');
  const hash = createHash('sha256')
    .update(group.members.map((m) => m.key).join('\n'))
    .digest('hex')
    .slice(0, 16);
  const key = `group:${group.groupKey}:${hash}:${group.channel}:${group.recipient}`;
  const message: StoredMessage =
    group.channel === 'email'
      ? { kind: 'email', to: group.recipient, subject, text }
      : { kind: 'sms', to: group.recipient, body: subject.replace('[Vigie] ', 'Vigie: ') };
  return { key, message };
}
