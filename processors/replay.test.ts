import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { AlertTransition } from '../core/contracts/index.ts';
import { processorsConfigSchema } from './registry.ts';
import { replay } from './replay.ts';

const FIXTURES = fileURLToPath(new URL('../test/fixtures/replay/', import.meta.url));
const ROOT = fileURLToPath(new URL('../', import.meta.url));

interface Fixture {
  description: string;
  inputs: Record<
    string,
    { readings: number; rejected: Array<{ line: number; reason?: string }>; dropped: Record<string, number> }
  >;
  expectedTransitions?: unknown[];
  expectedTypes?: Array<[string, string]>;
}

const fixture = (name: string): Fixture => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8'));

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'vigie-replay-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const lines = (text: string) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** Collects what a Writable receives. */
function sink(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

describe('replay', () => {
  const common = fixture('common-detectors.json');

  it.each(Object.entries(common.inputs))(
    'writes the hand-computed transitions and reports bad lines when the input is %s',
    async (file, expected) => {
      const out = join(tempDir(), 'alerts.ndjson');
      const result = await replay({ input: join(FIXTURES, file), output: out });
      const written = readFileSync(out, 'utf8');
      expect(lines(written)).toEqual(common.expectedTransitions);
      expect(result.readings).toBe(expected.readings);
      expect(result.transitions).toBe(common.expectedTransitions?.length);
      expect(result.rejected).toMatchObject(expected.rejected);
      expect(result.rejectedTotal).toBe(expected.rejected.length);
      expect(result.dropped).toEqual(expected.dropped);
      // Every line is a valid transition with exactly the CONTRACTS.md §4 fields, in order.
      for (const line of written.trimEnd().split('\n')) {
        expect(Object.keys(AlertTransition.parse(JSON.parse(line)))).toEqual(Object.keys(JSON.parse(line)));
        expect(Object.keys(JSON.parse(line))).toEqual([
          'alertId',
          'type',
          'deviceId',
          'kind',
          'state',
          'ts',
          'severity',
          'summary',
          'details',
        ]);
      }
    },
  );

  it('opens and resolves a leak with the water-meter detectors when a meter runs for 28 h', async () => {
    const leak = fixture('leak-water-meter.json');
    const out = sink();
    const result = await replay({ input: join(FIXTURES, 'leak-water-meter.ndjson'), output: out.stream });
    expect(lines(out.text()).map((t) => [t.alertId, t.state])).toEqual(leak.expectedTypes);
    expect(result.readings).toBe(leak.inputs['leak-water-meter.ndjson']?.readings);
    expect(result.rejected).toEqual([]);
  });

  it('detects CSV from the first line when a stream has no file name', async () => {
    const csv = readFileSync(join(FIXTURES, 'common-detectors.csv'), 'utf8');
    const out = sink();
    const result = await replay({ input: Readable.from([csv]), output: out.stream });
    expect(lines(out.text())).toEqual(common.expectedTransitions);
    expect(result.rejected).toEqual([{ line: 10, reason: 'indexL: "lots" (a number)' }]);
  });

  it('uses the given configuration when thresholds are overridden', async () => {
    const out = sink();
    const config = processorsConfigSchema.parse({ noData: { noDataIntervals: 100 }, lowBattery: { lowBatteryPct: 5 } });
    await replay({ input: join(FIXTURES, 'common-detectors.ndjson'), output: out.stream, config });
    expect(lines(out.text()).map((t) => t.type)).toEqual(['device-flag', 'device-flag', 'device-flag']);
  });

  it('fails with a clear reason when the CSV header is wrong', async () => {
    await expect(
      replay({
        input: Readable.from(['id,kind,ts,indexL\nWM-1,water-meter,0,1\n']),
        output: sink().stream,
        format: 'csv',
      }),
    ).rejects.toThrow(/CSV header on line 1: id,kind,ts,indexL \(deviceId,kind,ts,<metric>\.\.\.\)/);
  });

  it('reads stdin and writes stdout when input and output are "-"', async () => {
    const input = readFileSync(join(FIXTURES, 'common-detectors.ndjson'));
    const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      const child = execFile(
        process.execPath,
        [
          '--import',
          'tsx',
          '--input-type=module',
          '-e',
          "import { replay } from './processors/replay.ts'; const r = await replay({ input: '-', output: '-' }); console.error(JSON.stringify(r));",
        ],
        { cwd: ROOT, timeout: 20_000 },
        (err, out, errOut) => (err ? reject(err) : resolve({ stdout: out, stderr: errOut })),
      );
      child.stdin?.end(input);
    });
    expect(lines(stdout)).toEqual(common.expectedTransitions);
    expect(JSON.parse(stderr.trim().split('\n').at(-1) as string)).toMatchObject({ readings: 46, transitions: 8 });
  });
});
