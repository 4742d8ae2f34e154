/**
 * Serves the /get/ wizard and the /console/ operator console (built by
 * `npm run build` into dist/wizard and dist/console) with
 * headers that keep the page to itself: a strict Content-Security-Policy
 * (only this origin's script, style and API), no referrer (the invite sits in
 * the address), no framing, no cookies set by the pages themselves (the
 * console's session cookie comes from its API), and caching that lets the hashed
 * assets live for a year while index.html is revalidated on every visit.
 *
 * The request logger drops query strings (app.ts), so `?invite=…` never
 * reaches a log line.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';

export const WIZARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': WIZARD_CSP,
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
  // Invite links must never end up in a search index.
  'x-robots-tag': 'noindex, nofollow',
};

export const IMMUTABLE = 'public, max-age=31536000, immutable';
export const REVALIDATE = 'no-cache';

/** dist/wizard of this package, whether this module runs from src/ (tsx) or dist/ (built). */
export function defaultWizardRoot(): string {
  return fileURLToPath(new URL('../../../dist/wizard/', import.meta.url));
}

/** dist/console, built beside the wizard by the same script. */
export function defaultConsoleRoot(): string {
  return fileURLToPath(new URL('../../../dist/console/', import.meta.url));
}

function secure(reply: FastifyReply): void {
  for (const [k, v] of Object.entries(SECURITY_HEADERS)) void reply.header(k, v);
}

/**
 * One static page app under `/<name>/`, with the headers above: the wizard
 * at /get/ and the operator console at /console/ are served the same way.
 * `/<name>` redirects to `/<name>/` keeping the query (the wizard's invite).
 */
export const staticPageRoutes = (opts: { name: string; root: string; title: string }): FastifyPluginAsync => async (app) => {
  const prefix = `/${opts.name}/`;
  app.get(`/${opts.name}`, { schema: { hide: true } }, async (request, reply) => {
    secure(reply);
    const q = request.url.indexOf('?');
    // Relative, so a path prefix in front still works.
    return reply.redirect(`${opts.name}/${q >= 0 ? request.url.slice(q) : ''}`, 301);
  });

  if (!existsSync(path.join(opts.root, 'index.html'))) {
    app.log.warn({ root: opts.root }, `the ${prefix} page is not built; run \`npm run build\``);
    const notBuilt = async (_request: unknown, reply: FastifyReply) => {
      secure(reply);
      return reply
        .status(503)
        .header('cache-control', 'no-store')
        .type('text/plain; charset=utf-8')
        .send(`The DAMM ${opts.title} has not been built on this server. Its operator needs to run \`npm run build\`.\n`);
    };
    app.get(prefix, { schema: { hide: true } }, notBuilt);
    app.get(`${prefix}*`, { schema: { hide: true } }, notBuilt);
    return;
  }

  await app.register(fastifyStatic, {
    root: opts.root,
    prefix,
    decorateReply: false,
    schemaHide: true,
    index: ['index.html'],
    dotfiles: 'ignore',
    preCompressed: true,
    cacheControl: false,
    etag: true,
    lastModified: true,
    setHeaders: (reply, filePath) => {
      secure(reply);
      // Content-hashed file names change with their content: cache them for good.
      const hashed = path.relative(opts.root, filePath).startsWith(`assets${path.sep}`);
      void reply.header('cache-control', hashed ? IMMUTABLE : REVALIDATE);
    },
  });
};

export const wizardRoutes = (root: string = defaultWizardRoot()): FastifyPluginAsync => staticPageRoutes({ name: 'get', root, title: 'wizard' });

/** The operator console's page (its API is the operator API, routes/console-session.ts signs in). */
export const consolePageRoutes = (root: string = defaultConsoleRoot()): FastifyPluginAsync => staticPageRoutes({ name: 'console', root, title: 'console' });
