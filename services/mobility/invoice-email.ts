import { escapeHtml } from '../../core/html.ts';
import type { Invoice } from './billing.ts';
import { describeLine, formatCents, KIND_NAMES, type Locale, monthName, slashDate } from './text.ts';
import { USAGE_KINDS } from './usage.ts';

/**
 * The invoice email (pure): a subject, a plain-text body and an HTML body (every value escaped), in French or
 * English. Amounts `12,40 €` / `€12.40`, dates `26/11/2026`. Line descriptions are rebuilt from each line's facts in
 * the email's language (the stored invoice keeps its French ones). Sent only when `shouldEmailInvoice` (billing.ts).
 */

/** What the email says besides the invoice. */
export interface InvoiceEmailOptions {
  /** The account holder's name for the greeting; absent: no name. */
  readonly holderName?: string;
  /** Where the account holder sees their invoices (a link at the end); absent: no link. */
  readonly accountUrl?: string;
}

/** A rendered email. */
export interface RenderedEmail {
  readonly subject: string;
  readonly text: string;
  readonly html: string;
}

const WORDS = {
  fr: {
    subject: (month: string, total: string) => `Votre facture mobilité de ${month} : ${total}`,
    hello: (name?: string) => (name ? `Bonjour ${name},` : 'Bonjour,'),
    intro: (month: string) => `Voici la facture de votre compte mobilité pour ${month}.`,
    number: 'Facture n°',
    account: 'Compte',
    date: 'Date',
    time: 'Heure',
    detail: 'Détail',
    amount: 'Montant',
    subtotals: 'Sous-totaux',
    saved: 'Économisé grâce aux plafonds',
    total: 'Total à payer',
    empty: 'Aucune utilisation ce mois-ci : rien à payer.',
    tariff: (id: string) =>
      `Tarifs appliqués : ${id}. Le meilleur tarif est calculé automatiquement (plafonds journaliers et mensuel).`,
    link: 'Vos factures',
  },
  en: {
    subject: (month: string, total: string) => `Your mobility invoice for ${month}: ${total}`,
    hello: (name?: string) => (name ? `Hello ${name},` : 'Hello,'),
    intro: (month: string) => `Here is your mobility account's invoice for ${month}.`,
    number: 'Invoice no.',
    account: 'Account',
    date: 'Date',
    time: 'Time',
    detail: 'Details',
    amount: 'Amount',
    subtotals: 'Subtotals',
    saved: 'Saved by the caps',
    total: 'Total due',
    empty: 'No use this month: nothing to pay.',
    tariff: (id: string) => `Tariffs: ${id}. The best fare is computed automatically (daily and monthly caps).`,
    link: 'Your invoices',
  },
} as const;

/** Renders `invoice` as an email in `locale`. */
export function renderInvoiceEmail(invoice: Invoice, locale: Locale, options: InvoiceEmailOptions = {}): RenderedEmail {
  const w = WORDS[locale];
  const money = (cents: number) => formatCents(cents, locale);
  const month = monthName(invoice.month, locale);
  const rows = invoice.lines.map((l) => ({
    date: slashDate(l.date),
    time: l.time ?? '',
    detail: describeLine(l, locale),
    amount: money(l.amountCents),
    cap: l.type === 'cap',
  }));
  const subtotals = USAGE_KINDS.filter((k) => invoice.lines.some((l) => l.kind === k)).map((k) => ({
    name: KIND_NAMES[locale][k],
    amount: money(invoice.subtotalsByKind[k]),
  }));
  const savedCents = invoice.capsApplied.reduce((sum, c) => sum + c.savedCents, 0);
  const total = money(invoice.totalCents);
  // Configuration gives the URL; only http(s) becomes a link (never javascript: or data:).
  const accountUrl = options.accountUrl && /^https?:\/\//i.test(options.accountUrl) ? options.accountUrl : undefined;
  const c = locale === 'fr' ? ' :' : ':'; // French puts a space before a colon

  const text = [
    w.hello(options.holderName),
    '',
    w.intro(month),
    `${w.number} ${invoice.invoiceNumber} — ${w.account} ${invoice.accountId}`,
    '',
    ...(rows.length === 0
      ? [w.empty]
      : [
          ...rows.map((r) => `${r.date} ${r.time ? `${r.time} ` : ''}— ${r.detail}${c} ${r.amount}`),
          '',
          `${w.subtotals}${c}`,
          ...subtotals.map((s) => `  ${s.name}${c} ${s.amount}`),
          ...(savedCents > 0 ? [`${w.saved}${c} ${money(savedCents)}`] : []),
        ]),
    `${w.total}${c} ${total}`,
    '',
    w.tariff(invoice.tariffId),
    ...(accountUrl ? [`${w.link}${c} ${accountUrl}`] : []),
  ].join('\n');

  const e = escapeHtml;
  const cell = 'style="padding:2px 8px;border-bottom:1px solid #ddd"';
  const right = 'style="padding:2px 8px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap"';
  const table =
    rows.length === 0
      ? `<p>${e(w.empty)}</p>`
      : `<table style="border-collapse:collapse">
<thead><tr><th ${cell}>${e(w.date)}</th><th ${cell}>${e(w.time)}</th><th ${cell}>${e(w.detail)}</th><th ${right}>${e(w.amount)}</th></tr></thead>
<tbody>
${rows
  .map(
    (r) =>
      `<tr${r.cap ? ' style="color:#06622e"' : ''}><td ${cell}>${e(r.date)}</td><td ${cell}>${e(r.time)}</td><td ${cell}>${e(r.detail)}</td><td ${right}>${e(r.amount)}</td></tr>`,
  )
  .join('\n')}
</tbody>
</table>
<h3>${e(w.subtotals)}</h3>
<ul>
${subtotals.map((s) => `<li>${e(s.name)}${c} ${e(s.amount)}</li>`).join('\n')}
</ul>
${savedCents > 0 ? `<p>${e(w.saved)}${c} ${e(money(savedCents))}</p>` : ''}`;
  const html = `<!doctype html>
<html lang="${locale}"><head><meta charset="utf-8"><title>${e(w.subject(month, total))}</title></head>
<body style="font-family:sans-serif">
<p>${e(w.hello(options.holderName))}</p>
<p>${e(w.intro(month))}<br>${e(w.number)} ${e(invoice.invoiceNumber)} — ${e(w.account)} ${e(invoice.accountId)}</p>
${table}
<p><strong>${e(w.total)}${c} ${e(total)}</strong></p>
<p style="color:#555">${e(w.tariff(invoice.tariffId))}</p>
${accountUrl ? `<p><a href="${e(accountUrl)}">${e(w.link)}</a></p>` : ''}
</body></html>`;
  return { subject: w.subject(month, total), text, html };
}
