/** Building DOM from data without ever parsing data as HTML. */
type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | boolean | undefined> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`#${id} missing from the page`);
  return e as T;
}

export function clear(e: Element): void {
  e.replaceChildren();
}

/** A short id people can compare at a glance; the full id is in the title and the copy. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** Copies each column's header onto its cells (data-label), so a phone can show each row as a labelled card (style.css). */
export function labelCells(table: HTMLTableElement): void {
  const heads = [...table.querySelectorAll('thead th')].map((th) => th.textContent ?? '');
  for (const row of table.querySelectorAll('tbody tr')) {
    [...row.children].forEach((td, i) => td.setAttribute('data-label', heads[i] ?? ''));
  }
}
