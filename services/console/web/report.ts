import { toE164 } from '../../../core/phone.ts';
import { ApiError, call } from './api.ts';
import { byId, h, pageConfig, replace } from './dom.ts';
import { CATEGORY_LABELS, dateTime, label, REPORT_STATUS_LABELS } from './format.ts';

/**
 * "Signaler un problème" (issue 7), phone first: a category, a description, the place (the phone's position and/or
 * an address; a photo with its GPS position can place it alone), an optional photo and an optional contact. Checked
 * here first with French messages, then sent as multipart to `POST /api/reports`; the acknowledgement shows the
 * reference and lets the reporter follow it (`GET /api/reports/:reference/status?check=`).
 */

interface ReportPageConfig {
  readonly timeZone: string;
  readonly photoMaxBytes: number;
}

interface Created {
  readonly reference: string;
  readonly status: string;
  readonly category: string;
  readonly locationSource: 'given' | 'photo';
  readonly createdAt: string;
}

interface PublicStatus {
  readonly reference: string;
  readonly category: string;
  readonly status: string;
  readonly note: string | null;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly history: ReadonlyArray<{ readonly status: string; readonly at: string }>;
}

/** A position from the phone. */
interface Position {
  readonly latitude: number;
  readonly longitude: number;
  readonly accuracyM: number;
}

const config = pageConfig<ReportPageConfig>();
const app = byId('app');
const MAX_TEXT_CHARS = 2000;
const MAX_ADDRESS_CHARS = 300;
const coordinate = new Intl.NumberFormat('fr-FR', { minimumFractionDigits: 5, maximumFractionDigits: 5 });
const megabytes = new Intl.NumberFormat('fr-FR', { maximumFractionDigits: 1 });

/** A size in bytes as French megabytes (`8 Mo`). */
function size(bytes: number): string {
  return bytes >= 1024 * 1024
    ? `${megabytes.format(bytes / (1024 * 1024))} Mo`
    : `${megabytes.format(bytes / 1024)} Ko`;
}

/** Whether a contact looks usable: an email address or a phone number. */
function contactValid(contact: string): boolean {
  return contact.includes('@') ? /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(contact) : toE164(contact) !== undefined;
}

/** What the reporter types in "Suivre" to prove the report is theirs: the phone's last 4 digits, or the email. */
function checkOf(contact: string): string {
  if (contact.includes('@')) return contact.trim().toLowerCase();
  return (toE164(contact) ?? '').slice(-4);
}

const PHOTO_TOO_LARGE = () =>
  `La photo est trop lourde : au plus ${size(config.photoMaxBytes)}. Choisissez-en une autre, ou reprenez-la en plus basse résolution.`;

/** An API error in French, by its code; the server's own message when there is no better one. */
function reportError(err: unknown): string {
  if (!(err instanceof ApiError)) return `Le signalement n’a pas pu être envoyé (${(err as Error).message}).`;
  switch (err.code) {
    case 'ERR_REPORT_LOCATION_INVALID':
      return 'Le lieu manque : la photo ne contient pas de position. Utilisez votre position ou saisissez une adresse.';
    case 'ERR_REPORT_PHOTO_TOO_LARGE':
      return PHOTO_TOO_LARGE();
    case 'ERR_REPORT_PHOTO_UNSUPPORTED':
      return 'Ce fichier n’est pas une photo acceptée : envoyez une image JPEG, PNG ou WebP.';
    case 'ERR_REPORT_PHOTO_INVALID':
      return 'La photo n’a pas pu être lue (fichier abîmé ou image trop grande) : essayez-en une autre.';
    case 'ERR_REPORT_RATE_LIMITED':
      return 'Trop de signalements envoyés depuis cette connexion : réessayez dans une heure.';
    case 'ERR_WEB_NETWORK':
      return err.message;
    case 'ERR_HTTP_VALIDATION': {
      const issues = (err.body as { error?: { issues?: Array<{ path?: string }> } } | null)?.error?.issues ?? [];
      const fields = new Set(issues.map((i) => (i.path ?? '').split('.')[1]));
      if (fields.has('contact'))
        return 'Le contact doit être un numéro de téléphone (06 12 34 56 78) ou une adresse e-mail.';
      if (fields.has('text')) return `La description est vide ou trop longue (au plus ${MAX_TEXT_CHARS} caractères).`;
      if (fields.has('address')) return `L’adresse est trop longue (au plus ${MAX_ADDRESS_CHARS} caractères).`;
      if (fields.has('category')) return 'Choisissez une catégorie.';
      if (fields.has('latitude') || fields.has('longitude'))
        return 'La position n’est pas valable : retirez-la et réessayez.';
      return `Le formulaire contient une erreur : ${err.message}`;
    }
    default:
      if (err.status === 413) return PHOTO_TOO_LARGE();
      return `Le signalement n’a pas pu être envoyé : ${err.message}`;
  }
}

/** An error box for a list of messages, read out at once (role=alert). */
function errorBox(messages: readonly string[], test = 'errors'): HTMLElement {
  return h(
    'div',
    { class: 'notice notice-error', role: 'alert', 'data-test': test },
    messages.length === 1 ? messages[0] : h('ul', { class: 'errors' }, ...messages.map((m) => h('li', {}, m))),
  );
}

/** The form, empty. */
function showForm(): void {
  let position: Position | null = null;
  let photo: File | null = null;
  let previewUrl: string | null = null;

  const categoryInputs = Object.entries(CATEGORY_LABELS).map(([value, text]) => ({
    value,
    input: h('input', { type: 'radio', name: 'category', value, required: true }),
    text,
  }));
  const categories = h(
    'fieldset',
    { class: 'field', 'data-test': 'category', 'aria-describedby': 'category-hint' },
    h('legend', {}, 'De quoi s’agit-il ?'),
    h('p', { class: 'hint', id: 'category-hint' }, 'Choisissez la catégorie la plus proche.'),
    h('div', { class: 'choices' }, ...categoryInputs.map((c) => h('label', {}, c.input, c.text))),
  );

  const text = h('textarea', {
    id: 'report-text',
    name: 'text',
    required: true,
    maxlength: MAX_TEXT_CHARS,
    rows: 4,
    'aria-describedby': 'text-hint',
    'data-test': 'text',
  });

  const positionLine = h('div', { class: 'position', 'data-test': 'position', 'aria-live': 'polite' });
  const locate = h(
    'button',
    { type: 'button', class: 'secondary', 'data-test': 'locate', onclick: () => locateMe() },
    'Utiliser ma position',
  );
  const address = h('input', {
    type: 'text',
    id: 'report-address',
    name: 'address',
    maxlength: MAX_ADDRESS_CHARS,
    autocomplete: 'street-address',
    'aria-describedby': 'address-hint',
    'data-test': 'address',
  });

  // The native file input stays (keyboard, screen readers, tests) but is drawn as the button that labels it.
  const photoInput = h('input', {
    type: 'file',
    id: 'report-photo',
    name: 'photo',
    class: 'file-input',
    accept: 'image/*',
    capture: 'environment',
    'aria-describedby': 'photo-hint',
    'data-test': 'photo',
    onchange: () => pickPhoto(),
  });
  const photoBox = h('div', { 'data-test': 'photo-preview' });
  const photoProblem = h('div', {});

  const contact = h('input', {
    type: 'text',
    id: 'report-contact',
    name: 'contact',
    maxlength: 254,
    autocomplete: 'email',
    inputmode: 'email',
    'aria-describedby': 'contact-hint',
    'data-test': 'contact',
  });

  const errors = h('div', {});
  const submit = h('button', { type: 'submit', class: 'wide', 'data-test': 'submit' }, 'Envoyer le signalement');

  const form = h(
    'form',
    {
      novalidate: true,
      'data-test': 'report-form',
      onsubmit: (e) => send(e),
      // A field being corrected is no longer marked wrong (its radio group with it).
      oninput: (e) => {
        (e.target as HTMLElement).removeAttribute('aria-invalid');
        if ((e.target as HTMLInputElement).name === 'category') categories.removeAttribute('aria-invalid');
      },
    },
    h('div', { class: 'card' }, categories),
    h(
      'div',
      { class: 'card' },
      h('label', { for: 'report-text' }, 'Description'),
      h('p', { class: 'hint', id: 'text-hint' }, 'Ce que vous voyez, depuis quand, si c’est dangereux.'),
      text,
    ),
    h(
      'fieldset',
      { class: 'card field' },
      h('legend', {}, 'Où ?'),
      h(
        'p',
        { class: 'hint' },
        'Votre position, une adresse, ou les deux. Sans l’une ni l’autre, le lieu est pris dans la photo si elle en contient un.',
      ),
      locate,
      positionLine,
      h('label', { for: 'report-address' }, 'Adresse ou repère'),
      h(
        'p',
        { class: 'hint', id: 'address-hint' },
        'Par exemple « 12 rue du Sauvage » ou « devant l’école Jean-Macé ».',
      ),
      address,
    ),
    h(
      'div',
      { class: 'card' },
      h('label', { for: 'report-photo' }, 'Photo ', h('span', { class: 'hint' }, '(facultatif)')),
      h('p', { class: 'hint', id: 'photo-hint' }, `Une photo prise sur place, au plus ${size(config.photoMaxBytes)}.`),
      photoInput,
      h('label', { for: 'report-photo', class: 'button secondary file-button' }, 'Prendre ou choisir une photo'),
      photoProblem,
      photoBox,
    ),
    h(
      'div',
      { class: 'card' },
      h('label', { for: 'report-contact' }, 'Téléphone ou e-mail ', h('span', { class: 'hint' }, '(facultatif)')),
      h(
        'p',
        { class: 'hint', id: 'contact-hint' },
        'Pour être informé du suivi : un SMS ou un e-mail à chaque étape. Il ne sert à rien d’autre.',
      ),
      contact,
    ),
    errors,
    submit,
  );

  replace(
    app,
    h('h1', {}, 'Signaler un problème'),
    h(
      'p',
      { class: 'muted' },
      'Nid-de-poule, lampadaire éteint, dépôt sauvage… Les services de la ville le reçoivent aussitôt.',
    ),
    form,
  );

  function showPosition(): void {
    if (!position) {
      replace(positionLine);
      locate.hidden = false;
      return;
    }
    locate.hidden = true;
    address.removeAttribute('aria-invalid');
    replace(
      positionLine,
      h(
        'p',
        { class: 'notice notice-info row' },
        h(
          'span',
          { 'data-test': 'position-text' },
          `Position : ${coordinate.format(position.latitude)}, ${coordinate.format(position.longitude)} (à ${Math.round(position.accuracyM)} m près)`,
        ),
        h(
          'button',
          {
            type: 'button',
            class: 'secondary small',
            'aria-label': 'Retirer la position',
            'data-test': 'position-remove',
            onclick: () => {
              position = null;
              showPosition();
              locate.focus();
            },
          },
          'Retirer',
        ),
      ),
    );
  }

  function locateMe(): void {
    if (!('geolocation' in navigator)) {
      replace(
        positionLine,
        errorBox(['Ce téléphone ne donne pas sa position : saisissez une adresse.'], 'position-error'),
      );
      return;
    }
    locate.disabled = true;
    replace(positionLine, h('p', { class: 'muted', role: 'status' }, 'Recherche de votre position…'));
    navigator.geolocation.getCurrentPosition(
      (p) => {
        locate.disabled = false;
        position = { latitude: p.coords.latitude, longitude: p.coords.longitude, accuracyM: p.coords.accuracy };
        showPosition();
      },
      (err) => {
        locate.disabled = false;
        const why =
          err.code === err.PERMISSION_DENIED
            ? 'Vous n’avez pas autorisé l’accès à votre position : saisissez une adresse.'
            : err.code === err.TIMEOUT
              ? 'Votre position n’a pas été trouvée à temps : réessayez, ou saisissez une adresse.'
              : 'Votre position n’est pas disponible : saisissez une adresse.';
        replace(positionLine, errorBox([why], 'position-error'));
      },
      { enableHighAccuracy: true, timeout: 20_000, maximumAge: 60_000 },
    );
  }

  function clearPhoto(): void {
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = null;
    photo = null;
    photoInput.value = '';
    replace(photoBox);
  }

  function pickPhoto(): void {
    const file = photoInput.files?.[0];
    replace(photoProblem);
    if (!file) {
      clearPhoto();
      return;
    }
    if (file.size > config.photoMaxBytes) {
      clearPhoto();
      replace(
        photoProblem,
        errorBox(
          [
            `Cette photo est trop lourde (${size(file.size)}) : au plus ${size(config.photoMaxBytes)}. Choisissez-en une autre, ou reprenez-la en plus basse résolution.`,
          ],
          'photo-error',
        ),
      );
      return;
    }
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    photo = file;
    previewUrl = URL.createObjectURL(file);
    replace(
      photoBox,
      h('img', { class: 'preview', src: previewUrl, alt: 'Aperçu de la photo choisie' }),
      h(
        'div',
        { class: 'row' },
        h('span', { class: 'hint' }, `${file.name} · ${size(file.size)}`),
        h(
          'button',
          {
            type: 'button',
            class: 'secondary small',
            'data-test': 'photo-remove',
            onclick: () => {
              clearPhoto();
              photoInput.focus();
            },
          },
          'Retirer la photo',
        ),
      ),
    );
  }

  /** The French messages of what is missing or wrong, the first field to fix. */
  function check(): { messages: string[]; first: HTMLElement | null } {
    const messages: string[] = [];
    let first: HTMLElement | null = null;
    const fail = (message: string, field: HTMLElement, invalid: HTMLElement = field) => {
      messages.push(message);
      invalid.setAttribute('aria-invalid', 'true');
      first ??= field;
    };
    for (const el of [categories, text, address, photoInput, contact]) el.removeAttribute('aria-invalid');
    if (!categoryInputs.some((c) => c.input.checked)) {
      fail('Choisissez une catégorie.', categoryInputs[0]?.input as HTMLElement, categories);
    }
    if (text.value.trim() === '') fail('Décrivez le problème en quelques mots.', text);
    if (!position && address.value.trim() === '' && !photo) {
      fail(
        'Indiquez le lieu : utilisez votre position, saisissez une adresse, ou joignez une photo prise sur place.',
        address,
      );
    }
    if (photo && photo.size > config.photoMaxBytes) fail(PHOTO_TOO_LARGE(), photoInput);
    const c = contact.value.trim();
    if (c !== '' && !contactValid(c)) {
      fail('Le contact doit être un numéro de téléphone (06 12 34 56 78) ou une adresse e-mail.', contact);
    }
    return { messages, first };
  }

  async function send(event: Event): Promise<void> {
    event.preventDefault();
    if (submit.disabled) return;
    const { messages, first } = check();
    if (messages.length > 0) {
      replace(errors, errorBox(messages));
      (first as HTMLElement | null)?.focus();
      return;
    }
    replace(errors);
    const body = new FormData();
    const category = categoryInputs.find((c) => c.input.checked)?.value as string;
    body.set('category', category);
    body.set('text', text.value.trim());
    if (position) {
      body.set('latitude', String(position.latitude));
      body.set('longitude', String(position.longitude));
    }
    if (address.value.trim() !== '') body.set('address', address.value.trim());
    const c = contact.value.trim();
    if (c !== '') body.set('contact', c.includes('@') ? c : (toE164(c) as string));
    body.set('locale', 'fr');
    if (photo) body.set('photo', photo, photo.name || 'photo.jpg');
    submit.disabled = true;
    submit.setAttribute('aria-busy', 'true');
    submit.textContent = 'Envoi en cours…';
    try {
      const created = await call<Created>('POST', '/api/reports', { body });
      if (previewUrl) URL.revokeObjectURL(previewUrl);
      showAcknowledgement(created, c === '' ? null : c, Boolean(photo));
    } catch (err) {
      submit.disabled = false;
      submit.removeAttribute('aria-busy');
      submit.textContent = 'Envoyer le signalement';
      replace(errors, errorBox([reportError(err)]));
      errors.querySelector<HTMLElement>('[role=alert]')?.focus();
    }
  }
}

/** The acknowledgement of a report: its reference, its status, what comes next, and how to follow it. */
function showAcknowledgement(created: Created, contact: string | null, withPhoto: boolean): void {
  const heading = h('h1', { tabindex: -1, 'data-test': 'ack-title' }, 'Signalement reçu');
  const channel = contact?.includes('@') ? 'un e-mail' : 'un SMS';
  replace(
    app,
    h(
      'section',
      { class: 'card', 'data-test': 'acknowledgement', 'aria-labelledby': 'ack-reference-label' },
      heading,
      h('p', { id: 'ack-reference-label', class: 'muted' }, 'Votre référence, à garder :'),
      h('p', { class: 'reference', 'data-test': 'reference' }, created.reference),
      h(
        'p',
        {},
        h('span', { class: 'badge status', 'data-test': 'ack-status' }, label(REPORT_STATUS_LABELS, created.status)),
        ' ',
        `${label(CATEGORY_LABELS, created.category)} · ${dateTime(created.createdAt, config.timeZone)}`,
      ),
      created.locationSource === 'photo'
        ? h(
            'p',
            { class: 'notice notice-info', 'data-test': 'ack-place' },
            'Le lieu a été pris dans la position enregistrée dans votre photo.',
          )
        : null,
      h('h2', {}, 'Et ensuite ?'),
      h(
        'ul',
        { class: 'steps' },
        h('li', {}, 'Un agent examine votre signalement et le confie à l’équipe concernée.'),
        contact
          ? h('li', {}, `Vous recevez ${channel} à chaque étape : pris en charge, en cours, résolu.`)
          : h('li', {}, 'Sans contact, vous ne serez pas prévenu : gardez la référence pour en parler à la mairie.'),
        withPhoto
          ? h('li', {}, 'Votre photo est conservée sans ses informations personnelles (appareil, date).')
          : null,
      ),
    ),
    followSection(created.reference, contact ? checkOf(contact) : ''),
    h(
      'button',
      { type: 'button', class: 'wide secondary', 'data-test': 'again', onclick: () => showForm() },
      'Faire un autre signalement',
    ),
  );
  heading.focus();
}

/** "Suivre": the public status of a report, given its reference and the contact check. */
function followSection(reference: string, check: string): HTMLElement {
  const refInput = h('input', {
    type: 'text',
    id: 'follow-reference',
    value: reference,
    autocapitalize: 'characters',
    'data-test': 'follow-reference',
  });
  const checkInput = h('input', {
    type: 'text',
    id: 'follow-check',
    value: check,
    autocomplete: 'off',
    'aria-describedby': 'follow-check-hint',
    'data-test': 'follow-check',
  });
  const result = h('div', { 'data-test': 'follow-result', 'aria-live': 'polite' });
  const button = h(
    'button',
    { type: 'submit', class: 'secondary', 'data-test': 'follow' },
    'Voir où en est mon signalement',
  );

  async function lookUp(event: Event): Promise<void> {
    event.preventDefault();
    const ref = refInput.value.trim().toUpperCase();
    const c = checkInput.value.trim();
    if (!/^R-\d{4}-\d{6,}$/.test(ref) || c.length < 4) {
      replace(
        result,
        errorBox([
          'Saisissez la référence (R-2026-000123) et les 4 derniers chiffres de votre téléphone ou votre e-mail.',
        ]),
      );
      return;
    }
    button.disabled = true;
    try {
      const status = await call<PublicStatus>(
        'GET',
        `/api/reports/${encodeURIComponent(ref)}/status?check=${encodeURIComponent(c)}`,
      );
      replace(result, statusView(status));
    } catch (err) {
      const message =
        err instanceof ApiError && err.status === 404
          ? 'Aucun signalement ne correspond à cette référence avec ce contrôle. Un signalement envoyé sans contact ne peut pas être suivi en ligne.'
          : err instanceof ApiError && err.status === 429
            ? 'Trop de consultations depuis cette connexion : réessayez plus tard.'
            : err instanceof ApiError && err.code === 'ERR_WEB_NETWORK'
              ? err.message
              : `La recherche a échoué : ${(err as Error).message}`;
      replace(result, errorBox([message], 'follow-error'));
    } finally {
      button.disabled = false;
    }
  }

  return h(
    'section',
    { class: 'card', 'aria-labelledby': 'follow-title', 'data-test': 'follow-section' },
    h('h2', { id: 'follow-title' }, 'Suivre'),
    h(
      'form',
      { novalidate: true, onsubmit: (e) => void lookUp(e) },
      h('label', { for: 'follow-reference' }, 'Référence'),
      refInput,
      h('label', { for: 'follow-check' }, 'Contrôle'),
      h(
        'p',
        { class: 'hint', id: 'follow-check-hint' },
        'Les 4 derniers chiffres du téléphone, ou l’e-mail, donnés avec le signalement.',
      ),
      checkInput,
      h('div', { class: 'actions spaced' }, button),
    ),
    result,
  );
}

/** A report's public status and its history. */
function statusView(s: PublicStatus): HTMLElement {
  return h(
    'div',
    { class: 'status-view' },
    h(
      'p',
      {},
      h('span', { class: 'badge status', 'data-test': 'follow-status' }, label(REPORT_STATUS_LABELS, s.status)),
      ' ',
      `${s.reference} · ${label(CATEGORY_LABELS, s.category)}`,
    ),
    s.note ? h('p', { class: 'notice notice-info' }, `Réponse de la ville : ${s.note}`) : null,
    s.history.length > 0
      ? h(
          'ol',
          { class: 'history', 'aria-label': 'Historique', 'data-test': 'follow-history' },
          ...s.history.map((e) =>
            h(
              'li',
              {},
              h('strong', {}, label(REPORT_STATUS_LABELS, e.status)),
              ' — ',
              h('time', { datetime: e.at }, dateTime(e.at, config.timeZone)),
            ),
          ),
        )
      : h('p', { class: 'muted' }, `Mis à jour le ${dateTime(s.updatedAt, config.timeZone)}.`),
  );
}

showForm();
