import { replay as runReplay } from '../../processors/replay.ts';
import { type Command, requiredOption } from '../command.ts';
import { loadConfig } from '../config.ts';

/** `vigie replay`: the live detectors over recorded readings (CONTRACTS.md §4). */
export const replay: Command = {
  name: 'replay',
  summary: 'run the processors over recorded readings',
  help: `vigie replay --input FILE|- --output FILE|- [--format ndjson|csv]

Reads canonical readings (NDJSON, one per line, or CSV with a header deviceId,kind,ts,<metric>...) and writes
one alert transition per line (NDJSON), using the same detectors and thresholds as the live pipeline (the same
VIGIE_* configuration). Bad lines are reported on stderr with their line number and do not stop the replay.`,
  options: { input: { type: 'string' }, output: { type: 'string' }, format: { type: 'string' } },
  async run(values) {
    const input = requiredOption(values, 'input');
    const output = requiredOption(values, 'output');
    const format = values.format as string | undefined;
    if (format !== undefined && format !== 'ndjson' && format !== 'csv') {
      process.stderr.write(`vigie replay: --format ${JSON.stringify(format)} (ndjson or csv)\n`);
      return 2;
    }
    const config = loadConfig();
    const result = await runReplay({ input, output, config: config.processors, ...(format ? { format } : {}) });
    for (const r of result.rejected) process.stderr.write(`line ${r.line}: ${r.reason}\n`);
    const dropped = Object.entries(result.dropped)
      .map(([reason, n]) => `${n} ${reason}`)
      .join(', ');
    process.stderr.write(
      `replay: ${result.readings} readings, ${result.events} events, ${result.transitions} transitions, ${result.rejectedTotal} rejected lines${dropped ? `, dropped on purpose: ${dropped}` : ''}\n`,
    );
    return 0;
  },
};
