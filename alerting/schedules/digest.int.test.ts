import { describe, expect, it } from 'vitest';
import { loadDigest, renderDigest, runDigest } from './digest.ts';
import { type AlertSeed, openTestStore, queued, recordAlerts } from './test-helpers.ts';

const TZ = 'Europe/Paris';
/** The digest of 26/11/2026 at 07:00 in Paris (UTC+1): the window is 2026-11-25T06:00Z → 2026-11-26T06:00Z. */
const AT_MS = Date.parse('2026-11-26T06:00:00Z');
const OPTIONS = {
  timeZone: TZ,
  locale: 'fr' as const,
  priceEurPerM3: 4.34,
  recipients: ['ops@ville.fr', 'Chef@Ville.fr', 'eau@ville.fr', 'OPS@ville.fr'],
};

/**
 * A: leak 10 L/h opened 00:00Z, open: 6 h of the window → 60 L.
 * B: burst 2 000 L/h opened 02:00Z, resolved 02:30Z: 0,5 h → 1 000 L.
 * C: leak 5 L/h opened six days before, acknowledged, open: 24 h → 120 L.
 * D: backflow (a volume, no rate) opened in the window: open, not estimated.
 * E: a streetlight no-data opened in the window, open.
 * F: leak resolved before the window. G: leak opened after the run.
 * Water lost: 60 + 1 000 + 120 = 1 180 L = 1,180 m³ → 1,18 × 4,34 = 5,12 €.
 */
const ALERTS: AlertSeed[] = [
  {
    deviceId: 'WM-A',
    type: 'leak',
    openedAt: '2026-11-26T00:00:00.000Z',
    details: { estimatedLph: 10, sinceTs: '2026-11-25T00:00:00.000Z', windowHours: 24 },
  },
  {
    deviceId: 'WM-B',
    type: 'burst',
    severity: 'critical',
    openedAt: '2026-11-26T02:00:00.000Z',
    resolvedAt: '2026-11-26T02:30:00.000Z',
    details: { flowLph: 2000, thresholdLph: 1800, sinceTs: '2026-11-26T01:30:00.000Z' },
  },
  {
    deviceId: 'WM-C',
    type: 'leak',
    openedAt: '2026-11-20T06:00:00.000Z',
    acknowledgedAt: '2026-11-21T08:00:00.000Z',
    details: { estimatedLph: 5 },
  },
  {
    deviceId: 'WM-D',
    type: 'backflow',
    openedAt: '2026-11-25T12:00:00.000Z',
    details: { reverseL: 30, sinceTs: '2026-11-25T11:45:00.000Z' },
  },
  { deviceId: 'SL-E', type: 'no-data', kind: 'streetlight', openedAt: '2026-11-26T05:00:00.000Z' },
  {
    deviceId: 'WM-F',
    type: 'leak',
    openedAt: '2026-11-10T00:00:00.000Z',
    resolvedAt: '2026-11-24T00:00:00.000Z',
    details: { estimatedLph: 50 },
  },
  { deviceId: 'WM-G', type: 'leak', openedAt: '2026-11-26T06:30:00.000Z', details: { estimatedLph: 99 } },
];

describe.each(['pglite', 'postgres'] as const)('daily digest on %s', (engine) => {
  it('computes the open alerts, the new leaks and the water lost by hand-checked figures when alerts overlap the window', async () => {
    const store = await openTestStore(engine);
    await recordAlerts(store, ALERTS);
    const data = await loadDigest(store, AT_MS, OPTIONS);
    expect(data.date).toBe('2026-11-26');
    expect(data.open).toEqual([
      { kind: 'streetlight', type: 'no-data', open: 1, unacknowledged: 1 },
      { kind: 'water-meter', type: 'backflow', open: 1, unacknowledged: 1 },
      { kind: 'water-meter', type: 'leak', open: 2, unacknowledged: 1 },
    ]);
    expect([data.openTotal, data.unacknowledgedTotal]).toEqual([4, 3]);
    expect(data.opened.map((a) => a.deviceId)).toEqual(['WM-D', 'WM-A', 'WM-B', 'SL-E']);
    expect(data.openedTotal).toBe(4);
    expect(data.newLeaks.map((a) => [a.deviceId, a.rateLph, a.resolvedAtMs !== null])).toEqual([
      ['WM-A', 10, false],
      ['WM-B', 2000, true],
    ]);
    expect(data.waterLoss.litres).toBeCloseTo(1180, 6);
    expect(data.waterLoss.eur).toBeCloseTo(5.1212, 6);
    expect([data.waterLoss.counted, data.waterLoss.unestimated]).toEqual([3, 1]);
  });

  it('queues one French email per operator and team address with the figures when the digest runs, and nothing more when it runs again', async () => {
    const store = await openTestStore(engine);
    await recordAlerts(store, ALERTS);
    const first = await runDigest(store, AT_MS, OPTIONS);
    expect(first).toEqual({ date: '2026-11-26', queued: 3, recipients: 3 });
    const rows = await queued(store, 'digest:2026-11-26:');
    expect(rows.map((r) => [r.key, r.status, r.purpose, r.channel, r.locale])).toEqual([
      ['digest:2026-11-26:email:chef@ville.fr', 'scheduled', 'digest', 'email', 'fr'],
      ['digest:2026-11-26:email:eau@ville.fr', 'scheduled', 'digest', 'email', 'fr'],
      ['digest:2026-11-26:email:ops@ville.fr', 'scheduled', 'digest', 'email', 'fr'],
    ]);
    const message = rows[0]?.message;
    expect(message?.subject).toBe('[Vigie] Synthèse du 26/11/2026 : 4 alertes ouvertes, 2 nouvelles fuites');
    expect(message?.text).toContain('Alertes ouvertes : 4 (dont 3 non acquittées)');
    expect(message?.text).toMatch(/water-meter {2}leak +2 {2}1 non acquittée\n/);
    expect(message?.text).toContain('Alertes ouvertes ces dernières 24 h : 4');
    expect(message?.text).toMatch(/WM-A {2}fuite +env\. 10,0 L\/h +depuis 26\/11 01:00 {2}en cours/);
    expect(message?.text).toMatch(/WM-B {2}rupture +env\. 2 000 L\/h +depuis 26\/11 03:00 {2}terminée 26\/11 03:30/);
    expect(message?.text).toContain('Eau perdue estimée sur 24 h : 1,180 m³ (1 180 L), soit 5,12 € à 4,34 €/m³');
    expect(message?.text).toContain('1 alerte sans débit estimé non comptée');
    expect(message?.html).toContain('<td style="padding:2px 8px">WM-A</td>');
    const again = await runDigest(store, AT_MS, OPTIONS);
    expect(again.queued).toBe(0);
    expect(await queued(store, 'digest:')).toHaveLength(3);
  });

  it('writes the digest in English when the operators read English', async () => {
    const store = await openTestStore(engine);
    await recordAlerts(store, ALERTS);
    const email = renderDigest(await loadDigest(store, AT_MS, OPTIONS), { ...OPTIONS, locale: 'en' });
    expect(email.subject).toBe('[Vigie] Digest for 26/11/2026: 4 open alerts, 2 new leaks');
    expect(email.text).toContain('Estimated water lost over 24 h: 1.180 m³ (1,180 L), €5.12 at €4.34/m³');
    expect(email.text).toContain('1 alert without a flow estimate not counted');
  });

  it('says there is nothing when no alert exists', async () => {
    const store = await openTestStore(engine);
    const email = renderDigest(await loadDigest(store, AT_MS, OPTIONS), OPTIONS);
    expect(email.subject).toBe('[Vigie] Synthèse du 26/11/2026 : 0 alerte ouverte, 0 nouvelle fuite');
    expect(email.text).toContain('Eau perdue estimée sur 24 h : 0,000 m³ (0 L), soit 0,00 € à 4,34 €/m³');
    expect(email.text).toContain('(aucune)');
  });
});
