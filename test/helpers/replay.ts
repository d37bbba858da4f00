import { PassThrough, Readable } from 'node:stream';
import type { AlertTransition, DeviceEvent, Reading } from '../../core/contracts/index.ts';
import { replay } from '../../processors/replay.ts';

/** The transitions `vigie replay` gives for readings and events (same detectors and defaults): a live run's reference. */
export async function replayTransitions(readings: readonly (Reading | DeviceEvent)[]): Promise<AlertTransition[]> {
  const out = new PassThrough();
  const chunks: string[] = [];
  out.on('data', (c: Buffer) => chunks.push(c.toString('utf8')));
  await replay({ input: Readable.from(readings.map((r) => `${JSON.stringify(r)}\n`)), output: out });
  const text = chunks.join('').trim();
  return text === '' ? [] : text.split('\n').map((l) => JSON.parse(l) as AlertTransition);
}
