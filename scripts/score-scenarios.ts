import { formatScore } from '../processors/evaluate.ts';
import { scoreScenario } from '../test/helpers/scenario-score.ts';

/**
 * Prints recall, precision and time to detect per alert type for the 30-day scenario of each kind (the README's
 * "Detection quality" figures): `npx tsx scripts/score-scenarios.ts [scenario…]`.
 */
const names = process.argv.slice(2);
for (const name of names.length > 0 ? names : ['streetlight-30d', 'parking-30d', 'sensor-30d']) {
  const s = await scoreScenario(name);
  process.stdout.write(
    `${name}: ${s.devices} devices, ${s.days} days, ${s.readings} readings, ${s.events} events, ${s.labels} injected faults, ${s.transitions} transitions, ${(s.elapsedMs / 1000).toFixed(1)} s\n`,
  );
  for (const [type, score] of Object.entries(s.scores)) process.stdout.write(`  ${formatScore(type, score)}\n`);
}
