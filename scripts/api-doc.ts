import pg from 'pg';
import pino from 'pino';
import { buildApp } from '../src/control-plane/app.js';
import { loadConfig } from '../src/control-plane/config.js';
import { createMetrics } from '../src/control-plane/metrics.js';
import { parsePools } from '../src/core/ipam.js';
import { staticKeyRing } from '../src/control-plane/keyring.js';
import { generateSigningKey } from '../src/core/envelope.js';
import { systemClock } from '../src/core/clock.js';
import type { Ctx } from '../src/control-plane/context.js';

type Schema = { type?: string; properties?: Record<string, Schema>; required?: string[]; description?: string; anyOf?: Schema[]; enum?: unknown[]; const?: unknown; items?: Schema; pattern?: string; format?: string };

/** The OpenAPI document of the real app, built without a database (routes are registered, never called). */
export async function openApiDocument(): Promise<any> {
  const config = loadConfig({}, { logLevel: 'silent' });
  const db = new pg.Pool({ connectionString: 'postgres://unused@127.0.0.1:1/none', max: 1 });
  const ctx = {
    db,
    config,
    clock: systemClock,
    keys: staticKeyRing({ catalog: [generateSigningKey()], admission: [generateSigningKey()] }),
    pools: parsePools({ ipv4Cidr: config.ipv4Pool, ipv6Prefix: config.ipv6Prefix }),
    metrics: createMetrics(),
    log: pino({ level: 'silent' }),
    storeKind: 'postgres',
    version: 'doc',
  } as unknown as Ctx;
  const app = await buildApp({ ctx });
  await app.ready();
  const doc = app.swagger();
  await app.close();
  await db.end();
  return doc;
}

function typeOf(s: Schema): string {
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.anyOf) return s.anyOf.map(typeOf).join(' \\| ');
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(' \\| ');
  if (s.type === 'array') return `${typeOf(s.items ?? {})}[]`;
  return s.format ? `${s.type} (${s.format})` : s.type ?? 'any';
}

function fields(s: Schema | undefined): string[] {
  if (!s?.properties) return [];
  return Object.entries(s.properties).map(([k, v]) => `| \`${k}\` | ${typeOf(v)} | ${s.required?.includes(k) ? 'yes' : ''} | ${(v.description ?? '').replace(/\|/g, '\\|')} |`);
}

export function renderApiDoc(doc: any): string {
  const out: string[] = [
    '# DAMM HTTP API',
    '',
    'Generated from the OpenAPI document the server serves at `/v1/openapi.json`',
    '(`npm run docs:api`); a test keeps this file equal to it. Errors are',
    '`{"error": {"code", "message", "requestId"}}` with a stable `code`.',
    '',
    'Every input is validated against its schema before anything is stored;',
    'what is refused gets `400 invalid_request` (`invalid_public_key` for key',
    'fields) and changes nothing:',
    '',
    '- **No type coercion.** A value of the wrong type is refused, never converted:',
    '  `["NL"]`, `5` or `true` where a string is due, `"3600"` where an integer is due.',
    '  Unknown fields are refused.',
    '- **JSON bodies are I-JSON (RFC 7493).** No field may appear twice in one',
    '  object, and numbers must arrive as written: `1e309`, `1e-400`, `-0` and',
    '  integers beyond ±(2^53−1) are refused. `__proto__` fields are refused.',
    '- **Strings hold text Postgres can store as sent.** NUL (U+0000) and lone',
    '  surrogates are refused in every body, query and path string.',
    '- **Query and path parameters are read strictly.** An integer is plain',
    '  decimal digits (no `+`, no `-0`, no exponent, no fraction, no leading',
    '  zero), a parameter is given at most once, and an empty value is refused',
    '  (leave the parameter out instead).',
    '',
  ];
  for (const [path, methods] of Object.entries<any>(doc.paths).sort(([a], [b]) => a.localeCompare(b))) {
    for (const [method, op] of Object.entries<any>(methods)) {
      out.push(`## ${method.toUpperCase()} ${path}`, '');
      if (op.summary) out.push(op.summary, '');
      if (op.description) out.push(op.description, '');
      if (op.security) out.push(`Auth: ${op.security.map((s: object) => Object.keys(s).join(', ')).join(' or ')} bearer token.`, '');
      const params = (op.parameters ?? []) as { name: string; in: string; required?: boolean; schema: Schema }[];
      if (params.length) {
        out.push('| parameter | in | type | required |', '|---|---|---|---|');
        for (const p of params) out.push(`| \`${p.name}\` | ${p.in} | ${typeOf(p.schema)} | ${p.required ? 'yes' : ''} |`);
        out.push('');
      }
      const body = op.requestBody?.content?.['application/json']?.schema as Schema | undefined;
      if (body?.properties) out.push('Request body:', '', '| field | type | required | notes |', '|---|---|---|---|', ...fields(body), '');
      const codes = Object.keys(op.responses ?? {});
      if (codes.length) out.push(`Responses: ${codes.join(', ')}.`, '');
      const ok = codes.find((c) => c.startsWith('2'));
      const okSchema = ok ? (op.responses[ok].content?.['application/json']?.schema as Schema | undefined) : undefined;
      if (okSchema?.properties) out.push(`${ok} body:`, '', '| field | type | required | notes |', '|---|---|---|---|', ...fields(okSchema), '');
      // A streamed answer (the gateway snapshot): one JSON object per line, each of one of these shapes.
      const lines = ok ? (op.responses[ok].content?.['application/x-ndjson']?.schema as Schema | undefined) : undefined;
      if (lines) {
        out.push(`${ok} body: \`application/x-ndjson\`, one JSON object per line. ${lines.description ?? ''}`.trimEnd(), '');
        for (const [i, line] of (lines.anyOf ?? [lines]).entries()) {
          out.push(`Line shape ${i + 1}:`, '', '| field | type | required | notes |', '|---|---|---|---|', ...fields(line), '');
        }
      }
    }
  }
  return `${out.join('\n').trimEnd()}\n`;
}
