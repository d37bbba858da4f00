import type { AlertTransition, AlertType } from '../core/contracts/index.ts';

/**
 * Scores alert transitions against ground truth (simulators/ scenario files): recall, precision and time to detect
 * per alert type — how the scenario tests judge the detectors, and what engineers tuning thresholds read.
 *
 * A label is one injected fault that a detector should catch: a device, the alert type expected, and the fault's
 * time span. An `open` transition of that device and type whose time falls in the label's window
 * [start − `earlyMs`, (end ?? run end) + `lateMs`] detects it; time to detect = open time − label start.
 * - recall = labels detected / labels;
 * - precision = opens that detect a label / (those + opens that match no fault): the share of alerts that point at
 *   a real fault. A further open within a label already detected (the alert resolved and reopened within one fault,
 *   or when the fault ended: a level shift that ends is a second shift in the data) is a `repeat`: neither a hit nor
 *   a false alarm, reported as `alertsPerFault` (1.0 = one alert per fault), which the tests bound per kind;
 * - an open of a type a label lists in `explains` (e.g. the no-data a vandalised meter causes) is neither counted
 *   for recall nor against precision.
 */

/** One fault a detector should catch. */
export interface Label {
  readonly deviceId: string;
  /** The alert type that catches it; null for a fault no detector is meant to catch (it may still explain some). */
  readonly alertType: AlertType | null;
  /** When the fault began, epoch ms. */
  readonly startMs: number;
  /** When it ended, epoch ms; null = still there at the end of the run. */
  readonly endMs: number | null;
  /** Other alert types the fault legitimately causes on the device (not false positives, not required). */
  readonly explains?: readonly AlertType[];
}

/** Options of {@link scoreAlerts}. */
export interface ScoreOptions {
  /** End of the run (exclusive), epoch ms: the end of labels that never end. */
  readonly runEndMs: number;
  /** How long after a label's end an open still detects it, ms, per alert type (default `defaultLateMs`). */
  readonly lateMs?: Partial<Record<AlertType, number>>;
  /** Default of `lateMs`, ms (6 h). */
  readonly defaultLateMs?: number;
  /** How long before a label's start an open may come and still detect it (clock skew, interval rounding), ms. */
  readonly earlyMs?: number;
}

/** The score of one alert type. */
export interface TypeScore {
  readonly labels: number;
  readonly detected: number;
  readonly opens: number;
  readonly truePositives: number;
  /** Opens that match no label. */
  readonly falsePositives: number;
  /** Further opens within a label already detected. */
  readonly repeats: number;
  /** (truePositives + repeats) / detected: alerts per detected fault (1 when none was detected). */
  readonly alertsPerFault: number;
  /** Opens explained by a label of another type (not counted). */
  readonly explained: number;
  /** detected / labels (1 when there are no labels). */
  readonly recall: number;
  /** truePositives / (truePositives + falsePositives) (1 when there are no opens). */
  readonly precision: number;
  /** Time to detect of the detected labels, ms: median and 95th percentile (null when none was detected). */
  readonly ttdMedianMs: number | null;
  readonly ttdP95Ms: number | null;
  readonly ttdMaxMs: number | null;
  /** The labels missed and the false opens, for a readable failure message (first 10 of each). */
  readonly missed: readonly string[];
  readonly false: readonly string[];
}

const HOUR = 3_600_000;

/** Scores the `open` transitions against the labels, per alert type (every type of a label or an open). */
export function scoreAlerts(
  labels: readonly Label[],
  transitions: readonly AlertTransition[],
  options: ScoreOptions,
): Record<string, TypeScore> {
  const earlyMs = options.earlyMs ?? 15 * 60_000;
  const lateOf = (type: AlertType) => options.lateMs?.[type] ?? options.defaultLateMs ?? 6 * HOUR;
  const byDevice = new Map<string, Label[]>();
  for (const l of labels) byDevice.set(l.deviceId, [...(byDevice.get(l.deviceId) ?? []), l]);
  const within = (l: Label, type: AlertType, ms: number) =>
    ms >= l.startMs - earlyMs && ms <= (l.endMs ?? options.runEndMs) + lateOf(type);

  const detectedAt = new Map<Label, number>();
  type Count = { opens: number; tp: number; fp: number; repeats: number; explained: number; false: string[] };
  const counts = new Map<AlertType, Count>();
  const empty = (): Count => ({ opens: 0, tp: 0, fp: 0, repeats: 0, explained: 0, false: [] });
  const countOf = (type: AlertType) => {
    let c = counts.get(type);
    if (!c) {
      c = empty();
      counts.set(type, c);
    }
    return c;
  };
  const opens = transitions
    .filter((t) => t.state === 'open')
    .map((t) => ({ t, ms: Date.parse(t.ts) }))
    .sort((a, b) => a.ms - b.ms);
  for (const { t, ms } of opens) {
    const c = countOf(t.type);
    c.opens += 1;
    const candidates = byDevice.get(t.deviceId) ?? [];
    const label = candidates.find((l) => l.alertType === t.type && !detectedAt.has(l) && within(l, t.type, ms));
    if (label) {
      detectedAt.set(label, ms);
      c.tp += 1;
    } else if (candidates.some((l) => l.alertType === t.type && detectedAt.has(l) && within(l, t.type, ms))) {
      c.repeats += 1;
    } else if (candidates.some((l) => l.explains?.includes(t.type) && within(l, t.type, ms))) {
      c.explained += 1;
    } else {
      c.fp += 1;
      if (c.false.length < 10) c.false.push(`${t.alertId} at ${t.ts}: ${t.summary}`);
    }
  }

  const types = new Set<AlertType>([
    ...labels.flatMap((l) => (l.alertType === null ? [] : [l.alertType])),
    ...counts.keys(),
  ]);
  const out: Record<string, TypeScore> = {};
  for (const type of [...types].sort()) {
    const own = labels.filter((l) => l.alertType === type);
    const ttd = own
      .filter((l) => detectedAt.has(l))
      .map((l) => (detectedAt.get(l) as number) - l.startMs)
      .sort((a, b) => a - b);
    const c = counts.get(type) ?? empty();
    out[type] = {
      labels: own.length,
      detected: ttd.length,
      opens: c.opens,
      truePositives: c.tp,
      falsePositives: c.fp,
      repeats: c.repeats,
      alertsPerFault: ttd.length === 0 ? 1 : (c.tp + c.repeats) / ttd.length,
      explained: c.explained,
      recall: own.length === 0 ? 1 : ttd.length / own.length,
      precision: c.tp + c.fp === 0 ? 1 : c.tp / (c.tp + c.fp),
      ttdMedianMs: quantile(ttd, 0.5),
      ttdP95Ms: quantile(ttd, 0.95),
      ttdMaxMs: ttd.at(-1) ?? null,
      missed: own
        .filter((l) => !detectedAt.has(l))
        .slice(0, 10)
        .map((l) => `${l.deviceId} ${type} from ${new Date(l.startMs).toISOString()}`),
      false: c.false,
    };
  }
  return out;
}

/** The q-quantile of sorted values (nearest rank), or null for none. */
function quantile(sorted: readonly number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/** A one-line summary of a type's score: recall, precision, alerts per fault, time to detect. */
export function formatScore(type: string, s: TypeScore): string {
  const h = (ms: number | null) => (ms === null ? '–' : `${(ms / HOUR).toFixed(1)} h`);
  return (
    `${type}: recall ${s.recall.toFixed(2)} (${s.detected}/${s.labels}), precision ${s.precision.toFixed(2)} ` +
    `(${s.falsePositives} false of ${s.opens} opens${s.explained ? `, ${s.explained} explained` : ''}), ` +
    `${s.alertsPerFault.toFixed(2)} alerts per fault, ` +
    `time to detect median ${h(s.ttdMedianMs)}, p95 ${h(s.ttdP95Ms)}, max ${h(s.ttdMaxMs)}`
  );
}
