import { consultationsSection } from './account-consultations.ts';
import { documentsSection } from './account-documents.ts';
import { call } from './api.ts';
import { citizenSession } from './citizen-session.ts';
import { byId, h, notice, pageConfig, replace, table } from './dom.ts';
import { dateTime, dayName, euros, monthName } from './format.ts';

/**
 * "Mon compte" (issue 8): the citizen account, signed in like "Mon compteur" (citizen-session.ts). The profile
 * (name, language, postal address), the mobility account's invoices (and closing it, after a confirmation), the other
 * services' sections when the server runs them, and deleting the account. Each section loads on its own: one failing
 * does not hide the others.
 */

interface AccountPageConfig {
  readonly timeZone: string;
}

interface Profile {
  readonly account: { readonly channel: 'sms' | 'email'; readonly address: string };
  readonly displayName: string | null;
  readonly locale: 'fr' | 'en';
  readonly postalAddress: string | null;
}

interface MobilityAccount {
  readonly accountId: string;
  readonly name: string;
  readonly status: 'active' | 'closed';
  readonly closedAt: string | null;
}

interface MyMobility {
  readonly accounts: ReadonlyArray<MobilityAccount>;
  readonly invoices: ReadonlyArray<{
    readonly accountId: string;
    readonly invoiceNumber: string;
    readonly month: string;
    readonly totalCents: number;
  }>;
}

interface ParkingReceipt {
  readonly reference: string;
  readonly plate: string | null;
  readonly zone: string;
  readonly startsAt: string;
  readonly endsAt: string;
  readonly amountCents: number;
  readonly status: 'running' | 'ended' | 'expired';
  readonly receiptUrl: string;
}

interface InvoiceDetail {
  readonly invoiceNumber: string;
  readonly month: string;
  readonly totalCents: number;
  readonly lines: ReadonlyArray<{ readonly date: string; readonly description: string; readonly amountCents: number }>;
}

const { timeZone } = pageConfig<AccountPageConfig>();
const app = byId('app');
const who = byId('who');

const session = citizenSession({
  app,
  who,
  title: 'Mon compte',
  intro: 'Votre profil, vos factures de mobilité, vos documents et les consultations de la ville.',
  addressHint: 'Votre numéro de téléphone ou votre adresse e-mail : nous y envoyons un code à 6 chiffres.',
  messages: {
    ERR_VAULT_DOCUMENT_NOT_FOUND: 'Ce document n’est plus dans votre coffre-fort.',
    ERR_MOBILITY_INVOICE_NOT_FOUND: 'Cette facture n’est pas sur votre compte.',
    ERR_MOBILITY_ACCOUNT_NOT_FOUND: 'Ce compte mobilité n’est pas lié à votre numéro ou à votre adresse.',
    ERR_MOBILITY_ACCOUNT_CLOSED: 'Ce compte mobilité est déjà clos.',
  },
  onSignedIn: () => showAccount(),
});

/** A section of the page: a card with its title, filled by `load` (an error shows in the card alone). */
function section(title: string, test: string, load: (body: HTMLElement) => Promise<void>): HTMLElement {
  const body = h('div', {}, h('p', { class: 'muted' }, 'Chargement…'));
  const card = h('section', { class: 'card', 'data-test': test }, h('h2', {}, title), body);
  load(body).catch((err) => {
    if (session.lost(err)) return;
    replace(body, notice('error', session.errorText(err)));
  });
  return card;
}

/** Signed in: every section. */
async function showAccount(message?: HTMLElement): Promise<void> {
  const heading = h('h1', { tabindex: -1 }, 'Mon compte');
  replace(
    app,
    heading,
    message ?? null,
    section('Mon profil', 'profile', profileSection),
    section('Mes documents', 'documents', documentsSection(session, timeZone)),
    section('Mes trajets et stationnements', 'mobility', mobilitySection),
    section('Mes justificatifs de stationnement', 'parking', parkingSection),
    section('Consultations de la ville', 'consultations', consultationsSection(session, timeZone)),
    section('Supprimer mon compte', 'delete', deleteSection),
  );
  heading.focus();
}

async function profileSection(body: HTMLElement): Promise<void> {
  const profile = await call<Profile>('GET', '/api/me/profile');
  const name = h('input', {
    type: 'text',
    id: 'profile-name',
    autocomplete: 'name',
    maxlength: 100,
    value: profile.displayName ?? '',
    'data-test': 'profile-name',
  });
  const postal = h('textarea', {
    id: 'profile-postal',
    autocomplete: 'street-address',
    maxlength: 300,
    rows: 2,
    'data-test': 'profile-postal',
  });
  postal.value = profile.postalAddress ?? '';
  const locale = h(
    'select',
    { id: 'profile-locale', 'data-test': 'profile-locale' },
    h('option', { value: 'fr', selected: profile.locale === 'fr' }, 'Français'),
    h('option', { value: 'en', selected: profile.locale === 'en' }, 'English'),
  );
  const feedback = h('div', {});
  const button = h('button', { type: 'submit', 'data-test': 'profile-save' }, 'Enregistrer');

  async function save(event: Event): Promise<void> {
    event.preventDefault();
    button.disabled = true;
    try {
      await call('PUT', '/api/me/profile', {
        body: {
          displayName: name.value.trim() || null,
          locale: locale.value,
          postalAddress: postal.value.trim() || null,
        },
        csrf: session.csrf,
      });
      replace(feedback, notice('success', 'Profil enregistré.'));
    } catch (err) {
      if (session.lost(err)) return;
      replace(feedback, notice('error', session.errorText(err)));
    } finally {
      button.disabled = false;
    }
  }

  replace(
    body,
    h(
      'p',
      { class: 'hint' },
      `Connecté avec ${profile.account.channel === 'sms' ? 'le numéro' : 'l’adresse'} ${profile.account.address}.`,
    ),
    h(
      'form',
      { novalidate: true, 'data-test': 'profile-form', onsubmit: (e) => void save(e) },
      h('label', { for: 'profile-name' }, 'Nom (facultatif)'),
      name,
      h('label', { for: 'profile-locale' }, 'Langue des messages'),
      locale,
      h('label', { for: 'profile-postal' }, 'Adresse postale (facultatif)'),
      postal,
      feedback,
      button,
    ),
  );
}

/** The mobility accounts and their invoices; `message` above them (after a close). */
async function mobilitySection(body: HTMLElement, message?: HTMLElement): Promise<void> {
  const mine = await call<MyMobility>('GET', '/api/me/mobility');
  if (mine.accounts.length === 0) {
    replace(
      body,
      h(
        'p',
        { class: 'muted', 'data-test': 'no-mobility' },
        'Aucun compte mobilité n’est lié à ce numéro ou cette adresse. Le compte mobilité facture chaque mois vos ' +
          'trajets en tram et bus, vos vélos, l’autopartage et le stationnement payé par SMS.',
      ),
    );
    return;
  }
  const detail = h('div', {});
  const show = async (invoiceNumber: string) => {
    try {
      const invoice = await call<InvoiceDetail>('GET', `/api/me/mobility/invoices/${invoiceNumber}`);
      replace(
        detail,
        h(
          'table',
          { 'data-test': 'invoice-lines' },
          h('caption', {}, `Facture ${invoice.invoiceNumber} — ${monthName(invoice.month)}`),
          h(
            'tbody',
            {},
            ...invoice.lines.map((l) =>
              h('tr', {}, h('td', {}, dayName(l.date)), h('td', {}, l.description), h('td', {}, euros(l.amountCents))),
            ),
          ),
          h('tfoot', {}, h('tr', {}, h('th', { colspan: 2 }, 'Total'), h('th', {}, euros(invoice.totalCents)))),
        ),
      );
    } catch (err) {
      if (session.lost(err)) return;
      replace(detail, notice('error', session.errorText(err)));
    }
  };
  const several = mine.accounts.length > 1;
  const accountName = (a: MobilityAccount) =>
    a.closedAt === null ? a.name : `${a.name} (clos le ${dateTime(a.closedAt, timeZone)})`;
  replace(
    body,
    message ?? null,
    h(
      'p',
      { 'data-test': 'mobility-accounts' },
      `Compte${several ? 's' : ''} : ${mine.accounts.map(accountName).join(', ')}.`,
    ),
    mine.invoices.length === 0
      ? h('p', { class: 'muted' }, 'Pas encore de facture : la première arrive le 1er du mois prochain.')
      : table(
          { 'data-test': 'invoices' },
          ['Mois', 'Montant', ''],
          h(
            'tbody',
            {},
            ...mine.invoices.map((i) =>
              h(
                'tr',
                { 'data-test': 'invoice' },
                h('td', {}, monthName(i.month)),
                h('td', {}, euros(i.totalCents)),
                h(
                  'td',
                  {},
                  h(
                    'button',
                    { type: 'button', class: 'secondary small', onclick: () => void show(i.invoiceNumber) },
                    'Détail',
                  ),
                ),
              ),
            ),
          ),
        ),
    detail,
    ...mine.accounts.filter((a) => a.status === 'active').map((a) => closeMobilityForm(body, a, several)),
  );
}

/**
 * "Clore mon compte mobilité": a first click asks for the confirmation (what is still billed, what is not), a second
 * closes the account (`POST /api/me/mobility/accounts/:id/close` with the CSRF token), then the section is drawn again.
 */
function closeMobilityForm(section: HTMLElement, account: MobilityAccount, several: boolean): HTMLElement {
  const title = several ? `Clore le compte mobilité « ${account.name} »` : 'Clore mon compte mobilité';
  const feedback = h('div', {});
  const start = h(
    'button',
    { type: 'button', class: 'secondary', 'data-test': 'mobility-close', onclick: () => ask() },
    title,
  );
  const box = h('div', { 'data-test': 'mobility-close-box' }, start, feedback);

  function ask(): void {
    const confirm = h(
      'button',
      { type: 'button', class: 'danger', 'data-test': 'mobility-close-confirm', onclick: () => void close() },
      'Oui, clore ce compte',
    );
    const cancel = h(
      'button',
      { type: 'button', class: 'secondary', onclick: () => replace(box, start, feedback) },
      'Annuler',
    );
    replace(
      box,
      h('h3', {}, title),
      h(
        'p',
        {},
        'La clôture est immédiate et définitive. Vos trajets et stationnements jusqu’à maintenant figureront sur la ' +
          'facture de ce mois, envoyée le 1er du mois prochain ; rien ne sera facturé ensuite, et ce compte ne ' +
          'recevra plus de facture. Vous pourrez ouvrir un nouveau compte plus tard.',
      ),
      feedback,
      confirm,
      ' ',
      cancel,
    );
    confirm.focus();

    async function close(): Promise<void> {
      confirm.disabled = true;
      cancel.disabled = true;
      try {
        await call('POST', `/api/me/mobility/accounts/${encodeURIComponent(account.accountId)}/close`, {
          csrf: session.csrf,
        });
      } catch (err) {
        if (session.lost(err)) return;
        confirm.disabled = false;
        cancel.disabled = false;
        replace(feedback, notice('error', session.errorText(err)));
        return;
      }
      const done = () =>
        notice(
          'success',
          'Votre compte mobilité est clos. Sa dernière facture vous sera envoyée le 1er du mois prochain.',
        );
      // Closed: the section drawn again shows it; if that fails, the close still stands.
      await mobilitySection(section, done()).catch((err: unknown) => {
        if (session.lost(err)) return;
        replace(section, done(), notice('error', session.errorText(err)));
      });
    }
  }

  return box;
}

async function parkingSection(body: HTMLElement): Promise<void> {
  const { sessions } = await call<{ sessions: ParkingReceipt[] }>('GET', '/api/me/parking');
  if (sessions.length === 0) {
    replace(
      body,
      h(
        'p',
        { class: 'muted', 'data-test': 'no-parking' },
        session.me?.account.channel === 'sms'
          ? 'Aucun stationnement payé par SMS depuis ce numéro.'
          : 'Les stationnements payés par SMS apparaissent ici quand vous vous connectez avec votre numéro de téléphone.',
      ),
    );
    return;
  }
  const status = { running: 'en cours', ended: 'terminé', expired: 'échu' } as const;
  replace(
    body,
    table(
      { 'data-test': 'parking-receipts' },
      ['Début', 'Zone, plaque', 'Montant', 'Justificatif'],
      h(
        'tbody',
        {},
        ...sessions.map((p) =>
          h(
            'tr',
            { 'data-test': 'parking-receipt' },
            h('td', {}, dateTime(p.startsAt, timeZone)),
            h('td', {}, `${p.zone}, ${p.plate ?? '—'} (${status[p.status]})`),
            h('td', {}, euros(p.amountCents)),
            h('td', {}, h('a', { href: p.receiptUrl }, p.reference)),
          ),
        ),
      ),
    ),
  );
}

async function deleteSection(body: HTMLElement): Promise<void> {
  const confirm = h('input', { type: 'checkbox', id: 'delete-confirm', 'data-test': 'delete-confirm' });
  const feedback = h('div', {});
  const button = h('button', { type: 'submit', class: 'danger', 'data-test': 'delete' }, 'Supprimer mon compte');

  async function remove(event: Event): Promise<void> {
    event.preventDefault();
    if (!confirm.checked) {
      replace(feedback, notice('error', 'Cochez la case pour confirmer.'));
      confirm.focus();
      return;
    }
    button.disabled = true;
    try {
      await call('DELETE', '/api/me/account', { csrf: session.csrf });
      replace(who);
      replace(
        app,
        h('h1', {}, 'Compte supprimé'),
        notice(
          'success',
          'Votre compte est supprimé : vos documents ne peuvent plus être lus par personne, vos réponses aux ' +
            'consultations restent anonymes. Les alertes de votre compteur s’arrêtent en répondant STOP au SMS.',
        ),
      );
    } catch (err) {
      if (session.lost(err)) return;
      button.disabled = false;
      replace(feedback, notice('error', session.errorText(err)));
    }
  }

  replace(
    body,
    h(
      'p',
      {},
      'La suppression est immédiate et définitive : votre profil, vos documents (leurs clés de chiffrement sont ' +
        'détruites) et vos sessions disparaissent.',
    ),
    h(
      'form',
      { novalidate: true, onsubmit: (e) => void remove(e) },
      h('label', { class: 'check' }, confirm, ' Je veux supprimer mon compte et mes documents'),
      feedback,
      button,
    ),
  );
}

void session.start();
