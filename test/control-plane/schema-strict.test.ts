/**
 * Every body, query and path input the served OpenAPI document declares is
 * attacked: wrong types (array-wrapped, number for string, string for
 * number, boolean, null), NUL, numbers JSON.parse would change (1e309, -0,
 * 1e-400, 2^63), duplicate keys (also with a wrong-typed last value), and
 * for query parameters 1e309, -0, NUL, empty and repeated. Each must be a
 * 400 with a code that leaves every table unchanged, sent with valid
 * operator/gateway auth so validation (not auth) is what refuses it.
 *
 * The routes come from GET /v1/openapi.json, so a new route with a body or
 * query fails this test until it has a valid example below; each example is
 * sent after its attacks and must succeed, proving that the attacks were
 * refused for the one thing they changed and consumed nothing.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestControlPlane, registerTestGateway, type TestControlPlane } from '../helpers/control-plane.js';
import { tableCounts } from '../helpers/db.js';
import { wgKeyPair } from '../helpers/keys.js';

interface Example {
  params?: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
  /** The status the untouched example gets. */
  ok: number;
}

let cp: TestControlPlane;
let gateway: { gatewayId: string; credential: string };
let heartbeatSeq = 1;

before(async () => {
  cp = await startTestControlPlane({ config: { mintLimitPerHour: 100_000 } });
  gateway = await registerTestGateway(cp, { publicKey: wgKeyPair().publicKey, region: 'NL', country: 'NL' });
});
after(async () => {
  await cp?.stop();
});

async function passToken(): Promise<string> {
  const r = await cp.op('POST', '/v1/operator/passes', {});
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body.token;
}

async function enrolledDevice(): Promise<{ id: string; publicKey: string }> {
  const publicKey = wgKeyPair().publicKey;
  const r = await cp.call('POST', '/v1/enroll', { installPass: await passToken(), publicKey });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return { id: r.body.deviceId, publicKey };
}

async function addedGateway(): Promise<string> {
  const add = await cp.op('POST', '/v1/operator/gateways', { region: 'NL', country: 'NL' });
  assert.equal(add.status, 201, JSON.stringify(add.body));
  return add.body.gatewayId;
}

let names = 0;
/** A fresh valid request per route ("METHOD /path" as in the OpenAPI document). */
const examples: Record<string, () => Promise<Example>> = {
  'POST /v1/install-passes': async () => ({ ok: 201 }),
  'POST /v1/enroll': async () => ({ body: { installPass: await passToken(), publicKey: wgKeyPair().publicKey, region: 'NL', exitCountry: 'NL' }, ok: 201 }),
  'GET /v1/whoami': async () => ({ query: { device: (await enrolledDevice()).id }, ok: 200 }),
  'POST /v1/operator/passes': async () => ({ body: { tier: 'standard', expiresInSeconds: 3600, note: 'a note' }, ok: 201 }),
  'POST /v1/operator/invites': async () => ({ body: { tier: 'standard', uses: 3, expiresInSeconds: 3600, note: 'a note' }, ok: 201 }),
  'GET /v1/operator/passes': async () => ({ query: { limit: '5', before: new Date().toISOString() }, ok: 200 }),
  'GET /v1/operator/devices': async () => ({ query: { limit: '5', state: 'active', q: '10.66.0.2' }, ok: 200 }),
  'POST /v1/operator/devices/{id}/revoke': async () => ({ params: { id: (await enrolledDevice()).id }, body: { reason: 'a reason' }, ok: 200 }),
  'POST /v1/operator/devices/{id}/suspend': async () => ({ params: { id: (await enrolledDevice()).id }, body: { reason: 'a reason' }, ok: 200 }),
  'POST /v1/operator/devices/{id}/resume': async () => {
    const { id } = await enrolledDevice();
    assert.equal((await cp.op('POST', `/v1/operator/devices/${id}/suspend`, {})).status, 200);
    return { params: { id }, body: { reason: 'a reason' }, ok: 200 };
  },
  'POST /v1/operator/passes/{id}/revoke': async () => ({ params: { id: (await cp.op('POST', '/v1/operator/invites', {})).body.id }, ok: 204 }),
  'POST /v1/console/session': async () => ({ body: { token: cp.operatorToken }, ok: 201 }),
  'POST /v1/operator/gateways': async () => ({ body: { name: `gw-strict-${++names}`, region: 'NL', country: 'NL', expiresInSeconds: 3600 }, ok: 201 }),
  // A fresh (added, unregistered) gateway each time: draining or removing the registered one would stop enrollments.
  'POST /v1/operator/gateways/{id}/drain': async () => ({ params: { id: await addedGateway() }, body: { reason: 'a reason' }, ok: 200 }),
  'POST /v1/operator/gateways/{id}/undrain': async () => ({ params: { id: await addedGateway() }, body: { reason: 'a reason' }, ok: 200 }),
  'POST /v1/operator/gateways/{id}/remove': async () => ({ params: { id: await addedGateway() }, body: { reason: 'a reason' }, ok: 200 }),
  'GET /v1/operator/audit': async () => ({
    query: { limit: '5', afterId: '0', action: 'pass.issue', actor: 'operator:test', subject: 'device:x', since: new Date(0).toISOString(), until: new Date().toISOString() },
    ok: 200,
  }),
  'POST /v1/gateways/register': async () => {
    const add = await cp.op('POST', '/v1/operator/gateways', { region: 'NL', country: 'NL' });
    assert.equal(add.status, 201, JSON.stringify(add.body));
    return {
      body: { registrationToken: add.body.registrationToken, doors: [{ lane: 0, protocol: 'wireguard', tier: 'T0', publicKey: wgKeyPair().publicKey, params: null, endpoints: [{ host: '192.0.2.20', port: 51820 }] }], egressIps: ['192.0.2.20'] },
      ok: 201,
    };
  },
  'GET /v1/gateways/{id}/feed': async () => ({ params: { id: gateway.gatewayId }, query: { after: '0', wait: '0', limit: '10' }, ok: 200 }),
  'POST /v1/gateways/{id}/heartbeat': async () => ({
    params: { id: gateway.gatewayId },
    // A real device of this gateway's scope, so an accepted heartbeat would write usage.
    body: { seq: ++heartbeatSeq, peers: [{ publicKey: (await enrolledDevice()).publicKey, rxDelta: 1000, txDelta: 2000 }], doors: [{ lane: 0, up: true, listening: true, peers: 1 }] },
    ok: 200,
  }),
  'PUT /v1/gateways/{id}/doors': async () => ({
    params: { id: gateway.gatewayId },
    body: {
      doors: [
        { lane: 0, protocol: 'wireguard', tier: 'T0', publicKey: wgKeyPair().publicKey, params: null, endpoints: [{ host: '192.0.2.20', port: 51820 }] },
        {
          lane: 1,
          protocol: 'amneziawg',
          tier: 'T1',
          publicKey: wgKeyPair().publicKey,
          params: { jc: 4, jmin: 40, jmax: 70, s1: 15, s2: 23, s3: 9, s4: 4, h1: '1020304', h2: '2000000-2000100', h3: '3000000', h4: '4000000', i1: '<r 16>' },
          endpoints: [{ host: '192.0.2.20', port: 51821 }],
        },
      ],
    },
    ok: 200,
  }),
  'GET /v1/gateways/{id}/snapshot': async () => ({ params: { id: gateway.gatewayId }, ok: 200 }),
  'GET /v1/trust/root/{version}.json': async () => ({ params: { version: '1' }, ok: 200 }),
};

// --- building request bodies JSON.stringify cannot write ---

/** A JSON text inserted as is (1e309, -0, ...). */
class Raw {
  constructor(readonly text: string) {}
}
/** An object written with these entries in order, duplicates included. */
class Entries {
  constructor(readonly entries: [string, unknown][]) {}
}

function write(v: unknown): string {
  if (v instanceof Raw) return v.text;
  if (v instanceof Entries) return `{${v.entries.map(([k, x]) => `${JSON.stringify(k)}:${write(x)}`).join(',')}}`;
  if (Array.isArray(v)) return `[${v.map(write).join(',')}]`;
  if (v !== null && typeof v === 'object') return write(new Entries(Object.entries(v)));
  return JSON.stringify(v);
}

type Path = (string | number)[];
const clone = (v: unknown): any => structuredClone(v);

function setAt(root: unknown, path: Path, value: unknown): unknown {
  if (path.length === 0) return value;
  const copy = clone(root);
  let at = copy;
  for (const k of path.slice(0, -1)) at = at[k];
  at[path[path.length - 1]!] = value;
  return copy;
}

interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  nullable?: boolean;
  anyOf?: Schema[];
}

/** Every leaf (and the object holding it) of an example, walked with its schema. */
function leaves(value: unknown, schema: Schema, path: Path = []): { path: Path; value: unknown; schema: Schema }[] {
  if (Array.isArray(value) && schema.items) return value.length ? leaves(value[0], schema.items, [...path, 0]) : [];
  if (value !== null && typeof value === 'object' && schema.properties) {
    return Object.entries(value).flatMap(([k, v]) => leaves(v, schema.properties![k]!, [...path, k]));
  }
  return [{ path, value, schema }];
}

const nullable = (s: Schema) => s.nullable === true || JSON.stringify(s).includes('"type":"null"');

interface Attack {
  what: string;
  params?: Record<string, string>;
  /** Query as (name, raw text) pairs, so a name can repeat. */
  query?: [string, string][];
  body?: string;
}

function bodyAttacks(body: unknown, schema: Schema): Attack[] {
  const out: Attack[] = [
    { what: 'body null', body: 'null' },
    { what: 'body wrapped in an array', body: write([body]) },
    { what: 'body a string', body: '"text"' },
  ];
  for (const leaf of leaves(body, schema)) {
    const name = leaf.path.join('.');
    const put = (what: string, v: unknown) => out.push({ what: `${name}: ${what}`, body: write(setAt(body, leaf.path, v)) });
    put('wrapped in an array', [leaf.value]);
    put('an object', {});
    if (!nullable(leaf.schema)) put('null', null);
    if (typeof leaf.value !== 'boolean') put('a boolean', true);
    let wrongLast: unknown;
    if (typeof leaf.value === 'string') {
      put('a number', 5);
      put('with NUL', `${leaf.value.slice(0, 1)}\u0000${leaf.value.slice(1)}`);
      put('with a lone surrogate', `${leaf.value}\ud800`);
      wrongLast = 5;
    } else if (typeof leaf.value === 'number') {
      put('a numeric string', String(leaf.value));
      for (const n of ['1e309', '-0', '1e-400', '9223372036854775808', '9007199254740993', `${leaf.value}.5`]) put(n, new Raw(n));
      wrongLast = String(leaf.value);
    } else {
      wrongLast = String(leaf.value);
    }
    // Duplicate keys: the holder of this leaf written with the key twice.
    const key = leaf.path[leaf.path.length - 1];
    if (typeof key === 'string') {
      const holderPath = leaf.path.slice(0, -1);
      let holder: any = body;
      for (const k of holderPath) holder = holder[k];
      const entries = Object.entries(holder) as [string, unknown][];
      out.push({ what: `${name}: duplicate key, last value wrong-typed`, body: write(setAt(body, holderPath, new Entries([...entries, [key, wrongLast]]))) });
      out.push({ what: `${name}: duplicate key, same value twice`, body: write(setAt(body, holderPath, new Entries([...entries, [key, leaf.value]]))) });
    }
  }
  return out;
}

interface Parameter {
  in: string;
  name: string;
  schema: Schema;
}

function queryAttacks(query: Record<string, string>, declared: Parameter[]): Attack[] {
  const out: Attack[] = [];
  const base = Object.entries(query);
  for (const p of declared) {
    assert.ok(p.name in query, `the example for this route must give the query parameter "${p.name}"`);
    const valid = query[p.name]!;
    const without = base.filter(([k]) => k !== p.name);
    const put = (what: string, ...values: string[]) => out.push({ what: `?${p.name}: ${what}`, query: [...without, ...values.map((v): [string, string] => [p.name, v])] });
    put('NUL', `${valid}\u0000`);
    put('empty', '');
    put('repeated', valid, valid);
    if (p.schema.type === 'integer') {
      for (const n of ['1e309', '-0', '1.5', '1e3', '+1', '0x10', '99999999999999999999', 'Infinity']) put(n, n);
    }
  }
  return out;
}

function pathAttacks(params: Record<string, string>): Attack[] {
  return Object.keys(params).map((name) => ({ what: `{${name}} with NUL`, params: { ...params, [name]: `${params[name]}\u0000` } }));
}

async function send(method: string, route: string, auth: Record<string, string>, params: Record<string, string>, query: [string, string][], body: string | undefined) {
  const path = route.replace(/\{(\w+)\}/g, (_m, name: string) => encodeURIComponent(params[name]!));
  const qs = query.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
  const res = await fetch(`${cp.url}${path}${qs ? `?${qs}` : ''}`, {
    method,
    headers: { ...auth, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body } : {}),
  });
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, body: parsed };
}

test('every body, query and path input in the OpenAPI document refuses wrong types, NUL, unfaithful numbers and duplicate keys with 400 and no change', async (t) => {
  const doc = (await cp.call('GET', '/v1/openapi.json')).body;
  let routesAttacked = 0;
  let attacksSent = 0;
  const seen = new Set<string>();
  for (const [route, ops] of Object.entries<any>(doc.paths)) {
    for (const [method, op] of Object.entries<any>(ops)) {
      const key = `${method.toUpperCase()} ${route}`;
      const parameters: Parameter[] = op.parameters ?? [];
      const bodySchema: Schema | undefined = op.requestBody?.content?.['application/json']?.schema;
      const queryParams = parameters.filter((p) => p.in === 'query');
      const pathParams = parameters.filter((p) => p.in === 'path');
      if (!bodySchema && queryParams.length === 0 && pathParams.length === 0 && method !== 'post') continue;
      const make = examples[key];
      assert.ok(make, `${key} takes input: add a valid example to test/control-plane/schema-strict.test.ts`);
      seen.add(key);
      const example = await make();
      const security: string[] = (op.security ?? []).flatMap((s: Record<string, unknown>) => Object.keys(s));
      const auth: Record<string, string> = security.includes('operator')
        ? { authorization: `Bearer ${cp.operatorToken}` }
        : security.includes('gateway')
          ? { authorization: `Bearer ${gateway.credential}` }
          : {};
      const params = example.params ?? {};
      const query = Object.entries(example.query ?? {});
      const body = example.body === undefined ? undefined : write(example.body);

      const attacks: Attack[] = [
        ...(bodySchema ? bodyAttacks(example.body, bodySchema) : []),
        ...queryAttacks(example.query ?? {}, queryParams),
        ...pathAttacks(params),
        ...(queryParams.length === 0 ? [{ what: 'NUL in an undeclared query parameter', query: [...query, ['stray', 'a\u0000'] as [string, string]] }] : []),
      ];
      for (const a of attacks) {
        const before = await tableCounts(cp.database.db);
        const r = await send(method.toUpperCase(), route, auth, a.params ?? params, a.query ?? query, a.body ?? body);
        const label = `${key} ${a.what}: ${r.status} ${JSON.stringify(r.body)}`;
        // A gateway may only name its own id: a changed {id} is refused by that check (403) before validation.
        const ownId = security.includes('gateway') && a.params !== undefined;
        assert.equal(r.status, ownId ? 403 : 400, label);
        assert.ok(['invalid_request', 'invalid_public_key', ...(ownId ? ['forbidden'] : [])].includes(r.body?.error?.code), label);
        assert.deepEqual(await tableCounts(cp.database.db), before, `${label} changed rows`);
        attacksSent++;
      }
      // The untouched example still works: the attacks were refused for what they changed, and consumed nothing.
      const r = await send(method.toUpperCase(), route, auth, params, query, body);
      assert.equal(r.status, example.ok, `${key} valid example: ${r.status} ${JSON.stringify(r.body)}`);
      routesAttacked++;
    }
  }
  assert.deepEqual([...seen].sort(), Object.keys(examples).sort(), 'every example belongs to a route the OpenAPI document serves');
  t.diagnostic(`${routesAttacked} routes, ${attacksSent} attacks`);
  assert.ok(routesAttacked >= 14 && attacksSent > 300, `${routesAttacked} routes, ${attacksSent} attacks`);
});

test('the inputs issue 9 reported are refused with 400 and no change', async () => {
  const pass = await passToken();
  const publicKey = wgKeyPair().publicKey;
  const counts = await tableCounts(cp.database.db);
  const cases: [string, string, string | undefined][] = [
    ['POST', '/v1/enroll', JSON.stringify({ installPass: [pass], publicKey })],
    ['POST', '/v1/enroll', JSON.stringify({ installPass: pass, publicKey: [publicKey] })],
    ['POST', '/v1/enroll', JSON.stringify({ installPass: pass, publicKey, region: ['NL'] })],
    ['POST', '/v1/enroll', JSON.stringify({ installPass: pass, publicKey, region: 5 })],
    ['POST', '/v1/enroll', `{"installPass":${JSON.stringify(pass)},"publicKey":${JSON.stringify(publicKey)},"region":"NL","region":5}`],
    ['POST', '/v1/operator/invites', JSON.stringify({ note: 123 })],
    ['POST', '/v1/operator/invites', JSON.stringify({ expiresInSeconds: [19259937] })],
    ['POST', '/v1/operator/invites', '{"expiresInSeconds":1e-400}'],
    ['POST', '/v1/operator/invites', JSON.stringify({ note: 'x\u0000y' })],
    ['POST', '/v1/operator/passes', JSON.stringify({ note: 'x\u0000y' })],
    ['POST', '/v1/operator/gateways', JSON.stringify({ name: true, region: 'NL', country: 'NL' })],
    ['GET', '/v1/operator/audit?action=%00', undefined],
    ['GET', '/v1/operator/audit?afterId=1e309', undefined],
    ['GET', '/v1/operator/devices?limit=1e309', undefined],
    ['GET', '/v1/operator/passes?limit=1e309', undefined],
  ];
  for (const [method, path, body] of cases) {
    const r = await cp.call(method, path, body, { authorization: `Bearer ${cp.operatorToken}` });
    assert.equal(r.status, 400, `${method} ${path} ${body}: ${JSON.stringify(r.body)}`);
    assert.match(r.body.error.code, /^invalid_(request|public_key)$/);
  }
  assert.deepEqual(await tableCounts(cp.database.db), counts);
  const enrolled = await cp.call('POST', '/v1/enroll', { installPass: pass, publicKey });
  assert.equal(enrolled.status, 201, 'the pass the attacks carried was not consumed');
});

test('a prototype-poisoning body is still refused, and a deeply nested body is a 400, not a crash', async () => {
  const auth = { authorization: `Bearer ${cp.operatorToken}` };
  const poisoned = await cp.call('POST', '/v1/operator/passes', '{"note":"a","__proto__":{"x":1}}', auth);
  assert.equal(poisoned.status, 400);
  assert.equal(poisoned.body.error.code, 'invalid_request');
  assert.match(poisoned.body.error.message, /__proto__/);
  const deep = await cp.call('POST', '/v1/operator/passes', `{"note":${'['.repeat(5000)}"\\u0000"${']'.repeat(5000)}}`, auth);
  assert.equal(deep.status, 400, JSON.stringify(deep.body));
  assert.equal(deep.body.error.code, 'invalid_request');
});
