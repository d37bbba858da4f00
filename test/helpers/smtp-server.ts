import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

/**
 * A real SMTP server in process (npm `smtp-server`, STYLE.md §8) on 127.0.0.1, port 0, capturing what it receives.
 * Recipients can be made to fail: `failRecipient(address, 550)` answers RCPT TO with a permanent 550, `451` with a
 * transient one; `failNextRecipient(code)` does so once for whoever comes next. `delayNextData(ms)` holds the reply to the end of DATA (for timeout tests). With `auth`, a login
 * (PLAIN/LOGIN, plain-text allowed since there is no TLS here) is required.
 */

/** One message the server accepted. */
export interface CapturedMail {
  readonly from: string;
  readonly to: string[];
  /** The raw RFC 5322 message. */
  readonly raw: string;
}

/** A running SMTP server. */
export interface TestSmtpServer {
  readonly port: number;
  /** `smtp://[user:pass@]127.0.0.1:<port>`. */
  readonly url: string;
  readonly messages: CapturedMail[];
  /** Makes RCPT TO of `address` fail with `code` (550 permanent, 451 transient) until cleared with 0. */
  failRecipient(address: string, code: number): void;
  /** Answers the next RCPT TO, whoever the recipient, with `code` (once). */
  failNextRecipient(code: number): void;
  /** Holds the reply after the next message's data for `ms`. */
  delayNextData(ms: number): void;
  /** Client connections open right now. */
  openConnections(): number;
  close(): Promise<void>;
}

/** Starts an SMTP server on 127.0.0.1, port 0. */
export async function startSmtpServer(
  options: { auth?: { user: string; pass: string } } = {},
): Promise<TestSmtpServer> {
  const messages: CapturedMail[] = [];
  const failures = new Map<string, number>();
  const delays: number[] = [];
  const nextFailures: number[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let open = 0;

  const server = new SMTPServer({
    logger: false,
    disabledCommands: options.auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    authOptional: !options.auth,
    allowInsecureAuth: true,
    closeTimeout: 50,
    size: 1024 * 1024,
    onConnect(_session, callback) {
      open++;
      callback();
    },
    onClose() {
      open--;
    },
    onAuth(auth, _session, callback) {
      if (options.auth && auth.username === options.auth.user && auth.password === options.auth.pass) {
        return callback(null, { user: auth.username });
      }
      return callback(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onRcptTo(address, _session, callback) {
      const code = nextFailures.shift() ?? failures.get(address.address.toLowerCase());
      if (code) {
        const text = code >= 500 ? `Mailbox unavailable: ${address.address}` : 'Try again later';
        return callback(Object.assign(new Error(text), { responseCode: code }));
      }
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const finish = () => {
          messages.push({
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            to: session.envelope.rcptTo.map((r) => r.address),
            raw: Buffer.concat(chunks).toString('utf8'),
          });
          callback();
        };
        const delayMs = delays.shift() ?? 0;
        if (delayMs <= 0) return finish();
        const t = setTimeout(() => {
          timers.delete(t);
          finish();
        }, delayMs);
        timers.add(t);
      });
    },
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.server.address() as AddressInfo;
  const credentials = options.auth
    ? `${encodeURIComponent(options.auth.user)}:${encodeURIComponent(options.auth.pass)}@`
    : '';
  return {
    port,
    url: `smtp://${credentials}127.0.0.1:${port}`,
    messages,
    failRecipient(address, code) {
      if (code) failures.set(address.toLowerCase(), code);
      else failures.delete(address.toLowerCase());
    },
    failNextRecipient: (code) => nextFailures.push(code),
    delayNextData: (ms) => delays.push(ms),
    openConnections: () => open,
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
