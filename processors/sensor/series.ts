/**
 * The per-series model of the `anomaly` detector: one bounded, JSON-serialisable state per (device, metric), learned
 * online from event time. See README.md for the method; in short, expected value = level + hour-of-day profile
 * (24 knots, linear interpolation) + day-of-week offset (7), residuals scaled by an hour-of-day robust scale
 * (EW mean absolute residual × √(π/2), 24 knots), and three scores: point (|z| against a threshold that adapts to the
 * series' own tail through a running 99th percentile of |z|), shift (two-sided CUSUM of clipped z) and flat-line
 * (surprise of a run of repeated values given how often this hour usually repeats). Every rate is a half-life in
 * event time, so irregular sampling and gaps weigh readings by the time they stand for, not by their count.
 *
 * Size: 4 arrays of 24 or 7 numbers and ≈ 25 scalars, whatever the length of the stream (≈ 2 KiB of JSON).
 */

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const WEEK_MS = 7 * DAY_MS;
/** √(π/2): the mean absolute deviation of a normal variable times this is its standard deviation. */
const MAD_TO_SD = 1.2533;
/** The 99th percentile of |z| for a normal variable: the running percentile's start and reference. */
const NORMAL_Q99 = 2.576;
/** Residuals clipped to this many scales (× tail ratio) before they update the baseline (Huber-style). */
const CLIP_SCALES = 3;
/** z clipped to this before the CUSUM, so one spike does not read as a level shift. */
const CUSUM_CLIP_Z = 4;
/** The CUSUM is capped at this × its threshold. */
const CUSUM_CAP_RATIO = 1.5;
/** Step of the running 99th percentile of |z|, in z per typical reading. */
const QUANTILE_STEP_Z = 0.05;
/** Least probability of a repeated value in an hour slot (caps one repeated reading's surprise at ≈ 6.9 nats). */
const MIN_REPEAT_P = 0.001;
/** A reading stands for at most this much time in the learning rates (after a gap, no single reading dominates). */
const MAX_READING_WEIGHT_MS = HOUR_MS;
/** A fresh profile learns for a day plus one hourly reading (so an hourly series sees every hour once). */
const FRESH_MS = DAY_MS + HOUR_MS;

/** Learning and scoring parameters of a series (derived from the detector's config, all in ms or z units). */
export interface SeriesParams {
  readonly warmupMs: number;
  readonly warmupReadings: number;
  readonly levelHalfLifeMs: number;
  readonly profileHalfLifeDays: number;
  readonly weeklyHalfLifeWeeks: number;
  readonly scaleHalfLifeDays: number;
  readonly pointTailFactor: number;
  readonly minPointZ: number;
  readonly cusumSlackZ: number;
  readonly cusumThresholdZ: number;
  readonly cusumStepMs: number;
  readonly flatLineMs: number;
  readonly flatSurpriseNats: number;
  readonly closeScoreRatio: number;
  readonly coolDownMs: number;
  readonly acceptAfterMs: number;
  readonly relearnMs: number;
  readonly gapResetMs: number;
}

/** What made a series anomalous: a point far from its baseline, a sustained shift/drift, or a flat line. */
export type AnomalyCause = 'point' | 'shift' | 'flat';

/** An open anomalous episode of one series, with the numbers of its last anomalous reading. */
export interface SeriesEpisode {
  /** Event time it opened, ms. */
  readonly since: number;
  /** Event time of its last anomalous reading, ms. */
  readonly last: number;
  readonly peak: number;
  /** Cause at opening (kept, so the alert's details do not flip between causes). */
  readonly cause: AnomalyCause;
  /** Last anomalous reading: observed value, expected value, z (signed scales), score. */
  readonly x: number;
  readonly e: number;
  readonly z: number;
  readonly s: number;
}

/** The state of one series. JSON-serialisable, fixed size. Short keys: it is snapshotted per device. */
export interface SeriesState {
  /** Readings seen, counted up to the warm-up count only. */
  readonly n: number;
  /** First reading, ms (the weekly offsets' ramp). */
  readonly tf: number;
  /** Start of the profile and scale learning ramp, ms (first reading; moved on re-learning). */
  readonly t0: number;
  /** The profile is fresh (learning its first day, from t0) and must be re-centred into the levels once it ends. */
  readonly fr: boolean;
  /** No scores before this event time (warm-up, re-learning), ms. */
  readonly learnUntil: number;
  /** Last reading: event time (ms), value, local day number. */
  readonly t: number;
  readonly x: number;
  readonly ld: number;
  /** EW mean of ln(interval ms): the typical sampling interval. */
  readonly lnDt: number;
  /** Level, hour-of-day profile (24 knots at hh:00 local), day-of-week offsets (7, local day number mod 7). */
  readonly lv: number;
  /** Slow level (half-life ramping to a week): what the day-of-week offsets are learnt against. */
  readonly ls: number;
  readonly day: number[];
  readonly wk: number[];
  /** The current local day's sum of weighted slow residuals and of weights (its mean becomes a weekly offset). */
  readonly da: number;
  readonly dw: number;
  /** Hour-of-day scale (24 knots) and global scale, in the metric's unit. */
  readonly sc: number[];
  readonly g: number;
  /** Hour-of-day probability that a reading repeats the previous value (24). */
  readonly pz: number[];
  /** Running 99th percentile of |z|. */
  readonly q: number;
  /** CUSUM up and down, z units. */
  readonly cp: number;
  readonly cn: number;
  /** Flat run: accumulated surprise (nats) and its start (ms, -1 when not flat). */
  readonly fs: number;
  readonly ft: number;
  readonly ep: SeriesEpisode | null;
}

/** What one reading did to a series. */
export interface SeriesStep {
  readonly state: SeriesState;
  /** Score of this reading (≥ 1 anomalous), 0 while learning. */
  readonly score: number;
  /** The episode closed at this reading: cool-down passed, or the change was accepted as the new normal. */
  readonly closed: 'cool-down' | 'accepted' | null;
}

/** Position of a local time in the week: knots and weight of the hour-of-day, day-of-week, local day number. */
interface Position {
  readonly i0: number;
  readonly i1: number;
  readonly f: number;
  readonly dow: number;
  readonly ld: number;
}

function position(localMs: number): Position {
  const ld = Math.floor(localMs / DAY_MS);
  const hp = (localMs - ld * DAY_MS) / HOUR_MS;
  const i0 = Math.floor(hp);
  return { i0, i1: (i0 + 1) % 24, f: hp - i0, dow: ((ld % 7) + 7) % 7, ld };
}

const halfLifeRate = (weightMs: number, halfLifeMs: number) => 1 - 2 ** (-weightMs / halfLifeMs);
/** An element of a fixed-size array (its index is in range by construction). */
const at = (a: readonly number[], i: number) => a[i] as number;
const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);

/** A new series from its first reading. */
export function newSeries(x: number, tsMs: number, localMs: number, p: SeriesParams): SeriesState {
  return {
    n: 1,
    tf: tsMs,
    t0: tsMs,
    fr: true,
    learnUntil: tsMs + p.warmupMs,
    t: tsMs,
    x,
    ld: position(localMs).ld,
    lnDt: Math.log(15 * 60_000),
    lv: x,
    ls: x,
    day: new Array<number>(24).fill(0),
    wk: new Array<number>(7).fill(0),
    da: 0,
    dw: 0,
    sc: new Array<number>(24).fill(0),
    g: 0,
    pz: new Array<number>(24).fill(0.5),
    q: NORMAL_Q99,
    cp: 0,
    cn: 0,
    fs: 0,
    ft: -1,
    ep: null,
  };
}

/** Expected value and scale of a series at a local time (the scale floored so it is never 0). */
export function expectedAt(s: SeriesState, localMs: number): { expected: number; scale: number } {
  const { i0, i1, f, dow } = position(localMs);
  const expected = s.lv + at(s.day, i0) * (1 - f) + at(s.day, i1) * f + at(s.wk, dow);
  const slot = at(s.sc, i0) * (1 - f) + at(s.sc, i1) * f;
  const scale = Math.max(slot > 0 ? slot : s.g, 0.5 * s.g, 1e-9 * Math.max(1, Math.abs(s.lv)));
  return { expected, scale };
}

/**
 * One reading of a series, in event-time order (`tsMs` after the previous one). `localMs` is the event time shifted
 * to local wall-clock time (for the daily and weekly profiles). Pure: returns a new state.
 */
export function stepSeries(s: SeriesState, x: number, tsMs: number, localMs: number, p: SeriesParams): SeriesStep {
  const dt = Math.max(tsMs - s.t, 1);
  const pos = position(localMs);
  const { i0, i1, f, dow } = pos;
  const lnDt = s.n < 3 ? Math.log(dt) : s.lnDt + 0.05 * (Math.log(dt) - s.lnDt);
  const typicalMs = Math.exp(lnDt);
  // CUSUM, flat surprise and the percentile count a reading by the share of a typical interval it stands for.
  const w = Math.min(1, dt / typicalMs);
  const gap = dt > p.gapResetMs;

  // 1. Score against the model as it stood before this reading.
  const { expected, scale } = expectedAt(s, localMs);
  const r = x - expected;
  const z = r / scale;
  let learning = s.n < p.warmupReadings || tsMs < s.learnUntil;
  const repeat = Math.abs(x - s.x) <= 1e-12 * Math.max(1, Math.abs(x));
  const slotH = f < 0.5 ? i0 : i1;

  let cp = gap ? 0 : s.cp;
  let cn = gap ? 0 : s.cn;
  let fs = 0;
  let ft = -1;
  if (repeat && !gap) {
    fs = s.fs + w * -Math.log(Math.max(at(s.pz, slotH), MIN_REPEAT_P));
    ft = s.ft >= 0 ? s.ft : s.t;
  }
  let score = 0;
  let cause: AnomalyCause = 'point';
  if (!learning) {
    const tail = Math.max(1, s.q / NORMAL_Q99);
    const zc = clamp(z / tail, -CUSUM_CLIP_Z, CUSUM_CLIP_Z);
    // Time-weighted: a reading counts for the share of cusumStepMs it stands for (at most one), so a series
    // sampled every minute does not accumulate a slight model error 15 times faster than one sampled every 15.
    const wc = Math.min(1, dt / p.cusumStepMs, 3 * w);
    // Capped at 1.5 × the threshold: a long excursion must not wind it up for days after the series is back.
    const cap = CUSUM_CAP_RATIO * p.cusumThresholdZ;
    cp = clamp(cp + wc * (zc - p.cusumSlackZ), 0, cap);
    cn = clamp(cn + wc * (-zc - p.cusumSlackZ), 0, cap);
    const point = Math.abs(z) / Math.max(p.minPointZ, p.pointTailFactor * s.q);
    const shift = Math.max(cp, cn) / p.cusumThresholdZ;
    const flat = ft >= 0 && tsMs - ft >= p.flatLineMs ? fs / p.flatSurpriseNats : 0;
    score = point;
    if (shift > score) {
      score = shift;
      cause = 'shift';
    }
    if (flat > score) {
      score = flat;
      cause = 'flat';
    }
  }

  // 2. Episode: opens at score ≥ 1, held while ≥ closeScoreRatio, closes after a cool-down without it.
  let ep = s.ep;
  let closed: SeriesStep['closed'] = null;
  const anomalous = !learning && score >= (ep ? p.closeScoreRatio : 1);
  if (anomalous) {
    ep = ep
      ? // A flat line found during an episode names it from then on (and a flat line is never accepted).
        {
          ...ep,
          last: tsMs,
          peak: Math.max(ep.peak, score),
          cause: cause === 'flat' ? cause : ep.cause,
          x,
          e: expected,
          z,
          s: score,
        }
      : { since: tsMs, last: tsMs, peak: score, cause, x, e: expected, z, s: score };
  } else if (ep && tsMs - ep.last >= p.coolDownMs) {
    ep = null;
    closed = 'cool-down';
  }

  // 3. A shift or changed pattern that lasts is accepted as the new normal: the profile restarts fresh (its first
  //    day is learnt as it comes, then its mean moves into the levels, which wait), and the series learns
  //    unclipped, with no scores, for relearnMs (at least that fresh day).
  //    A flat line is never accepted (a stuck sensor stays a fault until it moves).
  let base = s;
  if (ep && ep.cause !== 'flat' && tsMs - ep.since >= p.acceptAfterMs) {
    base = { ...s, t0: tsMs, fr: true, learnUntil: tsMs + Math.max(p.relearnMs, FRESH_MS) };
    cp = 0;
    cn = 0;
    ep = null;
    closed = 'accepted';
    learning = true;
  }

  // 4. Learn, unless the reading is part of an open episode (its readings must not become the baseline) — except
  //    the bookkeeping. A reading that looks normal again during the cool-down is learnt: the model keeps up with
  //    the day while an episode waits to close (else a frozen level would hold the episode open by itself).
  const n = Math.min(base.n + 1, p.warmupReadings);
  if (ep && anomalous) {
    // A stuck sensor that moves again: what the CUSUM summed was the stuck value's offset, not the process.
    if (ep.cause === 'flat' && !repeat && s.ft >= 0) {
      cp = 0;
      cn = 0;
    }
    return { state: { ...s, n, t: tsMs, x, ld: pos.ld, lnDt, cp, cn, fs, ft, ep }, score, closed };
  }
  const weightMs = Math.min(dt, MAX_READING_WEIGHT_MS);
  const ageMs = tsMs - base.t0;
  const profileDays = clamp(ageMs / DAY_MS, 1, p.profileHalfLifeDays);
  // The scale ramps faster than the profile (a quarter of the age): the first days' residuals, made of a profile
  // still being learnt, must not inflate it for weekbase.
  const scaleDays = clamp(ageMs / DAY_MS / 4, 0.25, p.scaleHalfLifeDays);
  const weekAgeMs = tsMs - base.tf;
  const weeks = clamp(weekAgeMs / WEEK_MS, 1, p.weeklyHalfLifeWeeks);
  // A slot is covered one hour a day (hour-of-day) or one day a week (day-of-week): half-lives in slot time.
  const aL = halfLifeRate(weightMs, p.levelHalfLifeMs);
  // A fresh profile (the first day of a series, or the day after an accepted change) takes each hour as it comes
  // (15 min of slot time) while the slow level waits; when the day is over the profile's mean moves into the levels,
  // leaving profile = x − that day's mean.
  const fresh = ageMs < FRESH_MS;
  const aD = halfLifeRate(weightMs, fresh ? 15 * 60_000 : profileDays * HOUR_MS);
  // Day-of-week offsets learn once a day (below) from the day's mean residual against the slow level (a fast level
  // would absorb the weekend step first): fully in the first eight days, so each day is seen once after day one,
  // then at a half-life of `weeks` weekbase. The slow level's half-life is half a week: it must not absorb a day.
  const aW = weekAgeMs < WEEK_MS + DAY_MS ? 1 : halfLifeRate(1, weeks);
  const aLs = fresh ? 0 : halfLifeRate(weightMs, WEEK_MS / 2);
  const aS = halfLifeRate(weightMs, scaleDays * HOUR_MS);
  const aG = halfLifeRate(weightMs, DAY_MS);

  const limit = learning ? Number.POSITIVE_INFINITY : CLIP_SCALES * scale * Math.max(1, base.q / NORMAL_Q99);
  const rc = clamp(r, -limit, limit);
  const dev = Math.min(Math.abs(r), learning ? Number.POSITIVE_INFINITY : 4 * scale) * MAD_TO_SD;

  let lv = base.lv + aL * rc;
  const day = base.day.slice();
  const wk = base.wk.slice();
  const sc = base.sc.slice();
  const pz = base.pz.slice();
  // The profile and the weekly offsets learn against the slow level (Holt-Winters-style targets): a fast level
  // would absorb the daily cycle and the weekend step before they are learnt.
  const slowSeason = at(base.day, i0) * (1 - f) + at(base.day, i1) * f + at(base.wk, dow);
  const slowResidual = clamp(x - base.ls - slowSeason, -limit, limit);
  if (fresh) {
    // A fresh knot averages the readings of its own hour (nearest knot, not the interpolation's gradient, which
    // at such a rate over-fits each segment's last readings and biases the day's mean).
    day[slotH] = at(day, slotH) + aD * (x - base.ls - at(base.wk, dow) - at(day, slotH));
  } else {
    day[i0] = at(day, i0) + aD * (1 - f) * slowResidual;
    day[i1] = at(day, i1) + aD * f * slowResidual;
  }
  let da = fresh ? 0 : base.da + (weightMs / HOUR_MS) * slowResidual;
  let dw = fresh ? 0 : base.dw + weightMs / HOUR_MS;
  let ls = base.ls + aLs * slowResidual;
  // The scale does not learn on the first day: the profile is still empty and its residuals are the daily cycle.
  const scaleOn = ageMs >= DAY_MS;
  if (scaleOn) {
    const s0 = at(sc, i0);
    const s1 = at(sc, i1);
    sc[i0] = s0 === 0 ? dev : s0 + aS * (1 - f) * (dev - s0);
    sc[i1] = s1 === 0 ? dev : s1 + aS * f * (dev - s1);
  }
  const g = !scaleOn ? base.g : base.g === 0 ? dev : base.g + aG * (dev - base.g);
  if (!gap) pz[slotH] = at(pz, slotH) + aD * ((repeat ? 1 : 0) - at(pz, slotH));
  let q = base.q;
  if (!learning) q = clamp(q + QUANTILE_STEP_Z * w * (Math.abs(z) > q ? 0.99 : -0.01), 1, 50);

  // Once a local day: the day's mean slow residual is what its day-of-week offset missed: add it (fully in the
  // first eight days, then at the weekly half-life), if the day was covered for half a day at least. The profile
  // is re-centred: its mean drift over the day is that same offset, now in its place. The weekly offsets are
  // centred too, their mean moved into the levelbase.
  let fr = base.fr;
  const recentre = (fr && !fresh) || (!fr && pos.ld !== base.ld);
  if (recentre) {
    let m = 0;
    for (let i = 0; i < 24; i++) m += at(day, i);
    m /= 24;
    for (let i = 0; i < 24; i++) day[i] = at(day, i) - m;
    if (fr) {
      // The fast level drifted while the fresh profile took everything in: restart it from the slow one.
      ls += m;
      lv = ls;
      fr = false;
    } else if (dw >= 12) {
      const prevDow = ((base.ld % 7) + 7) % 7;
      wk[prevDow] = at(wk, prevDow) + aW * (da / dw);
    }
    da = 0;
    dw = 0;
    let mw = 0;
    for (let i = 0; i < 7; i++) mw += at(wk, i);
    mw /= 7;
    for (let i = 0; i < 7; i++) wk[i] = at(wk, i) - mw;
    lv += mw;
    ls += mw;
  }
  return {
    state: {
      n,
      tf: base.tf,
      t0: base.t0,
      fr,
      learnUntil: base.learnUntil,
      t: tsMs,
      x,
      ld: pos.ld,
      lnDt,
      lv,
      ls,
      day,
      wk,
      da,
      dw,
      sc,
      g,
      pz,
      q,
      cp,
      cn,
      fs,
      ft,
      ep,
    },
    score,
    closed,
  };
}
