import { zoneOffsetMs } from '../../core/local-time.ts';
import { toGsm7 } from '../../core/sms-text.ts';
import type { TariffTable } from './tariffs.ts';

/**
 * The SMS a parking driver gets (issue 8), pure: receipt, expiry reminder, extension and stop confirmations, help
 * and the "which session?" questions. French by default, English for locale `en`; every text goes through
 * core/sms-text.ts `toGsm7` and stays within 2 GSM-7 segments (306 septets) for a receipt URL up to 60 characters,
 * the others within one (160). Times are local `HH:MM` (the city's time zone), with the day when the end is not on
 * the day of the message ("jusqu'au lun. 06/04 à 09:30"). Stopping is advertised as FIN, never STOP or END: those,
 * sent alone, unsubscribe the number from every SMS (alerting/webhooks/keywords.ts).
 */

/** Language of a driver's messages. */
export type Locale = 'fr' | 'en';

const DAY_MS = 86_400_000;
const FR_DAYS = ['dim.', 'lun.', 'mar.', 'mer.', 'jeu.', 'ven.', 'sam.'];
const EN_DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
/** Example plate in help and error replies. */
export const EXAMPLE_PLATE = 'AB-123-CD';

const pad2 = (n: number) => String(n).padStart(2, '0');

/** Amount in euros: `2,40 €` (fr), `€2.40` (en). */
export function formatEuros(cents: number, locale: Locale): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(Math.round(cents));
  const euros = Math.floor(abs / 100);
  const rest = pad2(abs % 100);
  return locale === 'en' ? `${sign}€${euros}.${rest}` : `${sign}${euros},${rest} €`;
}

/** A duration: `45 min`, `2h`, `1h30`. */
export function formatDuration(minutes: number): string {
  if (minutes < 60) return `${minutes} min`;
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return m === 0 ? `${h}h` : `${h}h${pad2(m)}`;
}

function wallOf(ms: number, timeZone: string): Date {
  return new Date(ms + zoneOffsetMs(timeZone, ms));
}

/** Local wall-clock time `HH:MM` of `ms` in `timeZone`. */
export function formatLocalTime(ms: number, timeZone: string): string {
  const d = wallOf(ms, timeZone);
  return `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}`;
}

/** "jusqu'à 14:05" / "until 14:05", with the day when `endMs` is not on the local day of `nowMs`. */
export function formatUntil(endMs: number, nowMs: number, timeZone: string, locale: Locale): string {
  const end = wallOf(endMs, timeZone);
  const sameDay = Math.floor(end.getTime() / DAY_MS) === Math.floor(wallOf(nowMs, timeZone).getTime() / DAY_MS);
  const time = `${pad2(end.getUTCHours())}:${pad2(end.getUTCMinutes())}`;
  if (sameDay) return locale === 'en' ? `until ${time}` : `jusqu'à ${time}`;
  const date = `${pad2(end.getUTCDate())}/${pad2(end.getUTCMonth() + 1)}`;
  return locale === 'en'
    ? `until ${EN_DAYS[end.getUTCDay()]} ${date} ${time}`
    : `jusqu'au ${FR_DAYS[end.getUTCDay()]} ${date} à ${time}`;
}

/** What a receipt says. */
export interface ReceiptInput {
  readonly reference: string;
  readonly zone: string;
  readonly plate: string;
  /** When the session started (the message's day), epoch ms. */
  readonly startMs: number;
  readonly endMs: number;
  readonly amountCents: number;
  /** The verification link (reference.ts `receiptUrl`). */
  readonly url: string;
  readonly locale: Locale;
  readonly timeZone: string;
}

/** The receipt SMS of a new session: reference, zone, plate, end, amount, verification link, how to extend/stop. */
export function receiptText(r: ReceiptInput): string {
  const until = formatUntil(r.endMs, r.startMs, r.timeZone, r.locale);
  const amount = formatEuros(r.amountCents, r.locale);
  return toGsm7(
    r.locale === 'en'
      ? `Parking paid. Ref ${r.reference}, zone ${r.zone}, ${r.plate}, ${until}, ${amount}. Receipt: ${r.url} Extend: EXTEND 30. Stop: FIN`
      : `Stationnement payé. Réf ${r.reference}, zone ${r.zone}, ${r.plate}, ${until}, ${amount}. Justificatif : ${r.url} Prolonger : PROLONGER 30. Terminer : FIN`,
  );
}

/** What an expiry reminder says. */
export interface ReminderInput {
  readonly plate: string;
  readonly zone: string;
  readonly endMs: number;
  /** When the reminder is sent, epoch ms. */
  readonly nowMs: number;
  /** Minutes suggested in the reply keyword (30). */
  readonly extendMinutes?: number;
  readonly locale: Locale;
  readonly timeZone: string;
}

/** The reminder SMS a few minutes before expiry: "… expire à 14:05. Répondez PROLONGER 30 …". */
export function reminderText(r: ReminderInput): string {
  const m = r.extendMinutes ?? 30;
  const end = formatUntil(r.endMs, r.nowMs, r.timeZone, r.locale).replace(/^jusqu'(à|au) /, '');
  const endEn = end.replace(/^until /, '');
  return toGsm7(
    r.locale === 'en'
      ? `Parking ${r.plate} zone ${r.zone} ends at ${endEn}. Reply EXTEND ${m} to add ${formatDuration(m)}, FIN to stop.`
      : `Stationnement ${r.plate} zone ${r.zone} : expire à ${end}, répondez PROLONGER ${m} pour ${formatDuration(m)} de plus, FIN pour terminer.`,
  );
}

/** What an extension confirmation says. */
export interface ExtensionInput {
  readonly reference: string;
  readonly plate: string;
  readonly addedMinutes: number;
  readonly endMs: number;
  readonly amountCents: number;
  readonly nowMs: number;
  readonly locale: Locale;
  readonly timeZone: string;
}

/** The SMS confirming an extension: minutes added, new end, amount charged. */
export function extensionText(r: ExtensionInput): string {
  const until = formatUntil(r.endMs, r.nowMs, r.timeZone, r.locale);
  const amount = formatEuros(r.amountCents, r.locale);
  const added = formatDuration(r.addedMinutes);
  return toGsm7(
    r.locale === 'en'
      ? `Parking ${r.plate} extended by ${added}, ${until}. Charged: ${amount}. Ref ${r.reference}`
      : `Stationnement ${r.plate} prolongé de ${added}, ${until}. Montant : ${amount}. Réf ${r.reference}`,
  );
}

/** The SMS refusing an extension past the zone's maximum stay, with what is still possible. */
export function extensionRefusedText(
  zone: string,
  maxStayMinutes: number,
  remainingMinutes: number,
  locale: Locale,
): string {
  const max = formatDuration(maxStayMinutes);
  if (remainingMinutes <= 0) {
    return toGsm7(
      locale === 'en'
        ? `Not extended: the ${max} maximum stay in zone ${zone} is reached. Please move your vehicle.`
        : `Prolongation refusée : durée max de ${max} atteinte en zone ${zone}. Merci de libérer la place.`,
    );
  }
  return toGsm7(
    locale === 'en'
      ? `Not extended: ${max} maximum stay in zone ${zone}. You can add ${formatDuration(remainingMinutes)} at most: EXTEND ${remainingMinutes}`
      : `Prolongation refusée : durée max de ${max} en zone ${zone}. Possible au plus : ${formatDuration(remainingMinutes)}, envoyez PROLONGER ${remainingMinutes}`,
  );
}

/** What a stop confirmation says. */
export interface StopInput {
  readonly reference: string;
  readonly plate: string;
  readonly stoppedAtMs: number;
  /** Final amount, euro cents. */
  readonly amountCents: number;
  /** Refunded, euro cents (0: not mentioned). */
  readonly refundCents: number;
  readonly locale: Locale;
  readonly timeZone: string;
}

/** The SMS confirming a stop (FIN): when, the final amount, the refund if any. */
export function stopText(r: StopInput): string {
  const at = formatLocalTime(r.stoppedAtMs, r.timeZone);
  const amount = formatEuros(r.amountCents, r.locale);
  const refund = formatEuros(r.refundCents, r.locale);
  return toGsm7(
    r.locale === 'en'
      ? `Parking ${r.plate} stopped at ${at}. Final amount: ${amount}${r.refundCents > 0 ? ` (${refund} refunded)` : ''}. Ref ${r.reference}`
      : `Stationnement ${r.plate} terminé à ${at}. Montant final : ${amount}${r.refundCents > 0 ? ` (${refund} remboursés)` : ''}. Réf ${r.reference}`,
  );
}

/** The example start command of a table: `PARK <first zone> AB-123-CD 1h30`. */
export function exampleStart(table: TariffTable, zone?: string, plate?: string, duration = '1h30'): string {
  return `PARK ${zone ?? Object.keys(table.zones)[0] ?? 'rouge'} ${plate ?? EXAMPLE_PLATE} ${duration}`;
}

/** The zones of a table, as a driver writes them, comma-separated, cut to `maxChars` with "...". */
function zoneList(table: TariffTable, maxChars: number): string {
  const all = Object.keys(table.zones).join(', ');
  return all.length <= maxChars ? all : `${all.slice(0, maxChars - 3).replace(/,?\s*\w*$/, '')}...`;
}

/** The help reply (AIDE / HELP): how to start, extend and stop, and the zones; one segment. */
export function helpText(table: TariffTable, locale: Locale): string {
  const example = exampleStart(table);
  const head =
    locale === 'en'
      ? `Parking: PARK zone plate duration, e.g. ${example}. Extend: EXTEND 30. Stop: FIN. Zones: `
      : `Stationner : PARK zone plaque durée, ex. ${example}. Prolonger : PROLONGER 30. Terminer : FIN. Zones : `;
  return toGsm7(`${head}${zoneList(table, 160 - head.length)}`);
}

/** The reply when a driver extends or stops with no session running for their number (and plate). */
export function noSessionText(table: TariffTable, locale: Locale): string {
  return toGsm7(
    locale === 'en'
      ? `No parking session running for this number. To start one: ${exampleStart(table)}`
      : `Aucun stationnement en cours pour ce numéro. Pour en démarrer un : ${exampleStart(table)}`,
  );
}

/** The reply when several sessions run for the number: name the plate (`FIN AB-123-CD`). */
export function whichPlateText(action: 'extend' | 'stop', plates: readonly string[], locale: Locale): string {
  const list = plates.slice(0, 4).join(', ');
  const example =
    action === 'stop' ? `FIN ${plates[0] ?? EXAMPLE_PLATE}` : `PROLONGER 30 ${plates[0] ?? EXAMPLE_PLATE}`;
  const hint = action === 'stop' ? example : locale === 'en' ? example.replace('PROLONGER', 'EXTEND') : example;
  return toGsm7(
    locale === 'en'
      ? `Several sessions running (${list}). Add the plate, e.g. ${hint}`
      : `Plusieurs stationnements en cours (${list}). Précisez la plaque, ex. ${hint}`,
  );
}

/** What the refusal of a second start for a plate already parked in the zone says. */
export interface AlreadyRunningInput {
  readonly plate: string;
  readonly zone: string;
  readonly endMs: number;
  readonly nowMs: number;
  readonly locale: Locale;
  readonly timeZone: string;
}

/**
 * The reply to a start for a plate with a session still running in that zone: nothing is charged twice; to add
 * time, PROLONGER (the sender's own session) — one segment.
 */
export function alreadyRunningText(r: AlreadyRunningInput): string {
  const until = formatUntil(r.endMs, r.nowMs, r.timeZone, r.locale);
  return toGsm7(
    r.locale === 'en'
      ? `Parking ${r.plate} zone ${r.zone} already paid ${until}. Nothing charged. To add time: EXTEND 30 ${r.plate}`
      : `Stationnement ${r.plate} zone ${r.zone} déjà payé ${until}. Rien débité. Pour ajouter du temps : PROLONGER 30 ${r.plate}`,
  );
}
