import { describe, expect, it } from 'vitest';
import { releaseAtMs, residentPolicySchema } from './resident-policy.ts';

const policy = residentPolicySchema.parse({});
const TZ = 'Europe/Paris';
const at = (iso: string) => Date.parse(iso);

describe('releaseAtMs', () => {
  it('holds a leak SMS at 23:30 in Paris until 08:00 local when quiet hours are on (winter, UTC+1)', () => {
    expect(releaseAtMs(policy, TZ, 'leak', 'sms', at('2026-01-15T22:30:00Z'))).toBe(at('2026-01-16T07:00:00Z'));
  });

  it('holds a leak SMS at 02:10 local until 08:00 the same morning (summer, UTC+2)', () => {
    expect(releaseAtMs(policy, TZ, 'leak', 'sms', at('2026-07-01T00:10:00Z'))).toBe(at('2026-07-01T06:00:00Z'));
  });

  it('releases at 08:00 local on the morning the clocks go forward (29 March 2026)', () => {
    // 23:00 CET on the 28th is 22:00Z; 08:00 CEST on the 29th is 06:00Z.
    expect(releaseAtMs(policy, TZ, 'leak', 'sms', at('2026-03-28T22:00:00Z'))).toBe(at('2026-03-29T06:00:00Z'));
  });

  it('sends at once outside quiet hours, for urgent types, for emails and when quiet hours are off', () => {
    const noon = at('2026-01-15T11:00:00Z');
    const night = at('2026-01-15T23:00:00Z');
    expect(releaseAtMs(policy, TZ, 'leak', 'sms', noon)).toBe(noon);
    expect(releaseAtMs(policy, TZ, 'burst', 'sms', night)).toBe(night);
    expect(releaseAtMs(policy, TZ, 'leak', 'email', night)).toBe(night);
    expect(releaseAtMs({ ...policy, quietHours: 'off' }, TZ, 'leak', 'sms', night)).toBe(night);
  });

  it('handles quiet hours that do not span midnight and the edges of the window', () => {
    const lunch = { ...policy, quietHours: '12:00-14:00' };
    expect(releaseAtMs(lunch, 'UTC', 'leak', 'sms', at('2026-01-15T12:00:00Z'))).toBe(at('2026-01-15T14:00:00Z'));
    expect(releaseAtMs(lunch, 'UTC', 'leak', 'sms', at('2026-01-15T13:59:00Z'))).toBe(at('2026-01-15T14:00:00Z'));
    expect(releaseAtMs(lunch, 'UTC', 'leak', 'sms', at('2026-01-15T14:00:00Z'))).toBe(at('2026-01-15T14:00:00Z'));
  });

  it('refuses quiet hours that are not HH:MM-HH:MM or off when parsed', () => {
    expect(residentPolicySchema.safeParse({ quietHours: '21h-8h' }).success).toBe(false);
    expect(residentPolicySchema.safeParse({ quietHours: '24:00-08:00' }).success).toBe(false);
    expect(residentPolicySchema.parse({ quietHours: 'off' }).quietHours).toBe('off');
  });
});
