import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { PARKING_KEYWORDS, smsService } from './sms-routing.ts';

describe('sms-routing', () => {
  it.each([
    ['PARK rouge AB-123-CD 1h30', 'parking'],
    ['stationner orange ab123cd 45', 'parking'],
    ['Garer vert 123 ABC 68 2h', 'parking'],
    ['prolonger 30', 'parking'],
    ['Ext 15', 'parking'],
    ['EXTEND 30 AB-123-CD', 'parking'],
    ['fin', 'parking'],
    ['Fin.', 'parking'],
    ['TERMINER AB-123-CD', 'parking'],
    ['  park, rouge AB-123-CD 30', 'parking'],
    ['Stationnement rouge AB-123-CD 30', 'parking'],
    ['AIDE PARKING', 'parking'],
    ['help park', 'parking'],
    ['STOP AB-123-CD', 'parking'],
    ['arrêt ab 123 cd', 'parking'],
  ] as const)('routes %j to %s when its first word is a parking command', (body, service) => {
    expect(smsService(body)).toBe(service);
  });

  it.each([
    ['Nid de poule 12 rue des Lilas'],
    ['Le lampadaire est éteint'],
    ['AIDE'],
    ['aide svp le trottoir est cassé'],
    ['STOP'],
    ['stop the noise please'],
    ['Parc Salvator: banc cassé'],
    ['Finalement le trou est rebouché'],
    ['Garage sauvage rue Koechlin'],
    [''],
    ['   '],
  ] as const)('routes %j to reports when it is not a parking command', (body) => {
    expect(smsService(body)).toBe('reports');
  });

  test.prop([fc.constantFrom(...PARKING_KEYWORDS), fc.string({ maxLength: 60 })])(
    'routes any text starting with a parking keyword to parking whatever follows',
    (keyword, rest) => {
      expect(smsService(`${keyword.toLowerCase()} ${rest}`)).toBe('parking');
    },
  );

  test.prop([fc.string({ maxLength: 300 })])(
    'never throws and answers one of the two services for any text',
    (body) => {
      expect(['parking', 'reports']).toContain(smsService(body));
    },
  );
});
