import { ApiError, call } from './api.ts';
import { alertsView } from './console-alerts.ts';
import { consultationsView } from './console-consultations.ts';
import { type ConsoleContext, type ConsoleView, consoleContext } from './console-context.ts';
import { deadLettersView } from './console-dead-letters.ts';
import { type MapSettings, mapView } from './console-map.ts';
import { meterView } from './console-meter.ts';
import { reportsView } from './console-reports.ts';
import { byId, h, notice, pageConfig, replace } from './dom.ts';
import { label, STATE_LABELS } from './format.ts';

/**
 * The operators' console: sign in with a bearer token (`vigie tokens create`; kept in this tab's sessionStorage,
 * sent as an Authorization header — never a cookie, so a cross-site form cannot act on the operator's behalf), then
 * views by URL hash: the live map, the open alerts, the reports queue, a device's consumption, the consultations and
 * the messages the pipeline rejected. The shown
 * view and the counters refresh every `refreshIntervalMs` (not while the tab is hidden).
 */

interface Settings {
  readonly timeZone: string;
  readonly map: MapSettings;
  readonly refreshIntervalMs: number;
}

const TOKEN_KEY = 'vigie.operatorToken';
const settings = pageConfig<Settings>();
const app = byId('app');
const who = byId('who');

const ROLE_LABELS: Readonly<Record<string, string>> = { viewer: 'lecture', operator: 'opérateur', admin: 'admin' };

/** The sign-in form: checks the token with /api/console/whoami before keeping it. */
function signIn(message?: HTMLElement): void {
  replace(who);
  const token = h('input', {
    type: 'password',
    id: 'token',
    name: 'token',
    autocomplete: 'current-password',
    required: true,
    placeholder: 'vigie_…',
  });
  const status = h('div', {}, message ?? null);
  const button = h('button', { type: 'submit', class: 'wide' }, 'Se connecter');
  replace(
    app,
    h(
      'div',
      { class: 'card' },
      h('h1', {}, 'Console des opérateurs'),
      h(
        'form',
        {
          onsubmit: async (e: Event) => {
            e.preventDefault();
            button.disabled = true;
            try {
              const value = token.value.trim();
              const me = await call<{ name: string; role: ConsoleContext['role'] }>('GET', '/api/console/whoami', {
                token: value,
              });
              sessionStorage.setItem(TOKEN_KEY, value);
              start(consoleContext(value, me, settings.timeZone));
            } catch (err) {
              replace(
                status,
                notice(
                  'error',
                  err instanceof ApiError && err.status === 401
                    ? 'Jeton refusé : inconnu, révoqué ou mal copié.'
                    : err instanceof Error
                      ? err.message
                      : String(err),
                ),
              );
              button.disabled = false;
            }
          },
        },
        h(
          'label',
          { for: 'token' },
          'Jeton d’accès',
          h('div', { class: 'hint' }, 'Créé par : vigie tokens create --name … --role operator'),
        ),
        token,
        status,
        button,
      ),
    ),
  );
  token.focus();
}

/** The console for a signed-in operator. */
function start(ctx: ConsoleContext): void {
  replace(
    who,
    `${ctx.name} (${ROLE_LABELS[ctx.role] ?? ctx.role}) `,
    h(
      'button',
      {
        type: 'button',
        class: 'secondary',
        onclick: () => {
          sessionStorage.removeItem(TOKEN_KEY);
          location.hash = '';
          location.reload();
        },
      },
      'Se déconnecter',
    ),
  );
  const views: Record<string, { title: string; view: ConsoleView }> = {
    carte: { title: 'Carte', view: mapView(ctx, settings.map) },
    alertes: { title: 'Alertes', view: alertsView(ctx) },
    signalements: { title: 'Signalements', view: reportsView(ctx) },
    compteur: { title: 'Consommation', view: meterView(ctx) },
    consultations: { title: 'Consultations', view: consultationsView(ctx) },
    // Operators only: the rejected bytes hold residents' numbers and words.
    ...(ctx.canAct ? { rejets: { title: 'Rejets', view: deadLettersView(ctx) } } : {}),
  };
  const tabs = Object.entries(views).map(([name, v]) => h('a', { href: `#${name}`, 'data-view': name }, v.title));
  const counters = h('div', { class: 'counters', 'data-test': 'counters', 'aria-live': 'polite' });
  const problem = h('div', { role: 'alert' });
  replace(
    app,
    counters,
    h('nav', { class: 'tabs', 'aria-label': 'Vues' }, ...tabs),
    problem,
    ...Object.values(views).map((v) => v.view.element),
  );

  let current = 'carte';
  const route = () => {
    const [name = 'carte', ...rest] = location.hash.replace(/^#/, '').split('/');
    current = name in views ? name : 'carte';
    for (const [n, v] of Object.entries(views)) v.view.element.hidden = n !== current;
    for (const t of tabs) {
      if (t.dataset.view === current) t.setAttribute('aria-current', 'page');
      else t.removeAttribute('aria-current');
    }
    views[current]?.view.show(rest.join('/'));
    void tick();
  };

  const summary = async () => {
    const s = await ctx.api<{ total: number; states: Record<string, number> }>('GET', '/api/console/summary');
    replace(
      counters,
      h('span', { class: 'badge status' }, `${s.total} équipements`),
      ...(['critical', 'warning', 'info', 'ok', 'inactive'] as const)
        .filter((state) => (s.states[state] ?? 0) > 0)
        .map((state) => h('span', { class: `badge ${state}` }, `${label(STATE_LABELS, state)} : ${s.states[state]}`)),
    );
  };

  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> | undefined;
  const tick = async () => {
    clearTimeout(timer);
    if (!running) {
      running = Promise.all([summary(), views[current]?.view.refresh()])
        .then(() => replace(problem))
        .catch((err: unknown) => {
          if (err instanceof ApiError && err.status === 401) {
            sessionStorage.removeItem(TOKEN_KEY);
            signIn(notice('error', 'Session terminée : le jeton n’est plus valide.'));
            throw err;
          }
          replace(
            problem,
            notice('error', `Mise à jour impossible : ${err instanceof Error ? err.message : String(err)}`),
          );
        })
        .finally(() => {
          running = undefined;
        });
    }
    try {
      await running;
    } catch {
      return; // signed out
    }
    timer = setTimeout(() => {
      if (document.hidden) document.addEventListener('visibilitychange', () => void tick(), { once: true });
      else void tick();
    }, settings.refreshIntervalMs);
  };

  window.addEventListener('hashchange', route);
  route();
}

const saved = sessionStorage.getItem(TOKEN_KEY);
if (saved) {
  call<{ name: string; role: ConsoleContext['role'] }>('GET', '/api/console/whoami', { token: saved })
    .then((me) => start(consoleContext(saved, me, settings.timeZone)))
    .catch(() => {
      sessionStorage.removeItem(TOKEN_KEY);
      signIn();
    });
} else {
  signIn();
}
