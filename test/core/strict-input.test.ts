/** The pure input rules behind every route: I-JSON bodies, clean strings, strict text parameters. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonTextProblem, numberLiteralProblem, readTextFields, stringsProblem, textFields } from '../../src/core/strict-input.js';

test('duplicate field names are found at any depth, also when escaped differently; equal names in sibling objects are fine', () => {
  assert.match(jsonTextProblem('{"a":1,"a":"x"}')!, /"a" appears more than once/);
  assert.match(jsonTextProblem('{"a":1,"\\u0061":2}')!, /"a" appears more than once/);
  assert.match(jsonTextProblem('{"p":[{"k":1},{"k":1,"k":2}]}')!, /"k"/);
  assert.match(jsonTextProblem(' { "a" : 1 , "a"\n:\t2 } ')!, /"a"/);
  assert.equal(jsonTextProblem('{"a":{"a":1},"b":[{"a":1},{"a":2}]}'), null);
  // A string value that looks like a key, escaped quotes and backslashes inside strings.
  assert.equal(jsonTextProblem('{"a":"a","b":"\\"a\\":","c":"\\\\","a\\\\":1}'), null);
  assert.match(jsonTextProblem('{"x\\\\":1,"x\\\\":2}')!, /appears more than once/);
  assert.equal(jsonTextProblem('[1,2,{"a":[]},"{\\"a\\":1,\\"a\\":2}"]'), null);
});

test('numbers JSON.parse would change are refused; ordinary ones pass', () => {
  for (const bad of ['1e309', '-1e309', '1e-400', '-0', '-0.0', '0e-5'.replace('0e', '-0e'), '9007199254740993', '9223372036854775808', '1e20', '1.00000000000000000001', '-1e-400']) {
    assert.ok(numberLiteralProblem(bad), `${bad} must be refused`);
    assert.ok(jsonTextProblem(`{"n":${bad}}`), `${bad} inside a body must be refused`);
  }
  for (const ok of ['0', '1', '-1', '9007199254740991', '-9007199254740991', '1.5', '0.1', '1e2', '1.0', '2.5e-3', '0.0', '1E+2', '123456789012345']) {
    assert.equal(numberLiteralProblem(ok), null, ok);
  }
  assert.equal(jsonTextProblem('{"s":"1e309 -0","t":true,"f":false,"n":null,"k":[0,-5,7.25]}'), null);
});

test('NUL and lone surrogates are found in values and field names, with the path', () => {
  assert.equal(stringsProblem({ a: 'x\u0000y' }, 'body'), 'body/a contains a NUL character (U+0000)');
  assert.equal(stringsProblem({ p: [{ k: 'ok' }, { k: '\u0000' }] }, 'body'), 'body/p/1/k contains a NUL character (U+0000)');
  assert.match(stringsProblem({ ['a\u0000']: 1 }, 'query')!, /field name in query contains a NUL/);
  assert.match(stringsProblem({ a: 'x\ud800' }, 'body')!, /lone surrogate/);
  assert.equal(stringsProblem({ a: 'emoji 😀 ok', b: [1, true, null, { c: 'fine' }] }, 'body'), null);
  assert.equal(stringsProblem('\u0000', 'path'), 'path contains a NUL character (U+0000)');
  assert.equal(stringsProblem(undefined, 'body'), null);
  // Query objects from fast-querystring inherit from a null-prototype object.
  const query = Object.create(Object.create(null)) as Record<string, unknown>;
  query.action = '\u0000';
  assert.equal(stringsProblem(query, 'query'), 'query/action contains a NUL character (U+0000)');
  assert.equal(stringsProblem(Buffer.from('a\u0000b'), 'body'), null, 'raw bytes are not text to judge');
  // Deep nesting is walked without recursion.
  let deep: unknown = 'x\u0000';
  for (let i = 0; i < 200_000; i++) deep = [deep];
  assert.match(stringsProblem(deep, 'body')!, /NUL/);
});

test('query and path text is read strictly by the schema', () => {
  const fields = textFields(
    {
      properties: {
        limit: { type: 'integer' },
        flag: { type: 'boolean' },
        name: { type: 'string' },
        state: { anyOf: [{ const: 'a', type: 'string' }, { const: 'b', type: 'string' }] },
        ids: { type: 'array', items: { type: 'integer' } },
      },
    },
    'query',
  );
  const read = (data: Record<string, unknown>) => readTextFields(data, fields, 'query');
  assert.deepEqual(read({ limit: '10', flag: 'true', name: 'x', state: 'a', ids: ['1', '2'], other: 'kept' }), { value: { limit: 10, flag: true, name: 'x', state: 'a', ids: [1, 2], other: 'kept' } });
  assert.deepEqual(read({ ids: '3', limit: '-4', flag: 'false' }), { value: { ids: [3], limit: -4, flag: false } });
  for (const bad of ['1e309', '-0', '1.5', '', '+1', '01', ' 1', '1 ', '0x10', '9007199254740992', 'Infinity', '1e3']) {
    const r = read({ limit: bad });
    assert.ok('problem' in r && /"limit"/.test(r.problem), `limit=${JSON.stringify(bad)} must be refused`);
  }
  assert.match((read({ limit: ['1', '2'] }) as { problem: string }).problem, /more than once/);
  assert.match((read({ name: ['a', 'b'] }) as { problem: string }).problem, /more than once/);
  assert.match((read({ name: '' }) as { problem: string }).problem, /empty/);
  assert.match((read({ flag: '1' }) as { problem: string }).problem, /true or false/);
  assert.throws(() => textFields({ properties: { n: { type: 'number' } } }, 'query'), /cannot be read strictly/);
  assert.throws(() => textFields({ properties: { o: { type: 'object' } } }, 'query'), /cannot be read strictly/);
});
