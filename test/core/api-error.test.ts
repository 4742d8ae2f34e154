/** The one decoder of error answers (src/core/api-error.ts), used by the wizard and the Node client. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeApiError } from '../../src/core/api-error.js';

test('a refusal that names a known code keeps its code, sentence, retry hint and request id', () => {
  const d = decodeApiError({
    status: 429,
    body: { error: { code: 'rate_limited', message: 'Too many passes from your network.', requestId: 'req-1', retryAfterSeconds: 1500 } },
    retryAfter: '1500',
    requestId: 'req-header',
  });
  assert.deepEqual(d, { code: 'rate_limited', message: 'Too many passes from your network.', retryAfterSeconds: 1500, requestId: 'req-1' });
});

test('the headers fill in what the body does not say', () => {
  const d = decodeApiError({ status: 503, body: { error: { code: 'store_unavailable', message: 'Database down.' } }, retryAfter: '7', requestId: 'req-h' });
  assert.deepEqual(d, { code: 'store_unavailable', message: 'Database down.', retryAfterSeconds: 7, requestId: 'req-h' });
});

test('a code the client does not know is not passed on: the status decides', () => {
  const d = decodeApiError({ status: 418, body: { error: { code: 'teapot', message: 'short and stout' } } });
  assert.equal(d.code, 'http_418');
  assert.equal(d.message, 'short and stout');
});

test('a bare 503 (no code, e.g. a closing server or a proxy) is store_unavailable', () => {
  const d = decodeApiError({ status: 503, body: null });
  assert.deepEqual(d, { code: 'store_unavailable', message: 'The service answered with status 503.', retryAfterSeconds: null, requestId: null });
});

test('other bare statuses get http_<status>; an unusable success answer is bad_response', () => {
  assert.equal(decodeApiError({ status: 502, body: null }).code, 'http_502');
  assert.equal(decodeApiError({ status: 404, body: { error: 'Not Found', statusCode: 404 } }).code, 'http_404', "Fastify's default shape names no code");
  assert.equal(decodeApiError({ status: 200, body: null }).code, 'bad_response');
  assert.equal(decodeApiError({ status: 500, body: 'oops' }).message, 'The service answered with status 500.');
});

test('a Retry-After that is not a positive number of seconds is ignored', () => {
  for (const retryAfter of ['', '0', '-3', 'Wed, 21 Oct 2026 07:28:00 GMT', 'soon', null, undefined]) {
    assert.equal(decodeApiError({ status: 503, body: null, retryAfter }).retryAfterSeconds, null, String(retryAfter));
  }
  assert.equal(decodeApiError({ status: 429, body: { error: { code: 'rate_limited', retryAfterSeconds: 'x' } }, retryAfter: '30' }).retryAfterSeconds, 30, 'a non-number in the body falls back to the header');
});

test('fields of the wrong type in the body are not trusted', () => {
  const d = decodeApiError({ status: 400, body: { error: { code: 42, message: ['x'], requestId: {} } }, requestId: 'req-h' });
  assert.deepEqual(d, { code: 'http_400', message: 'The service answered with status 400.', retryAfterSeconds: null, requestId: 'req-h' });
});
