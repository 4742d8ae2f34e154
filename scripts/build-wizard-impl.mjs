// Builds the /get/ wizard: type-checks src/wizard, bundles its TypeScript
// and CSS with esbuild into content-hashed files, writes index.html pointing
// at them, precompresses everything (gzip + brotli), and enforces the
// JavaScript budget. Run through scripts/build-wizard.mjs (`npm run build`).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { brotliCompressSync, constants as zc, gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

const SRC = 'src/wizard';
const OUT = 'dist/wizard';
/** The whole page's JavaScript, gzipped. */
export const JS_BUDGET_GZIP_BYTES = 60 * 1024;

const require = createRequire(import.meta.url);
try {
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '--noEmit', '-p', SRC], { stdio: 'inherit' });
} catch {
  console.error('wizard: type check failed (tsc -p src/wizard)');
  process.exit(1);
}

rmSync(OUT, { recursive: true, force: true });
mkdirSync(join(OUT, 'assets'), { recursive: true });

// Message catalogs other than English (bundled): one content-hashed JSON file
// each, fetched by the page only when someone picks that language; the page
// learns their names from __WIZARD_LOCALES__ (src/wizard/i18n.ts).
const MESSAGES = join(SRC, 'messages');
const locales = {};
const localeFiles = [];
for (const name of readdirSync(MESSAGES).filter((n) => n.endsWith('.json')).sort()) {
  const tag = name.slice(0, -'.json'.length);
  const parsed = JSON.parse(readFileSync(join(MESSAGES, name), 'utf8')); // a syntax error fails the build here
  const body = Buffer.from(JSON.stringify(parsed));
  const file = `i18n-${tag}-${createHash('sha256').update(body).digest('hex').slice(0, 10)}.json`;
  writeFileSync(join(OUT, 'assets', file), body);
  locales[tag] = `assets/${file}`;
  localeFiles.push(join(OUT, 'assets', file));
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
if (js.length !== 1 || css.length !== 1) throw new Error(`wizard: expected one JS and one CSS output, got ${outputs.join(', ')}`);

const html = readFileSync(join(SRC, 'index.html'), 'utf8')
  .replace('{{JS}}', `assets/${basename(js[0])}`)
  .replace('{{CSS}}', `assets/${basename(css[0])}`);
if (html.includes('{{')) throw new Error('wizard: index.html has an unfilled placeholder');
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
writeFileSync(join(OUT, 'build-info.json'), JSON.stringify({ js: basename(js[0]), css: basename(css[0]), locales, jsGzipBytes: jsGzip, budgetGzipBytes: JS_BUDGET_GZIP_BYTES, sizes }, null, 2));

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
console.log(`wizard: built ${OUT}: JS ${kb(sizes[basename(js[0])].bytes)} (${kb(jsGzip)} gzipped, budget ${kb(JS_BUDGET_GZIP_BYTES)}), CSS ${kb(sizes[basename(css[0])].gzip)} gzipped`);
if (jsGzip > JS_BUDGET_GZIP_BYTES) {
  console.error(`wizard: JavaScript is ${kb(jsGzip)} gzipped, over the ${kb(JS_BUDGET_GZIP_BYTES)} budget`);
  process.exit(1);
}
