/**
 * The page in the visitor's language (docs/wizard.md, "Languages").
 *
 * - Every sentence the page shows is a message in `messages/en.ts`, the
 *   source catalog, bundled with the page. Other languages are flat JSON
 *   files in `messages/<lang>.json` with exactly the same keys; the build
 *   copies each to a content-hashed `assets/i18n-<lang>-<hash>.json` and
 *   tells the page where (`__WIZARD_LOCALES__`), so a language costs
 *   nothing until someone picks it, and is fetched from this origin only.
 * - Messages are ICU-like, a subset small enough to write here:
 *   `{name}` inserts a parameter; `{n, plural, one {# door} other {# doors}}`
 *   picks a form with the browser's Intl.PluralRules for the language (`#`
 *   is the number, written in the language's digits); `=0 {…}` matches
 *   exactly. Nothing else is special, so translators only need to keep the
 *   `{…}` parts.
 * - The language comes from navigator.languages (first supported one, by
 *   primary subtag), and can be switched at any time without reloading: the
 *   page re-renders what it shows from its state (main.ts `rerender`).
 */
import { EN, type MessageKey } from './messages/en.js';

export type { MessageKey } from './messages/en.js';
export type Params = Record<string, string | number>;
export type Messages = Record<MessageKey, string>;

/** Languages the page ships, by BCP 47 tag, each named in its own language. */
export const LANGUAGES = [
  { tag: 'en', name: 'English' },
  { tag: 'ru', name: 'Русский' },
  { tag: 'fa', name: 'فارسی' },
  { tag: 'zh-CN', name: '简体中文' },
  { tag: 'tr', name: 'Türkçe' },
] as const;
export type Language = (typeof LANGUAGES)[number]['tag'];

/** Scripts written right to left (primary subtags), so a language added later lays out right without a code change. */
const RTL = new Set(['ar', 'fa', 'he', 'ps', 'ur', 'ckb', 'yi']);

export function directionOf(tag: string): 'rtl' | 'ltr' {
  return RTL.has(tag.toLowerCase().split('-')[0]!) ? 'rtl' : 'ltr';
}

declare const __WIZARD_LOCALES__: Record<string, string> | undefined;
/** lang → URL of its catalog, relative to the page (filled in by the build; empty where the page is not built, as in unit tests). */
const LOCALE_URLS: Record<string, string> = typeof __WIZARD_LOCALES__ === 'undefined' ? {} : __WIZARD_LOCALES__;

/** The first of the browser's languages the page ships (zh, zh-Hans, zh-SG → zh-CN; fa-IR → fa), else English. */
export function pickLanguage(preferred: readonly string[]): Language {
  for (const p of preferred) {
    const lower = p.toLowerCase();
    const exact = LANGUAGES.find((l) => l.tag.toLowerCase() === lower);
    if (exact) return exact.tag;
    const primary = lower.split('-')[0];
    // Only Simplified Chinese is shipped: Traditional (zh-TW, zh-HK, zh-Hant) readers are better served by English than by the wrong script.
    if (primary === 'zh' && /-(tw|hk|mo|hant)\b/.test(lower)) continue;
    const byPrimary = LANGUAGES.find((l) => l.tag.toLowerCase().split('-')[0] === primary);
    if (byPrimary) return byPrimary.tag;
  }
  return 'en';
}

let current: Language = 'en';
let messages: Messages = EN;
const loaded = new Map<string, Messages>([['en', EN]]);

export function currentLanguage(): Language {
  return current;
}

/**
 * Makes `tag` the page's language, fetching its catalog the first time.
 * A key missing from a catalog falls back to English (the tests keep the
 * shipped catalogs complete; this only protects a half-deployed update).
 */
export async function useLanguage(tag: Language): Promise<void> {
  let m = loaded.get(tag);
  if (!m) {
    const url = LOCALE_URLS[tag];
    if (!url) throw new Error(`no catalog for ${tag}`);
    const res = await fetch(new URL(url, document.baseURI).href, { credentials: 'omit', referrerPolicy: 'no-referrer' });
    if (!res.ok) throw new Error(`catalog ${tag}: HTTP ${res.status}`);
    const got = (await res.json()) as Partial<Messages>;
    m = { ...EN, ...got };
    loaded.set(tag, m);
  }
  messages = m;
  current = tag;
}

/** The message `key` in the current language, with `params` put in. */
export function t(key: MessageKey, params: Params = {}): string {
  return formatMessage(messages[key] ?? EN[key], params, current);
}

const pluralRules = new Map<string, Intl.PluralRules>();
function pluralCategory(lang: string, n: number): string {
  let r = pluralRules.get(lang);
  if (!r) pluralRules.set(lang, (r = new Intl.PluralRules(lang)));
  return r.select(n);
}

/** Formats one ICU-like message (see the top of this file). Unknown parameters are left as `{name}`, so a mistake shows instead of vanishing. */
export function formatMessage(template: string, params: Params, lang: string): string {
  let out = '';
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{', i);
    if (open < 0) {
      out += template.slice(i);
      break;
    }
    out += template.slice(i, open);
    const close = matching(template, open);
    const inner = template.slice(open + 1, close);
    const comma = inner.indexOf(',');
    if (comma < 0) {
      const name = inner.trim();
      const v = params[name];
      out += v === undefined ? `{${name}}` : typeof v === 'number' ? v.toLocaleString(lang) : isolate(v, lang);
    } else {
      out += plural(inner, comma, params, lang);
    }
    i = close + 1;
  }
  return out;
}

function plural(inner: string, comma: number, params: Params, lang: string): string {
  const name = inner.slice(0, comma).trim();
  const rest = inner.slice(comma + 1);
  const comma2 = rest.indexOf(',');
  const n = Number(params[name]);
  const forms = new Map<string, string>();
  const body = rest.slice(comma2 + 1);
  for (let j = 0; j < body.length; ) {
    const open = body.indexOf('{', j);
    if (open < 0) break;
    const selector = body.slice(j, open).trim();
    const close = matching(body, open);
    forms.set(selector, body.slice(open + 1, close));
    j = close + 1;
  }
  const form = forms.get(`=${n}`) ?? forms.get(pluralCategory(lang, n)) ?? forms.get('other') ?? '';
  return formatMessage(form.replaceAll('#', n.toLocaleString(lang)), params, lang);
}

/**
 * In right-to-left text a value such as "damm-NL.conf" or "192.0.2.10:51820"
 * is wrapped in a Unicode bidi isolate (FSI … PDI), so its own direction
 * cannot reorder the sentence around it. Left-to-right text needs none.
 */
function isolate(v: string, lang: string): string {
  return directionOf(lang) === 'rtl' ? `\u2068${v}\u2069` : v;
}

/** Index of the `}` closing the `{` at `open` (nested braces counted). */
function matching(s: string, open: number): number {
  let depth = 0;
  for (let k = open; k < s.length; k++) {
    if (s[k] === '{') depth++;
    else if (s[k] === '}' && --depth === 0) return k;
  }
  throw new Error(`unbalanced braces in message: ${s.slice(0, 60)}`);
}
