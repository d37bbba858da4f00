/** Calls to the Vigie API from the pages: JSON in and out, one error type carrying the API's error code. */

/** An API error: the HTTP status, the stable code (docs/errors.md) and the server's message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** What a call may carry. */
export interface CallOptions {
  /** A JSON body, or a FormData (multipart, the browser sets its boundary). */
  readonly body?: unknown;
  /** An operator's bearer token. */
  readonly token?: string | null;
  /** The resident session's CSRF token (x-csrf-token), for POST and DELETE. */
  readonly csrf?: string | null;
  readonly signal?: AbortSignal;
  /** Resolve with the body as text (a CSV), not parsed. */
  readonly text?: boolean;
}

/** Calls `method path`; resolves with the parsed JSON (undefined for 204), rejects with an ApiError. */
export async function call<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  let body: BodyInit | undefined;
  if (options.body instanceof FormData) body = options.body;
  else if (options.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.csrf) headers['x-csrf-token'] = options.csrf;
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body ?? null,
      credentials: 'same-origin',
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, 'ERR_WEB_NETWORK', 'Le serveur ne répond pas : vérifiez votre connexion.', null);
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  if (options.text && response.ok) return text as T;
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!response.ok) {
    const error = (json as { error?: { code?: string; message?: string } } | undefined)?.error;
    throw new ApiError(
      response.status,
      error?.code ?? `HTTP_${response.status}`,
      error?.message ?? `${response.status} ${response.statusText}`,
      json,
    );
  }
  return json as T;
}
