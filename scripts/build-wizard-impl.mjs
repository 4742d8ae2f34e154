// Builds the browser pages: the /get/ wizard (src/wizard → dist/wizard) and
// the /console/ operator console (src/console → dist/console). For each:
// type-checks its sources, bundles its TypeScript and CSS with esbuild into
// content-hashed files, writes index.html pointing at them, precompresses
// everything (gzip + brotli), and enforces its JavaScript budget. Run
// through scripts/build-wizard.mjs (`npm run build`).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { brotliCompressSync, constants as zc, gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

/** Each page's whole JavaScript, gzipped. */
export const PAGES = [
  { name: 'wizard', src: 'src/wizard', out: 'dist/wizard', budgetGzipBytes: 60 * 1024 },
  // Six pages of tables, forms and two small charts, plus the QR encoder the wizard uses (15.0 KB when set).
  { name: 'console', src: 'src/console', out: 'dist/console', budgetGzipBytes: 25 * 1024 },
];
export const JS_BUDGET_GZIP_BYTES = PAGES[0].budgetGzipBytes;

const require = createRequire(import.meta.url);
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;

async function buildPage({ name, src: SRC, out: OUT, budgetGzipBytes }) {
  if (!existsSync(join(SRC, 'main.ts'))) {
    console.log(`${name}: no sources (${SRC}/main.ts); skipping`);
    return;
  }
  try {
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '--noEmit', '-p', SRC], { stdio: 'inherit' });
  } catch {
    console.error(`${name}: type check failed (tsc -p ${SRC})`);
    process.exit(1);
  }

  rmSync(OUT, { recursive: true, force: true });
  mkdirSync(join(OUT, 'assets'), { recursive: true });

  // Message catalogs other than English (bundled), for a page that has them
  // (the wizard): one content-hashed JSON file each, fetched by the page only
  // when someone picks that language; the page learns their names from
  // __WIZARD_LOCALES__ (src/wizard/i18n.ts).
  const MESSAGES = join(SRC, 'messages');
  const locales = {};
  const localeFiles = [];
  for (const file of existsSync(MESSAGES) ? readdirSync(MESSAGES).filter((n) => n.endsWith('.json')).sort() : []) {
    const tag = file.slice(0, -'.json'.length);
    const parsed = JSON.parse(readFileSync(join(MESSAGES, file), 'utf8')); // a syntax error fails the build here
    const body = Buffer.from(JSON.stringify(parsed));
    const out = `i18n-${tag}-${createHash('sha256').update(body).digest('hex').slice(0, 10)}.json`;
    writeFileSync(join(OUT, 'assets', out), body);
    locales[tag] = `assets/${out}`;
    localeFiles.push(join(OUT, 'assets', out));
  }

  const result = await esbuild.build({
    entryPoints: { app: join(SRC, 'main.ts'), style: join(SRC, 'style.css') },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome109', 'safari15', 'firefox115'],
    outdir: join(OUT, 'assets'),
    entryNames: '[name]-[hash]',
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
    define: { __WIZARD_LOCALES__: JSON.stringify(locales) },
  });

  const outputs = Object.keys(result.metafile.outputs);
  const js = outputs.filter((f) => f.endsWith('.js'));
  const css = outputs.filter((f) => f.endsWith('.css'));
  if (js.length !== 1 || css.length !== 1) throw new Error(`${name}: expected one JS and one CSS output, got ${outputs.join(', ')}`);

  const html = readFileSync(join(SRC, 'index.html'), 'utf8')
    .replace('{{JS}}', `assets/${basename(js[0])}`)
    .replace('{{CSS}}', `assets/${basename(css[0])}`);
  if (html.includes('{{')) throw new Error(`${name}: index.html has an unfilled placeholder`);
  writeFileSync(join(OUT, 'index.html'), html);

  const sizes = {};
  for (const file of [join(OUT, 'index.html'), ...js, ...css, ...localeFiles]) {
    const body = readFileSync(file);
    const gz = gzipSync(body, { level: 9 });
    writeFileSync(`${file}.gz`, gz);
    writeFileSync(`${file}.br`, brotliCompressSync(body, { params: { [zc.BROTLI_PARAM_QUALITY]: 11 } }));
    sizes[basename(file)] = { bytes: body.length, gzip: gz.length };
  }
  const jsGzip = sizes[basename(js[0])].gzip;
  writeFileSync(join(OUT, 'build-info.json'), JSON.stringify({ js: basename(js[0]), css: basename(css[0]), locales, jsGzipBytes: jsGzip, budgetGzipBytes, sizes }, null, 2));

  console.log(`${name}: built ${OUT}: JS ${kb(sizes[basename(js[0])].bytes)} (${kb(jsGzip)} gzipped, budget ${kb(budgetGzipBytes)}), CSS ${kb(sizes[basename(css[0])].gzip)} gzipped`);
  if (jsGzip > budgetGzipBytes) {
    console.error(`${name}: JavaScript is ${kb(jsGzip)} gzipped, over the ${kb(budgetGzipBytes)} budget`);
    process.exit(1);
  }
}

for (const page of PAGES) await buildPage(page);
