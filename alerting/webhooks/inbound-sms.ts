import type { Clock } from '../../core/clock.ts';
import { toGsm7 } from '../../core/sms-text.ts';
import type { SqlStore } from '../../core/store/store.ts';
import { isSmsAllowed, startSms, stopSms } from '../consent.ts';
import { type ConfirmResult, createSubscriptions } from '../subscriptions.ts';
import { type InboundIntent, parseInboundSms } from './keywords.ts';

/**
 * What Vigie does with a resident's SMS (issue 6): STOP and its synonyms stop every SMS to the number at once;
 * START/OUI lifts it; a 6-digit code confirms pending subscriptions; anything else gets a short help reply. Replies
 * are in the language of the number's latest subscription (French by default), in GSM-7. A stopped number gets
 * only the confirmations of STOP and START, never another reply.
 */

/** One inbound SMS, as Twilio posts it (From in E.164). */
export interface InboundSms {
  readonly from: string;
  readonly body: string;
  readonly messageSid?: string | undefined;
}

/** What was done, and the reply to send back (none: no reply). */
export interface InboundOutcome {
  readonly intent: InboundIntent['kind'];
  readonly reply?: string | undefined;
}

/** What the handler needs. */
export interface InboundSmsDeps {
  readonly store: SqlStore;
  readonly clock: Clock;
  /** Phone number residents may call, given in the help reply (empty: none). */
  readonly utilityContact?: string | undefined;
}

type Locale = 'fr' | 'en';

const REPLIES = {
  fr: {
    stop: "Vigie : c'est noté, vous ne recevrez plus aucun SMS d'alerte. Pour les recevoir à nouveau, envoyez START.",
    start: (active: number) =>
      active > 0
        ? 'Vigie : vos alertes SMS reprennent. Envoyez STOP pour ne plus en recevoir.'
        : "Vigie : SMS réactivés, mais aucun abonnement n'est actif pour ce numéro.",
    confirmed: (devices: string) =>
      `Vigie : abonnement confirmé, vous recevrez les alertes du compteur ${devices}. Envoyez STOP pour ne plus en recevoir.`,
    wrong: (left: number) =>
      left > 0
        ? `Vigie : code incorrect. Il vous reste ${left} essai${left > 1 ? 's' : ''}.`
        : "Vigie : code incorrect, plus aucun essai. Refaites une demande d'abonnement.",
    none: "Vigie : aucun code en attente pour ce numéro (expiré ou déjà utilisé). Refaites une demande d'abonnement.",
    help: (contact: string) =>
      `Vigie : ce numéro envoie les alertes de votre compteur et ne lit pas les messages. Envoyez le code à 6 chiffres reçu pour confirmer un abonnement, ou STOP pour ne plus recevoir de SMS.${contact ? ` Contact : ${contact}.` : ''}`,
  },
  en: {
    stop: 'Vigie: done, you will receive no more alert SMS. To receive them again, text START.',
    start: (active: number) =>
      active > 0
        ? 'Vigie: your SMS alerts resume. Text STOP to receive no more.'
        : 'Vigie: SMS resumed, but this number has no active subscription.',
    confirmed: (devices: string) =>
      `Vigie: subscription confirmed, you will receive the alerts of meter ${devices}. Text STOP to receive no more.`,
    wrong: (left: number) =>
      left > 0
        ? `Vigie: wrong code. ${left} ${left > 1 ? 'tries' : 'try'} left.`
        : 'Vigie: wrong code, no tries left. Please subscribe again.',
    none: 'Vigie: no code is waiting for this number (expired or already used). Please subscribe again.',
    help: (contact: string) =>
      `Vigie: this number sends your meter's alerts and does not read messages. Text the 6-digit code you received to confirm a subscription, or STOP to receive no more SMS.${contact ? ` Contact: ${contact}.` : ''}`,
  },
} as const;

function confirmReply(locale: Locale, result: ConfirmResult): string {
  const r = REPLIES[locale];
  if (result.outcome === 'confirmed') return r.confirmed(result.subscriptions.map((s) => s.deviceId).join(', '));
  if (result.outcome === 'wrong-code') return r.wrong(result.attemptsLeft);
  return r.none;
}

/** Creates the handler of inbound SMS; `from` must already be E.164. */
export function createInboundSmsHandler(deps: InboundSmsDeps): (sms: InboundSms) => Promise<InboundOutcome> {
  const subscriptions = createSubscriptions(deps.store, { clock: deps.clock });
  return async (sms) => {
    const intent = parseInboundSms(sms.body);
    const mine = await subscriptions.forAddress('sms', sms.from);
    const locale: Locale = mine.at(-1)?.locale ?? 'fr';
    const r = REPLIES[locale];
    const change = { number: sms.from, source: 'sms' as const, messageSid: sms.messageSid, atMs: deps.clock.nowMs() };
    switch (intent.kind) {
      case 'stop':
        await deps.store.transaction((tx) => stopSms(tx, change));
        return { intent: intent.kind, reply: toGsm7(r.stop) };
      case 'start': {
        await deps.store.transaction((tx) => startSms(tx, change));
        const active = mine.filter((s) => s.status === 'confirmed').length;
        return { intent: intent.kind, reply: toGsm7(r.start(active)) };
      }
      case 'code': {
        const result = await subscriptions.confirm({
          address: sms.from,
          code: intent.code,
          source: 'sms',
          messageSid: sms.messageSid,
        });
        const allowed = await isSmsAllowed(deps.store, sms.from);
        return { intent: intent.kind, reply: allowed ? toGsm7(confirmReply(locale, result)) : undefined };
      }
      default: {
        const allowed = await isSmsAllowed(deps.store, sms.from);
        return { intent: intent.kind, reply: allowed ? toGsm7(r.help(deps.utilityContact ?? '')) : undefined };
      }
    }
  };
}
