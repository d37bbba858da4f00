import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isValidTwilioSignature, signedUrl } from './signature.ts';

/** Twilio's algorithm, written here independently of the library: HMAC-SHA1(URL + sorted name+value), base64. */
function expectedSignature(authToken: string, url: string, params: Record<string, string>): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, key) => acc + key + params[key], url);
  return createHmac('sha1', authToken).update(Buffer.from(data, 'utf8')).digest('base64');
}

const TOKEN = 'f3b1c0ffee0ddba11f3b1c0ffee0ddba';
const PUBLIC_URL = 'https://vigie.example.org';
const PATH = '/webhooks/twilio/sms';
const PARAMS = {
  AccountSid: `AC${'1'.repeat(32)}`,
  MessageSid: `SM${'2'.repeat(32)}`,
  From: '+33612345678',
  To: '+33700000001',
  Body: 'ARRÊT',
  NumMedia: '0',
};

describe('twilio signature', () => {
  it('matches the example of Twilio’s webhook security docs when computed independently', () => {
    const url = 'https://mycompany.com/myapp.php?foo=1&bar=2';
    const params = {
      CallSid: 'CA1234567890ABCDE',
      Caller: '+12349013030',
      Digits: '1234',
      From: '+12349013030',
      To: '+18005551212',
    };
    expect(expectedSignature('12345', url, params)).toBe('0/KCTR6DLpKmkAf8muzZqo1nDgQ=');
    const ok = isValidTwilioSignature('12345', 'https://mycompany.com', {
      signature: '0/KCTR6DLpKmkAf8muzZqo1nDgQ=',
      pathAndQuery: '/myapp.php?foo=1&bar=2',
      params,
    });
    expect(ok).toBe(true);
  });

  it('accepts a signature over the public URL when the request is genuine', () => {
    const signature = expectedSignature(TOKEN, `${PUBLIC_URL}${PATH}`, PARAMS);
    expect(isValidTwilioSignature(TOKEN, PUBLIC_URL, { signature, pathAndQuery: PATH, params: PARAMS })).toBe(true);
    // A trailing slash on the configured URL changes nothing.
    expect(isValidTwilioSignature(TOKEN, `${PUBLIC_URL}/`, { signature, pathAndQuery: PATH, params: PARAMS })).toBe(
      true,
    );
  });

  it.each([
    ['a parameter is tampered with', { params: { ...PARAMS, Body: 'START' } }],
    ['a parameter is added', { params: { ...PARAMS, Extra: '1' } }],
    ['a parameter is removed', { params: { ...PARAMS, NumMedia: undefined } }],
    ['the path differs', { pathAndQuery: '/webhooks/twilio/status' }],
    ['a query string is added', { pathAndQuery: `${PATH}?x=1` }],
    ['the host differs', { publicUrl: 'https://evil.example.org' }],
    ['the scheme differs', { publicUrl: 'http://vigie.example.org' }],
    ['the token differs', { token: `${TOKEN.slice(0, -1)}0` }],
    ['the signature is missing', { signature: undefined }],
    ['the signature is empty', { signature: '' }],
  ] as const)('refuses the request when %s', (_name, change) => {
    const good = expectedSignature(TOKEN, `${PUBLIC_URL}${PATH}`, PARAMS);
    const params = Object.fromEntries(
      Object.entries('params' in change ? change.params : PARAMS).filter(([, v]) => v !== undefined),
    ) as Record<string, string>;
    const ok = isValidTwilioSignature(
      'token' in change ? change.token : TOKEN,
      'publicUrl' in change ? change.publicUrl : PUBLIC_URL,
      {
        signature: 'signature' in change ? change.signature : good,
        pathAndQuery: 'pathAndQuery' in change ? change.pathAndQuery : PATH,
        params,
      },
    );
    expect(ok).toBe(false);
  });

  it('refuses every request when the auth token is empty', () => {
    const signature = expectedSignature('', `${PUBLIC_URL}${PATH}`, PARAMS);
    expect(isValidTwilioSignature('', PUBLIC_URL, { signature, pathAndQuery: PATH, params: PARAMS })).toBe(false);
  });

  it('joins the public URL and the path without doubling the slash when building the signed URL', () => {
    expect(signedUrl('https://city.example/vigie/', '/webhooks/twilio/sms?a=1')).toBe(
      'https://city.example/vigie/webhooks/twilio/sms?a=1',
    );
  });
});
