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

export const SnapshotResponse = Strict({
  /** The feed revision this snapshot is consistent at. */
  revision: Type.Integer({ minimum: 0 }),
  records: Type.Array(Strict({ revision: Type.Integer({ minimum: 1 }), deviceId: Uuid, envelope: SignedEnvelope })),
});
export type SnapshotResponse = Static<typeof SnapshotResponse>;

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
