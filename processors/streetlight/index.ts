import { z } from 'zod';
import type { Detector } from '../detector.ts';
import * as dayBurner from './day-burner.ts';
import * as lampOut from './lamp-out.ts';
import { modelConfigSchema, type StreetlightDerived } from './model.ts';
import * as powerAnomaly from './power-anomaly.ts';

/**
 * Streetlights: the model that derives the expected state and draw of a lamp from the sun and the dimming profile,
 * and the detectors stepping on it (DOMAIN.md "Streetlights"). Adding a detector: one file here, one line in
 * {@link STREETLIGHT_DETECTORS} (alphabetical) and one key in {@link streetlightConfigSchema}. `no-data` and
 * `low-battery` come from processors/common for every kind.
 */

export {
  DEFAULT_DIMMING_PROFILE,
  type DimmingStep,
  dimLevelPct,
  dimmingStepSchema,
  localMinuteOfDay,
  type ModelConfig,
  modelConfigSchema,
  STREETLIGHT_DROP_REASONS,
  type StreetlightDerived,
  type StreetlightState,
  type SunPhase,
  streetlightModel,
  sunAltitudeDegAt,
  sunPhase,
} from './model.ts';

/** The streetlight detector modules (name, configSchema, create), alphabetical. */
export const STREETLIGHT_DETECTORS = [dayBurner, lampOut, powerAnomaly] as const;

/** Streetlight settings: the model's and each detector's under its name, every key defaulted. */
export const streetlightConfigSchema = z.strictObject({
  model: modelConfigSchema
    .prefault({})
    .describe('Where and when lamps should be lit, at what level, and what they draw (sun, dimming profile).'),
  'day-burner': dayBurner.configSchema.prefault({}).describe('day-burner: a lamp lit in full daylight.'),
  'lamp-out': lampOut.configSchema.prefault({}).describe('lamp-out: a lamp expected on drawing (almost) nothing.'),
  'power-anomaly': powerAnomaly.configSchema
    .prefault({})
    .describe('power-anomaly: a lit lamp off its rated draw for its dim level, or cycling on and off.'),
});
/** Streetlight settings. */
export type StreetlightConfig = z.output<typeof streetlightConfigSchema>;

/** Creates every streetlight detector from parsed settings, in {@link STREETLIGHT_DETECTORS} order. */
export function createStreetlightDetectors(config: StreetlightConfig): Detector<unknown, StreetlightDerived>[] {
  return [
    dayBurner.create(config['day-burner']),
    lampOut.create(config['lamp-out']),
    powerAnomaly.create(config['power-anomaly']),
  ];
}
