import { call } from './api.ts';

/** What every part of the operators' console shares: who is signed in, and how to call the API as them. */
export interface ConsoleContext {
  readonly name: string;
  readonly role: 'viewer' | 'operator' | 'admin';
  readonly timeZone: string;
  /** Calls the API with the operator's bearer token. */
  api<T>(method: string, path: string, body?: unknown): Promise<T>;
  /** Downloads `path` (a CSV…) with the operator's token, saved as `fileName`. */
  download(path: string, fileName: string): Promise<void>;
  /** True when the role may act (acknowledge, resolve, assign): operator or admin. */
  readonly canAct: boolean;
  /** Opens a view: `#alertes`, `#compteur/WM-000123`, `#signalements/12`… */
  go(hash: string): void;
}

/** A console view: shown or hidden by the tabs, refreshed while shown. */
export interface ConsoleView {
  readonly element: HTMLElement;
  /** Called when the view is shown, with the part of the hash after its name (`WM-1` in `#compteur/WM-1`). */
  show(argument: string): void;
  /** Called every refresh interval while the view is shown. */
  refresh(): Promise<void>;
}

/** A context for a token (the page checked it with /api/console/whoami). */
export function consoleContext(
  token: string,
  me: { name: string; role: ConsoleContext['role'] },
  timeZone: string,
): ConsoleContext {
  return {
    ...me,
    timeZone,
    canAct: me.role !== 'viewer',
    api: (method, path, body) => call(method, path, { token, ...(body === undefined ? {} : { body }) }),
    async download(path, fileName) {
      const text = await call<string>('GET', path, { token, text: true });
      const url = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }));
      const link = document.createElement('a');
      link.href = url;
      link.download = fileName;
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 60_000);
    },
    go(hash) {
      if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
      else location.hash = hash;
    },
  };
}

/** An alert as `/api/alerts` shows it. */
export interface Alert {
  readonly alertId: string;
  readonly deviceId: string;
  readonly kind: string;
  readonly type: string;
  readonly state: 'open' | 'acknowledged' | 'resolved';
  readonly severity: 'info' | 'warning' | 'critical';
  readonly summary: string;
  readonly openedAt: string;
  readonly acknowledgedAt: string | null;
  readonly acknowledgedBy: string | null;
  readonly resolvedAt: string | null;
  readonly resolvedBy: string | null;
}
