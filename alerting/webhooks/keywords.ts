import { OPT_OUT_KEYWORDS } from '../../core/sms-routing.ts';

/**
 * What a resident's SMS to our number means (issue 6). Opt-out and opt-in keywords are Twilio's standard ones —
 * Twilio itself stops sending to a number that texts them (https://www.twilio.com/docs/messaging/tutorials/advanced-opt-out)
 * so we mirror them, plus the French ones residents use (ARRET, ARRÊT, DESINSCRIPTION, OUI). A keyword is the whole
 * message: any case, accents ignored, surrounding spaces and trailing `.`/`!` ignored ("Stop !" stops; "stop
 * the leak alerts please" does not — it gets the help reply, which says to send STOP).
 */

/** Keywords that stop every SMS to the number (core/sms-routing.ts: Twilio's, and the French ones). */
export const STOP_KEYWORDS: readonly string[] = OPT_OUT_KEYWORDS;

/** Keywords that lift a STOP. */
export const START_KEYWORDS: readonly string[] = ['START', 'UNSTOP', 'YES', 'OUI'];

/** What an inbound SMS asks for. */
export type InboundIntent =
  | { readonly kind: 'stop' }
  | { readonly kind: 'start' }
  | { readonly kind: 'code'; readonly code: string }
  | { readonly kind: 'other' };

/** Reads an inbound SMS body. */
export function parseInboundSms(body: string): InboundIntent {
  const word = body
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toUpperCase()
    .replace(/[\s.!]+$/u, '')
    .replace(/^\s+/u, '')
    .replace(/\s+/gu, '');
  if (STOP_KEYWORDS.includes(word)) return { kind: 'stop' };
  if (START_KEYWORDS.includes(word)) return { kind: 'start' };
  if (/^\d{6}$/.test(word)) return { kind: 'code', code: word };
  return { kind: 'other' };
}
