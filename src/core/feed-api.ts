/**
 * Messages between a gateway agent and the control plane after
 * registration: the change feed, the snapshot, the heartbeat. One schema per
 * message, used by the control plane's routes (validation, OpenAPI) and by
 * the agent to check every answer before using it.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Strict, Uuid, WgPublicKey, SignedEnvelope } from './api-schemas.js';
import { MAX_LANES } from './doors.js';

export const GatewayIdParams = Strict({ id: Uuid });

/** Longest a feed long poll is held open with nothing to say; the server's socket idle timeout must exceed it. */
export const FEED_MAX_WAIT_SECONDS = 25;

export const FeedQuery = Strict({
  after: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'Return events after this revision' }),
  wait: Type.Optional(Type.Integer({ minimum: 0, maximum: FEED_MAX_WAIT_SECONDS, default: FEED_MAX_WAIT_SECONDS, description: 'Seconds to hold the request open while there is nothing new' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 5000, default: 5000 })),
});
export type FeedQuery = Static<typeof FeedQuery>;

export const FeedEvent = Strict({
  revision: Type.Integer({ minimum: 1 }),
  deviceId: Uuid,
  kind: Type.Union([Type.Literal('upsert'), Type.Literal('remove')]),
  envelope: SignedEnvelope,
});
export type FeedEvent = Static<typeof FeedEvent>;

export const FeedResponse = Strict({
  /** Resume after this revision next time. Every revision up to it is final. */
  revision: Type.Integer({ minimum: 0 }),
  events: Type.Array(FeedEvent),
});
export type FeedResponse = Static<typeof FeedResponse>;

/*
 * The snapshot is NDJSON (`application/x-ndjson`): one JSON object per line,
 * so both ends handle it a line at a time (a 100k-record scope is ~70 MB;
 * built or parsed whole it cost the control plane ~430 MB and the agent more).
 *
 *   {"revision":R}                                          first line: the revision it is consistent at
 *   {"revision":r,"deviceId":"…","envelope":{…}}            one line per record, r <= R, in revision order
 *   {"complete":true,"revision":R,"count":N}               last line: how many records came before it
 *
 * A stream that ends without the last line, or whose count or revision does
 * not match, is incomplete and must be refused whole: the server cuts the
 * connection when it fails mid-stream, and a proxy may cut it too.
 */
export const SNAPSHOT_CONTENT_TYPE = 'application/x-ndjson';

export const SnapshotHeader = Strict({ revision: Type.Integer({ minimum: 0, description: 'First line: the feed revision this snapshot is consistent at; resume the feed after it' }) });
export type SnapshotHeader = Static<typeof SnapshotHeader>;

export const SnapshotRecord = Strict({ revision: Type.Integer({ minimum: 1 }), deviceId: Uuid, envelope: SignedEnvelope });
export type SnapshotRecord = Static<typeof SnapshotRecord>;

export const SnapshotTrailer = Strict({
  complete: Type.Literal(true, { description: 'Last line: the snapshot is complete' }),
  revision: Type.Integer({ minimum: 0, description: 'The same revision as the first line' }),
  count: Type.Integer({ minimum: 0, description: 'How many record lines came before this one' }),
});
export type SnapshotTrailer = Static<typeof SnapshotTrailer>;

/** What the OpenAPI document shows for the snapshot: the three kinds of line. */
export const SnapshotLine = Type.Union([SnapshotHeader, SnapshotRecord, SnapshotTrailer], {
  description: 'NDJSON: one of these objects per line; the first line is the header, the last the trailer, records in between.',
});

/** Longest snapshot line a reader accepts (a record is under 1 KB). */
export const MAX_SNAPSHOT_LINE_BYTES = 64 * 1024;

export const MAX_HEARTBEAT_PEERS = 10_000;

export const HeartbeatRequest = Strict({
  seq: Type.Optional(Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER, description: 'Increasing per gateway; a resent heartbeat is not counted twice' })),
  peers: Type.Array(
    Strict({
      publicKey: WgPublicKey,
      rxDelta: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
      txDelta: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
    }),
    { maxItems: MAX_HEARTBEAT_PEERS },
  ),
  doors: Type.Optional(
    Type.Array(
      Strict({
        lane: Type.Integer({ minimum: 0, maximum: MAX_LANES - 1 }),
        up: Type.Boolean({ description: 'The interface answered a read-back with its own key' }),
        listening: Type.Boolean({ description: 'It is bound to its configured listen port' }),
        peers: Type.Integer({ minimum: 0, maximum: 10_000_000 }),
      }),
      { maxItems: MAX_LANES, description: "Each lane's health; the posture answer and `damm gateway list` show it" },
    ),
  ),
});
export type HeartbeatRequest = Static<typeof HeartbeatRequest>;

export const HeartbeatResponse = Strict({
  counted: Type.Boolean(),
  devices: Type.Integer({ minimum: 0 }),
  suspended: Type.Integer({ minimum: 0 }),
});
export type HeartbeatResponse = Static<typeof HeartbeatResponse>;
