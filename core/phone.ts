/**
 * Phone numbers as Vigie stores and sends them: E.164 (`+33612345678`). Pure (no Node.js API), so the web pages'
 * bundle shares the server's rule: a number the form accepts is one the API accepts.
 */

/** An E.164 number: `+`, a country code not starting with 0, 8 to 15 digits in all. */
export const E164 = /^\+[1-9]\d{7,14}$/;

/**
 * A phone number as typed ("06 12 34 56 78", "+33 6 12…", "0033 6…") in E.164, or undefined. French national
 * numbers (10 digits starting with 0) get +33: the city's residents type them so.
 */
export function toE164(input: string): string | undefined {
  const compact = input.replace(/[\s.()-]/g, '');
  const e164 = compact.startsWith('00')
    ? `+${compact.slice(2)}`
    : /^0\d{9}$/.test(compact)
      ? `+33${compact.slice(1)}`
      : compact;
  return E164.test(e164) ? e164 : undefined;
}
