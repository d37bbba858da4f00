import type { InvoiceLine } from './billing.ts';

/**
 * Words of the mobility invoice (pure): amounts (`12,40 €` / `€12.40`), dates (`26/11/2026`), month names and one
 * description per line, in French (the invoice's own language, stored with it) or English (the email of an account
 * set to English).
 */

/** Languages of the invoice email (those of `notifications.v1`). */
export type Locale = 'fr' | 'en';

/** Euro cents as money: fr `1 234,50 €`, `-1,50 €`; en `€1,234.50`, `-€1.50` (plain spaces, no NBSP). */
export function formatCents(amountCents: number, locale: Locale): string {
  const sign = amountCents < 0 ? '-' : '';
  const abs = Math.abs(Math.trunc(amountCents));
  const euros = String(Math.floor(abs / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, locale === 'fr' ? ' ' : ',');
  const cents = String(abs % 100).padStart(2, '0');
  return locale === 'fr' ? `${sign}${euros},${cents} €` : `${sign}€${euros}.${cents}`;
}

/** A local date `YYYY-MM-DD` written `DD/MM/YYYY` (fr and en-GB alike). */
export function slashDate(date: string): string {
  const [y, m, d] = date.split('-');
  return `${d}/${m}/${y}`;
}

/** A month `YYYY-MM` in words: fr "novembre 2026", en "November 2026". */
export function monthName(month: string, locale: Locale): string {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return new Intl.DateTimeFormat(locale === 'fr' ? 'fr-FR' : 'en-GB', {
    month: 'long',
    year: 'numeric',
    timeZone: 'UTC',
  }).format(Date.UTC(y, m - 1, 15));
}

/** Kinds of usage in words (subtotals). */
export const KIND_NAMES: Record<Locale, Record<InvoiceLine['kind'], string>> = {
  fr: {
    'transit-validation': 'Transports en commun',
    'bike-rental': 'Vélo en libre-service',
    'car-share-trip': 'Autopartage',
    'parking-session': 'Stationnement',
  },
  en: {
    'transit-validation': 'Public transport',
    'bike-rental': 'Bike share',
    'car-share-trip': 'Car share',
    'parking-session': 'Parking',
  },
};

function route(from: string | undefined, to: string | undefined): string {
  if (from && to) return `${from} → ${to}`;
  return from ?? to ?? '';
}

function duration(minutes: number, locale: Locale): string {
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  if (h === 0) return `${m} min`;
  return m === 0 ? `${h} h` : `${h} h ${String(m).padStart(2, '0')}${locale === 'fr' ? '' : ' min'}`;
}

const KM_FORMATS: Record<Locale, Intl.NumberFormat> = {
  fr: new Intl.NumberFormat('fr-FR', { maximumFractionDigits: 1 }),
  en: new Intl.NumberFormat('en-GB', { maximumFractionDigits: 1 }),
};

function km(value: number, locale: Locale): string {
  return `${KM_FORMATS[locale].format(value).replace(/\s/g, ' ')} km`;
}

/** The description of an invoice line, from its kind, type and facts. */
export function describeLine(line: Omit<InvoiceLine, 'description'>, locale: Locale): string {
  const f = line.facts;
  const fr = locale === 'fr';
  const where = (text: string) => (text ? ` (${text})` : '');
  if (line.type === 'cap') {
    const cap = formatCents(f.capCents ?? 0, locale);
    switch (line.capApplied) {
      case 'transit-daily':
        return fr ? `Plafond journalier transports atteint (${cap})` : `Daily public transport cap reached (${cap})`;
      case 'transit-monthly':
        return fr ? `Plafond mensuel transports atteint (${cap})` : `Monthly public transport cap reached (${cap})`;
      default:
        return fr ? `Plafond journalier vélo atteint (${cap})` : `Daily bike share cap reached (${cap})`;
    }
  }
  switch (line.kind) {
    case 'transit-validation':
      if (line.type === 'transfer') {
        return fr
          ? `Correspondance ligne ${f.line}${where(f.stationFrom ?? '')}, gratuite (trajet commencé à ${f.tripStartTime})`
          : `Transfer, line ${f.line}${where(f.stationFrom ?? '')}, free (trip started at ${f.tripStartTime})`;
      }
      return fr
        ? `Trajet ligne ${f.line}${where(f.stationFrom ?? '')}`
        : `Trip, line ${f.line}${where(f.stationFrom ?? '')}`;
    case 'bike-rental':
      return fr
        ? `Location de vélo${where(route(f.stationFrom, f.stationTo))}, ${duration(f.minutes ?? 0, locale)}`
        : `Bike rental${where(route(f.stationFrom, f.stationTo))}, ${duration(f.minutes ?? 0, locale)}`;
    case 'car-share-trip':
      return fr
        ? `Autopartage${where(route(f.stationFrom, f.stationTo))}, ${duration(f.minutes ?? 0, locale)} et ${km(f.km ?? 0, locale)}`
        : `Car share${where(route(f.stationFrom, f.stationTo))}, ${duration(f.minutes ?? 0, locale)} and ${km(f.km ?? 0, locale)}`;
    default:
      return fr
        ? `Stationnement zone ${f.zone}, ${duration(f.minutes ?? 0, locale)}`
        : `Parking, zone ${f.zone}, ${duration(f.minutes ?? 0, locale)}`;
  }
}
