import { z } from 'zod';
import { type DeviceEvent, FaultEventData, type Severity } from '../../core/contracts/index.ts';
import type { Detector, EventInput, Signal, StepResult } from '../detector.ts';

/**
 * fault: a parking meter reports one or more faults (`fault` events, CONTRACTS.md §3) not yet cleared.
 *
 * Why: a meter that cannot take coins or cards loses revenue and gets drivers fined unfairly; DOMAIN.md "Parking
 * and mobility" lists the fault modes meters report (coin jam: "cards only", card reader fault: "coins only", out of
 * order, coin box full). Rule: the detector keeps the set of active fault codes. A `fault` event adds its code (the
 * alert opens, or — another set of codes being a discrete change of `details.codes` — updates at once,
 * lifecycle.ts); a `fault-cleared` event removes its code (one without a `code` clears them all); the alert resolves
 * when none is left. With `clearOnPayment` (on), a payment proves what it used works: a coin payment clears the
 * codes that disable coins (coin jam, coin box full, out of order), a card payment those that disable cards — so a
 * lost `fault-cleared` does not leave the alert open. SMS payments prove nothing (paid by phone, not at the meter).
 *
 * Severity (configurable per code, `codes`): the highest of the active codes' — out-of-order and door-open
 * (vandalism) critical; coin-jam, card-reader, paper-out warning; coin-box-full info; unknown codes
 * `unknownSeverity` (warning). The summary names the codes and what still works at the meter ("Coin jam: cards
 * only"; "Out of order: SMS only"; SMS is paid by phone and always works).
 *
 * A fault never cleared: by default it stays open (`autoClearHours` 0). Auto-resolving would hide a meter that is
 * still broken (a fault is reported once, when it happens), while a lost `fault-cleared` is covered by payments for
 * the payment faults; set `autoClearHours` (e.g. 72) where meters re-send their faults periodically: a code not
 * reported again within it is dropped as the event-time watermark passes (resolved at that deterministic time).
 *
 * Late data: none of its own (the engine orders events). State: at most `maxCodes` (16) codes with two times each;
 * when full, a new code replaces the least severe, least recently reported one if it is more severe than that one
 * (otherwise it is left out), counted in `details.codesNotTracked`. Readings are not used (`step` is a no-op).
 */

/** Detector name (= alert type). */
export const name = 'fault';

/** What a fault stops at the meter: a payment method or printing tickets. */
export const Capability = z.enum(['coin', 'card', 'ticket']);
/** A capability of a parking meter. */
export type Capability = z.infer<typeof Capability>;

const SEVERITY = z.enum(['info', 'warning', 'critical']);

/** How one fault code is reported: its severity, its name in summaries and what it stops. */
export const faultCodeSchema = z.strictObject({
  severity: SEVERITY.describe('Severity of an alert with this code active (the alert takes the highest).'),
  label: z.string().min(1).max(60).describe('Name of the fault in summaries, e.g. "Coin jam".'),
  disables: z
    .array(Capability)
    .max(3)
    .default([])
    .describe('What the fault stops at the meter: coin, card (payment methods) and ticket (printing).'),
});
/** How one fault code is reported. */
export type FaultCode = z.output<typeof faultCodeSchema>;

/** The built-in codes (DOMAIN.md "Parking and mobility"); `codes` in the config adds to or overrides them. */
export const DEFAULT_FAULT_CODES: Readonly<Record<string, FaultCode>> = {
  'out-of-order': { severity: 'critical', label: 'Out of order', disables: ['coin', 'card', 'ticket'] },
  'door-open': { severity: 'critical', label: 'Door open (possible vandalism)', disables: [] },
  'coin-jam': { severity: 'warning', label: 'Coin jam', disables: ['coin'] },
  'card-reader': { severity: 'warning', label: 'Card reader fault', disables: ['card'] },
  'paper-out': { severity: 'warning', label: 'Paper out', disables: ['ticket'] },
  'coin-box-full': { severity: 'info', label: 'Coin box full', disables: ['coin'] },
};

/** fault settings. */
export const configSchema = z.strictObject({
  codes: z
    .record(z.string().min(1).max(64), faultCodeSchema)
    .default({})
    .describe(
      'Fault codes (lower case) added to or overriding the built-in ones (out-of-order, door-open critical; coin-jam, ' +
        'card-reader, paper-out warning; coin-box-full info): { severity, label, disables }.',
    ),
  unknownSeverity: SEVERITY.default('warning').describe('Severity of a fault code that is not in the table.'),
  clearOnPayment: z
    .enum(['on', 'off'])
    .default('on')
    .describe('on: a coin (card) payment clears the active codes that disable coins (cards) — it proves they work.'),
  autoClearHours: z.coerce
    .number()
    .nonnegative()
    .max(24 * 366)
    .default(0)
    .describe(
      'Drop a code not reported again within this many hours of event time, h; 0 = never (a fault stays open ' +
        'until cleared: the default).',
    ),
  maxCodes: z.coerce
    .number()
    .int()
    .min(1)
    .max(64)
    .default(16)
    .describe('Most fault codes tracked per meter (bounded state); beyond, the least severe is left out.'),
});
/** fault settings. */
export type FaultConfig = z.output<typeof configSchema>;

/** One active code: [code as sent, event time first reported (ms), event time last reported (ms)]. */
export type ActiveCode = readonly [code: string, sinceMs: number, lastSeenMs: number];

/** Per-meter fault state: the active codes sorted by code, and how many were left out since the alert opened. */
export interface FaultState {
  readonly codes: readonly ActiveCode[];
  readonly untracked: number;
}

const INITIAL: FaultState = { codes: [], untracked: 0 };
const RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };
const HOUR_MS = 3_600_000;
/** Codes match whatever their case (`COIN-JAM` clears `coin-jam`); the first spelling reported is kept. */
const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** The code of a `fault` / `fault-cleared` event as a string; null when absent, undefined when unreadable. */
function codeOf(event: DeviceEvent): string | null | undefined {
  if (!('code' in event.data)) return null;
  const parsed = FaultEventData.safeParse(event.data);
  return parsed.success ? String(parsed.data.code).trim() || undefined : undefined;
}

/** Creates the fault detector for parking meters. */
export function create(config: FaultConfig): Detector<FaultState> {
  const table: Record<string, FaultCode> = { ...DEFAULT_FAULT_CODES };
  for (const [code, spec] of Object.entries(config.codes)) table[code.toLowerCase()] = spec;
  const specOf = (code: string): FaultCode | undefined => table[code.toLowerCase()];
  const severityOf = (code: string): Severity => specOf(code)?.severity ?? config.unknownSeverity;
  const autoClearMs = config.autoClearHours * HOUR_MS;

  function signalOf(state: FaultState, atMs: number): Signal {
    if (state.codes.length === 0) return { active: false, atMs };
    const codes = state.codes.map(([c]) => c);
    let severity: Severity = 'info';
    for (const c of codes) if (RANK[severityOf(c)] > RANK[severity]) severity = severityOf(c);
    const known = codes.map(specOf).filter((s): s is FaultCode => s !== undefined);
    const disabled = new Set(known.flatMap((s) => s.disables));
    const paymentMethods = [
      ...(['coin', 'card'] as const).filter((m) => !disabled.has(m)),
      'sms' as const, // paid by phone: no fault of the meter stops it
    ];
    const labels = codes.map((c) => specOf(c)?.label ?? `Fault ${c}`).join(', ');
    let works: string;
    if (known.length === 0) works = 'effect unknown';
    else if (paymentMethods.length === 3) works = 'coins and cards accepted';
    else if (paymentMethods.length === 1) works = 'SMS only';
    else works = paymentMethods[0] === 'coin' ? 'coins only' : 'cards only';
    if (disabled.has('ticket') && paymentMethods.length > 1) works += ', no tickets';
    return {
      active: true,
      atMs,
      severity,
      summary: `${labels}: ${works}`,
      details: {
        codes,
        paymentMethods,
        tickets: !disabled.has('ticket'),
        ...(state.untracked > 0 ? { codesNotTracked: state.untracked } : {}),
      },
    };
  }

  /** Returns the state with `code` reported at `tsMs` (added, refreshed, or left out when full). */
  function add(state: FaultState, code: string, tsMs: number): FaultState {
    const at = state.codes.findIndex(([c]) => same(c, code));
    if (at >= 0) {
      const [c, since] = state.codes[at] as ActiveCode;
      const codes = state.codes.slice();
      codes[at] = [c, since, tsMs];
      return { ...state, codes };
    }
    let codes = state.codes.slice();
    let untracked = state.untracked;
    if (codes.length >= config.maxCodes) {
      // The least severe, then least recently reported, goes (or the new one when it is the least severe).
      let victim = 0;
      codes.forEach(([c, , seen], i) => {
        const [vc, , vSeen] = codes[victim] as ActiveCode;
        const d = RANK[severityOf(c)] - RANK[severityOf(vc)];
        if (d < 0 || (d === 0 && seen < vSeen)) victim = i;
      });
      untracked += 1;
      if (RANK[severityOf(code)] <= RANK[severityOf((codes[victim] as ActiveCode)[0])]) {
        return { codes: state.codes, untracked };
      }
      codes.splice(victim, 1);
    }
    codes.push([code, tsMs, tsMs]);
    codes = codes.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return { codes, untracked };
  }

  /** The result of going from `before` to `after` at `atMs`: a signal only when the set of codes changed. */
  function result(before: FaultState, after: FaultState, atMs: number): StepResult<FaultState> {
    const same =
      before.codes.length === after.codes.length && before.codes.every(([c], i) => c === after.codes[i]?.[0]);
    if (same && before.untracked === after.untracked) return { state: after };
    // A resolved alert forgets what it left out.
    const state = after.codes.length === 0 ? INITIAL : after;
    return { state, signal: signalOf(state, atMs) };
  }

  return {
    type: 'fault',
    kinds: ['parking-meter'],
    initialState: () => INITIAL,
    step: (state) => ({ state }),
    onEvent(state, input: EventInput): StepResult<FaultState> {
      const { event, tsMs } = input;
      if (event.type === 'fault') {
        const code = codeOf(event);
        if (!code) return { state };
        return result(state, add(state, code, tsMs), tsMs);
      }
      if (event.type === 'fault-cleared') {
        const code = codeOf(event);
        if (code === undefined || state.codes.length === 0) return { state };
        const codes = code === null ? [] : state.codes.filter(([c]) => !same(c, code));
        return result(state, { ...state, codes }, tsMs);
      }
      if (event.type === 'payment' && config.clearOnPayment === 'on' && state.codes.length > 0) {
        const method = event.data.method;
        if (method !== 'coin' && method !== 'card') return { state };
        const codes = state.codes.filter(([c]) => !specOf(c)?.disables.includes(method));
        return result(state, { ...state, codes }, tsMs);
      }
      return { state };
    },
    tick(state, watermarkMs): StepResult<FaultState> {
      if (autoClearMs === 0 || state.codes.length === 0) return { state };
      const expired = state.codes.filter(([, , seen]) => seen + autoClearMs <= watermarkMs);
      if (expired.length === 0) return { state };
      // The time the last of them expired: deterministic, whatever the tick cadence.
      const atMs = Math.max(...expired.map(([, , seen]) => seen + autoClearMs));
      const codes = state.codes.filter(([, , seen]) => seen + autoClearMs > watermarkMs);
      return result(state, { ...state, codes }, atMs);
    },
  };
}
