import { type Logger, pino } from 'pino';

export type { Logger } from 'pino';

/** Keys whose values never reach a log line (STYLE.md §6.9). */
const REDACT = [
  'password',
  '*.password',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'authToken',
  '*.authToken',
  'apiKey',
  '*.apiKey',
];

/**
 * Structured JSON logs (pino), quiet when things go well: nothing at info per message.
 * `destination` is a file path or a file descriptor (default stdout).
 */
export function createLogger(options: { level?: string; name?: string; destination?: string | number } = {}): Logger {
  const dest = pino.destination({ dest: options.destination ?? 1, sync: false, mkdir: true });
  return pino(
    {
      level: options.level ?? 'info',
      name: options.name ?? 'vigie',
      redact: { paths: REDACT, censor: '[redacted]' },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    dest,
  );
}

/** A logger that writes nothing: for tests and benchmarks that assert on counters instead. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** Masks a phone number or an email address for logs: `+33 6•••••78`, `j•••@example.org`. */
export function maskRecipient(address: string): string {
  const at = address.indexOf('@');
  if (at > 0) return `${address[0]}•••${address.slice(at)}`;
  if (address.length <= 4) return '••••';
  return `${address.slice(0, 4)}•••••${address.slice(-2)}`;
}

/** Runs `fn` at most once per `intervalMs`: unintended failures log at error, rate-limited (STYLE.md §6.9). */
export function rateLimited(intervalMs: number): (fn: () => void) => void {
  let lastMs = Number.NEGATIVE_INFINITY;
  return (fn) => {
    const now = Date.now();
    if (now - lastMs < intervalMs) return;
    lastMs = now;
    fn();
  };
}
