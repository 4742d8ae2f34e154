/** Which device the person is on, and how to import a tunnel there. */
import { t, type MessageKey } from './i18n.js';

export type Platform = 'ios' | 'android' | 'macos' | 'windows' | 'linux';

/** Labels are product names, the same in every language. */
export const PLATFORMS: { id: Platform; label: string }[] = [
  { id: 'ios', label: 'iPhone / iPad' },
  { id: 'android', label: 'Android' },
  { id: 'macos', label: 'Mac' },
  { id: 'windows', label: 'Windows' },
  { id: 'linux', label: 'Linux' },
];

export function detectPlatform(ua: string, maxTouchPoints = 0): Platform {
  if (/iPhone|iPad|iPod/.test(ua)) return 'ios';
  if (/Android/.test(ua)) return 'android';
  // iPadOS asks for desktop pages and calls itself a Mac; only the touch screen gives it away.
  if (/Macintosh|Mac OS X/.test(ua)) return maxTouchPoints > 1 ? 'ios' : 'macos';
  if (/Windows/.test(ua)) return 'windows';
  return 'linux';
}

const STEP_COUNT: Record<Platform, number> = { ios: 4, android: 4, macos: 4, windows: 4, linux: 3 };

/**
 * Steps in the page's language, one string per list item, with `backticks`
 * around commands; `{file}` and `{tunnel}` are filled from `params` (left as
 * they are when not given).
 */
export function importSteps(p: Platform, params: { file?: string; tunnel?: string } = {}): string[] {
  return Array.from({ length: STEP_COUNT[p] }, (_, i) => t(`steps.${p}.${i + 1}` as MessageKey, params));
}
