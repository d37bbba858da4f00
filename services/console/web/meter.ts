import { zoneOffsetMs } from '../../../core/local-time.ts';
import { call } from './api.ts';
import { type Bar, type BarChart, barChart } from './chart.ts';
import { citizenSession, mask } from './citizen-session.ts';
import { byId, h, notice, pageConfig, replace } from './dom.ts';
import { ALERT_TYPE_LABELS, dateTime, label, volume } from './format.ts';

/**
 * "Mon compteur" (issue 7): a resident signs in with a one-time code (SMS or email), then sees each of their water
 * meters — daily or monthly consumption as bars, the totals of the last 30 days, the leak history — and turns the
 * leak alerts of a meter on or off. A meter not listed yet is linked with the two codes printed on the water bill.
 * The sign-in and session are the citizen account's (citizen-session.ts).
 */

interface MeterPageConfig {
  readonly timeZone: string;
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

/** The charts on the page, destroyed when it is redrawn. */
let charts: BarChart[] = [];

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

const session = citizenSession({
  app,
  who,
  title: 'Mon compteur d’eau',
  intro: 'Votre consommation jour par jour, les fuites détectées, et les alertes par SMS ou e-mail.',
  addressHint: 'Celui où vous recevez les alertes de votre compteur. Nous y envoyons un code à 6 chiffres.',
  messages: {
    ERR_RESIDENT_METER_CODE_FORBIDDEN:
      'Ce code abonné ne correspond pas à ce compteur : vérifiez les deux codes sur votre facture.',
    ERR_RESIDENT_METER_FORBIDDEN: 'Ce compteur n’est pas relié à votre compte.',
    ERR_RESIDENT_METER_CONFLICT: 'Ce compteur est relié par vos alertes : désactivez-les pour le retirer.',
  },
  onSignedIn: () => showMeters(),
  onSignedOut: clearCharts,
});
const residentError = (err: unknown) => session.errorText(err);
const sessionLost = (err: unknown) => session.lost(err);

function clearCharts(): void {
  for (const chart of charts) chart.destroy();
  charts = [];
}

/** Signed in: every meter of the resident, and the form to link one more. */
async function showMeters(message?: HTMLElement): Promise<void> {
  if (!session.me) return;
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
        csrf: session.csrf,
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
                  csrf: session.csrf,
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
                  () => call('DELETE', `/api/me/subscriptions/${s.id}`, { csrf: session.csrf }),
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

void session.start();
