/** Numbers, times and places in words, using the browser's own Intl data (no bytes shipped). */
const lang = typeof navigator !== 'undefined' ? navigator.language : 'en';

let regionNames: Intl.DisplayNames | null = null;
export function countryName(code: string): string {
  try {
    regionNames ??= new Intl.DisplayNames([lang, 'en'], { type: 'region' });
    const name = regionNames.of(code.toUpperCase());
    return name && name !== code.toUpperCase() ? `${name} (${code.toUpperCase()})` : code.toUpperCase();
  } catch {
    return code.toUpperCase();
  }
}

/** Binary multiples under the everyday names, so a 10 GiB quota reads "10 GB" as people expect. */
export function bytes(n: number): string {
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v < 10 ? v.toFixed(1).replace(/\.0$/, '') : Math.round(v)} ${units[i]}`;
}

export function clockTime(d: Date): string {
  return d.toLocaleTimeString(lang, { hour: '2-digit', minute: '2-digit' });
}

export function dateTime(d: Date): string {
  return d.toLocaleString(lang, { dateStyle: 'medium', timeStyle: 'short' });
}

/** "in 12 minutes", "3 hours ago": the largest unit that fits. */
export function relative(to: Date, now = new Date()): string {
  const s = Math.round((to.getTime() - now.getTime()) / 1000);
  const rtf = new Intl.RelativeTimeFormat(lang, { numeric: 'auto' });
  const abs = Math.abs(s);
  if (abs < 60) return s <= 0 ? 'just now' : rtf.format(s, 'second');
  if (abs < 3600) return rtf.format(Math.round(s / 60), 'minute');
  if (abs < 86400) return rtf.format(Math.round(s / 3600), 'hour');
  return rtf.format(Math.round(s / 86400), 'day');
}

export function waitInWords(seconds: number): string {
  if (seconds < 90) return `${Math.max(1, Math.round(seconds))} seconds`;
  const m = Math.ceil(seconds / 60);
  if (m < 120) return `${m} minutes`;
  return `${Math.round(m / 60)} hours`;
}
