import { toE164 } from '../../../core/phone.ts';
import { ApiError, call } from './api.ts';
import { h, notice, replace } from './dom.ts';

/**
 * The citizen account's sign-in, shared by the citizen pages ("Mon compteur", "Mon compte"): a phone number or an
 * email address, a one-time code received there, then a session (an HttpOnly cookie the page never sees, and the
 * CSRF token `GET /api/me` and `POST /api/me/verify` answer with). `start()` on load decides: signed in already →
 * `onSignedIn`, else the sign-in form. A 401 later (expired, signed out elsewhere) brings the form back.
 */

/** The signed-in citizen as `GET /api/me` answers. */
export interface Me {
  readonly account: { readonly channel: 'sms' | 'email'; readonly address: string };
  readonly csrfToken: string;
  readonly expiresAt: string;
}

/** A phone or email shown masked (`+336•••••78`, `j•••@exemple.fr`), as the server's logs do. */
export function mask(address: string): string {
  const at = address.indexOf('@');
  if (at > 0) return `${address[0]}•••${address.slice(at)}`;
  if (address.length <= 4) return '••••';
  return `${address.slice(0, 4)}•••••${address.slice(-2)}`;
}

/** A phone as typed in E.164 (French national numbers get +33), an email lower-cased; undefined when neither. */
export function normalise(input: string): string | undefined {
  const trimmed = input.trim();
  if (trimmed.includes('@')) return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(trimmed) ? trimmed.toLowerCase() : undefined;
  return toE164(trimmed);
}

/** What a page says on its sign-in form, and how it tells its own errors. */
export interface CitizenSessionOptions {
  /** Where the page's content goes. */
  readonly app: HTMLElement;
  /** The header's corner: who is signed in, and the way out. */
  readonly who: HTMLElement;
  /** The page's title (h1 of the sign-in steps). */
  readonly title: string;
  /** One line under the title, before signing in. */
  readonly intro: string;
  /** The hint under the address field. */
  readonly addressHint: string;
  /** French texts for the page's own error codes (those of the sign-in are built in). */
  readonly messages?: Readonly<Record<string, string>>;
  /** Draws the signed-in page (after sign-in, or on load with a live session). */
  onSignedIn(): Promise<void>;
  /** Called before the sign-in form is drawn (to clean up charts…). */
  onSignedOut?(): void;
}

/** The session of a citizen page. */
export interface CitizenSession {
  /** The signed-in citizen; null when signed out. */
  readonly me: Me | null;
  /** The CSRF token for POST, PUT and DELETE; null when signed out. */
  readonly csrf: string | null;
  /** When `err` is a 401 (the session ended): back to the sign-in form with a word, and true. */
  lost(err: unknown): boolean;
  /** An error in French, by its code. */
  errorText(err: unknown): string;
  /** Draws the sign-in form (with an optional message). */
  signIn(message?: HTMLElement, focus?: boolean): void;
  /** On load: `GET /api/me`, then the signed-in page or the sign-in form. */
  start(): Promise<void>;
}

const BUILT_IN: Readonly<Record<string, string>> = {
  ERR_RESIDENT_RATE_LIMITED: 'Trop de demandes : réessayez dans une heure.',
  ERR_RESIDENT_ADDRESS_INVALID: 'Saisissez un numéro de téléphone (06 12 34 56 78) ou une adresse e-mail.',
  ERR_RESIDENT_NOTIFY_UNAVAILABLE: 'Le code n’a pas pu être envoyé pour le moment : réessayez dans quelques minutes.',
  ERR_RESIDENT_CSRF_FORBIDDEN: 'La page a expiré : rechargez-la.',
};

/** The sign-in and session of a citizen page. */
export function citizenSession(options: CitizenSessionOptions): CitizenSession {
  const { app, who, title } = options;
  let me: Me | null = null;

  function errorText(err: unknown): string {
    if (!(err instanceof ApiError)) return `Une erreur est survenue (${(err as Error).message}).`;
    const known = options.messages?.[err.code] ?? BUILT_IN[err.code];
    if (known) return known;
    if (err.code === 'ERR_HTTP_VALIDATION') return `Vérifiez les champs : ${err.message}`;
    if (err.code === 'ERR_WEB_NETWORK') return err.message;
    return `Une erreur est survenue : ${err.message}`;
  }

  function lost(err: unknown): boolean {
    if (err instanceof ApiError && err.status === 401) {
      me = null;
      signIn(notice('info', 'Votre session a expiré : reconnectez-vous.'));
      return true;
    }
    return false;
  }

  /** Signed out: the address, then the code received. */
  function signIn(message?: HTMLElement, focus = true): void {
    options.onSignedOut?.();
    replace(who);
    const address = h('input', {
      type: 'text',
      id: 'sign-in-address',
      autocomplete: 'username',
      inputmode: 'email',
      'aria-describedby': 'sign-in-address-hint',
      'data-test': 'sign-in-address',
    });
    const feedback = h('div', {}, message ?? null);
    const button = h('button', { type: 'submit', class: 'wide', 'data-test': 'sign-in' }, 'Recevoir un code');

    async function ask(event: Event): Promise<void> {
      event.preventDefault();
      const to = normalise(address.value);
      if (!to) {
        address.setAttribute('aria-invalid', 'true');
        replace(feedback, notice('error', BUILT_IN.ERR_RESIDENT_ADDRESS_INVALID as string));
        address.focus();
        return;
      }
      address.removeAttribute('aria-invalid');
      button.disabled = true;
      try {
        const sent = await call<{ expiresInSeconds: number }>('POST', '/api/me/sign-in', {
          body: { address: to, locale: 'fr' },
        });
        showCode(to, Math.round(sent.expiresInSeconds / 60));
      } catch (err) {
        button.disabled = false;
        replace(feedback, notice('error', errorText(err)));
      }
    }

    replace(
      app,
      h('h1', {}, title),
      h('p', { class: 'muted' }, options.intro),
      h(
        'form',
        { class: 'card', novalidate: true, 'data-test': 'sign-in-form', onsubmit: (e) => void ask(e) },
        h('h2', {}, 'Connexion'),
        h('label', { for: 'sign-in-address' }, 'Téléphone ou e-mail'),
        h('p', { class: 'hint', id: 'sign-in-address-hint' }, options.addressHint),
        address,
        feedback,
        button,
      ),
    );
    if (focus) address.focus();
  }

  /** The code step: 6 digits, the tries left after a wrong one. */
  function showCode(address: string, ttlMinutes: number): void {
    const code = h('input', {
      type: 'text',
      id: 'sign-in-code',
      autocomplete: 'one-time-code',
      inputmode: 'numeric',
      pattern: '[0-9]{6}',
      maxlength: 6,
      'aria-describedby': 'sign-in-code-hint',
      'data-test': 'code',
    });
    const feedback = h('div', {});
    const button = h('button', { type: 'submit', class: 'wide', 'data-test': 'verify' }, 'Se connecter');

    async function verify(event: Event): Promise<void> {
      event.preventDefault();
      const digits = code.value.replace(/\s/g, '');
      if (!/^\d{6}$/.test(digits)) {
        code.setAttribute('aria-invalid', 'true');
        replace(feedback, notice('error', 'Le code a 6 chiffres.'));
        code.focus();
        return;
      }
      button.disabled = true;
      try {
        me = await call<Me>('POST', '/api/me/verify', { body: { address, code: digits } });
        await signedIn();
      } catch (err) {
        button.disabled = false;
        code.setAttribute('aria-invalid', 'true');
        if (err instanceof ApiError && err.code === 'ERR_RESIDENT_CODE_INVALID') {
          const left = (err.body as { attemptsLeft?: number } | null)?.attemptsLeft ?? 0;
          replace(
            feedback,
            notice(
              'error',
              left > 0
                ? `Code incorrect : encore ${left} essai${left > 1 ? 's' : ''}.`
                : 'Ce code n’est plus valable (expiré, déjà utilisé ou trop d’essais) : demandez-en un nouveau.',
            ),
          );
        } else {
          replace(feedback, notice('error', errorText(err)));
        }
        code.select();
        code.focus();
      }
    }

    replace(
      app,
      h('h1', {}, title),
      h(
        'form',
        { class: 'card', novalidate: true, 'data-test': 'code-form', onsubmit: (e) => void verify(e) },
        h('h2', {}, 'Saisissez le code reçu'),
        notice('success', `Un code a été envoyé au ${mask(address)}. Il est valable ${ttlMinutes} minutes.`),
        h('label', { for: 'sign-in-code' }, 'Code à 6 chiffres'),
        h('p', { class: 'hint', id: 'sign-in-code-hint' }, 'Rien reçu après une minute ? Demandez un nouveau code.'),
        code,
        feedback,
        button,
        h(
          'button',
          { type: 'button', class: 'wide secondary', 'data-test': 'restart', onclick: () => signIn() },
          'Demander un nouveau code',
        ),
      ),
    );
    code.focus();
  }

  /** The header: who is signed in, and the way out. */
  function showWho(account: Me['account']): void {
    replace(
      who,
      h('span', { 'data-test': 'who' }, mask(account.address)),
      ' ',
      h(
        'button',
        {
          type: 'button',
          class: 'secondary small',
          'data-test': 'sign-out',
          onclick: async () => {
            try {
              await call('POST', '/api/me/sign-out', { body: {}, csrf: me?.csrfToken ?? null });
            } catch (err) {
              if (!(err instanceof ApiError && err.status === 401)) {
                replace(who, notice('error', errorText(err)));
                return;
              }
            }
            me = null;
            signIn(notice('success', 'Vous êtes déconnecté.'));
          },
        },
        'Se déconnecter',
      ),
    );
  }

  async function signedIn(): Promise<void> {
    if (!me) return;
    showWho(me.account);
    await options.onSignedIn();
  }

  return {
    get me() {
      return me;
    },
    get csrf() {
      return me?.csrfToken ?? null;
    },
    lost,
    errorText,
    signIn,
    async start() {
      try {
        me = await call<Me>('GET', '/api/me');
      } catch (err) {
        if (err instanceof ApiError && err.status === 401) {
          signIn(undefined, false);
          return;
        }
        replace(app, h('h1', {}, title), notice('error', errorText(err)));
        return;
      }
      await signedIn();
    },
  };
}
