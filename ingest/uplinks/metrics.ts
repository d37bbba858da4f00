/**
 * Vendor names and units → Vigie's canonical metric names (CONTRACTS.md §3: units in names, e.g. `indexL`, `flowLph`,
 * `batteryPct`, `tempC`, `powerW`, `dimPct`, `energyWh`, `lux`). Shared by the ChirpStack, The Things Stack and SenML
 * decoders. Pure.
 *
 * How a value gets its name:
 * 1. Its unit: a SenML unit (`u`/`bu`, RFC 8428 §12.1 and RFC 8798) when given, else a unit suffix in the vendor's
 *    field name (`volume_m3`, `indexL`, `TempC`, `BatV`, `energyKWh`, `flow_l_h`...). Without either, the value is
 *    unitless.
 * 2. The stem (the name without its unit suffix, LoRaWAN channel numbers such as Cayenne LPP's `"1"` dropped,
 *    lower-cased, letters and digits only) and the unit's quantity pick a canonical name from {@link CANONICAL}, with
 *    the value converted to the canonical unit (m³ → L ×1000, m³/s → L/h ×3.6e6, K → °C, kW → W, kWh → Wh, J → Wh,
 *    mV → V, `/` → % ×100...). `%EL` (SenML's remaining battery) is always `batteryPct`. Total volumes become
 *    `indexL` for water meters only. A unitless `temperature`/`humidity`/`illuminance` is taken as °C/%/lx, as every
 *    LoRaWAN codec we know sends them; a unitless `battery`, `power` or `volume` is not guessed (3.6 could be volts or
 *    percent, 1.2 could be m³ or L) and keeps its own name.
 * 3. Anything else keeps a name of its own: a decoded object's field path joined with `_` (`TempC_SHT`,
 *    `temperatureSensor_1`) with its value untouched; a SenML measurement in camelCase followed by the Vigie unit
 *    suffix, value converted (`voltage` in V → `voltageV`, `current` in A → `currentA`, `lon` → `lon`).
 *    CONTRACTS.md §3 keeps such extra metrics.
 * 4. Two values claiming one canonical name: the first keeps it, the second falls back to its own name. Equal values
 *    under one name are one metric (counted as a duplicate); different values under one name are a conflict, which
 *    the caller dead-letters. More than {@link MAX_METRICS} metrics: canonical ones first, the rest counted and dropped.
 */
import { type Kind, MAX_METRIC_ABS, MAX_METRICS } from '../../core/contracts/index.ts';
import type { IgnoredReason, Issue } from './common.ts';

/** One numeric value found in a message, before naming. */
export interface MetricCandidate {
  /** Vendor name segments: a decoded object's path, or a SenML measurement split on its separators. */
  readonly path: readonly string[];
  /** The value as sent. */
  readonly value: number;
  /** A SenML unit; absent for decoded objects, whose units ride in their field names. */
  readonly unit?: string | undefined;
  /** Radio metadata and the like: dropped (as a duplicate) rather than a conflict when its name is taken. */
  readonly optional?: boolean;
}

/** Metrics named and converted, with what was dropped and the conflicts found. */
export interface MappedMetrics {
  readonly metrics: Record<string, number>;
  /** Two different values for one metric name: the caller dead-letters the reading. */
  readonly issues: Issue[];
  readonly ignored: Partial<Record<IgnoredReason, number>>;
  /** How many non-optional values made it into `metrics` (0: nothing usable, only metadata at most). */
  readonly placed: number;
}

/** How a unit converts to the canonical unit of its quantity. */
interface UnitSpec {
  /** What is measured; picks the canonical names. */
  readonly quantity: string;
  /** The Vigie unit suffix of a metric name (`L`, `Lph`, `C`, `Pct`...); '' for self-describing names (`lat`). */
  readonly suffix: string;
  readonly factor: number;
  readonly offset?: number;
  /** The measurement name used when a SenML record names none (its name is the device's). */
  readonly stem?: string;
  /** Always this canonical name, whatever the stem (`%EL` → `batteryPct`). */
  readonly name?: string;
}

const u = (quantity: string, suffix: string, factor = 1, extra: Partial<UnitSpec> = {}): UnitSpec => ({
  quantity,
  suffix,
  factor,
  ...extra,
});

/** SenML units we convert (RFC 8428 §12.1; `m3/h`, `kW`, `Wh`, `kWh`, `mV`, `mA`, `hPa`, `ms` from RFC 8798). */
export const SENML_UNITS: Readonly<Record<string, UnitSpec>> = {
  m3: u('volume', 'L', 1000, { stem: 'volume' }),
  l: u('volume', 'L', 1, { stem: 'volume' }),
  L: u('volume', 'L', 1, { stem: 'volume' }),
  'm3/s': u('flow', 'Lph', 3_600_000, { stem: 'flow' }),
  'l/s': u('flow', 'Lph', 3600, { stem: 'flow' }),
  'L/s': u('flow', 'Lph', 3600, { stem: 'flow' }),
  'm3/h': u('flow', 'Lph', 1000, { stem: 'flow' }),
  'l/h': u('flow', 'Lph', 1, { stem: 'flow' }),
  'L/h': u('flow', 'Lph', 1, { stem: 'flow' }),
  'l/min': u('flow', 'Lph', 60, { stem: 'flow' }),
  'L/min': u('flow', 'Lph', 60, { stem: 'flow' }),
  Cel: u('temperature', 'C', 1, { stem: 'temp' }),
  K: u('temperature', 'C', 1, { offset: -273.15, stem: 'temp' }),
  '%': u('percent', 'Pct'),
  '/': u('percent', 'Pct', 100),
  '%RH': u('percent', 'Pct', 1, { stem: 'humidity' }),
  '%EL': u('percent', 'Pct', 1, { stem: 'battery', name: 'batteryPct' }),
  W: u('power', 'W', 1, { stem: 'power' }),
  kW: u('power', 'W', 1000, { stem: 'power' }),
  J: u('energy', 'Wh', 1 / 3600, { stem: 'energy' }),
  Wh: u('energy', 'Wh', 1, { stem: 'energy' }),
  kWh: u('energy', 'Wh', 1000, { stem: 'energy' }),
  V: u('voltage', 'V', 1, { stem: 'voltage' }),
  mV: u('voltage', 'V', 0.001, { stem: 'voltage' }),
  A: u('current', 'A', 1, { stem: 'current' }),
  mA: u('current', 'A', 0.001, { stem: 'current' }),
  lx: u('illuminance', 'Lux', 1, { stem: 'lux' }),
  Pa: u('pressure', 'Pa', 1, { stem: 'pressure' }),
  hPa: u('pressure', 'Pa', 100, { stem: 'pressure' }),
  s: u('duration', 'Seconds', 1, { stem: 'duration' }),
  ms: u('duration', 'Seconds', 0.001, { stem: 'duration' }),
  dBm: u('signal', 'Dbm', 1, { stem: 'signal' }),
  dB: u('ratio', 'Db', 1, { stem: 'level' }),
  Hz: u('frequency', 'Hz', 1, { stem: 'frequency' }),
  m: u('distance', 'M', 1, { stem: 'distance' }),
  lat: u('latitude', '', 1, { stem: 'lat' }),
  lon: u('longitude', '', 1, { stem: 'lon' }),
};

/**
 * Unit suffixes recognised at the end of a vendor field name, longest first. `camel` matches after a lower-case
 * letter or a digit (`indexL`, `BatV`); `snake` matches after `_` or `-`, any case (`volume_m3`, `flow_l_h`).
 */
const NAME_SUFFIXES: ReadonlyArray<{ camel: readonly string[]; snake: readonly string[]; spec: UnitSpec }> = [
  { camel: ['Percentage', 'Percent', 'Pct'], snake: ['percentage', 'percent', 'pct'], spec: u('percent', 'Pct') },
  { camel: ['Celsius', 'DegC', 'C'], snake: ['celsius', 'degc', 'c'], spec: u('temperature', 'C') },
  { camel: ['M3h'], snake: ['m3_h', 'm3h', 'm3ph'], spec: u('flow', 'Lph', 1000) },
  { camel: ['Lph'], snake: ['l_h', 'lph', 'lh'], spec: u('flow', 'Lph') },
  {
    camel: ['Litres', 'Liters', 'Litre', 'Liter', 'L'],
    snake: ['litres', 'liters', 'litre', 'liter', 'l'],
    spec: u('volume', 'L'),
  },
  { camel: ['M3'], snake: ['m3'], spec: u('volume', 'L', 1000) },
  { camel: ['KWh', 'Kwh'], snake: ['kwh'], spec: u('energy', 'Wh', 1000) },
  { camel: ['Wh'], snake: ['wh'], spec: u('energy', 'Wh') },
  { camel: ['KW', 'Kw'], snake: ['kw'], spec: u('power', 'W', 1000) },
  { camel: ['W'], snake: ['w'], spec: u('power', 'W') },
  { camel: ['MV', 'Mv'], snake: ['mv'], spec: u('voltage', 'V', 0.001) },
  { camel: ['V'], snake: ['v'], spec: u('voltage', 'V') },
  { camel: ['Lux'], snake: ['lux'], spec: u('illuminance', 'Lux') },
];

/** Canonical names by quantity and stem ('' = the record named only a unit); `kinds` restricts a row. */
export const CANONICAL: ReadonlyArray<{
  readonly quantity: string;
  readonly stems: readonly string[];
  readonly name: string;
  readonly kinds?: readonly Kind[];
}> = [
  {
    quantity: 'volume',
    stems: [
      '',
      'index',
      'volume',
      'totalvolume',
      'total',
      'meter',
      'meterindex',
      'meterreading',
      'reading',
      'water',
      'watervolume',
      'totalizer',
      'cumulativevolume',
      'counter',
      'register',
      'volumeindex',
      'indexvolume',
      'absolutevolume',
      'currentvolume',
      'currentindex',
    ],
    name: 'indexL',
    kinds: ['water-meter'],
  },
  {
    quantity: 'flow',
    stems: ['', 'flow', 'flowrate', 'waterflow', 'currentflow', 'flowcurrent', 'instantflow', 'instantaneousflow'],
    name: 'flowLph',
  },
  {
    quantity: 'temperature',
    stems: [
      '',
      'temp',
      'temperature',
      'watertemp',
      'watertemperature',
      'ambienttemp',
      'ambienttemperature',
      'mediumtemperature',
      'temperaturesensor',
    ],
    name: 'tempC',
  },
  {
    quantity: 'percent',
    stems: ['battery', 'bat', 'batt', 'batterylevel', 'batlevel', 'batterypercentage', 'batterypercent', 'batterysoc'],
    name: 'batteryPct',
  },
  {
    quantity: 'percent',
    stems: ['dim', 'dimming', 'dimlevel', 'dimminglevel', 'dimvalue', 'brightness', 'lightlevel'],
    name: 'dimPct',
  },
  { quantity: 'percent', stems: ['paper', 'paperlevel', 'paperfill'], name: 'paperPct' },
  {
    quantity: 'percent',
    stems: ['coinfill', 'coinboxfill', 'coinbox', 'coinboxlevel', 'coinlevel'],
    name: 'coinFillPct',
  },
  {
    quantity: 'percent',
    stems: ['humidity', 'hum', 'relativehumidity', 'rh', 'humiditysensor'],
    name: 'humidityPct',
  },
  { quantity: 'power', stems: ['', 'power', 'activepower', 'lamppower', 'powerconsumption'], name: 'powerW' },
  {
    quantity: 'energy',
    stems: ['', 'energy', 'activeenergy', 'totalenergy', 'cumulativeenergy', 'lampenergy', 'energyconsumption'],
    name: 'energyWh',
  },
  {
    quantity: 'voltage',
    stems: ['bat', 'batt', 'battery', 'vbat', 'batteryvoltage', 'batvoltage', 'vdd'],
    name: 'batteryV',
  },
  {
    quantity: 'illuminance',
    stems: ['', 'lux', 'illuminance', 'illumination', 'light', 'luminosity', 'ambientlight', 'illuminancesensor'],
    name: 'lux',
  },
  // Unitless: the conventions every LoRaWAN codec we know follows (°C, %RH, lx).
  { quantity: 'none', stems: ['temp', 'temperature', 'temperaturesensor'], name: 'tempC' },
  { quantity: 'none', stems: ['humidity', 'hum', 'relativehumidity', 'humiditysensor'], name: 'humidityPct' },
  {
    quantity: 'none',
    stems: ['lux', 'illuminance', 'illumination', 'luminosity', 'illuminancesensor'],
    name: 'lux',
  },
];

const CANONICAL_INDEX = new Map<string, { name: string; kinds?: readonly Kind[] }>();
for (const row of CANONICAL) {
  for (const stem of row.stems) {
    const key = `${row.quantity}|${stem}`;
    if (!CANONICAL_INDEX.has(key)) {
      CANONICAL_INDEX.set(key, row.kinds === undefined ? { name: row.name } : { name: row.name, kinds: row.kinds });
    }
  }
}

const NUMERIC_SEGMENT = /^\d+$/;
const METRIC_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

/** A metric name from free text: `[A-Za-z0-9_]` only, starting with a letter, at most 64 characters; null if empty. */
export function sanitizeMetricName(raw: string): string | null {
  let name = raw
    .replace(/[^A-Za-z0-9_]+/g, '_')
    .replace(/_+/g, '_')
    .replace(/^_|_$/g, '');
  if (name === '') return null;
  if (!/^[A-Za-z]/.test(name)) name = `m${name}`;
  name = name.slice(0, 64);
  return METRIC_NAME.test(name) ? name : null;
}

/** camelCase from free-text segments (`['nfv-reader']` → `nfvReader`); '' when nothing usable. */
function camelName(segments: readonly string[]): string {
  const words = segments.flatMap((s) => s.split(/[^A-Za-z0-9]+/)).filter((w) => w !== '');
  return words.map((w, i) => (i === 0 ? w : w[0]!.toUpperCase() + w.slice(1))).join('');
}

function stemKey(segments: readonly string[]): string {
  return segments
    .filter((s) => !NUMERIC_SEGMENT.test(s))
    .join('')
    .toLowerCase()
    .replace(/[^a-z0-9]/g, '');
}

/** Splits a unit suffix off a vendor name (`volume_m3` → `volume` + m³); null when the name carries none. */
function splitNameSuffix(segment: string): { stem: string; spec: UnitSpec } | null {
  for (const entry of NAME_SUFFIXES) {
    for (const token of entry.camel) {
      if (segment.length > token.length && segment.endsWith(token)) {
        const before = segment[segment.length - token.length - 1]!;
        if (/[a-z0-9]/.test(before)) return { stem: segment.slice(0, -token.length), spec: entry.spec };
      }
    }
    const lower = segment.toLowerCase();
    for (const token of entry.snake) {
      if (lower.length > token.length + 1 && lower.endsWith(token)) {
        const sep = lower[lower.length - token.length - 1]!;
        if (sep === '_' || sep === '-') return { stem: segment.slice(0, -token.length - 1), spec: entry.spec };
      }
    }
  }
  return null;
}

function convert(value: number, spec: UnitSpec): number {
  if (spec.factor === 1 && spec.offset === undefined) return value;
  // toPrecision(15) removes binary noise such as 123.456 × 1000 = 123456.00000000001.
  return Number((value * spec.factor + (spec.offset ?? 0)).toPrecision(15));
}

interface Named {
  readonly primary: { readonly name: string; readonly value: number } | null;
  readonly fallback: { readonly name: string; readonly value: number } | null;
  readonly canonical: boolean;
  readonly optional: boolean;
}

function nameCandidate(kind: Kind, c: MetricCandidate): Named {
  const optional = c.optional === true;
  const segments = c.path;
  const explicit = c.unit !== undefined ? (SENML_UNITS[c.unit] ?? unknownUnit(c.unit)) : undefined;
  let spec: UnitSpec | undefined = explicit;
  let stemSegments = segments;
  if (spec === undefined) {
    // The last non-numeric segment may carry a unit suffix (`{"volume_m3": 1.2}`, `{"TempC": {"1": 20}}`).
    const last = [...segments].reverse().findIndex((s) => !NUMERIC_SEGMENT.test(s));
    if (last >= 0) {
      const at = segments.length - 1 - last;
      const split = splitNameSuffix(segments[at]!);
      if (split !== null) {
        spec = split.spec;
        stemSegments = [...segments.slice(0, at), split.stem, ...segments.slice(at + 1)];
      }
    }
  }
  let stem = stemKey(stemSegments);
  if (stem === '' && explicit?.stem !== undefined) stem = stemKey([explicit.stem]);
  const quantity = spec?.quantity ?? 'none';
  const hit = spec?.name !== undefined ? { name: spec.name } : CANONICAL_INDEX.get(`${quantity}|${stem}`);
  const canonicalName = hit !== undefined && (hit.kinds === undefined || hit.kinds.includes(kind)) ? hit.name : null;
  const converted = spec === undefined ? c.value : convert(c.value, spec);

  // A name of its own: a SenML measurement with the Vigie unit suffix (value converted), or the vendor's path.
  let ownName: string | null;
  let ownValue: number;
  if (explicit !== undefined) {
    const measurement = camelName(segments) || camelName([explicit.stem ?? c.unit ?? '']);
    const withSuffix =
      explicit.suffix !== '' && !measurement.toLowerCase().endsWith(explicit.suffix.toLowerCase())
        ? `${measurement}${explicit.suffix}`
        : measurement;
    ownName = sanitizeMetricName(withSuffix);
    ownValue = converted;
  } else {
    ownName = sanitizeMetricName(segments.join('_'));
    ownValue = c.value;
  }
  const own = ownName === null ? null : { name: ownName, value: ownValue };
  if (canonicalName !== null) {
    return { primary: { name: canonicalName, value: converted }, fallback: own, canonical: true, optional };
  }
  return { primary: own, fallback: null, canonical: false, optional };
}

function unknownUnit(unit: string): UnitSpec {
  const token = unit.replace(/[^A-Za-z0-9]+/g, '');
  return u('other', token === '' ? '' : token[0]!.toUpperCase() + token.slice(1), 1, {
    stem: token === '' ? 'value' : '',
  });
}

function inRange(value: number): boolean {
  return Number.isFinite(value) && Math.abs(value) <= MAX_METRIC_ABS;
}

/** Names, converts and bounds the numeric values of one reading (rules in this file's header). */
export function mapMetrics(kind: Kind, candidates: readonly MetricCandidate[]): MappedMetrics {
  const metrics: Record<string, number> = {};
  const issues: Issue[] = [];
  const ignored: Partial<Record<IgnoredReason, number>> = {};
  const drop = (reason: IgnoredReason): void => {
    ignored[reason] = (ignored[reason] ?? 0) + 1;
  };
  const named = candidates.map((c) => nameCandidate(kind, c));
  // Canonical names first, so that the metrics that carry meaning are never the ones beyond the limit.
  const ordered = [
    ...named.filter((n) => n.canonical && !n.optional),
    ...named.filter((n) => !n.canonical && !n.optional),
    ...named.filter((n) => n.optional),
  ];
  let count = 0;
  let placedValues = 0;
  for (const n of ordered) {
    const options = [n.primary, n.fallback].filter((o) => o !== null);
    if (options.length === 0) {
      drop('name');
      continue;
    }
    if (!options.some((o) => inRange(o.value))) {
      drop('range');
      continue;
    }
    let placed = false;
    let conflict: { name: string; value: number } | null = null;
    for (const o of options) {
      if (!inRange(o.value)) continue;
      const existing = metrics[o.name];
      if (existing === undefined) {
        if (count >= MAX_METRICS) {
          drop('limit');
        } else {
          metrics[o.name] = o.value;
          count += 1;
          if (!n.optional) placedValues += 1;
        }
        placed = true;
        break;
      }
      if (existing === o.value) {
        drop('duplicate');
        if (!n.optional) placedValues += 1;
        placed = true;
        break;
      }
      conflict ??= o;
    }
    if (!placed && conflict !== null) {
      if (n.optional) drop('duplicate');
      else {
        issues.push({
          path: `metrics.${conflict.name}`,
          message: `two different values for one metric: ${metrics[conflict.name]} and ${conflict.value}`,
        });
      }
    }
  }
  return { metrics, issues, ignored, placed: placedValues };
}

/** What {@link collectObjectValues} found in a decoded object. */
export interface ObjectValues {
  readonly candidates: MetricCandidate[];
  readonly ignored: Partial<Record<IgnoredReason, number>>;
}

const NUMERIC_TEXT = /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/;
/** Deeper than this, a decoded object is not walked further (its leaves are counted as `limit`). */
const MAX_DEPTH = 6;
/** At most this many leaves are looked at in one decoded object. */
const MAX_LEAVES = 512;

/**
 * The numeric leaves of a codec's decoded object, with their paths: numbers as they are, booleans as 0/1, strings
 * that are plain decimal numbers (`"24.73"`, as some codecs send them) as numbers. Other strings, nulls and leaves
 * beyond the depth or count bounds are counted, not kept.
 */
export function collectObjectValues(object: Record<string, unknown>): ObjectValues {
  const candidates: MetricCandidate[] = [];
  const ignored: Partial<Record<IgnoredReason, number>> = {};
  const drop = (reason: IgnoredReason): void => {
    ignored[reason] = (ignored[reason] ?? 0) + 1;
  };
  let leaves = 0;
  const walk = (value: unknown, path: string[], depth: number): void => {
    if (typeof value === 'object' && value !== null) {
      const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value);
      for (const [key, child] of entries) {
        if (depth >= MAX_DEPTH || leaves >= MAX_LEAVES) {
          drop('limit');
          continue;
        }
        walk(child, [...path, key], depth + 1);
      }
      return;
    }
    leaves += 1;
    if (typeof value === 'number') candidates.push({ path, value });
    else if (typeof value === 'boolean') candidates.push({ path, value: value ? 1 : 0 });
    else if (typeof value === 'string') {
      const trimmed = value.trim();
      if (NUMERIC_TEXT.test(trimmed)) candidates.push({ path, value: Number(trimmed) });
      else drop('text');
    } else drop('null');
  };
  walk(object, [], 0);
  return { candidates, ignored };
}

/** Adds one drop count map into another. */
export function mergeIgnored(
  into: Partial<Record<IgnoredReason, number>>,
  from: Partial<Record<IgnoredReason, number>>,
): void {
  for (const [reason, count] of Object.entries(from) as Array<[IgnoredReason, number]>) {
    into[reason] = (into[reason] ?? 0) + count;
  }
}
