import { escapeHtml } from '../../core/html.ts';
import type { SqlExecutor } from '../../core/store/store.ts';
import { enqueueMessages, type QueuedMessage } from '../delivery-log.ts';
import { formatEur, formatLph, formatNumber, type Locale } from '../messages.ts';
import { localDate } from './periods.ts';
import { htmlTable, shortDateTime, slashDate, textTable } from './text.ts';

/**
 * The operators' daily digest (one email per operator and water-network team address, in the operators' language):
 * alerts still open at the run, by kind and type, with how many nobody acknowledged; alerts opened in the 24 h before
 * the run; new leaks and bursts of those 24 h with their estimated flow; and the water lost over the 24 h — for each
 * leak, burst and backflow alert, its flow (the rate last reported in `details`: `estimatedLph`, a burst's
 * `flowLph`) × the hours it was open within the window, in m³ and € at `priceEurPerM3`. An alert without a reported
 * rate (a backflow reports a volume, `reverseL`) is not counted and the email says how many were left out.
 *
 * Everything is read "as of" the run's instant (alerts opened later, acknowledgements and resolutions after it are
 * ignored), so running the same digest again gives the same email. Queued under `digest:<date>:email:<address>`
 * (delivery-log.ts): a second run or a second instance queues nothing new.
 */

/** Longest list of alerts an email shows in each section (the rest is counted). */
export const DIGEST_LIST_MAX = 100;

const WINDOW_MS = 24 * 3_600_000;
const LOSS_TYPES = ['leak', 'burst', 'backflow'] as const;

/** What the digest needs besides the store. */
export interface DigestOptions {
  /** The city's time zone (VIGIE_TZ): the digest's date and the times shown. */
  readonly timeZone: string;
  /** The operators' language. */
  readonly locale: Locale;
  /** Water + sanitation price, €/m³. */
  readonly priceEurPerM3: number;
  /** Who receives it: operatorEmails and the water-network team (duplicates removed, case-insensitive). */
  readonly recipients: readonly string[];
}

/** Open alerts of one kind and type at the run. */
export interface OpenAlertCount {
  readonly kind: string;
  readonly type: string;
  readonly open: number;
  readonly unacknowledged: number;
}

/** An alert as the digest lists it. */
export interface DigestAlert {
  readonly alertId: string;
  readonly deviceId: string;
  readonly kind: string;
  readonly type: string;
  readonly severity: string;
  readonly summary: string;
  readonly openedAtMs: number;
  /** When it was resolved, if before the run. */
  readonly resolvedAtMs: number | null;
  /** The flow last reported (leak `estimatedLph`, burst `flowLph`), L/h; null when none. */
  readonly rateLph: number | null;
}

/** Estimated water lost within the window. */
export interface WaterLoss {
  readonly litres: number;
  readonly eur: number;
  /** Leak, burst and backflow alerts open in the window with a rate (counted). */
  readonly counted: number;
  /** Those without a rate (left out). */
  readonly unestimated: number;
}

/** Everything the digest says, read as of `windowEndMs`. */
export interface DigestData {
  /** Local date of the run (`YYYY-MM-DD`): the digest's name. */
  readonly date: string;
  readonly windowStartMs: number;
  readonly windowEndMs: number;
  readonly open: readonly OpenAlertCount[];
  readonly openTotal: number;
  readonly unacknowledgedTotal: number;
  /** Alerts opened in the window (at most {@link DIGEST_LIST_MAX}, oldest first) and how many there were. */
  readonly opened: readonly DigestAlert[];
  readonly openedTotal: number;
  /** Leaks and bursts opened in the window (at most {@link DIGEST_LIST_MAX}) and how many there were. */
  readonly newLeaks: readonly DigestAlert[];
  readonly newLeaksTotal: number;
  readonly waterLoss: WaterLoss;
}

/** SQL for a non-negative number in `details` under `key` (NULL otherwise). */
function num(key: string): string {
  return `CASE WHEN jsonb_typeof(details->'${key}') = 'number' AND (details->>'${key}')::double precision >= 0
               THEN (details->>'${key}')::double precision END`;
}

/** The flow a leak-type alert reports, L/h (the same keys as messages.ts: a burst's flowLph first). */
const RATE_SQL = `CASE WHEN type = 'burst' THEN COALESCE(${num('flowLph')}, ${num('estimatedLph')}, ${num('peakLph')})
                       ELSE COALESCE(${num('estimatedLph')}, ${num('flowLph')}) END`;

interface AlertRow {
  alert_id: string;
  device_id: string;
  kind: string;
  type: string;
  severity: string;
  summary: string;
  opened_at: Date;
  resolved_at: Date | null;
  rate_lph: number | null;
}

function toAlert(r: AlertRow): DigestAlert {
  return {
    alertId: r.alert_id,
    deviceId: r.device_id,
    kind: r.kind,
    type: r.type,
    severity: r.severity,
    summary: r.summary,
    openedAtMs: r.opened_at.getTime(),
    resolvedAtMs: r.resolved_at ? r.resolved_at.getTime() : null,
    rateLph: r.rate_lph,
  };
}

/** Reads the digest of the 24 h ending at `atMs` from `alerting_alerts`. */
export async function loadDigest(
  db: SqlExecutor,
  atMs: number,
  options: Pick<DigestOptions, 'timeZone' | 'priceEurPerM3'>,
): Promise<DigestData> {
  const end = new Date(atMs).toISOString();
  const start = new Date(atMs - WINDOW_MS).toISOString();
  const open = await db.query<{ kind: string; type: string; open: number; unacknowledged: number }>(
    `SELECT kind, type, count(*)::int AS open,
            count(*) FILTER (WHERE acknowledged_at IS NULL OR acknowledged_at > $1)::int AS unacknowledged
       FROM alerting_alerts
      WHERE opened_at <= $1 AND (resolved_at IS NULL OR resolved_at > $1)
      GROUP BY kind, type ORDER BY kind, type`,
    [end],
  );
  const columns = `alert_id, device_id, kind, type, severity, summary, opened_at,
                   CASE WHEN resolved_at <= $2 THEN resolved_at END AS resolved_at, ${RATE_SQL} AS rate_lph`;
  const inWindow = 'opened_at >= $1 AND opened_at < $2';
  const [opened, openedCount, leaks, leaksCount, loss] = await Promise.all([
    db.query<AlertRow>(
      `SELECT ${columns} FROM alerting_alerts WHERE ${inWindow} ORDER BY opened_at, alert_id LIMIT ${DIGEST_LIST_MAX}`,
      [start, end],
    ),
    db.query<{ n: number }>(`SELECT count(*)::int AS n FROM alerting_alerts WHERE ${inWindow}`, [start, end]),
    db.query<AlertRow>(
      `SELECT ${columns} FROM alerting_alerts WHERE ${inWindow} AND type IN ('leak', 'burst')
        ORDER BY opened_at, alert_id LIMIT ${DIGEST_LIST_MAX}`,
      [start, end],
    ),
    db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM alerting_alerts WHERE ${inWindow} AND type IN ('leak', 'burst')`,
      [start, end],
    ),
    // Each alert's hours within [start, end): from max(opened, start) to min(resolved, end).
    db.query<{ litres: number | null; counted: number; unestimated: number }>(
      `WITH open_in_window AS (
         SELECT ${RATE_SQL} AS rate_lph,
                GREATEST(0, EXTRACT(EPOCH FROM (LEAST(COALESCE(resolved_at, $2::timestamptz), $2::timestamptz)
                                                 - GREATEST(opened_at, $1::timestamptz)))::double precision
                            / 3600) AS hours
           FROM alerting_alerts
          WHERE type IN (${LOSS_TYPES.map((t) => `'${t}'`).join(', ')})
            AND opened_at < $2 AND (resolved_at IS NULL OR resolved_at > $1))
       SELECT sum(rate_lph * hours) AS litres,
              count(*) FILTER (WHERE rate_lph IS NOT NULL)::int AS counted,
              count(*) FILTER (WHERE rate_lph IS NULL)::int AS unestimated
         FROM open_in_window`,
      [start, end],
    ),
  ]);
  const litres = loss.rows[0]?.litres ?? 0;
  return {
    date: localDate(atMs, options.timeZone),
    windowStartMs: atMs - WINDOW_MS,
    windowEndMs: atMs,
    open: open.rows,
    openTotal: open.rows.reduce((s, r) => s + r.open, 0),
    unacknowledgedTotal: open.rows.reduce((s, r) => s + r.unacknowledged, 0),
    opened: opened.rows.map(toAlert),
    openedTotal: openedCount.rows[0]?.n ?? 0,
    newLeaks: leaks.rows.map(toAlert),
    newLeaksTotal: leaksCount.rows[0]?.n ?? 0,
    waterLoss: {
      litres,
      eur: (litres / 1000) * options.priceEurPerM3,
      counted: loss.rows[0]?.counted ?? 0,
      unestimated: loss.rows[0]?.unestimated ?? 0,
    },
  };
}

const LEAK_LABELS: Record<Locale, Record<string, string>> = {
  fr: { leak: 'fuite', burst: 'rupture', backflow: "retour d'eau" },
  en: { leak: 'leak', burst: 'burst', backflow: 'backflow' },
};

/** The digest email (subject, text and simple HTML) in `locale` (pure). */
export function renderDigest(
  data: DigestData,
  options: Pick<DigestOptions, 'timeZone' | 'locale' | 'priceEurPerM3'>,
): { subject: string; text: string; html: string } {
  const { locale, timeZone } = options;
  const fr = locale === 'fr';
  const at = (ms: number) => shortDateTime(ms, locale, timeZone);
  const plural = (n: number, one: string, many: string) => (n > 1 || (!fr && n !== 1) ? many : one);
  const date = slashDate(data.date);
  const openWords = fr
    ? `${data.openTotal} ${plural(data.openTotal, 'alerte ouverte', 'alertes ouvertes')}`
    : `${data.openTotal} ${plural(data.openTotal, 'open alert', 'open alerts')}`;
  const leakWords = fr
    ? `${data.newLeaksTotal} ${plural(data.newLeaksTotal, 'nouvelle fuite', 'nouvelles fuites')}`
    : `${data.newLeaksTotal} ${plural(data.newLeaksTotal, 'new leak', 'new leaks')}`;
  const subject = fr
    ? `[Vigie] Synthèse du ${date} : ${openWords}, ${leakWords}`
    : `[Vigie] Digest for ${date}: ${openWords}, ${leakWords}`;
  const sep = fr ? ' : ' : ': ';
  const more = (shown: number, total: number) =>
    total > shown ? [fr ? `  … et ${total - shown} de plus` : `  … and ${total - shown} more`] : [];
  const state = (a: DigestAlert) =>
    a.resolvedAtMs === null
      ? fr
        ? 'en cours'
        : 'ongoing'
      : fr
        ? `terminée ${at(a.resolvedAtMs)}`
        : `resolved ${at(a.resolvedAtMs)}`;
  const rate = (a: DigestAlert) =>
    a.rateLph === null
      ? fr
        ? 'débit inconnu'
        : 'flow unknown'
      : `${fr ? 'env.' : 'about'} ${formatLph(a.rateLph, locale)}`;
  const loss = data.waterLoss;
  const m3 = `${formatNumber(loss.litres / 1000, locale, 3)} m³`;
  const litres = `${formatNumber(loss.litres, locale, 0)} L`;
  const price = `${formatEur(options.priceEurPerM3, locale)}/m³`;

  const head = fr
    ? `Synthèse Vigie du ${date} : les 24 h du ${at(data.windowStartMs)} au ${at(data.windowEndMs)} (${timeZone}).`
    : `Vigie digest for ${date}: the 24 h from ${at(data.windowStartMs)} to ${at(data.windowEndMs)} (${timeZone}).`;
  const openHead = fr
    ? `Alertes ouvertes${sep}${data.openTotal} (dont ${data.unacknowledgedTotal} ${plural(data.unacknowledgedTotal, 'non acquittée', 'non acquittées')})`
    : `Open alerts${sep}${data.openTotal} (${data.unacknowledgedTotal} unacknowledged)`;
  const openRows = data.open.map((r) => [
    r.kind,
    r.type,
    String(r.open),
    fr
      ? `${r.unacknowledged} ${plural(r.unacknowledged, 'non acquittée', 'non acquittées')}`
      : `${r.unacknowledged} unacknowledged`,
  ]);
  const openedHead = fr
    ? `Alertes ouvertes ces dernières 24 h${sep}${data.openedTotal}`
    : `Alerts opened in the last 24 h${sep}${data.openedTotal}`;
  const openedRows = data.opened.map((a) => [at(a.openedAtMs), a.deviceId, a.type, a.severity, a.summary]);
  const leaksHead = fr
    ? `Nouvelles fuites et ruptures (24 h)${sep}${data.newLeaksTotal}`
    : `New leaks and bursts (24 h)${sep}${data.newLeaksTotal}`;
  const leakRows = data.newLeaks.map((a) => [
    a.deviceId,
    LEAK_LABELS[locale][a.type] ?? a.type,
    rate(a),
    `${fr ? 'depuis' : 'since'} ${at(a.openedAtMs)}`,
    state(a),
  ]);
  const lossHead = fr
    ? `Eau perdue estimée sur 24 h${sep}${m3} (${litres}), soit ${formatEur(loss.eur, locale)} à ${price}`
    : `Estimated water lost over 24 h${sep}${m3} (${litres}), ${formatEur(loss.eur, locale)} at ${price}`;
  const lossNote = fr
    ? `Fuites, ruptures et retours d'eau${sep}débit estimé × heures ouvertes dans la fenêtre (${loss.counted} ${plural(loss.counted, 'alerte', 'alertes')}).` +
      (loss.unestimated > 0
        ? ` ${loss.unestimated} ${plural(loss.unestimated, 'alerte sans débit estimé non comptée', 'alertes sans débit estimé non comptées')}.`
        : '')
    : `Leaks, bursts and backflows${sep}estimated flow × hours open within the window (${loss.counted} ${plural(loss.counted, 'alert', 'alerts')}).` +
      (loss.unestimated > 0
        ? ` ${loss.unestimated} ${plural(loss.unestimated, 'alert', 'alerts')} without a flow estimate not counted.`
        : '');
  const none = fr ? '  (aucune)' : '  (none)';
  const section = (title: string, rows: string[][], shown: number, total: number) => [
    title,
    ...(rows.length > 0 ? [...textTable(rows), ...more(shown, total)] : [none]),
    '',
  ];
  const footer = fr
    ? 'Message automatique de Vigie. Ne répondez pas à ce message.'
    : 'Automatic message from Vigie. Please do not reply.';
  const text = [
    head,
    '',
    ...section(openHead, openRows, data.open.length, data.open.length),
    ...section(openedHead, openedRows, data.opened.length, data.openedTotal),
    ...section(leaksHead, leakRows, data.newLeaks.length, data.newLeaksTotal),
    lossHead,
    `  ${lossNote}`,
    '',
    footer,
    '',
  ].join('\n');

  const htmlSection = (title: string, headCells: string[], rows: string[][], shown: number, total: number) =>
    `<h3>${escapeHtml(title)}</h3>\n` +
    (rows.length > 0 ? htmlTable(headCells, rows) : `<p>${fr ? '(aucune)' : '(none)'}</p>`) +
    (total > shown ? `\n<p>${escapeHtml(more(shown, total)[0]?.trim() ?? '')}</p>` : '');
  const cols = fr
    ? {
        open: ["Type d'appareil", 'Type', 'Ouvertes', 'Non acquittées'],
        opened: ['Ouverte', 'Appareil', 'Type', 'Gravité', 'Résumé'],
        leaks: ['Compteur', 'Type', 'Débit', 'Depuis', 'État'],
      }
    : {
        open: ['Kind', 'Type', 'Open', 'Unacknowledged'],
        opened: ['Opened', 'Device', 'Type', 'Severity', 'Summary'],
        leaks: ['Meter', 'Type', 'Flow', 'Since', 'State'],
      };
  const html = [
    `<!doctype html><html lang="${locale}"><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head><body>`,
    `<p>${escapeHtml(head)}</p>`,
    htmlSection(
      openHead,
      cols.open,
      data.open.map((r) => [r.kind, r.type, String(r.open), String(r.unacknowledged)]),
      data.open.length,
      data.open.length,
    ),
    htmlSection(openedHead, cols.opened, openedRows, data.opened.length, data.openedTotal),
    htmlSection(
      leaksHead,
      cols.leaks,
      data.newLeaks.map((a) => [
        a.deviceId,
        LEAK_LABELS[locale][a.type] ?? a.type,
        rate(a),
        at(a.openedAtMs),
        state(a),
      ]),
      data.newLeaks.length,
      data.newLeaksTotal,
    ),
    `<h3>${escapeHtml(lossHead)}</h3>`,
    `<p>${escapeHtml(lossNote)}</p>`,
    `<p style="color:#666">${escapeHtml(footer)}</p>`,
    '</body></html>',
    '',
  ].join('\n');
  return { subject, text, html };
}

/** The digest's messages: one email per recipient (duplicates removed, case-insensitive), due at `atMs` (pure). */
export function digestMessages(data: DigestData, options: DigestOptions, atMs: number): QueuedMessage[] {
  const email = renderDigest(data, options);
  const recipients = [...new Set(options.recipients.map((r) => r.trim().toLowerCase()).filter((r) => r !== ''))];
  return recipients.map((to) => ({
    key: `digest:${data.date}:email:${to}`,
    subject: `digest:${data.date}`,
    purpose: 'digest',
    locale: options.locale,
    message: { kind: 'email', to, ...email },
    notBeforeMs: atMs,
  }));
}

/** Reads, renders and queues the digest of the 24 h ending at `atMs`; how many messages were new in the log. */
export async function runDigest(
  db: SqlExecutor,
  atMs: number,
  options: DigestOptions,
): Promise<{ date: string; queued: number; recipients: number }> {
  const data = await loadDigest(db, atMs, options);
  const messages = digestMessages(data, options, atMs);
  const queued = await enqueueMessages(db, messages);
  return { date: data.date, queued, recipients: messages.length };
}
