import { ApiError } from './api.ts';
import type { ConsoleContext, ConsoleView } from './console-context.ts';
import { h, notice, replace, table } from './dom.ts';
import { ago, dateTime } from './format.ts';

/**
 * The rejected messages (dead letters, services/dead-letters): what the pipeline refused and why, newest first, with
 * the counts of those still open by error code. An operator replays one once its cause is fixed (a device
 * registered, an account created) — or every open one of a code at once — or discards it with a note. Operators
 * only (the API refuses viewers: the bytes hold residents' numbers and words).
 */

/** A dead letter as `/api/dead-letters` lists it. */
interface DeadLetterItem {
  readonly id: number;
  readonly receivedAt: string;
  readonly errorCode: string;
  readonly message: string;
  readonly component: string;
  readonly source: { readonly type: string; readonly topic?: string; readonly route?: string; readonly path?: string };
  readonly deviceId: string | null;
  readonly status: 'open' | 'replayed' | 'discarded';
  readonly resolvedBy: string | null;
  readonly resolveNote: string | null;
  readonly replayCount: number;
  readonly rawPreview: string;
  readonly rawSizeBytes: number;
}

interface DeadLetterPage {
  readonly items: DeadLetterItem[];
  readonly total: number;
  readonly summary: { readonly open: number; readonly byErrorCode: Array<{ errorCode: string; count: number }> };
}

const STATUS_LABELS: Readonly<Record<DeadLetterItem['status'], string>> = {
  open: 'À traiter',
  replayed: 'Rejoué',
  discarded: 'Écarté',
};

/** Where the message came from, in a few words. */
function origin(source: DeadLetterItem['source']): string {
  switch (source.type) {
    case 'bus':
      return `bus · ${source.topic ?? '?'}`;
    case 'mqtt':
      return `MQTT · ${source.topic ?? '?'}`;
    case 'http':
      return `HTTP · ${source.route ?? '?'}`;
    default:
      return `fichier · ${source.path ?? '?'}`;
  }
}

/** The dead letters view. */
export function deadLettersView(ctx: ConsoleContext): ConsoleView {
  const status = h('div', { 'aria-live': 'polite' });
  const summary = h('div', { class: 'row', 'data-test': 'dead-letter-codes' });
  const body = h('tbody');
  const filter = h(
    'select',
    { 'aria-label': 'Messages affichés', onchange: () => void refresh() },
    h('option', { value: 'open' }, 'À traiter'),
    h('option', { value: 'replayed' }, 'Rejoués'),
    h('option', { value: 'discarded' }, 'Écartés'),
  );
  const element = h(
    'section',
    { 'aria-labelledby': 'dead-letters-title' },
    h('h1', { id: 'dead-letters-title' }, 'Messages rejetés'),
    h(
      'p',
      { class: 'muted' },
      'Ce que la chaîne a refusé, octets d’origine conservés. Corrigez la cause (équipement à enregistrer, compte à ' +
        'créer…), puis rejouez : le message repasse par l’étape qui l’avait refusé.',
    ),
    summary,
    h('div', { class: 'row' }, filter),
    status,
    table({ 'data-test': 'dead-letters' }, ['Reçu', 'Motif', 'Origine', 'Contenu', 'Suivi', 'Actions'], body),
  );

  const run = async (what: () => Promise<string>) => {
    try {
      replace(status, notice('success', await what()));
    } catch (err) {
      replace(status, notice('error', err instanceof ApiError ? err.message : String(err)));
    }
    await refresh();
  };

  const replayOne = (d: DeadLetterItem) =>
    run(async () => {
      await ctx.api('POST', `/api/dead-letters/${d.id}/replay`, {});
      return `Message ${d.id} rejoué vers ${d.source.topic ?? '?'}.`;
    });

  const replayCode = (errorCode: string) =>
    run(async () => {
      const r = await ctx.api<{ replayed: number; notReplayable: number; remaining: number }>(
        'POST',
        '/api/dead-letters/replay',
        { errorCode },
      );
      const more = [
        r.notReplayable > 0 ? `${r.notReplayable} à renvoyer par leur source` : '',
        r.remaining > 0 ? `${r.remaining} restant(s) : relancez` : '',
      ].filter(Boolean);
      return `${errorCode} : ${r.replayed} rejoué(s)${more.length > 0 ? `, ${more.join(', ')}` : ''}.`;
    });

  const actions = (d: DeadLetterItem) => {
    if (d.status !== 'open') return null;
    const cell = h('div', { class: 'actions' });
    const discardForm = () => {
      const note = h('input', {
        type: 'text',
        'aria-label': 'Pourquoi l’écarter',
        placeholder: 'Motif',
        required: true,
      });
      replace(
        cell,
        note,
        h(
          'button',
          {
            type: 'button',
            onclick: () => {
              const text = note.value.trim();
              if (!text) {
                note.focus();
                return;
              }
              void run(async () => {
                await ctx.api('POST', `/api/dead-letters/${d.id}/discard`, { note: text });
                return `Message ${d.id} écarté.`;
              });
            },
          },
          'Confirmer',
        ),
        h('button', { type: 'button', class: 'secondary', onclick: () => replace(cell, ...buttons()) }, 'Annuler'),
      );
      note.focus();
    };
    const buttons = () => [
      d.source.type === 'bus'
        ? h('button', { type: 'button', onclick: () => void replayOne(d) }, 'Rejouer')
        : h('span', { class: 'muted' }, 'À renvoyer par sa source'),
      h('button', { type: 'button', class: 'secondary', onclick: discardForm }, 'Écarter'),
    ];
    replace(cell, ...buttons());
    return cell;
  };

  const row = (d: DeadLetterItem) =>
    h(
      'tr',
      { 'data-dead-letter': d.id },
      h('td', {}, dateTime(d.receivedAt, ctx.timeZone), h('div', { class: 'muted' }, ago(d.receivedAt))),
      h('td', {}, h('strong', {}, d.errorCode), h('div', { class: 'muted' }, d.message)),
      h(
        'td',
        {},
        origin(d.source),
        h('div', { class: 'muted' }, [d.component, d.deviceId].filter(Boolean).join(' · ')),
      ),
      h('td', {}, h('code', { class: 'raw' }, d.rawPreview), h('div', { class: 'muted' }, `${d.rawSizeBytes} octets`)),
      h(
        'td',
        { 'data-test': 'dead-letter-status' },
        STATUS_LABELS[d.status],
        d.resolvedBy
          ? h('div', { class: 'muted' }, `par ${d.resolvedBy}${d.resolveNote ? ` : ${d.resolveNote}` : ''}`)
          : null,
      ),
      h('td', {}, actions(d)),
    );

  let loading: Promise<void> | undefined;
  const load = async () => {
    const page = await ctx.api<DeadLetterPage>('GET', `/api/dead-letters?status=${filter.value}&limit=200`);
    replace(
      summary,
      ...(page.summary.byErrorCode.length === 0
        ? [h('span', { class: 'badge ok' }, 'Aucun message à traiter')]
        : page.summary.byErrorCode.map(({ errorCode: code, count: n }) =>
            h(
              'span',
              { class: 'code-count' },
              h('span', { class: 'badge warning' }, `${code} : ${n}`),
              h(
                'button',
                { type: 'button', class: 'secondary small', onclick: () => void replayCode(code) },
                'Tout rejouer',
              ),
            ),
          )),
    );
    // Keep a note being typed: redraw only when nobody is editing in the table.
    if (body.contains(document.activeElement) && document.activeElement?.tagName === 'INPUT') return;
    replace(
      body,
      ...(page.items.length === 0
        ? [h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'Aucun message.'))]
        : page.items.map(row)),
      page.total > page.items.length
        ? h(
            'tr',
            {},
            h('td', { colspan: 6, class: 'muted' }, `${page.total - page.items.length} de plus non affichés.`),
          )
        : null,
    );
  };
  const refresh = () => {
    loading ??= load().finally(() => {
      loading = undefined;
    });
    return loading;
  };

  return { element, show: () => undefined, refresh };
}
