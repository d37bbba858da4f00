/**
 * Reading raw email (RFC 5322 with MIME) in tests: header fields unfolded, encoded-word subjects and
 * quoted-printable bodies decoded — enough to assert on what nodemailer wrote, without a parser dependency.
 */

/** The header fields of a raw message, unfolded (RFC 5322 §2.2.3), by lower-cased name. */
export function headerFields(raw: string): Map<string, string> {
  const head = raw.split(/\r?\n\r?\n/)[0] ?? '';
  const fields = new Map<string, string>();
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim());
  }
  return fields;
}

/** Quoted-printable to text: soft line breaks joined, =XX bytes read as UTF-8. */
function fromQuotedPrintable(text: string): string {
  const joined = text.replace(/=\r?\n/g, '');
  return Buffer.from(
    joined.replace(/=([0-9A-F]{2})/gi, (_m, hex: string) => String.fromCharCode(Number.parseInt(hex, 16))),
    'latin1',
  ).toString('utf8');
}

/** Every part of a raw message's body, quoted-printable decoded. */
export function decodedBody(raw: string): string {
  return fromQuotedPrintable(
    raw
      .split(/\r?\n\r?\n/)
      .slice(1)
      .join('\n'),
  );
}

/** The decoded subject: consecutive `=?UTF-8?Q?…?=` words joined before decoding (a character may span two). */
export function decodedSubject(raw: string): string {
  const subject = headerFields(raw).get('subject') ?? '';
  const words = [...subject.matchAll(/=\?UTF-8\?Q\?([^?]*)\?=/gi)].map((m) => m[1] ?? '');
  if (words.length === 0) return subject;
  return fromQuotedPrintable(words.join('').replace(/_/g, ' '));
}

/** A raw message's recipient, subject and decoded body. */
export function readEml(raw: string): { to: string; subject: string; body: string } {
  return { to: headerFields(raw).get('to') ?? '', subject: decodedSubject(raw), body: decodedBody(raw) };
}
