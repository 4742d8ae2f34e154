/** Which device the person is on, and how to import a tunnel there. */
export type Platform = 'ios' | 'android' | 'macos' | 'windows' | 'linux';

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

/** Steps as text with `{file}` and `{tunnel}` placeholders and `backticks` around commands; one string per list item. */
export function importSteps(p: Platform): string[] {
  switch (p) {
    case 'ios':
      return [
        'Install the WireGuard app from the App Store.',
        'In WireGuard, tap +, then "Create from QR code", and scan the code on this page (open this page on another screen to scan it).',
        'Only have this iPhone or iPad? Tap "Download {file}", open the file, and share it to WireGuard.',
        'Allow the VPN configuration when asked, then switch on "{tunnel}".',
      ];
    case 'android':
      return [
        'Install the WireGuard app from Google Play or F-Droid.',
        'In WireGuard, tap +, then "Scan from QR code", and scan the code on this page (open this page on another screen to scan it).',
        'Only have this phone? Tap "Download {file}", then in WireGuard tap + and "Import from file or archive".',
        'Switch on "{tunnel}" and accept the VPN request.',
      ];
    case 'macos':
      return [
        'Install WireGuard from the Mac App Store.',
        'Click "Download {file}".',
        'In WireGuard, choose "Import tunnel(s) from file" and pick {file} from your Downloads.',
        'Allow the VPN configuration when asked, then click "Activate".',
      ];
    case 'windows':
      return [
        'Install WireGuard from wireguard.com/install.',
        'Click "Download {file}".',
        'In WireGuard, click "Import tunnel(s) from file" and pick {file} from your Downloads.',
        'Click "Activate".',
      ];
    case 'linux':
      return [
        'Install WireGuard tools, for example: `sudo apt install wireguard-tools`',
        'Click "Download {file}", then move it into place: `sudo install -m 600 ~/Downloads/{file} /etc/wireguard/{file}`',
        'Bring the tunnel up: `sudo wg-quick up {tunnel}` (and down again: `sudo wg-quick down {tunnel}`). If wg-quick asks for resolvconf, install openresolv.',
      ];
  }
}
