/**
 * What the API accepts beyond the schema's types, as pure functions.
 *
 * JSON bodies must be I-JSON (RFC 7493): no duplicate member names (with
 * last-wins parsing a second, wrong-typed value can hide behind a valid
 * first one) and only numbers a double carries as written. JSON.parse turns
 * `1e309` into Infinity, `1e-400` and `1.00000000000000000001` into whole
 * numbers, `9007199254740993` into a neighbour, and keeps `-0`: the schema
 * would then judge a value the client never sent.
 *
 * Every string (body, query, path) must be well-formed Unicode without NUL:
 * Postgres text cannot hold U+0000, and a lone surrogate would be stored as
 * U+FFFD, a different string.
 *
 * Query strings and path parameters are text, so they are converted by the
 * schema, strictly: an integer is a canonical decimal integer, a boolean is
 * `true` or `false`, a parameter appears once unless its schema is an array,
 * and an empty value is refused (leave the parameter out instead).
 */

/** A reason to refuse, in words a client can act on; null when the input is fine. */
export type Problem = string | null;

const SAFE_INTEGER_LITERAL = /^(?:0|-?[1-9][0-9]{0,14})$/;
const NUMBER_LITERAL = /^-?(0|[1-9][0-9]*)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/;

/** Whether a JSON number literal denotes a whole number (decided on its digits, not on the rounded double). */
function literalIsInteger(literal: string): boolean {
  const m = NUMBER_LITERAL.exec(literal);
  if (!m) return false;
  const digits = m[1]! + (m[2] ?? '');
  const point = m[1]!.length + Number(m[3] ?? 0);
  return !/[1-9]/.test(point <= 0 ? digits : digits.slice(point));
}

/** Why a JSON number literal would not arrive as written, or null. */
export function numberLiteralProblem(literal: string): Problem {
  if (SAFE_INTEGER_LITERAL.test(literal)) return null;
  const value = Number(literal);
  if (!Number.isFinite(value)) return `the number ${shorten(literal)} is too large to be carried`;
  if (Object.is(value, -0)) return 'the number -0 is not accepted (send 0)';
  const whole = literalIsInteger(literal);
  if (whole && !Number.isSafeInteger(value)) return `the integer ${shorten(literal)} is beyond ±(2^53−1) and would be rounded`;
  if (!whole && Number.isInteger(value)) return `the number ${shorten(literal)} is not a whole number but would be rounded to ${value}`;
  return null;
}

function shorten(s: string): string {
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

/**
 * Duplicate member names and unfaithful numbers in a JSON text. The text
 * must already have parsed (this scanner does not re-check the grammar).
 */
export function jsonTextProblem(text: string): Problem {
  // One entry per open container: the names seen so far in an object, null in an array.
  const open: (Set<string> | null)[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      let end = text.indexOf('"', i + 1);
      while (end > 0 && isEscaped(text, end)) end = text.indexOf('"', end + 1);
      if (end < 0) return 'the body is not valid JSON (an unterminated string)';
      let k = end + 1;
      while (k < n && WS.has(text.charCodeAt(k))) k++;
      if (text.charCodeAt(k) === 0x3a /* : */) {
        const raw = text.slice(i, end + 1);
        const name = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1);
        const names = open[open.length - 1]!;
        if (names.has(name)) return `the field "${shorten(name)}" appears more than once in one object`;
        names.add(name);
      }
      i = end + 1;
    } else if (c === 0x7b /* { */) {
      open.push(new Set());
      i++;
    } else if (c === 0x5b /* [ */) {
      open.push(null);
      i++;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      open.pop();
      i++;
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      let k = i + 1;
      while (k < n && isNumberChar(text.charCodeAt(k))) k++;
      const problem = numberLiteralProblem(text.slice(i, k));
      if (problem) return problem;
      i = k;
    } else {
      i++;
    }
  }
  return null;
}

function isEscaped(text: string, quote: number): boolean {
  let backslashes = 0;
  for (let k = quote - 1; text.charCodeAt(k) === 0x5c; k--) backslashes++;
  return backslashes % 2 === 1;
}

function isNumberChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d;
}

// With the u flag a surrogate matches only when unpaired.
const LONE_SURROGATE = /\p{Cs}/u;

function stringProblem(s: string): string | null {
  if (s.includes('\u0000')) return 'contains a NUL character (U+0000)';
  if (LONE_SURROGATE.test(s)) return 'is not well-formed Unicode (a lone surrogate)';
  return null;
}

/**
 * The first string (value or field name) in a parsed input that Postgres
 * could not store as sent; `where` names the input, e.g. "body". Walks with
 * its own stack: a deeply nested body must not overflow the call stack.
 */
export function stringsProblem(input: unknown, where: string): Problem {
  // Paths are built only for the value refused, not for every value walked.
  interface Item { value: unknown; key: string; parent: Item | null }
  const pathOf = (item: Item): string => {
    const keys: string[] = [];
    for (let at: Item | null = item; at; at = at.parent) keys.push(at.key);
    keys.reverse();
    return keys.length > 12 ? [...keys.slice(0, 2), '…', ...keys.slice(-9)].join('/') : keys.join('/');
  };
  const pending: Item[] = [{ value: input, key: where, parent: null }];
  for (let item = pending.pop(); item; item = pending.pop()) {
    const { value } = item;
    if (typeof value === 'string') {
      const p = stringProblem(value);
      if (p) return `${pathOf(item)} ${p}`;
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) pending.push({ value: value[i], key: String(i), parent: item });
    } else if (isPlainObject(value)) {
      const entries = Object.entries(value);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [key, v] = entries[i]!;
        const kp = stringProblem(key);
        if (kp) return `a field name in ${pathOf(item)} ${kp}`;
        pending.push({ value: v, key, parent: item });
      }
    }
  }
  return null;
}

/** Parsed JSON objects and query objects (fast-querystring's have a null-prototype prototype), not byte buffers. */
function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !ArrayBuffer.isView(v) && !(v instanceof ArrayBuffer);
}

// --- query strings and path parameters ---

type TextKind = 'string' | 'integer' | 'boolean';
interface TextField {
  kind: TextKind;
  array: boolean;
}

/** A JSON schema as far as this module reads it. */
interface SchemaNode {
  type?: unknown;
  anyOf?: SchemaNode[];
  enum?: unknown[];
  const?: unknown;
  items?: SchemaNode;
  properties?: Record<string, SchemaNode>;
}

function scalarKind(s: SchemaNode): TextKind | null {
  if (s.type === 'string' || s.type === 'integer' || s.type === 'boolean') return s.type;
  if (s.type === undefined && typeof s.const === 'string') return 'string';
  if (s.type === undefined && Array.isArray(s.enum) && s.enum.every((e) => typeof e === 'string')) return 'string';
  if (s.type === undefined && s.anyOf?.length) {
    const kinds = new Set(s.anyOf.map(scalarKind));
    if (kinds.size === 1) return [...kinds][0]!;
  }
  return null;
}

/**
 * How each declared field of a query or path schema is read from text.
 * Throws (at route registration, so at startup) for a type text cannot
 * carry strictly here, rather than guessing per request.
 */
export function textFields(schema: SchemaNode, where: string): Map<string, TextField> {
  const fields = new Map<string, TextField>();
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    const array = prop.type === 'array';
    const kind = scalarKind(array ? (prop.items ?? {}) : prop);
    if (!kind) throw new Error(`The ${where} field "${name}" has a schema that cannot be read strictly from text (use a string, integer, boolean, or an array of one).`);
    fields.set(name, { kind, array });
  }
  return fields;
}

const DECIMAL_INTEGER = /^(?:0|-?[1-9][0-9]*)$/;

function readText(raw: string, kind: TextKind, name: string, where: string): { value: unknown } | { problem: string } {
  if (raw === '') return { problem: `The ${where} parameter "${name}" is empty; give a value or leave it out.` };
  if (kind === 'string') return { value: raw };
  if (kind === 'boolean') {
    if (raw === 'true' || raw === 'false') return { value: raw === 'true' };
    return { problem: `The ${where} parameter "${name}" must be true or false.` };
  }
  const value = Number(raw);
  if (!DECIMAL_INTEGER.test(raw) || !Number.isSafeInteger(value)) {
    return { problem: `The ${where} parameter "${name}" must be a whole number in plain decimal digits (no sign on 0, no exponent, no fraction, at most 2^53−1).` };
  }
  return { value };
}

/**
 * Converts the declared fields of a parsed query string or path (values
 * are strings, or arrays of strings for repeated keys) to the schema's
 * types. Undeclared fields pass through for the schema to refuse.
 */
export function readTextFields(data: Record<string, unknown>, fields: Map<string, TextField>, where: string): { value: Record<string, unknown> } | { problem: string } {
  const out: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(data)) {
    const field = fields.get(name);
    if (!field) {
      out[name] = raw;
      continue;
    }
    const texts = Array.isArray(raw) ? raw : [raw];
    if (texts.length > 1 && !field.array) return { problem: `The ${where} parameter "${name}" is given more than once.` };
    const values: unknown[] = [];
    for (const t of texts) {
      if (typeof t !== 'string') return { problem: `The ${where} parameter "${name}" is not text.` };
      const r = readText(t, field.kind, name, where);
      if ('problem' in r) return r;
      values.push(r.value);
    }
    out[name] = field.array ? values : values[0];
  }
  return { value: out };
}
