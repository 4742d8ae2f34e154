/**
 * Real Chromium for wizard tests: Debian's /usr/bin/chromium driven by
 * playwright-core (`npx playwright install` cannot work here). A missing
 * browser fails the test, loudly under CI; it is never a skip.
 *
 * `recordTraffic` keeps every request and response the page makes, bodies
 * included, so a test can prove what never left the page.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after } from 'node:test';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';

export const CHROMIUM = process.env['DAMM_CHROMIUM'] ?? '/usr/bin/chromium';
export const ARTIFACTS = path.resolve('test-artifacts/wizard');
export const WIZARD_DIST = path.resolve('dist/wizard');

export const VIEWPORTS = {
  phone: { width: 390, height: 844 },
  desktop: { width: 1280, height: 800 },
} as const;

export const IPHONE_UA =
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1';

export function requireChromium(): void {
  if (existsSync(CHROMIUM)) return;
  const ci = process.env['CI'] ? 'CI MISCONFIGURED: ' : '';
  throw new Error(
    `${ci}wizard tests need Chromium at ${CHROMIUM} (Debian: apt-get install -y --no-install-recommends chromium). They are never skipped.`,
  );
}

/** The built wizard; tests run after `npm run build`. */
export function requireBuiltWizard(): { js: string; css: string; jsGzipBytes: number; budgetGzipBytes: number } {
  const info = path.join(WIZARD_DIST, 'build-info.json');
  if (!existsSync(info)) throw new Error('dist/wizard is missing: run `npm run build` before the wizard tests.');
  return JSON.parse(readFileSync(info, 'utf8'));
}

/** One browser per test file, closed by `after()`. */
export async function useBrowser(): Promise<Browser> {
  requireChromium();
  requireBuiltWizard();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  after(() => browser.close());
  return browser;
}

export async function newPage(browser: Browser, opts: BrowserContextOptions = {}): Promise<Page> {
  const context = await browser.newContext({ viewport: VIEWPORTS.desktop, acceptDownloads: true, ...opts });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  return page;
}

export interface Exchange {
  method: string;
  url: string;
  requestBody: string;
  requestHeaders: Record<string, string>;
  status: number | null;
  responseHeaders: Record<string, string>;
  responseBody: string;
}

/** Records every request the page makes and every response with its body; `settled()` waits for pending bodies. */
export function recordTraffic(page: Page): { exchanges: Exchange[]; console: string[]; consoleErrors: string[]; settled(): Promise<Exchange[]> } {
  const exchanges: Exchange[] = [];
  const consoleLines: string[] = [];
  const consoleErrors: string[] = [];
  const pending: Promise<void>[] = [];
  page.on('console', (m) => {
    consoleLines.push(m.text());
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  page.on('request', (req) => {
    const ex: Exchange = {
      method: req.method(),
      url: req.url(),
      requestBody: req.postData() ?? '',
      requestHeaders: req.headers(),
      status: null,
      responseHeaders: {},
      responseBody: '',
    };
    exchanges.push(ex);
    pending.push(
      req
        .response()
        .then(async (res) => {
          if (!res) return;
          ex.status = res.status();
          ex.responseHeaders = await res.allHeaders();
          if (res.status() >= 300 && res.status() < 400) return; // redirects have no body to read
          ex.responseBody = (await res.body().catch(() => Buffer.alloc(0))).toString('utf8');
        })
        .catch(() => undefined),
    );
  });
  return {
    exchanges,
    console: consoleLines,
    consoleErrors,
    async settled() {
      for (let n = 0; n !== pending.length; ) {
        n = pending.length;
        await Promise.all(pending);
      }
      return exchanges;
    },
  };
}

/** Full-page screenshots of the current state at phone and desktop sizes; restores the viewport. */
export async function screenshots(page: Page, name: string): Promise<string[]> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const before = page.viewportSize();
  const files: string[] = [];
  for (const [size, vp] of Object.entries(VIEWPORTS)) {
    await page.setViewportSize(vp);
    const file = path.join(ARTIFACTS, `${name}-${size}-${vp.width}x${vp.height}.png`);
    await page.screenshot({ path: file, fullPage: true });
    files.push(file);
  }
  if (before) await page.setViewportSize(before);
  return files;
}

/** Reads the private key out of the rendered .conf in the page. */
export async function renderedPrivateKey(page: Page): Promise<string> {
  const conf = await page.locator('#conf').inputValue();
  const m = /^PrivateKey = (\S+)$/m.exec(conf);
  if (!m) throw new Error(`no PrivateKey line in the rendered config:\n${conf}`);
  return m[1]!;
}

/** Every spelling of a 32-byte key a leak could take: base64, base64url, unpadded, hex, URL-encoded. */
export function keySpellings(base64Key: string): string[] {
  const raw = Buffer.from(base64Key, 'base64');
  const b64 = raw.toString('base64');
  return [b64, b64.replace(/=+$/, ''), raw.toString('base64url'), raw.toString('hex'), encodeURIComponent(b64)];
}

/**
 * Texts whose WCAG contrast ratio against their (nearest opaque) background
 * is below 4.5:1 (3:1 for large text). Passed as a string so the test
 * runner's transpiler cannot inject helpers the page does not have.
 */
export function lowContrastTexts(page: Page): Promise<string[]> {
  return page.evaluate(`(() => {
    const rgb = (s) => (s.match(/[\\d.]+/g) || []).map(Number);
    const lum = (c) => {
      const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
    };
    const bgOf = (e) => {
      for (; e; e = e.parentElement) {
        const c = rgb(getComputedStyle(e).backgroundColor);
        if (c.length === 3 || (c.length === 4 && c[3] > 0.99)) return c.slice(0, 3);
      }
      return [255, 255, 255];
    };
    const out = [];
    for (const e of document.querySelectorAll('body *')) {
      const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
      const box = e.getBoundingClientRect();
      if (!own || box.width === 0 || getComputedStyle(e).visibility === 'hidden' || e.closest('[hidden], .vh')) continue;
      const s = getComputedStyle(e);
      const a = lum(rgb(s.color));
      const b = lum(bgOf(e));
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      const large = parseFloat(s.fontSize) >= 24 || (parseFloat(s.fontSize) >= 18.66 && Number(s.fontWeight) >= 700);
      if (ratio < (large ? 3 : 4.5)) out.push(ratio.toFixed(2) + ': ' + e.tagName + ' "' + e.textContent.trim().slice(0, 40) + '"');
    }
    return out;
  })()`);
}
