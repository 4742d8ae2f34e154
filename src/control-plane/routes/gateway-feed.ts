/**
 * Gateway-facing routes after registration: the change feed (long poll), the
 * snapshot, and the heartbeat with meter readings. Every call carries the
 * gateway's own credential, and a gateway may only use its own id.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import * as S from '../../core/api-schemas.js';
import * as F from '../../core/feed-api.js';
import { DammError } from '../../core/errors.js';
import { readFeed, SnapshotCursor } from '../../store/feed.js';
import { authenticateGateway, scopeOf, updateDoors, type GatewayRow } from '../services/gateways.js';
import { recordHeartbeat } from '../services/usage.js';
import type { Ctx } from '../context.js';
import { Readable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';

/** Records fetched from the cursor per round trip: about 0.7 MB of envelopes, the most the control plane holds at once. */
const SNAPSHOT_FETCH_ROWS = 1000;

/**
 * The snapshot's NDJSON text, one cursor batch per chunk. The envelopes are
 * written as stored (jsonb text), never parsed: they are signed bytes inside
 * and the agent verifies them. Pulled by the reply's backpressure, so a slow
 * gateway holds a batch, not the scope. A failure throws mid-stream and the
 * connection is cut (no trailer line: the agent refuses what it got).
 */
async function* snapshotLines(cursor: SnapshotCursor, log: FastifyBaseLogger): AsyncGenerator<string> {
  let count = 0;
  try {
    yield `{"revision":${cursor.revision}}\n`;
    for (let b = await cursor.next(SNAPSHOT_FETCH_ROWS); b.count > 0; b = await cursor.next(SNAPSHOT_FETCH_ROWS)) {
      count += b.count;
      yield b.text;
    }
  } catch (err) {
    log.warn({ err: err instanceof Error ? err.message : String(err), revision: cursor.revision, sent: count }, 'snapshot stream failed; cutting the connection');
    throw err;
  } finally {
    await cursor.close();
  }
  yield `{"complete":true,"revision":${cursor.revision},"count":${count}}\n`;
}

const errors = { 400: S.ErrorBody, 401: S.ErrorBody, 403: S.ErrorBody };
const security = [{ gateway: [] }];

function bearer(header: string | undefined): string | undefined {
  const m = /^Bearer (\S+)$/.exec(header ?? '');
  return m?.[1];
}

export const gatewayFeedRoutes = (ctx: Ctx): FastifyPluginAsyncTypebox => async (app) => {
  const { feed } = ctx;
  app.decorateRequest('gateway', null);
  app.addHook('onRequest', async (request) => {
    const gw = await authenticateGateway(ctx.db, bearer(request.headers.authorization));
    const id = (request.params as { id?: string }).id;
    if (gw.id !== id) throw new DammError('forbidden', 'A gateway may only use its own feed, snapshot, doors and heartbeat.');
    (request as unknown as { gateway: GatewayRow }).gateway = gw;
  });
  const gatewayOf = (request: unknown) => (request as { gateway: GatewayRow }).gateway;

  app.get('/:id/feed', {
    schema: {
      summary: 'Admission and revocation events for this gateway after a revision (long poll)',
      description:
        'Answers at once when there are events after `after`, else holds the request up to `wait` seconds. ' +
        '`revision` in the answer is the cursor for the next call. A cursor older than the retained feed ' +
        '(or newer than the store) gets 410 cursor_expired: take GET /snapshot and resume from its revision.',
      tags: ['gateway'],
      security,
      params: F.GatewayIdParams,
      querystring: F.FeedQuery,
      response: { 200: F.FeedResponse, 410: S.ErrorBody, ...errors },
    },
  }, async (request, reply) => {
    const scope = scopeOf(gatewayOf(request).region);
    const { after } = request.query;
    const limit = request.query.limit ?? 5000;
    const deadline = Date.now() + (request.query.wait ?? 25) * 1000;
    const abort = new AbortController();
    request.raw.once('close', () => abort.abort());
    for (;;) {
      const r = await readFeed(ctx.db, scope, after, limit);
      if (r.expired) {
        throw new DammError('cursor_expired', `Cursor ${after} is outside the feed the store holds (retained after ${r.prunedThrough}, head ${r.head}); take a snapshot.`);
      }
      ctx.metrics.feedHead.set(r.head);
      ctx.metrics.feedLag.set({ gateway: gatewayOf(request).id }, Math.max(0, r.head - after));
      const remaining = deadline - Date.now();
      if (feed.stopping) {
        // Shutting down: answer now and close the connection, so the server's close does not wait on it.
        void reply.header('connection', 'close');
        return { revision: r.revision, events: r.events };
      }
      if (r.events.length > 0 || remaining <= 0 || abort.signal.aborted) {
        return { revision: r.revision, events: r.events };
      }
      // Re-read at least every few seconds even without a wake-up, in case LISTEN is down.
      await feed.waitForChange(r.head, Math.min(remaining, 5000), abort.signal);
    }
  });

  app.get('/:id/snapshot', {
    schema: {
      summary: 'Every current admission record of this gateway\'s scope, and the feed revision it is consistent at (NDJSON, streamed)',
      description:
        'application/x-ndjson, one JSON object per line: first `{"revision":R}` (resume the feed after R), then one ' +
        '`{"revision","deviceId","envelope"}` per record in revision order, last `{"complete":true,"revision":R,"count":N}`. ' +
        'Streamed from one database snapshot at R. A failure mid-stream cuts the connection: a stream without its last line, ' +
        'or whose count or revision differ, is incomplete and must be discarded whole. 503 store_unavailable before the first line.',
      tags: ['gateway'],
      security,
      params: F.GatewayIdParams,
      response: { 200: { description: 'NDJSON lines', content: { [F.SNAPSHOT_CONTENT_TYPE]: { schema: F.SnapshotLine } } }, 503: S.ErrorBody, ...errors },
    },
  }, async (request, reply) => {
    // Opened before the first byte: a store that is down now is a 503 with a code, not a cut stream.
    const cursor = await SnapshotCursor.open(ctx.db, scopeOf(gatewayOf(request).region));
    // However the reply ends (done, failed, client gone), the connection goes back to the pool;
    // a gateway that left while the cursor opened fires no 'close' any more (its socket is already gone).
    reply.raw.once('close', () => void cursor.close());
    if (request.raw.socket.destroyed) void cursor.close();
    const body = Readable.from(snapshotLines(cursor, request.log), { objectMode: false, highWaterMark: 64 * 1024 });
    // A stream: the typed reply knows only the JSON shapes of the lines.
    return reply.type(F.SNAPSHOT_CONTENT_TYPE).send(body as never);
  });

  app.put('/:id/doors', {
    schema: {
      summary: "State this gateway's doors (the agent does at every start); a change re-signs the catalog",
      description:
        'The same doors as at registration: one entry per lane (WireGuard-family interface), lane 0 plain WireGuard, a key per lane, ' +
        'no UDP port twice on one host. Unchanged doors change nothing; changed ones appear in the next catalog version.',
      tags: ['gateway'],
      security,
      params: F.GatewayIdParams,
      body: S.UpdateDoorsRequest,
      response: { 200: S.UpdateDoorsResponse, 409: S.ErrorBody, ...errors },
    },
  }, async (request) => updateDoors(ctx, gatewayOf(request).id, request.body));

  app.post('/:id/heartbeat', {
    bodyLimit: 4 * 1024 * 1024,
    schema: {
      summary: "Liveness, each lane's health, and per-peer byte deltas (summed over the gateway's lanes) since the last counted heartbeat",
      tags: ['gateway'],
      security,
      params: F.GatewayIdParams,
      body: F.HeartbeatRequest,
      response: { 200: F.HeartbeatResponse, ...errors },
    },
  }, async (request) => {
    const r = await recordHeartbeat(ctx, gatewayOf(request), request.body);
    return { counted: r.counted, devices: r.devices, suspended: r.suspended.length };
  });
};
