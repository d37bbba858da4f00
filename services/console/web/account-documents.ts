import { ApiError, call } from './api.ts';
import type { CitizenSession } from './citizen-session.ts';
import { h, notice, replace } from './dom.ts';
import { dateTime } from './format.ts';

/**
 * "Mon compte" — the document vault (services/vault): the citizen's documents (encrypted on the server, readable by
 * them alone), a form to add one (PDF, JPEG or PNG, checked from its bytes by the server), download, delete, and
 * a time-limited link for a city service, revocable; then the log of every access to them. When the server runs
 * without the vault's keys the routes are absent (404): the section says the vault is not offered.
 */

interface VaultDocument {
  readonly id: string;
  readonly type: string;
  readonly typeLabel: string;
  readonly fileName: string;
  readonly sizeBytes: number;
  readonly createdAt: string;
}

interface IssuedShare {
  readonly url: string;
  readonly service: string;
  readonly expiresAt: string;
}

interface AuditEvent {
  readonly at: string;
  readonly action: string;
  readonly actor: string;
  readonly outcome: 'allowed' | 'denied' | 'failed';
  readonly reason?: string;
}

const TYPES: ReadonlyArray<readonly [string, string]> = [
  ['tax-notice', 'Avis d’imposition'],
  ['proof-of-address', 'Justificatif de domicile'],
  ['birth-certificate', 'Acte de naissance'],
  ['identity-card', 'Carte d’identité'],
  ['other', 'Autre document'],
];

/** City services a document may be shared with (the link names it; the log shows it). */
const SERVICES: ReadonlyArray<readonly [string, string]> = [
  ['etat-civil', 'État civil'],
  ['urbanisme', 'Urbanisme'],
  ['action-sociale', 'Action sociale'],
  ['stationnement', 'Stationnement résidentiel'],
];

const ACTIONS: Readonly<Record<string, string>> = {
  upload: 'Ajout',
  list: 'Consultation de la liste',
  download: 'Téléchargement',
  share: 'Lien de partage créé',
  revoke: 'Lien de partage retiré',
  'share-download': 'Ouverture par un service',
  delete: 'Suppression',
  denied: 'Accès refusé',
};

const MESSAGES: Readonly<Record<string, string>> = {
  ERR_VAULT_DOCUMENT_TOO_LARGE: 'Ce fichier est trop volumineux.',
  ERR_VAULT_DOCUMENT_UNSUPPORTED: 'Seuls les fichiers PDF, JPEG et PNG sont acceptés.',
  ERR_VAULT_LIMIT_CONFLICT: 'Vous avez atteint le nombre maximal de documents ou de liens.',
};

const size = new Intl.NumberFormat('fr-FR', { maximumFractionDigits: 1 });

/** The documents section of "Mon compte". */
export function documentsSection(session: CitizenSession, timeZone: string) {
  const errorText = (err: unknown) =>
    err instanceof ApiError && MESSAGES[err.code] ? (MESSAGES[err.code] as string) : session.errorText(err);

  return async function draw(body: HTMLElement, message?: HTMLElement): Promise<void> {
    let documents: readonly VaultDocument[];
    try {
      documents = (await call<{ documents: VaultDocument[] }>('GET', '/api/me/documents')).documents;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        replace(
          body,
          h(
            'p',
            { class: 'muted', 'data-test': 'vault-off' },
            'Le coffre-fort de documents n’est pas proposé pour le moment.',
          ),
        );
        return;
      }
      throw err;
    }
    const again = (text: string) => void draw(body, notice('success', text)).catch(() => {});

    const type = h(
      'select',
      { id: 'document-type', 'data-test': 'document-type' },
      ...TYPES.map(([value, label]) => h('option', { value }, label)),
    );
    const file = h('input', {
      type: 'file',
      id: 'document-file',
      accept: 'application/pdf,image/jpeg,image/png',
      'data-test': 'document-file',
    });
    const feedback = h('div', {});
    const button = h('button', { type: 'submit', 'data-test': 'document-add' }, 'Ajouter au coffre-fort');

    async function upload(event: Event): Promise<void> {
      event.preventDefault();
      const chosen = file.files?.[0];
      if (!chosen) {
        replace(feedback, notice('error', 'Choisissez un fichier.'));
        file.focus();
        return;
      }
      const form = new FormData();
      form.append('type', type.value);
      form.append('file', chosen, chosen.name);
      button.disabled = true;
      try {
        await call('POST', '/api/me/documents', { body: form, csrf: session.csrf });
        again(`« ${chosen.name} » est dans votre coffre-fort.`);
      } catch (err) {
        if (session.lost(err)) return;
        button.disabled = false;
        replace(feedback, notice('error', errorText(err)));
      }
    }

    const act = async (fn: () => Promise<void>, done: string, feedbackEl: HTMLElement) => {
      try {
        await fn();
        again(done);
      } catch (err) {
        if (session.lost(err)) return;
        replace(feedbackEl, notice('error', errorText(err)));
      }
    };

    const item = (d: VaultDocument) => {
      const out = h('div', {});
      const service = h(
        'select',
        { 'aria-label': `Service pour ${d.fileName}`, 'data-test': 'share-service' },
        ...SERVICES.map(([value, label]) => h('option', { value }, label)),
      );
      const share = async () => {
        try {
          const issued = await call<IssuedShare>('POST', `/api/me/documents/${encodeURIComponent(d.id)}/share`, {
            body: { service: service.value },
            csrf: session.csrf,
          });
          replace(
            out,
            notice(
              'success',
              `Lien pour ${label(SERVICES, issued.service)}, valable jusqu’au ${dateTime(issued.expiresAt, timeZone)} :`,
            ),
            h('input', {
              type: 'text',
              readonly: true,
              value: issued.url,
              'aria-label': 'Lien de partage',
              'data-test': 'share-url',
            }),
          );
        } catch (err) {
          if (session.lost(err)) return;
          replace(out, notice('error', errorText(err)));
        }
      };
      return h(
        'li',
        { 'data-test': 'document' },
        h('p', {}, h('strong', {}, d.typeLabel), ` — ${d.fileName} (${size.format(d.sizeBytes / 1024)} Ko)`),
        h('p', { class: 'hint' }, `Ajouté le ${dateTime(d.createdAt, timeZone)}`),
        h(
          'div',
          { class: 'actions' },
          h(
            'a',
            { class: 'button secondary', href: `/api/me/documents/${encodeURIComponent(d.id)}`, download: d.fileName },
            'Télécharger',
          ),
          service,
          h(
            'button',
            { type: 'button', class: 'secondary', 'data-test': 'share', onclick: () => void share() },
            'Partager 24 h',
          ),
          h(
            'button',
            {
              type: 'button',
              class: 'danger',
              'data-test': 'document-delete',
              onclick: () =>
                void act(
                  () => call('DELETE', `/api/me/documents/${encodeURIComponent(d.id)}`, { csrf: session.csrf }),
                  `« ${d.fileName} » est supprimé.`,
                  out,
                ),
            },
            'Supprimer',
          ),
        ),
        out,
      );
    };

    const history = h('div', {});
    replace(
      body,
      message ?? null,
      h(
        'p',
        { class: 'hint' },
        'Vos documents sont chiffrés : vous seul pouvez les lire, ou un service de la ville avec un lien que vous lui donnez.',
      ),
      documents.length === 0
        ? h('p', { class: 'muted', 'data-test': 'no-document' }, 'Aucun document pour le moment.')
        : h('ul', { class: 'documents' }, ...documents.map(item)),
      h(
        'form',
        { novalidate: true, 'data-test': 'document-form', onsubmit: (e) => void upload(e) },
        h('label', { for: 'document-type' }, 'Type de document'),
        type,
        h('label', { for: 'document-file' }, 'Fichier (PDF, JPEG ou PNG)'),
        file,
        feedback,
        button,
      ),
      h('details', { 'data-test': 'audit' }, h('summary', {}, 'Qui a accédé à mes documents ?'), history),
    );
    const { events } = await call<{ events: AuditEvent[] }>('GET', '/api/me/audit?limit=20');
    replace(
      history,
      h(
        'ul',
        {},
        ...events.map((e) =>
          h(
            'li',
            { 'data-test': 'audit-event' },
            `${dateTime(e.at, timeZone)} — ${ACTIONS[e.action] ?? e.action} (${actorText(e.actor)})${e.outcome === 'allowed' ? '' : ' : refusé'}`,
          ),
        ),
      ),
    );
  };
}

function label(table: ReadonlyArray<readonly [string, string]>, value: string): string {
  return table.find(([v]) => v === value)?.[1] ?? value;
}

function actorText(actor: string): string {
  if (actor === 'owner') return 'vous';
  if (actor.startsWith('service:')) return `service ${label(SERVICES, actor.slice(8))}`;
  if (actor.startsWith('citizen:')) return 'un autre compte';
  if (actor.startsWith('operator:')) return 'un agent';
  return 'lien invalide';
}
