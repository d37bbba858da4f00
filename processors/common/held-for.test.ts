import { fc, it as propIt } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { type HeldForInput, type HeldForState, INITIAL_HELD_FOR, stepHeldFor } from './held-for.ts';

const MIN = 60_000;
const T0 = Date.UTC(2026, 2, 2, 7, 0);
const reading = (minute: number, over: Partial<HeldForInput> = {}): HeldForInput => ({
  tsMs: T0 + minute * MIN,
  holds: true,
  recovered: false,
  judged: true,
  gap: false,
  ...over,
});

/** Runs inputs through the rule and lists the events with their minute. */
function run(inputs: readonly HeldForInput[], minMinutes = 60): string[] {
  let state: HeldForState = INITIAL_HELD_FOR;
  const out: string[] = [];
  for (const input of inputs) {
    const step = stepHeldFor(state, input, minMinutes);
    state = step.state;
    if (step.event) out.push(`${step.event}@${(input.tsMs - T0) / MIN}`);
  }
  return out;
}

describe('held-for', () => {
  it('opens on the first reading that completes minMinutes of the condition, once', () => {
    expect(run([0, 15, 30, 45, 60, 75, 90].map((m) => reading(m)))).toEqual(['opened@60']);
  });

  it('does not open when one reading in the run breaks the condition', () => {
    expect(run([reading(0), reading(15), reading(30, { holds: false }), reading(45), reading(60)])).toEqual([]);
  });

  it('restarts the count after an unjudged reading (night) or a gap', () => {
    expect(run([reading(0), reading(30), reading(45, { judged: false }), reading(60), reading(90)])).toEqual([]);
    expect(run([reading(0), reading(30), reading(45, { gap: true }), reading(90), reading(105)])).toEqual([
      'opened@105',
    ]);
  });

  it('stays open until recovered, whatever the judged flag, and can open again afterwards', () => {
    const inputs = [
      ...[0, 30, 60].map((m) => reading(m)),
      reading(75, { holds: false }), // one back, not enough
      reading(90, { judged: false }),
      reading(105, { holds: false, recovered: true, judged: false }),
      ...[120, 150, 180].map((m) => reading(m)),
    ];
    expect(run(inputs)).toEqual(['opened@60', 'closed@105', 'opened@180']);
  });

  propIt.prop([
    fc.array(fc.record({ holds: fc.boolean(), recovered: fc.boolean(), judged: fc.boolean(), gap: fc.boolean() }), {
      maxLength: 200,
    }),
  ])('alternates opened and closed, and is open only after minMinutes held', (flags) => {
    let state: HeldForState = INITIAL_HELD_FOR;
    let last: string | undefined;
    flags.forEach((f, i) => {
      const input = { ...f, recovered: f.recovered && !f.holds, tsMs: T0 + i * 15 * MIN };
      const step = stepHeldFor(state, input, 30);
      if (step.event) {
        expect(step.event).not.toBe(last);
        last = step.event;
      }
      if (step.event === 'opened') expect(input.tsMs - (step.state.sinceMs as number)).toBeGreaterThanOrEqual(30 * MIN);
      state = step.state;
      expect(JSON.parse(JSON.stringify(state))).toEqual(state);
    });
  });
});
