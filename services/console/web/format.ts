/** French labels and number/date formats shared by the pages (the city speaks French). */

/** Report categories, as the API names them → their French label. */
export const CATEGORY_LABELS: Readonly<Record<string, string>> = {
  roads: 'Voirie',
  'green-spaces': 'Espaces verts',
  'public-lighting': 'Éclairage public',
  cleanliness: 'Propreté',
  other: 'Autre',
};

/** Report statuses → French. */
export const REPORT_STATUS_LABELS: Readonly<Record<string, string>> = {
  received: 'Reçu',
  assigned: 'Pris en charge',
  'in-progress': 'En cours',
  resolved: 'Résolu',
  rejected: 'Rejeté',
};

/** Alert types → French. */
export const ALERT_TYPE_LABELS: Readonly<Record<string, string>> = {
  leak: 'Fuite',
  burst: 'Rupture',
  backflow: 'Retour d’eau',
  'no-consumption': 'Aucune consommation',
  'no-data': 'Silence',
  'low-battery': 'Pile faible',
  'device-flag': 'Signal de l’appareil',
  'lamp-out': 'Lampe éteinte',
  'day-burner': 'Allumée de jour',
  'power-anomaly': 'Puissance anormale',
  fault: 'Panne',
  anomaly: 'Anomalie',
  'station-empty': 'Station vide',
  'station-full': 'Station pleine',
  'car-park-full': 'Parking complet',
};

/** Severities and device states → French. */
export const STATE_LABELS: Readonly<Record<string, string>> = {
  ok: 'Normal',
  info: 'Information',
  warning: 'Avertissement',
  critical: 'Critique',
  inactive: 'Inactif',
  open: 'Ouverte',
  acknowledged: 'Prise en charge',
  resolved: 'Résolue',
};

/** Device kinds → French. */
export const KIND_LABELS: Readonly<Record<string, string>> = {
  'water-meter': 'Compteur d’eau',
  streetlight: 'Lampadaire',
  'parking-meter': 'Horodateur',
  sensor: 'Capteur',
  'bike-station': 'Station vélo',
  'car-share': 'Voiture partagée',
  'car-park': 'Parking',
};

/** A label from a table, or the raw value when the table has none. */
export function label(table: Readonly<Record<string, string>>, value: string): string {
  return table[value] ?? value;
}

const litres = new Intl.NumberFormat('fr-FR', { maximumFractionDigits: 0 });
const cubic = new Intl.NumberFormat('fr-FR', { maximumFractionDigits: 2 });

/** A volume: litres under 10 m³, cubic metres above. */
export function volume(l: number): string {
  return l < 10_000 ? `${litres.format(l)} L` : `${cubic.format(l / 1000)} m³`;
}

/** A date and time in the city's time zone, e.g. `26/11/2026 14:05`. */
export function dateTime(iso: string, timeZone: string): string {
  return new Intl.DateTimeFormat('fr-FR', { dateStyle: 'short', timeStyle: 'short', timeZone }).format(new Date(iso));
}

/** How long ago, roughly, in French (`il y a 5 min`). */
export function ago(iso: string, nowMs: number = Date.now()): string {
  const s = Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000));
  if (s < 60) return 'à l’instant';
  if (s < 3600) return `il y a ${Math.floor(s / 60)} min`;
  if (s < 86_400) return `il y a ${Math.floor(s / 3600)} h`;
  return `il y a ${Math.floor(s / 86_400)} j`;
}

/**
 * A time axis label in French, in the city's time zone, for ticks `incrementS` seconds apart: months (`nov. 2026`),
 * days (`26 nov.`), or hours (`14 h`, the date at midnight).
 */
export function timeLabel(ms: number, incrementS: number, timeZone: string): string {
  const format = (o: Intl.DateTimeFormatOptions) => new Intl.DateTimeFormat('fr-FR', { timeZone, ...o }).format(ms);
  if (incrementS >= 28 * 86_400) return format({ month: 'short', year: 'numeric' });
  if (incrementS >= 86_400) return format({ day: 'numeric', month: 'short' });
  // The hour as a bare number (fr-FR writes "14 h" itself, en-GB "14").
  const hour = Number(new Intl.DateTimeFormat('en-GB', { timeZone, hour: '2-digit', hourCycle: 'h23' }).format(ms));
  return hour === 0 ? format({ day: 'numeric', month: 'short' }) : `${hour} h`;
}

const currency = new Intl.NumberFormat('fr-FR', { style: 'currency', currency: 'EUR' });
const monthFormat = new Intl.DateTimeFormat('fr-FR', { month: 'long', year: 'numeric', timeZone: 'UTC' });

/** An amount in euro cents as French euros (`12,40 €`). */
export function euros(cents: number): string {
  return currency.format(cents / 100);
}

/** A local month `YYYY-MM` in French words (`octobre 2026`). */
export function monthName(month: string): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return monthFormat.format(new Date(Date.UTC(y, m - 1, 1)));
}

const dayFormat = new Intl.DateTimeFormat('fr-FR', { day: 'numeric', month: 'short', timeZone: 'UTC' });

/** A local date `YYYY-MM-DD` as a short French day (`5 oct.`). */
export function dayName(date: string): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  return dayFormat.format(new Date(Date.UTC(y, m - 1, d)));
}
