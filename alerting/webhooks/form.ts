import type { FastifyInstance } from 'fastify';

/** The form content type Twilio and mail clients (RFC 8058 one-click) post. */
const FORM = 'application/x-www-form-urlencoded';

/** Decodes a form body; a repeated name gives an array, as Twilio's signature algorithm expects. */
export function parseForm(raw: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(raw)) {
    const seen = out[key];
    if (seen === undefined) out[key] = value;
    else out[key] = Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return out;
}

/**
 * Makes an encapsulated plugin parse form bodies itself, at most `bodyLimitBytes`, whatever its parent registered
 * (@fastify/formbody or nothing): the signature check must see exactly the decoded pairs, arrays included.
 */
export function useFormParser(app: FastifyInstance, bodyLimitBytes: number): void {
  if (app.hasContentTypeParser(FORM)) app.removeContentTypeParser(FORM);
  app.addContentTypeParser(FORM, { parseAs: 'string', bodyLimit: bodyLimitBytes }, (_req, body, done) => {
    done(null, parseForm(body as string));
  });
}
