/**
 * The one error class (STYLE.md §6.4). `code` is `ERR_<AREA>_<WHAT>` and has a row in docs/errors.md;
 * `message` reads `<what failed>: <offending value> (<what is allowed>)`.
 */
export class AppError extends Error {
  /** Stable code, e.g. `ERR_PAYLOAD_JSON`. */
  readonly code: string;
  /** True when trying again later can succeed. */
  readonly retryable: boolean;
  /** A delay the other side asked for, in milliseconds. */
  readonly retryAfterMs: number | undefined;

  constructor(
    code: string,
    message: string,
    options: { cause?: unknown; retryable?: boolean; retryAfterMs?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** True when `err` is an {@link AppError} that may succeed if tried again. */
export function isRetryable(err: unknown): boolean {
  return err instanceof AppError && err.retryable;
}

/** Shortens a value for an error message, so a 1 MB payload never ends up in a log line. */
export function preview(value: unknown, maxChars = 80): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value));
  return text.length > maxChars ? `${text.slice(0, maxChars)}…(${text.length} chars)` : text;
}
