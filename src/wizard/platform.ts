/** Which device the person is on, and how to import a tunnel there. */
import type { DoorProtocol } from '../core/doors.js';
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
 * The AmneziaWG apps are forks of the WireGuard apps: where a step is the
 * same ("Activate", the download), the WireGuard step's message is reused.
 */
const AWG_STEPS: Record<Platform, MessageKey[]> = {
  ios: ['door.awg.ios.1', 'door.awg.ios.2', 'door.awg.ios.3', 'steps.ios.4'],
  android: ['door.awg.android.1', 'door.awg.android.2', 'door.awg.android.3', 'steps.android.4'],
  macos: ['door.awg.macos.1', 'steps.macos.2', 'door.awg.macos.3', 'steps.macos.4'],
  windows: ['door.awg.windows.1', 'steps.windows.2', 'door.awg.windows.3', 'steps.windows.4'],
  linux: ['door.awg.linux.1', 'door.awg.linux.2', 'door.awg.linux.3'],
};

/**
 * Steps in the page's language for a door of `protocol`, one string per
 * list item, with `backticks` around commands; `{file}` and `{tunnel}` are
 * filled from `params` (left as they are when not given).
 */
export function importSteps(p: Platform, params: { file?: string; tunnel?: string } = {}, protocol: DoorProtocol = 'wireguard'): string[] {
  const keys = protocol === 'amneziawg' ? AWG_STEPS[p] : Array.from({ length: STEP_COUNT[p] }, (_, i) => `steps.${p}.${i + 1}` as MessageKey);
  return keys.map((k) => t(k, params));
}
