/**
 * A small DOM builder: every text goes in as a text node (never innerHTML), so data from the API cannot inject
 * markup (the pages' Content-Security-Policy forbids inline scripts besides).
 */

/** A child: an element, a text (a text node), or nothing. */
export type Child = Node | string | number | null | undefined | false;

/** Attributes: `on<event>` functions become listeners, `class` and others attributes, booleans present or not. */
export type Attrs = Record<string, string | number | boolean | null | undefined | ((event: Event) => void)>;

/** Creates an element with its attributes and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === 'function') el.addEventListener(name.slice(2).toLowerCase(), value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/** Appends children to an element. */
export function append(el: Element, children: readonly Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === 'number' ? String(child) : child);
  }
}

/** Replaces an element's children. */
export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

/** The element with this id (a page bug when missing). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page: no #${id}`);
  return el as T;
}

/** The page's settings, from its `<script type="application/json" id="vigie-config">` block. */
export function pageConfig<T>(): T {
  return JSON.parse(byId('vigie-config').textContent ?? '{}') as T;
}

/** A message line under a form: `role=alert` for errors (read out by screen readers), `status` otherwise. */
export function notice(kind: 'error' | 'info' | 'success', text: string): HTMLElement {
  return h('p', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

/** A table: a header row of `headings` (column headers), then `rows` (a tbody, or more sections). */
export function table(attrs: Attrs, headings: readonly string[], ...rows: Child[]): HTMLTableElement {
  return h('table', attrs, h('thead', {}, h('tr', {}, ...headings.map((t) => h('th', { scope: 'col' }, t)))), ...rows);
}
