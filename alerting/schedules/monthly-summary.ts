import { escapeHtml } from '../../core/html.ts';
import { smsSegments, toGsm7 } from '../../core/sms-text.ts';
import type { SqlExecutor } from '../../core/store/store.ts';
import { enqueueMessages, type QueuedMessage } from '../delivery-log.ts';
import { formatEur, formatNumber, type Locale, residentEmailHeaders } from '../messages.ts';
import { unsubscribeUrl } from '../webhooks/unsubscribe-token.ts';
import { monthBounds, previousMonth } from './periods.ts';
import { monthName } from './text.ts';

/**
 * The residents' monthly summary: to every confirmed subscription of a water meter, on its channel and in its
 * language, the meter's consumption over the last month (from `alerting_consumption_daily`, the rollups read model):
 * m³, litres per day on average over the days with data, the change against the month before when that month has
 * data, the leak and burst alerts open during the month, and the estimated cost at `priceEurPerM3`. An SMS is one
 * GSM-7 segment (≤ 160 septets); an email gives the same with a little more. A month without data says so plainly
 * and gives no figure; a month with some days missing gives its totals over the days known and says how many.
 *
 * Queued under `summary:<YYYY-MM>:<channel>:<address>:<deviceId>` (delivery-log.ts): a second run or a second
 * instance queues nothing new. A number that sent STOP is left to the sweep, which suppresses its SMS before sending
 * (the one place that decides). Subscriptions are read in pages of {@link SUMMARY_PAGE_SIZE}: memory stays bounded
 * whatever the number of residents. A device known (`alerting_devices`) to be of another kind is skipped.
 */

/** Subscriptions read and queued per page. */
export const SUMMARY_PAGE_SIZE = 500;

/** What the monthly summary needs besides the store. */
export interface MonthlySummaryOptions {
  /** The city's time zone (VIGIE_TZ): the month's local days. */
  readonly timeZone: string;
  /** Water + sanitation price, €/m³. */
  readonly priceEurPerM3: number;
  /** The utility's phone number for residents (empty: "your water utility"). */
  readonly utilityContact?: string;
  /** Unsubscribe links in emails (the public URL and the links' secret); absent: no link. */
  readonly unsubscribe?: { readonly publicUrl: string; readonly secret: string } | undefined;
}

/** Consumption of one meter over one month's days with data. */
export interface MonthConsumption {
  readonly litres: number;
  readonly daysWithData: number;
}

/** What one meter's summary says. */
export interface MeterMonth {
  readonly deviceId: string;
  /** The month summarised, `YYYY-MM`. */
  readonly month: string;
  /** Days in the month. */
  readonly days: number;
  /** Null when no day of the month has data. */
  readonly consumption: MonthConsumption | null;
  /** The month before; null when it has no data. */
  readonly previous: MonthConsumption | null;
  /** Leak and burst alerts open at some time during the month. */
  readonly leakAlerts: number;
}

/** Litres per day on average over the days with data. */
function perDay(c: MonthConsumption): number {
  return c.litres / c.daysWithData;
}

/** Change of the daily average against the month before, in whole percent; undefined when it cannot be said. */
export function changePercent(m: MeterMonth): number | undefined {
  if (!m.consumption || !m.previous) return undefined;
  const before = perDay(m.previous);
  if (before <= 0) return undefined;
  return Math.round(((perDay(m.consumption) - before) / before) * 100);
}

function signed(pct: number, locale: Locale): string {
  const n = `${pct > 0 ? '+' : pct < 0 ? '-' : '±'}${Math.abs(pct)}`;
  return locale === 'fr' ? `${n} %` : `${n}%`;
}

function m3(litres: number, locale: Locale): string {
  return `${formatNumber(litres / 1000, locale, 1)} m³`;
}

function contactOf(locale: Locale, utilityContact: string | undefined): string {
  const name = utilityContact?.trim();
  if (locale === 'fr') return name ? `le service des eaux au ${name}` : 'votre service des eaux';
  return name ? `the water utility on ${name}` : 'your water utility';
}

/** The summary SMS: GSM-7, one segment (≤ 160 septets); the most detailed wording that fits (pure). */
export function renderSummarySms(m: MeterMonth, locale: Locale, priceEurPerM3: number): string {
  const fr = locale === 'fr';
  const month = monthName(m.month, locale);
  const leaks =
    m.leakAlerts === 0
      ? fr
        ? 'Aucune alerte fuite.'
        : 'No leak alert.'
      : fr
        ? `${m.leakAlerts} alerte${m.leakAlerts > 1 ? 's' : ''} fuite.`
        : `${m.leakAlerts} leak alert${m.leakAlerts > 1 ? 's' : ''}.`;
  let candidates: string[];
  if (!m.consumption) {
    const base = fr
      ? `Vigie : aucune donnée de consommation n'est arrivée du compteur ${m.deviceId} en ${month}.`
      : `Vigie: no consumption data received for meter ${m.deviceId} in ${month}.`;
    candidates = [m.leakAlerts > 0 ? `${base} ${leaks}` : base, base];
  } else {
    const c = m.consumption;
    const partial = c.daysWithData < m.days ? (fr ? ` sur ${c.daysWithData} j` : ` over ${c.daysWithData} d`) : '';
    const lpd = `${formatNumber(perDay(c), locale, 0)} ${fr ? 'L/jour' : 'L/day'}`;
    const pct = changePercent(m);
    const prevMonth = monthName(previousMonth(m.month), locale).replace(/ \d{4}$/, '');
    const cmp = pct === undefined ? '' : ` (${signed(pct, locale)} vs ${prevMonth})`;
    const cost = formatEur((c.litres / 1000) * priceEurPerM3, locale);
    const head = fr
      ? `Vigie : compteur ${m.deviceId}, ${month} : ${m3(c.litres, locale)}${partial}, ${lpd}`
      : `Vigie: meter ${m.deviceId}, ${month}: ${m3(c.litres, locale)}${partial}, ${lpd}`;
    const money = fr ? `, env. ${cost}.` : `, about ${cost}.`;
    candidates = [
      `${head}${cmp}${money} ${leaks}`,
      `${head}${money} ${leaks}`,
      `${head}${cmp}${money}`,
      `${head}${money}`,
    ];
  }
  for (const candidate of candidates) {
    const text = toGsm7(candidate);
    if (smsSegments(text).segments === 1) return text;
  }
  // Only a very long device id gets here: cut, keeping one segment.
  let text = toGsm7(candidates[candidates.length - 1] ?? '');
  while (smsSegments(`${text}...`).segments > 1) text = text.slice(0, -1);
  return `${text}...`;
}

/** The summary email (subject, text and simple HTML) (pure). */
export function renderSummaryEmail(
  m: MeterMonth,
  locale: Locale,
  options: Pick<MonthlySummaryOptions, 'priceEurPerM3' | 'utilityContact'>,
  unsubscribeLink?: string,
): { subject: string; text: string; html: string } {
  const fr = locale === 'fr';
  const month = monthName(m.month, locale);
  const prevMonth = monthName(previousMonth(m.month), locale);
  const sep = fr ? ' : ' : ': ';
  const subject = fr
    ? `Vigie : votre consommation d'eau ${/^[aeiouéâ]/i.test(month) ? `d'${month}` : `de ${month}`} (compteur ${m.deviceId})`
    : `Vigie: your water consumption in ${month} (meter ${m.deviceId})`;
  const leaks = m.leakAlerts === 0 ? (fr ? 'aucune' : 'none') : String(m.leakAlerts);
  const leakLine = `${fr ? 'Alertes de fuite pendant le mois' : 'Leak alerts during the month'}${sep}${leaks}`;
  let paragraphs: string[][];
  if (!m.consumption) {
    paragraphs = [
      [
        fr
          ? `Nous n'avons reçu aucune donnée de consommation de votre compteur d'eau ${m.deviceId} en ${month} : nous ne pouvons donc pas vous donner de chiffres pour ce mois.`
          : `We received no consumption data from your water meter ${m.deviceId} in ${month}, so we cannot give you any figures for that month.`,
        fr
          ? `Si cela se reproduit, contactez ${contactOf(locale, options.utilityContact)}.`
          : `If this happens again, contact ${contactOf(locale, options.utilityContact)}.`,
      ],
      ...(m.leakAlerts > 0 ? [[leakLine]] : []),
    ];
  } else {
    const c = m.consumption;
    const pct = changePercent(m);
    const litres = `${formatNumber(c.litres, locale, 0)} L`;
    const lpd = `${formatNumber(perDay(c), locale, 0)} ${fr ? 'L par jour' : 'L per day'}`;
    const coverage =
      c.daysWithData < m.days
        ? fr
          ? ` sur les ${c.daysWithData} jours relevés (sur ${m.days})`
          : ` over the ${c.daysWithData} days with readings (of ${m.days})`
        : '';
    const cost = formatEur((c.litres / 1000) * options.priceEurPerM3, locale);
    const price = `${formatEur(options.priceEurPerM3, locale)}/m³`;
    const before = m.previous
      ? `${formatNumber(perDay(m.previous), locale, 0)} ${fr ? 'L par jour' : 'L per day'}${pct === undefined ? '' : `, ${signed(pct, locale)}`}`
      : fr
        ? 'pas de données'
        : 'no data';
    paragraphs = [
      [
        fr
          ? `Votre compteur d'eau ${m.deviceId} en ${month}${sep}`
          : `Your water meter ${m.deviceId} in ${month}${sep}`,
      ],
      [
        `- ${fr ? 'Consommation' : 'Consumption'}${sep}${m3(c.litres, locale)} (${litres})${coverage}`,
        `- ${fr ? 'En moyenne' : 'On average'}${sep}${lpd}`,
        `- ${fr ? `Par rapport à ${prevMonth}` : `Compared with ${prevMonth}`}${sep}${before}`,
        `- ${fr ? 'Coût estimé' : 'Estimated cost'}${sep}${cost} (${fr ? `eau et assainissement à ${price}` : `water and sanitation at ${price}`})`,
        `- ${leakLine}`,
      ],
    ];
  }
  const hello = fr ? 'Bonjour,' : 'Hello,';
  const footer = fr
    ? 'Message automatique de Vigie. Ne répondez pas à ce message.'
    : 'Automatic message from Vigie. Please do not reply.';
  const unsubscribe = unsubscribeLink
    ? `${fr ? 'Pour ne plus recevoir ces messages' : 'To stop receiving these messages'}${sep}${unsubscribeLink}`
    : undefined;
  const text = [
    hello,
    '',
    ...paragraphs.flatMap((p) => [...p, '']),
    footer,
    ...(unsubscribe ? [unsubscribe] : []),
    '',
  ].join('\n');
  const htmlParagraph = (p: string[]) =>
    p[0]?.startsWith('- ')
      ? `<ul>\n${p.map((l) => `<li>${escapeHtml(l.slice(2))}</li>`).join('\n')}\n</ul>`
      : p.map((l) => `<p>${escapeHtml(l)}</p>`).join('\n');
  const html = [
    `<!doctype html><html lang="${locale}"><head><meta charset="utf-8"><title>${escapeHtml(subject)}</title></head><body>`,
    `<p>${escapeHtml(hello)}</p>`,
    ...paragraphs.map(htmlParagraph),
    `<p style="color:#666">${escapeHtml(footer)}</p>`,
    ...(unsubscribeLink
      ? [
          `<p style="color:#666"><a href="${escapeHtml(unsubscribeLink)}">${fr ? 'Se désinscrire' : 'Unsubscribe'}</a></p>`,
        ]
      : []),
    '</body></html>',
    '',
  ].join('\n');
  return { subject, text, html };
}

interface SubscriptionRow {
  id: number;
  device_id: string;
  channel: 'sms' | 'email';
  address: string;
  locale: Locale;
}

async function monthConsumption(
  db: SqlExecutor,
  devices: readonly string[],
  fromDay: string,
  toDay: string,
): Promise<Map<string, MonthConsumption>> {
  const res = await db.query<{ device_id: string; litres: number; days: number }>(
    `SELECT device_id, sum(consumption_l)::double precision AS litres, count(*)::int AS days
       FROM alerting_consumption_daily
      WHERE device_id = ANY($1::text[]) AND day >= $2::date AND day < $3::date
      GROUP BY device_id`,
    [devices, fromDay, toDay],
  );
  return new Map(res.rows.map((r) => [r.device_id, { litres: r.litres, daysWithData: r.days }]));
}

/** Each meter's month as its summary says it, for `devices` (one query per figure, whatever the count). */
export async function loadMeterMonths(
  db: SqlExecutor,
  devices: readonly string[],
  month: string,
  timeZone: string,
): Promise<Map<string, MeterMonth>> {
  const bounds = monthBounds(month, timeZone);
  const before = monthBounds(previousMonth(month), timeZone);
  const unique = [...new Set(devices)];
  const [current, previous, leaks] = await Promise.all([
    monthConsumption(db, unique, bounds.firstDay, bounds.nextFirstDay),
    monthConsumption(db, unique, before.firstDay, before.nextFirstDay),
    db.query<{ device_id: string; n: number }>(
      `SELECT device_id, count(*)::int AS n FROM alerting_alerts
        WHERE device_id = ANY($1::text[]) AND type IN ('leak', 'burst')
          AND opened_at < $3 AND (resolved_at IS NULL OR resolved_at >= $2)
        GROUP BY device_id`,
      [unique, new Date(bounds.startMs).toISOString(), new Date(bounds.endMs).toISOString()],
    ),
  ]);
  const leakCounts = new Map(leaks.rows.map((r) => [r.device_id, r.n]));
  return new Map(
    unique.map((deviceId) => [
      deviceId,
      {
        deviceId,
        month,
        days: bounds.days,
        consumption: current.get(deviceId) ?? null,
        previous: previous.get(deviceId) ?? null,
        leakAlerts: leakCounts.get(deviceId) ?? 0,
      },
    ]),
  );
}

/** One subscription's message (pure). */
export function summaryMessage(
  sub: { id: number; deviceId: string; channel: 'sms' | 'email'; address: string; locale: Locale },
  m: MeterMonth,
  options: MonthlySummaryOptions,
  atMs: number,
): QueuedMessage {
  const base = {
    key: `summary:${m.month}:${sub.channel}:${sub.address}:${sub.deviceId}`,
    subject: `summary:${m.month}:${sub.deviceId}`,
    purpose: 'summary' as const,
    locale: sub.locale,
    notBeforeMs: atMs,
  };
  if (sub.channel === 'sms') {
    return {
      ...base,
      message: { kind: 'sms', to: sub.address, body: renderSummarySms(m, sub.locale, options.priceEurPerM3) },
    };
  }
  const link = options.unsubscribe
    ? unsubscribeUrl(options.unsubscribe.publicUrl, options.unsubscribe.secret, sub.id)
    : undefined;
  return {
    ...base,
    message: {
      kind: 'email',
      to: sub.address,
      ...renderSummaryEmail(m, sub.locale, options, link),
      // One-click unsubscribe in the mail client (RFC 2369, RFC 8058), as on alert emails.
      ...(link ? { headers: residentEmailHeaders(link) } : {}),
    },
  };
}

/**
 * Queues the summary of `month` (`YYYY-MM`) to every confirmed subscription of a water meter, due at `atMs`;
 * how many messages were new in the log and how many subscriptions were read.
 */
export async function runMonthlySummary(
  db: SqlExecutor,
  month: string,
  atMs: number,
  options: MonthlySummaryOptions,
): Promise<{ month: string; queued: number; subscriptions: number }> {
  let afterId = 0;
  let queued = 0;
  let subscriptions = 0;
  for (;;) {
    const page = await db.query<SubscriptionRow>(
      `SELECT s.id::int AS id, s.device_id, s.channel, s.address, s.locale
         FROM alerting_subscriptions s
        WHERE s.status = 'confirmed' AND s.id > $1
          AND NOT EXISTS (SELECT 1 FROM alerting_devices d WHERE d.device_id = s.device_id AND d.kind <> 'water-meter')
        ORDER BY s.id LIMIT ${SUMMARY_PAGE_SIZE}`,
      [afterId],
    );
    if (page.rows.length === 0) break;
    const months = await loadMeterMonths(
      db,
      page.rows.map((r) => r.device_id),
      month,
      options.timeZone,
    );
    const messages = page.rows.map((r) =>
      summaryMessage(
        { id: r.id, deviceId: r.device_id, channel: r.channel, address: r.address, locale: r.locale },
        months.get(r.device_id) as MeterMonth,
        options,
        atMs,
      ),
    );
    queued += await enqueueMessages(db, messages);
    subscriptions += page.rows.length;
    afterId = page.rows[page.rows.length - 1]?.id ?? afterId;
    if (page.rows.length < SUMMARY_PAGE_SIZE) break;
  }
  return { month, queued, subscriptions };
}
