/**
 * How every route's input is checked before a handler sees it, in one place:
 *
 * - JSON bodies are parsed with prototype-poisoning protection
 *   (secure-json-parse, as Fastify's own parser) and must be I-JSON: no
 *   duplicate field names, only numbers that arrive as written.
 * - Schemas validate with no type coercion: `["NL"]`, `5` or `true` where a
 *   string is due is a 400, never quietly turned into the string.
 * - Query strings and path parameters are read from text by their schema,
 *   strictly (core/strict-input.ts), then validated by the same Ajv.
 * - No string anywhere in a body, query or path may hold NUL or a lone
 *   surrogate: Postgres could not store it as sent.
 *
 * The rules themselves are pure functions in core/strict-input.ts; this
 * module hooks them into Fastify.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import sjson from 'secure-json-parse';
import type { FastifyInstance, FastifySchemaCompiler } from 'fastify';
import { DammError } from '../core/errors.js';
import { jsonTextProblem, readTextFields, stringsProblem, textFields } from '../core/strict-input.js';

// ajv-formats is CommonJS: its module object is the plugin, and carries itself as `default` too (which is what NodeNext types).
const addFormats = addFormatsModule.default;

function newAjv(): Ajv {
  const ajv = new Ajv({
    coerceTypes: false,
    useDefaults: true,
    removeAdditional: false,
    // One error is enough to answer, and allErrors lets a crafted body cost more (Fastify's default too).
    allErrors: false,
    strictNumbers: true,
    addUsedSchema: false,
  });
  addFormats(ajv);
  return ajv;
}

const TEXT_PART_NAMES: Record<string, string> = { querystring: 'query', params: 'path', headers: 'header' };

function compilerFor(ajv: Ajv): FastifySchemaCompiler<unknown> {
  return ({ schema, httpPart }) => {
    const validate = ajv.compile(schema as object);
    if (httpPart === 'body' || !httpPart) return validate;
    const where = TEXT_PART_NAMES[httpPart] ?? httpPart;
    const fields = textFields(schema as object, where);
    // Ajv-shaped: Fastify reads `.errors` after `false`, and takes `{ value }` as the converted input.
    const check = ((data: unknown): boolean | { error: Error } | { value: unknown } => {
      const read = readTextFields((data ?? {}) as Record<string, unknown>, fields, where);
      if ('problem' in read) return { error: new DammError('invalid_request', read.problem) };
      if (validate(read.value)) return { value: read.value };
      check.errors = validate.errors;
      return false;
    }) as ((data: unknown) => boolean | { error: Error } | { value: unknown }) & { errors?: ValidateFunction['errors'] };
    return check;
  };
}

function parseJsonBody(body: string): unknown {
  if (body === '') throw new DammError('invalid_request', 'The request body is empty; send a JSON document.');
  let value: unknown;
  try {
    value = sjson.parse(body, null, { protoAction: 'error', constructorAction: 'error' });
  } catch (cause) {
    const poisoned = cause instanceof SyntaxError && /forbidden prototype/.test(cause.message);
    throw new DammError('invalid_request', poisoned ? 'The request body has a forbidden "__proto__" or "constructor.prototype" field.' : 'The request body is not valid JSON.', { cause });
  }
  const problem = jsonTextProblem(body);
  if (problem) throw new DammError('invalid_request', `The request body is refused: ${problem}.`);
  return value;
}

/** Installs the rules on an app; call before any route is registered. */
export function strictInput(app: FastifyInstance): void {
  app.setValidatorCompiler(compilerFor(newAjv()));
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });
  app.addHook('preValidation', async (request) => {
    const problem = stringsProblem(request.params, 'path') ?? stringsProblem(request.query, 'query') ?? stringsProblem(request.body, 'body');
    if (problem) throw new DammError('invalid_request', `Refused: ${problem}.`);
  });
}
