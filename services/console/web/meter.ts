import { zoneOffsetMs } from '../../../core/local-time.ts';
import { toE164 } from '../../../core/phone.ts';
import { ApiError, call } from './api.ts';
import { type Bar, type BarChart, barChart } from './chart.ts';
import { byId, h, notice, pageConfig, replace } from './dom.ts';
import { ALERT_TYPE_LABELS, dateTime, label, volume } from './format.ts';

/**
 * "Mon compteur" (issue 7): a resident signs in with a one-time code (SMS or email), then sees each of their water
 * meters — daily or monthly consumption as bars, the totals of the last 30 days, the leak history — and turns the
 * leak alerts of a meter on or off. A meter not listed yet is linked with the two codes printed on the water bill.
 * `GET /api/me` on load decides which view shows (the session cookie is HttpOnly; the CSRF token comes back with it).
 */

interface MeterPageConfig {
  readonly timeZone: string;
}

interface Me {
  readonly account: { readonly channel: 'sms' | 'email'; readonly address: string };
  readonly csrfToken: string;
  readonly expiresAt: string;
}

interface Meter {
  readonly deviceId: string;
  readonly sources: ReadonlyArray<'subscription' | 'linked'>;
}

interface Subscription {
  readonly id: number;
  readonly deviceId: string;
  readonly channel: 'sms' | 'email';
  readonly address: string;
  readonly status: 'pending' | 'confirmed' | 'unsubscribed';
}

interface ConsumptionPoint {
  readonly date: string;
  readonly consumptionL: number;
  readonly partial: boolean;
  readonly days?: number;
}

interface Consumption {
  readonly period: 'day' | 'month';
  readonly from: string;
  readonly to: string;
  readonly points: readonly ConsumptionPoint[];
}

interface MeterAlert {
  readonly alertId: string;
  readonly type: string;
  readonly severity: string;
  readonly openedAt: string;
  readonly resolvedAt: string | null;
}

const { timeZone } = pageConfig<MeterPageConfig>();
const app = byId('app');
const who = byId('who');

/** The signed-in resident (null: signed out). */
let me: Me | null = null;
/** The charts on the page, destroyed when it is redrawn. */
let charts: BarChart[] = [];

/** A phone or email shown masked (`+336•••••78`, `j•••@exemple.fr`), as the server's logs do. */
function mask(address: string): string {
  const at = address.indexOf('@');
  if (at > 0) return `${address[0]}•••${address.slice(at)}`;
  if (address.length <= 4) return '••••';
  return `${address.slice(0, 4)}•••••${address.slice(-2)}`;
}

/** A phone as typed in E.164 (French national numbers get +33), an email lower-cased; undefined when neither. */
function normalise(input: string): string | undefined {
  const trimmed = input.trim();
  if (trimmed.includes('@')) return /^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(trimmed) ? trimmed.toLowerCase() : undefined;
  return toE164(trimmed);
}

/** The first instant of a local day (`YYYY-MM-DD`) or month (`YYYY-MM`) in the city's time zone, epoch ms. */
function localStartMs(date: string): number {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number | undefined];
  const wall = Date.UTC(y, m - 1, d ?? 1);
  const guess = wall - zoneOffsetMs(timeZone, wall);
  return wall - zoneOffsetMs(timeZone, guess);
}

const dayLabel = new Intl.DateTimeFormat('fr-FR', {
  weekday: 'short',
  day: 'numeric',
  month: 'short',
  timeZone: 'UTC',
});
const monthLabel = new Intl.DateTimeFormat('fr-FR', { month: 'long', year: 'numeric', timeZone: 'UTC' });

/** A local date or month as French words (`lun. 3 mars`, `mars 2026`); the date is already local. */
function periodLabel(date: string): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number | undefined];
  const at = new Date(Date.UTC(y, m - 1, d ?? 1));
  return d === undefined ? monthLabel.format(at) : dayLabel.format(at);
}

/** A resident API error in French, by its code. */
function residentError(err: unknown): string {
  if (!(err instanceof ApiError)) return `Une erreur est survenue (${(err as Error).message}).`;
  switch (err.code) {
    case 'ERR_RESIDENT_RATE_LIMITED':
      return 'Trop de demandes : réessayez dans une heure.';
    case 'ERR_RESIDENT_ADDRESS_INVALID':
      return 'Saisissez un numéro de téléphone (06 12 34 56 78) ou une adresse e-mail.';
    case 'ERR_RESIDENT_METER_CODE_FORBIDDEN':
      return 'Ce code abonné ne correspond pas à ce compteur : vérifiez les deux codes sur votre facture.';
    case 'ERR_RESIDENT_METER_FORBIDDEN':
      return 'Ce compteur n’est pas relié à votre compte.';
    case 'ERR_RESIDENT_METER_CONFLICT':
      return 'Ce compteur est relié par vos alertes : désactivez-les pour le retirer.';
    case 'ERR_RESIDENT_NOTIFY_UNAVAILABLE':
      return 'Le code n’a pas pu être envoyé pour le moment : réessayez dans quelques minutes.';
    case 'ERR_HTTP_VALIDATION':
      return `Vérifiez les champs : ${err.message}`;
    case 'ERR_WEB_NETWORK':
      return err.message;
    default:
      return `Une erreur est survenue : ${err.message}`;
  }
}

/** The session ended under us (expired, signed out elsewhere): back to the sign-in with a word. */
function sessionLost(err: unknown): boolean {
  if (err instanceof ApiError && err.status === 401) {
    me = null;
    showSignIn(notice('info', 'Votre session a expiré : reconnectez-vous.'));
    return true;
  }
  return false;
}

function clearCharts(): void {
  for (const chart of charts) chart.destroy();
  charts = [];
}

/** Signed out: the address, then the code received. */
function showSignIn(message?: HTMLElement, focus = true): void {
  clearCharts();
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
      replace(feedback, notice('error', 'Saisissez un numéro de téléphone (06 12 34 56 78) ou une adresse e-mail.'));
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
      replace(feedback, notice('error', residentError(err)));
    }
  }

  replace(
    app,
    h('h1', {}, 'Mon compteur d’eau'),
    h(
      'p',
      { class: 'muted' },
      'Votre consommation jour par jour, les fuites détectées, et les alertes par SMS ou e-mail.',
    ),
    h(
      'form',
      { class: 'card', novalidate: true, 'data-test': 'sign-in-form', onsubmit: (e) => void ask(e) },
      h('h2', {}, 'Connexion'),
      h('label', { for: 'sign-in-address' }, 'Téléphone ou e-mail'),
      h(
        'p',
        { class: 'hint', id: 'sign-in-address-hint' },
        'Celui où vous recevez les alertes de votre compteur. Nous y envoyons un code à 6 chiffres.',
      ),
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
      await showMeters();
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
        replace(feedback, notice('error', residentError(err)));
      }
      code.select();
      code.focus();
    }
  }

  replace(
    app,
    h('h1', {}, 'Mon compteur d’eau'),
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
        { type: 'button', class: 'wide secondary', 'data-test': 'restart', onclick: () => showSignIn() },
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
              replace(who, notice('error', residentError(err)));
              return;
            }
          }
          me = null;
          showSignIn(notice('success', 'Vous êtes déconnecté.'));
        },
      },
      'Se déconnecter',
    ),
  );
}

/** Signed in: every meter of the resident, and the form to link one more. */
async function showMeters(message?: HTMLElement): Promise<void> {
  if (!me) return;
  showWho(me.account);
  clearCharts();
  let meters: readonly Meter[];
  let subscriptions: readonly Subscription[];
  try {
    const [m, s] = await Promise.all([
      call<{ meters: Meter[] }>('GET', '/api/me/meters'),
      call<{ subscriptions: Subscription[] }>('GET', '/api/me/subscriptions'),
    ]);
    meters = m.meters;
    subscriptions = s.subscriptions;
  } catch (err) {
    if (sessionLost(err)) return;
    replace(app, h('h1', {}, 'Mon compteur d’eau'), notice('error', residentError(err)));
    return;
  }
  const heading = h('h1', { tabindex: -1 }, meters.length > 1 ? 'Mes compteurs d’eau' : 'Mon compteur d’eau');
  replace(
    app,
    heading,
    message ?? null,
    ...meters.map((m) => meterCard(m, subscriptions)),
    meters.length === 0
      ? h(
          'p',
          { class: 'notice notice-info', 'data-test': 'no-meter' },
          'Aucun compteur n’est encore relié à votre compte. Reliez le vôtre avec les codes de votre facture d’eau.',
        )
      : null,
    linkForm(meters.length === 0),
  );
  heading.focus();
}

/** The form linking a meter with its number and subscriber code; folded away when meters are already shown. */
function linkForm(open: boolean): HTMLElement {
  const deviceId = h('input', {
    type: 'text',
    id: 'link-device',
    autocapitalize: 'characters',
    placeholder: 'WM-000123',
    'aria-describedby': 'link-hint',
    'data-test': 'link-device',
  });
  const meterCode = h('input', {
    type: 'text',
    id: 'link-code',
    autocapitalize: 'characters',
    autocomplete: 'off',
    placeholder: 'XXXX-XXXX',
    'aria-describedby': 'link-hint',
    'data-test': 'link-code',
  });
  const feedback = h('div', {});
  const button = h('button', { type: 'submit', class: 'wide', 'data-test': 'link' }, 'Relier ce compteur');

  async function link(event: Event): Promise<void> {
    event.preventDefault();
    const id = deviceId.value.trim().toUpperCase();
    const codeText = meterCode.value.trim().toUpperCase();
    if (id === '' || codeText === '') {
      replace(
        feedback,
        notice('error', 'Saisissez le numéro du compteur et le code abonné, tous deux sur votre facture.'),
      );
      (id === '' ? deviceId : meterCode).focus();
      return;
    }
    button.disabled = true;
    try {
      await call('POST', '/api/me/meters', {
        body: { deviceId: id, meterCode: codeText },
        csrf: me?.csrfToken ?? null,
      });
      await showMeters(notice('success', `Le compteur ${id} est relié à votre compte.`));
    } catch (err) {
      if (sessionLost(err)) return;
      button.disabled = false;
      replace(feedback, notice('error', residentError(err)));
    }
  }

  const form = h(
    'form',
    { novalidate: true, 'data-test': 'link-form', onsubmit: (e) => void link(e) },
    h(
      'p',
      { class: 'hint', id: 'link-hint' },
      'Le numéro du compteur et le code abonné sont imprimés sur votre facture d’eau.',
    ),
    h('label', { for: 'link-device' }, 'Numéro du compteur'),
    deviceId,
    h('label', { for: 'link-code' }, 'Code abonné'),
    meterCode,
    feedback,
    button,
  );
  return open
    ? h('section', { class: 'card' }, h('h2', {}, 'Relier mon compteur'), form)
    : h('details', { class: 'card' }, h('summary', {}, 'Relier un autre compteur'), form);
}

/** One meter: consumption (days or months), totals, leak history, alerts. */
function meterCard(meter: Meter, subscriptions: readonly Subscription[]): HTMLElement {
  const id = meter.deviceId;
  const slug = id.replace(/[^A-Za-z0-9_-]/g, '_');
  const chartBox = h('div', { class: 'chart', 'aria-hidden': 'true' });
  const table = h('div', { 'data-test': 'consumption' });
  const totals = h('div', { 'data-test': 'totals' });
  const status = h('div', { 'aria-live': 'polite' });
  const history = h('div', { 'data-test': 'leaks' });
  const partialNote = h('div', { 'data-test': 'partial' });
  const chart = barChart(chartBox, { unit: 'L', timeZone, label: 'Consommation' });
  charts.push(chart);
  let period: 'day' | 'month' = 'day';

  const toggle = (value: 'day' | 'month', text: string) =>
    h(
      'button',
      {
        type: 'button',
        class: 'secondary',
        'aria-pressed': value === period ? 'true' : 'false',
        'data-test': `period-${value}`,
        onclick: (e) => {
          if (period === value) return;
          period = value;
          for (const b of (e.currentTarget as HTMLElement).parentElement?.children ?? []) {
            b.setAttribute('aria-pressed', b === e.currentTarget ? 'true' : 'false');
          }
          void loadConsumption();
        },
      },
      text,
    );

  async function loadConsumption(): Promise<void> {
    const wanted = period;
    replace(status, h('p', { class: 'muted' }, 'Chargement…'));
    try {
      const data = await call<Consumption>(
        'GET',
        `/api/me/meters/${encodeURIComponent(id)}/consumption?period=${wanted}`,
      );
      if (wanted !== period) return;
      replace(status);
      const bars: Bar[] = data.points.map((p) => ({
        startMs: localStartMs(p.date),
        value: p.consumptionL,
        partial: p.partial,
      }));
      // A month's bar is drawn 30 days wide, a day's a day.
      chart.update(bars, wanted === 'day' ? 86_400 : 30 * 86_400);
      replace(table, consumptionTable(data));
      const current = data.points.at(-1);
      replace(
        partialNote,
        current?.partial
          ? h(
              'p',
              { class: 'hint' },
              `${wanted === 'day' ? 'Aujourd’hui' : 'Ce mois-ci'} : ${volume(current.consumptionL)} jusqu’ici (la dernière barre n’est pas complète).`,
            )
          : null,
      );
      if (wanted === 'day') replace(totals, totalsView(data.points));
    } catch (err) {
      if (sessionLost(err)) return;
      replace(status, notice('error', residentError(err)));
    }
  }

  async function loadLeaks(): Promise<void> {
    try {
      const { alerts } = await call<{ alerts: MeterAlert[] }>('GET', `/api/me/meters/${encodeURIComponent(id)}/alerts`);
      replace(history, leaksView(alerts));
    } catch (err) {
      if (sessionLost(err)) return;
      replace(history, notice('error', residentError(err)));
    }
  }

  void loadConsumption();
  void loadLeaks();

  return h(
    'section',
    { class: 'card meter', 'data-test': 'meter', 'data-device': id, 'aria-labelledby': `meter-${slug}` },
    h('h2', { id: `meter-${slug}` }, `Compteur ${id}`),
    h(
      'div',
      { class: 'toggle', role: 'group', 'aria-label': 'Période' },
      toggle('day', 'Jours'),
      toggle('month', 'Mois'),
    ),
    status,
    chartBox,
    partialNote,
    table,
    totals,
    h('h3', {}, 'Historique des fuites'),
    history,
    h('h3', {}, 'Alertes'),
    alertsView(
      meter,
      subscriptions.filter((s) => s.deviceId === id && s.status !== 'unsubscribed'),
    ),
  );
}

/** The consumption as a table, visually hidden (the chart shows it; screen readers and tests read this). */
function consumptionTable(data: Consumption): HTMLElement {
  const unit = data.period === 'day' ? 'Jour' : 'Mois';
  return h(
    'table',
    { class: 'sr-only' },
    h('caption', {}, data.period === 'day' ? 'Consommation par jour' : 'Consommation par mois'),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, unit), h('th', { scope: 'col' }, 'Consommation'))),
    h(
      'tbody',
      {},
      ...(data.points.length === 0
        ? [h('tr', {}, h('td', { colspan: 2 }, 'Aucune donnée sur cette période.'))]
        : data.points.map((p) =>
            h(
              'tr',
              { 'data-date': p.date, class: p.partial ? 'partial' : null },
              h('td', {}, periodLabel(p.date)),
              h('td', {}, `${volume(p.consumptionL)}${p.partial ? ' (en cours)' : ''}`),
            ),
          )),
    ),
  );
}

/** The last 30 days: total, and the average of the complete days. */
function totalsView(points: readonly ConsumptionPoint[]): HTMLElement {
  if (points.length === 0) {
    return h('p', { class: 'muted' }, 'Pas encore de relevé sur les 30 derniers jours.');
  }
  const total = points.reduce((sum, p) => sum + p.consumptionL, 0);
  const complete = points.filter((p) => !p.partial);
  const basis = complete.length > 0 ? complete : points;
  const average = basis.reduce((sum, p) => sum + p.consumptionL, 0) / basis.length;
  return h(
    'dl',
    { class: 'totals' },
    h('div', {}, h('dt', {}, '30 derniers jours'), h('dd', { 'data-test': 'total-30' }, volume(total))),
    h('div', {}, h('dt', {}, 'Moyenne par jour'), h('dd', { 'data-test': 'average' }, volume(average))),
  );
}

/** The leak history, newest first. */
function leaksView(alerts: readonly MeterAlert[]): HTMLElement {
  if (alerts.length === 0) return h('p', { class: 'muted' }, 'Aucune fuite détectée.');
  return h(
    'ul',
    { class: 'leaks' },
    ...alerts.map((a) =>
      h(
        'li',
        { 'data-test': 'leak' },
        h('strong', {}, label(ALERT_TYPE_LABELS, a.type)),
        ' ',
        a.resolvedAt
          ? h('span', { class: 'badge ok' }, 'terminée')
          : h('span', { class: 'badge critical' }, 'en cours'),
        h(
          'div',
          { class: 'hint' },
          `Détectée le ${dateTime(a.openedAt, timeZone)}`,
          a.resolvedAt ? ` · terminée le ${dateTime(a.resolvedAt, timeZone)}` : '',
        ),
      ),
    ),
  );
}

/** This meter's alert subscriptions at the resident's address: add or remove. */
function alertsView(meter: Meter, subs: readonly Subscription[]): HTMLElement {
  const box = h('div', { 'data-test': 'alerts' });
  const onlyBySubscription = !meter.sources.includes('linked');
  const where = (s: Pick<Subscription, 'channel' | 'address'>) =>
    `${s.channel === 'sms' ? 'par SMS au' : 'par e-mail à'} ${mask(s.address)}`;

  async function act(run: () => Promise<unknown>, done: string): Promise<void> {
    for (const b of box.querySelectorAll('button')) b.disabled = true;
    try {
      await run();
      await showMeters(notice('success', done));
    } catch (err) {
      if (sessionLost(err)) return;
      for (const b of box.querySelectorAll('button')) b.disabled = false;
      box.append(notice('error', residentError(err)));
    }
  }

  if (subs.length === 0) {
    replace(
      box,
      h('p', { class: 'muted' }, 'Vous ne recevez pas les alertes de fuite de ce compteur.'),
      h(
        'button',
        {
          type: 'button',
          class: 'wide',
          'data-test': 'subscribe',
          onclick: () =>
            void act(
              () =>
                call('POST', '/api/me/subscriptions', {
                  body: { deviceId: meter.deviceId, locale: 'fr' },
                  csrf: me?.csrfToken ?? null,
                }),
              `Vous recevrez les alertes de fuite du compteur ${meter.deviceId}.`,
            ),
        },
        'Recevoir les alertes de fuite',
      ),
    );
    return box;
  }
  replace(
    box,
    h(
      'ul',
      { class: 'subscriptions' },
      ...subs.map((s) =>
        h(
          'li',
          { 'data-test': 'subscription' },
          h(
            'p',
            {},
            s.status === 'confirmed'
              ? `Alertes de fuite ${where(s)}.`
              : `Alertes de fuite ${where(s)} : en attente de confirmation.`,
          ),
          onlyBySubscription
            ? h(
                'p',
                { class: 'hint' },
                'Ce compteur est relié à votre compte par ces alertes : les arrêter le retire de cette page (vous pourrez le relier avec votre facture).',
              )
            : null,
          h(
            'button',
            {
              type: 'button',
              class: 'secondary',
              'data-test': 'unsubscribe',
              onclick: () =>
                void act(
                  () => call('DELETE', `/api/me/subscriptions/${s.id}`, { csrf: me?.csrfToken ?? null }),
                  `Vous ne recevrez plus les alertes de fuite du compteur ${meter.deviceId}.`,
                ),
            },
            'Ne plus recevoir ces alertes',
          ),
        ),
      ),
    ),
  );
  return box;
}

/** On load: signed in already (the cookie) or not. */
async function start(): Promise<void> {
  try {
    me = await call<Me>('GET', '/api/me');
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      showSignIn(undefined, false);
      return;
    }
    replace(app, h('h1', {}, 'Mon compteur d’eau'), notice('error', residentError(err)));
    return;
  }
  await showMeters();
}

void start();
