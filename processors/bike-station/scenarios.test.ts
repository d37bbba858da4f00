import { describe, expect, it } from 'vitest';
import { scoreScenario } from '../../test/helpers/scenario-score.ts';
import { formatScore } from '../evaluate.ts';

/**
 * The mobility kinds' scenarios (simulators/scenarios), replayed through the processors and scored against their
 * ground truth, as test/scenarios/detection.test.ts does for the other kinds: every injected fault found, no false
 * alert, one alert per fault; normal fleets raise nothing. A station left empty or full at night is seen at 07:00
 * local (an hour into the day): up to about 10 h after the fault's start.
 */
const MAX_TTD_P95_HOURS: Readonly<Record<string, number>> = {
  'station-empty': 10.5,
  'station-full': 10.5,
  'car-park-full': 0.75,
  'no-data': 2.25,
  'device-flag': 0.5,
};

describe('mobility kinds on 30-day scenarios', () => {
  it.each([
    { scenario: 'bike-station-30d', types: ['station-empty', 'station-full', 'no-data', 'device-flag'] },
    { scenario: 'car-park-30d', types: ['car-park-full', 'no-data'] },
  ])(
    'finds every fault injected in $scenario with no false alert when its 30 days are replayed',
    async ({ scenario, types }) => {
      const s = await scoreScenario(scenario);
      const report = Object.entries(s.scores)
        .map(([type, score]) => formatScore(type, score))
        .join('\n');
      expect(Object.keys(s.scores).sort(), report).toEqual([...types].sort());
      for (const [type, score] of Object.entries(s.scores)) {
        expect(score.labels, `${type}\n${report}`).toBeGreaterThanOrEqual(10);
        expect(score.recall, `${type}\n${report}`).toBe(1);
        expect(score.precision, `${type}\n${report}`).toBe(1);
        expect(score.alertsPerFault, `${type}\n${report}`).toBe(1);
        expect((score.ttdP95Ms ?? Number.POSITIVE_INFINITY) / 3_600_000, `${type}\n${report}`).toBeLessThanOrEqual(
          MAX_TTD_P95_HOURS[type] ?? 0,
        );
      }
    },
    120_000,
  );

  it.each(['bike-station-normal', 'car-share-normal', 'car-park-normal'])(
    'raises no alert when the healthy fleet of %s runs for 30 days',
    async (scenario) => {
      const s = await scoreScenario(scenario);
      expect(s.readings).toBeGreaterThan(50_000);
      expect(s.transitions).toBe(0);
    },
    120_000,
  );
});
