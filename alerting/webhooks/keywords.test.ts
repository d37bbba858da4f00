import { describe, expect, it } from 'vitest';
import { parseInboundSms } from './keywords.ts';

describe('inbound sms keywords', () => {
  it.each([
    'STOP',
    'stop',
    '  Stop  ',
    'Stop !',
    'ARRET',
    'ARRÊT',
    'arrêt',
    'Arret.',
    'STOPALL',
    'stop all',
    'UNSUBSCRIBE',
    'DESINSCRIPTION',
    'Désinscription',
    'cancel',
    'QUIT',
    'end',
  ])('reads %j as stop when a resident sends it', (body) => {
    expect(parseInboundSms(body)).toEqual({ kind: 'stop' });
  });

  it.each(['START', 'start', ' Oui ', 'OUI', 'yes', 'UNSTOP'])('reads %j as start when a resident sends it', (body) => {
    expect(parseInboundSms(body)).toEqual({ kind: 'start' });
  });

  it.each([
    ['123456', '123456'],
    [' 012345 ', '012345'],
    ['123 456', '123456'],
  ])('reads %j as a confirmation code when it has 6 digits', (body, code) => {
    expect(parseInboundSms(body)).toEqual({ kind: 'code', code });
  });

  it.each(['', 'Bonjour', 'stop the alerts please', 'STOPP', '12345', '1234567', 'code 123456'])(
    'reads %j as something else when it is no keyword and no code',
    (body) => {
      expect(parseInboundSms(body)).toEqual({ kind: 'other' });
    },
  );
});
