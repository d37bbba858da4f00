import { describe, expect, it } from 'vitest';
import { previousLocalMonth } from './billing-run.ts';

describe('mobility billing month', () => {
  it.each([
    ['06:00 on 1 November in Paris (CET)', '2026-11-01T05:00:00Z', '2026-10'],
    ['00:30 on 1 November in Paris: 23:30Z on the 31st', '2026-10-31T23:30:00Z', '2026-10'],
    ['23:30 on 31 October in Paris: still October', '2026-10-31T22:30:00Z', '2026-09'],
    ['06:00 on 1 January: December of the year before', '2027-01-01T05:00:00Z', '2026-12'],
    ['06:00 on 1 April after the spring change (CEST)', '2026-04-01T04:00:00Z', '2026-03'],
  ])('bills the month before the local month when the run fires at %s', (_what, at, month) => {
    expect(previousLocalMonth(Date.parse(at), 'Europe/Paris')).toBe(month);
  });
});
