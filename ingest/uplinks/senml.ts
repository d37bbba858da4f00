/**
 * SenML JSON packs (RFC 8428) on Vigie's own broker, on a dedicated channel of the device topic:
 * `vigie/v1/<kind>/<deviceId>/senml` (a JSON array of records; `.../telemetry` keeps Vigie's own JSON object).
 *
 * Resolution (RFC 8428 §4.5, §4.6): base fields (`bn`, `bt`, `bu`, `bv`, `bs`, `bver`) apply to their record and
 * every later one; name = bn + n (§4.5.1 character set); time = bt + t seconds, values below 2^28 relative to "now"
 * = the receipt time (§4.5.3); value = bv + v; sum = bs + s (§4.5.4); unit = u, else bu. Structural faults make the
 * whole pack a dead letter (ERR_PAYLOAD_SCHEMA, one issue per faulty record): a record that is not an object, a field
 * of the wrong type, no name, a name outside §4.5.1's characters, two value fields (`v`, `vs`, `vb`, `vd`), regular
 * fields without a value or sum, a time outside 1990–2100, `bver` above 10 or changing within the pack, or an
 * unknown field ending in `_` (§4.4, must-understand). A record of base fields only (RFC 8428 §5.1.7) is allowed.
 *
 * Devices: a name starting with a device URN (`urn:dev:ow:10e2073a01080063:temp`, RFC 9039) names that device; else
 * a base name names the device (`bn: "WM-000123/"` or a registered alias), with `n` the measurement; a name with no
 * base name is a measurement of the topic's device. Each device named is resolved by `{network: 'senml', deviceId}`
 * (unknown → ERR_DEVICE_UNKNOWN for its records; the topic's own device id needs no registry alias). Whoever calls
 * this checks that the topic's device may publish for each reading's device (a gateway), as for telemetry.
 *
 * Readings: records are grouped by (device, resolved time), one canonical reading per group, in time order. Numeric
 * values become metrics: `v`, `vb` as 0/1, and the sum `s` (for a rate unit such as m3/s its integral, m3 — a
 * water meter's index; for any other unit, a running total in that unit, as devices send it). `vs` and `vd` are
 * counted (`text`, `data`) and dropped. Metric names and units: metrics.ts. A group that lacks its kind's required
 * metric or holds two different values for one metric is dead-lettered alone; the pack's other readings go on. Pure.
 */
import type { Reading } from '../../core/contracts/index.ts';
import { isKnownKind } from '../decode.ts';
import {
  type Issue,
  isRecord,
  MAX_ISSUES,
  parseJsonPayload,
  resolveDevice,
  summarize,
  type UplinkInput,
  UplinkOutcome,
  type UplinkResult,
} from './common.ts';
import { type MetricCandidate, mapMetrics, mergeIgnored } from './metrics.ts';

/** The channel of a device topic that carries SenML packs: `vigie/v1/<kind>/<deviceId>/senml`. */
export const SENML_CHANNEL = 'senml';

/** A SenML device topic split into its parts; `kind` as written, not yet checked. */
export interface SenmlTopic {
  readonly kind: string;
  readonly deviceId: string;
}

const TOPIC_RE = /^vigie\/v1\/([^/]+)\/([^/]+)\/senml$/;

/** Splits `vigie/v1/<kind>/<deviceId>/senml`; null for any other topic. */
export function parseSenmlTopic(topic: string): SenmlTopic | null {
  const m = TOPIC_RE.exec(topic);
  return m ? { kind: m[1]!, deviceId: m[2]! } : null;
}

/** The SenML version this decoder understands (RFC 8428 §4.4: the default, 10). */
export const SENML_VERSION = 10;

/** Relative times are below 2^28 seconds (RFC 8428 §4.5.3). */
const RELATIVE_TIME_LIMIT_S = 2 ** 28;

/** One record after resolution (RFC 8428 §4.6), with where it sat in the pack. */
export interface ResolvedRecord {
  /** Index in the pack. */
  readonly index: number;
  /** bn + n. */
  readonly name: string;
  /** The base name in effect ('' when none). */
  readonly baseName: string;
  /** The record's own `n` ('' when absent). */
  readonly n: string;
  readonly unit: string | undefined;
  /** Event time, epoch milliseconds. */
  readonly timeMs: number;
  /** bv + v, or `vb` as 0/1; undefined for a string or data value, or a sum alone. */
  readonly value: number | undefined;
  /** bs + s; undefined when the record has no sum. */
  readonly sum: number | undefined;
  /** The record held `vs`. */
  readonly text: boolean;
  /** The record held `vd`. */
  readonly data: boolean;
}

/** What {@link resolveSenmlPack} returns: resolved records, or the faults that make the pack unusable. */
export interface ResolvedPack {
  readonly records: ResolvedRecord[];
  readonly issues: Issue[];
}

const FIELD_TYPES: Readonly<Record<string, 'string' | 'number' | 'boolean'>> = {
  bn: 'string',
  bt: 'number',
  bu: 'string',
  bv: 'number',
  bs: 'number',
  bver: 'number',
  n: 'string',
  u: 'string',
  v: 'number',
  vs: 'string',
  vb: 'boolean',
  vd: 'string',
  s: 'number',
  t: 'number',
  ut: 'number',
};
const BASE_FIELDS = new Set(['bn', 'bt', 'bu', 'bv', 'bs', 'bver']);
const VALUE_FIELDS = ['v', 'vs', 'vb', 'vd'] as const;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9\-:./_]*$/;
const MIN_TS_MS = Date.UTC(1990, 0, 1);
const MAX_TS_MS = Date.UTC(2100, 0, 1);

/** Resolves a SenML pack (RFC 8428 §4.6) against "now" = `nowMs`; pure. */
export function resolveSenmlPack(pack: unknown, nowMs: number): ResolvedPack {
  const issues: Issue[] = [];
  const records: ResolvedRecord[] = [];
  if (!Array.isArray(pack)) {
    return { records, issues: [{ path: '', message: 'a SenML pack is a JSON array of records' }] };
  }
  if (pack.length === 0) return { records, issues: [{ path: '', message: 'an empty pack' }] };
  let bn = '';
  let bt = 0;
  let bu: string | undefined;
  let bv: number | undefined;
  let bs: number | undefined;
  let version: number | undefined;
  for (let index = 0; index < pack.length && issues.length < MAX_ISSUES; index += 1) {
    const rec: unknown = pack[index];
    const at = (field?: string): string => (field === undefined ? `[${index}]` : `[${index}].${field}`);
    if (!isRecord(rec)) {
      issues.push({ path: at(), message: 'a record is a JSON object' });
      continue;
    }
    let faulty = false;
    for (const [key, value] of Object.entries(rec)) {
      const type = FIELD_TYPES[key];
      if (type === undefined) {
        // RFC 8428 §4.4: unknown fields are ignored, unless their label ends with '_' (must understand).
        if (key.endsWith('_')) {
          issues.push({ path: at(key), message: 'a must-understand field this decoder does not know (RFC 8428 §4.4)' });
          faulty = true;
        }
        continue;
      }
      if (typeof value !== type || (type === 'number' && !Number.isFinite(value))) {
        issues.push({ path: at(key), message: `a ${type}` });
        faulty = true;
      }
    }
    if (faulty) continue;
    if (rec['bver'] !== undefined) {
      const bver = rec['bver'] as number;
      if (!Number.isInteger(bver) || bver < 1 || bver > SENML_VERSION) {
        issues.push({ path: at('bver'), message: `a SenML version this decoder understands (1 to ${SENML_VERSION})` });
        continue;
      }
      if (version !== undefined && bver !== version) {
        issues.push({ path: at('bver'), message: `every record of a pack has one version (${version} before)` });
        continue;
      }
      version = bver;
    }
    if (rec['bn'] !== undefined) bn = rec['bn'] as string;
    if (rec['bt'] !== undefined) bt = rec['bt'] as number;
    if (rec['bu'] !== undefined) bu = rec['bu'] as string;
    if (rec['bv'] !== undefined) bv = rec['bv'] as number;
    if (rec['bs'] !== undefined) bs = rec['bs'] as number;

    const present = VALUE_FIELDS.filter((f) => rec[f] !== undefined);
    const hasSum = rec['s'] !== undefined || bs !== undefined;
    const regular = Object.keys(rec).filter((k) => FIELD_TYPES[k] !== undefined && !BASE_FIELDS.has(k));
    if (present.length > 1) {
      issues.push({ path: at(present[1]), message: `two values in one record (${present.join(', ')}); at most one` });
      continue;
    }
    if (present.length === 0 && !hasSum) {
      if (regular.length === 0) continue; // Base fields only (RFC 8428 §5.1.7): they apply to the records after it.
      issues.push({ path: at(), message: 'no value (one of v, vs, vb, vd, or a sum s)' });
      continue;
    }
    const n = (rec['n'] as string | undefined) ?? '';
    const name = bn + n;
    if (name === '') {
      issues.push({ path: at('n'), message: 'no name (n, or bn in this record or an earlier one)' });
      continue;
    }
    if (!NAME_RE.test(name)) {
      issues.push({
        path: at('n'),
        message: `name ${name.slice(0, 40)} has characters outside A-Z a-z 0-9 - : . / _ or does not start with a letter or digit (RFC 8428 §4.5.1)`,
      });
      continue;
    }
    const timeS = bt + ((rec['t'] as number | undefined) ?? 0);
    const timeMs = Math.round(timeS < RELATIVE_TIME_LIMIT_S ? nowMs + timeS * 1000 : timeS * 1000);
    if (!Number.isFinite(timeMs) || timeMs < MIN_TS_MS || timeMs > MAX_TS_MS) {
      issues.push({ path: at('t'), message: `time ${timeS} s is not between 1990 and 2100 (bt + t, RFC 8428 §4.5.3)` });
      continue;
    }
    const v = rec['v'] as number | undefined;
    const vb = rec['vb'] as boolean | undefined;
    const value = v !== undefined ? (bv ?? 0) + v : vb !== undefined ? (vb ? 1 : 0) : undefined;
    const sum = hasSum ? (bs ?? 0) + ((rec['s'] as number | undefined) ?? 0) : undefined;
    records.push({
      index,
      name,
      baseName: bn,
      n,
      unit: (rec['u'] as string | undefined) ?? bu,
      timeMs,
      value,
      sum,
      text: rec['vs'] !== undefined,
      data: rec['vd'] !== undefined,
    });
  }
  return { records, issues };
}

const DEVICE_URN_RE = /^urn:dev:[A-Za-z0-9]+:[^:/]+/;
const SEPARATORS_RE = /^[:/._-]+|[:/._-]+$/g;

/** Which device a resolved name belongs to (null = the topic's device) and the measurement it names. */
export function splitSenmlName(record: Pick<ResolvedRecord, 'name' | 'baseName' | 'n'>): {
  sensorRef: string | null;
  measurement: string;
} {
  const urn = DEVICE_URN_RE.exec(record.name);
  if (urn) return { sensorRef: urn[0], measurement: record.name.slice(urn[0].length).replace(SEPARATORS_RE, '') };
  const base = record.baseName.replace(SEPARATORS_RE, '');
  if (base !== '') return { sensorRef: base, measurement: record.n.replace(SEPARATORS_RE, '') };
  return { sensorRef: null, measurement: record.n };
}

/** Units whose sum is another quantity: the integral over seconds (RFC 8428 §4.2, "Sum"). */
const SUM_UNITS: Readonly<Record<string, string>> = { 'm3/s': 'm3', 'l/s': 'l', 'L/s': 'L', W: 'J' };

const WHAT = 'SenML pack';

/** Decodes one SenML pack from `vigie/v1/<kind>/<deviceId>/senml`. Never throws (except what `input.resolve` throws). */
export function decodeSenml(input: UplinkInput, topic: SenmlTopic): UplinkResult {
  const outcome = new UplinkOutcome(input, 'senml');
  if (!isKnownKind(topic.kind)) {
    return outcome.fail('ERR_KIND_UNKNOWN', `unknown device kind in topic: ${topic.kind.slice(0, 40)}`).result();
  }
  const topicDevice = resolveDevice(input, outcome, { network: 'senml', deviceId: topic.deviceId }, WHAT);
  if (topicDevice === null) return outcome.result();
  if (topicDevice.kind !== topic.kind) {
    return outcome
      .fail(
        'ERR_KIND_MISMATCH',
        `device kind in topic differs from the registered one: ${topic.kind} (registered: ${topicDevice.kind})`,
        [],
        topicDevice.deviceId,
      )
      .result();
  }
  const json = parseJsonPayload(input, outcome, WHAT);
  if (json === undefined) return outcome.result();
  const pack = resolveSenmlPack(json, input.receivedAtMs);
  if (pack.issues.length > 0) {
    return outcome
      .fail(
        'ERR_PAYLOAD_SCHEMA',
        `${WHAT} invalid: ${summarize(pack.issues)} (RFC 8428)`,
        pack.issues,
        topicDevice.deviceId,
      )
      .result();
  }

  // Devices named in the pack, each looked up once.
  const devices = new Map<string, { deviceId: string; kind: typeof topicDevice.kind } | null>();
  const unknown: Issue[] = [];
  const unknownRefs = new Set<string>();
  const groups = new Map<string, { device: typeof topicDevice; timeMs: number; candidates: MetricCandidate[] }>();
  let numeric = 0;
  for (const record of pack.records) {
    if (record.text) outcome.ignore('text');
    if (record.data) outcome.ignore('data');
    if (record.value === undefined && record.sum === undefined) continue;
    const { sensorRef, measurement } = splitSenmlName(record);
    let device: typeof topicDevice | null = topicDevice;
    if (sensorRef !== null && sensorRef !== topic.deviceId) {
      if (!devices.has(sensorRef)) {
        const found = input.resolve({ network: 'senml', deviceId: sensorRef });
        devices.set(
          sensorRef,
          found !== null && isKnownKind(found.kind) ? { deviceId: found.deviceId, kind: found.kind } : null,
        );
      }
      device = devices.get(sensorRef) ?? null;
    }
    if (device === null) {
      unknownRefs.add(sensorRef ?? '');
      unknown.push({ path: `[${record.index}].n`, message: `device ${sensorRef} is not registered (nor an alias)` });
      continue;
    }
    const path = measurement.split(/[:/.]+/).filter((s) => s !== '');
    const key = `${device.deviceId}\u0000${record.timeMs}`;
    let group = groups.get(key);
    if (group === undefined) {
      group = { device, timeMs: record.timeMs, candidates: [] };
      groups.set(key, group);
    }
    // A sum before the value: a total is what a meter's canonical index is made of.
    if (record.sum !== undefined) {
      const integral = record.unit === undefined ? undefined : SUM_UNITS[record.unit];
      group.candidates.push(
        integral !== undefined
          ? { path: [], value: record.sum, unit: integral }
          : { path, value: record.sum, unit: record.unit },
      );
      numeric += 1;
    }
    if (record.value !== undefined) {
      group.candidates.push({ path, value: record.value, unit: record.unit });
      numeric += 1;
    }
  }
  if (unknown.length > 0) {
    const refs = [...unknownRefs];
    outcome.fail(
      'ERR_DEVICE_UNKNOWN',
      `${WHAT} names devices the registry does not know: ${refs.slice(0, 5).join(', ')} ` +
        '(register them, or their names as aliases; their records were not read)',
      unknown,
      topicDevice.deviceId,
    );
  }
  if (numeric === 0 && unknown.length === 0) {
    return outcome
      .fail(
        'ERR_PAYLOAD_SCHEMA',
        `${WHAT} has no numeric value: ${pack.records.length} records (v, vb or s; vs and vd are not metrics)`,
        [{ path: '', message: 'no numeric value' }],
        topicDevice.deviceId,
      )
      .result();
  }
  const ordered = [...groups.values()].sort((a, b) => a.timeMs - b.timeMs);
  const receivedAt = new Date(input.receivedAtMs).toISOString();
  for (const group of ordered) {
    const ts = new Date(group.timeMs).toISOString();
    const what = `${WHAT} records of ${group.device.deviceId} at ${ts}`;
    const mapped = mapMetrics(group.device.kind, group.candidates);
    mergeIgnored(outcome.ignored, mapped.ignored);
    if (mapped.issues.length > 0) {
      outcome.fail(
        'ERR_PAYLOAD_SCHEMA',
        `${what} are ambiguous: ${summarize(mapped.issues)}`,
        mapped.issues,
        group.device.deviceId,
      );
      continue;
    }
    if (mapped.placed === 0) {
      outcome.fail(
        'ERR_PAYLOAD_SCHEMA',
        `${what} have no usable numeric value: ${JSON.stringify(mapped.ignored)} (numbers within ±2^53 with a name)`,
        [{ path: '', message: 'no usable numeric value' }],
        group.device.deviceId,
      );
      continue;
    }
    const reading: Reading = {
      deviceId: group.device.deviceId,
      kind: group.device.kind,
      ts,
      metrics: mapped.metrics,
      receivedAt,
    };
    outcome.emit(reading, what);
  }
  return outcome.result();
}
