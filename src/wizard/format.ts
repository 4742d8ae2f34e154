/** Numbers, times, sizes and places in words, in the page's language, using the browser's own Intl data (no bytes shipped). */
import { currentLanguage } from './i18n.js';

const names = new Map<string, Intl.DisplayNames>();
export function countryName(code: string): string {
  const lang = currentLanguage();
  const cc = code.toUpperCase();
  try {
    let n = names.get(lang);
    if (!n) names.set(lang, (n = new Intl.DisplayNames([lang, 'en'], { type: 'region' })));
    const name = n.of(cc);
    return name && name !== cc ? `${name} (${cc})` : cc;
  } catch {
    return cc;
  }
}

const BYTE_UNITS = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte'] as const;

/** Binary multiples under the everyday names, so a 10 GiB quota reads "10 GB" as people expect. */
export function bytes(n: number): string {
  let i = 0;
  let v = n;
  while (v >= 1024 && i < BYTE_UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  const rounded = i === 0 ? v : v < 10 ? Math.round(v * 10) / 10 : Math.round(v);
  return new Intl.NumberFormat(currentLanguage(), { style: 'unit', unit: BYTE_UNITS[i]!, unitDisplay: i === 0 ? 'long' : 'short' }).format(rounded);
}

export function clockTime(d: Date): string {
  return d.toLocaleTimeString(currentLanguage(), { hour: '2-digit', minute: '2-digit' });
}

export function dateTime(d: Date): string {
  return d.toLocaleString(currentLanguage(), { dateStyle: 'medium', timeStyle: 'short' });
}

/** "in 12 minutes", "3 hours ago": the largest unit that fits. */
export function relative(to: Date, now = new Date()): string {
  const s = Math.round((to.getTime() - now.getTime()) / 1000);
  const rtf = new Intl.RelativeTimeFormat(currentLanguage(), { numeric: 'auto' });
  const abs = Math.abs(s);
  if (abs < 60) return rtf.format(s <= 0 ? 0 : s, 'second');
  if (abs < 3600) return rtf.format(Math.round(s / 60), 'minute');
  if (abs < 86400) return rtf.format(Math.round(s / 3600), 'hour');
  return rtf.format(Math.round(s / 86400), 'day');
}

/** "25 minutes", "۲۵ دقیقه", "25 分钟": a duration in the page's language. */
export function waitInWords(seconds: number): string {
  const [n, unit] = seconds < 90 ? [Math.max(1, Math.round(seconds)), 'second'] : Math.ceil(seconds / 60) < 120 ? [Math.ceil(seconds / 60), 'minute'] : [Math.round(Math.ceil(seconds / 60) / 60), 'hour'];
  return new Intl.NumberFormat(currentLanguage(), { style: 'unit', unit, unitDisplay: 'long' }).format(n as number);
}
