/**
 * The agent's only view of the control plane: its HTTP API, spoken through
 * the one Node client (src/client/http.ts). Every answer is checked against
 * its schema before use; the credential is sent as a bearer token and never
 * logged.
 */
import type { Static } from '@sinclair/typebox';
import { RegisterGatewayResponse, UpdateDoorsResponse, type RegisterGatewayRequest, type UpdateDoorsRequest } from '../../core/api-schemas.js';
import { FeedResponse, HeartbeatResponse, type HeartbeatRequest } from '../../core/feed-api.js';
import { DammError } from '../../core/errors.js';
import { HttpClient, Unreachable } from '../../client/http.js';
import { readSnapshotStream, type SnapshotStream } from '../../client/snapshot-stream.js';

/** Why a call failed in a way worth retrying (the control plane is down or failing) vs. an answer. */
export { Unreachable };

/** A snapshot of a large deployment is big (~0.7 KB a record, streamed); anything past this is refused. */
const MAX_RESPONSE_BYTES = 256 * 1024 * 1024;
/** Nothing from the control plane for this long in the middle of a snapshot: give up and retry. */
const SNAPSHOT_IDLE_TIMEOUT_MS = 60_000;

export interface ControlPlaneApi {
  register(body: RegisterGatewayRequest): Promise<Static<typeof RegisterGatewayResponse>>;
  feed(after: number, waitSeconds: number, signal?: AbortSignal): Promise<Static<typeof FeedResponse>>;
  /**
   * The scope's records at one revision, streamed: iterate `batches` to the
   * end before treating it as complete (the iteration throws on a stream cut
   * off or inconsistent).
   */
  snapshot(signal?: AbortSignal): Promise<SnapshotStream>;
  heartbeat(body: HeartbeatRequest): Promise<Static<typeof HeartbeatResponse>>;
  /** PUT /v1/gateways/{id}/doors: states this gateway's doors (at every start). */
  updateDoors(body: UpdateDoorsRequest): Promise<Static<typeof UpdateDoorsResponse>>;
  /** GET /v1/trust/root/{n}.json: the root envelope (unverified: the caller verifies), or null past the end of the chain. */
  fetchRoot?(version: number): Promise<unknown | null>;
  close?(): void;
}

/**
 * Keeps its own HttpClient (its own keep-alive agent), so stopping the agent
 * closes its connections for certain: an aborted fetch could leave the global
 * pool opening a fresh, request-less connection, which keeps a control
 * plane's graceful close waiting for its header timeout.
 */
export class HttpControlPlaneApi implements ControlPlaneApi {
  private readonly http: HttpClient;
  gatewayId: string | null = null;
  credential: string | null = null;

  /**
   * `snapshotBatch`: snapshot records handed on per batch (verified, then
   * applied as one backend request while the next batch is verified).
   */
  constructor(
    baseUrl: string,
    timeoutMs = 15_000,
    private readonly snapshotBatch = 1000,
  ) {
    this.http = new HttpClient(baseUrl, { timeoutMs, maxResponseBytes: MAX_RESPONSE_BYTES });
  }

  /** Closes every connection; later calls fail as unreachable. */
  close(): void {
    this.http.close();
  }

  private auth(): { token: string } {
    if (!this.credential) throw new DammError('unauthorized', 'The agent has no gateway credential yet.');
    return { token: this.credential };
  }

  register(body: RegisterGatewayRequest) {
    return this.http.call('POST', '/v1/gateways/register', { schema: RegisterGatewayResponse, body });
  }

  async feed(after: number, waitSeconds: number, signal?: AbortSignal) {
    // The long poll's own wait plus the usual margin.
    const timeoutMs = (waitSeconds + 15) * 1000;
    return this.http.call('GET', `/v1/gateways/${this.gatewayId}/feed?after=${after}&wait=${waitSeconds}`, { schema: FeedResponse, ...this.auth(), timeoutMs, ...(signal ? { signal } : {}) });
  }

  async snapshot(signal?: AbortSignal): Promise<SnapshotStream> {
    const r = await this.http.stream('GET', `/v1/gateways/${this.gatewayId}/snapshot`, { ...this.auth(), timeoutMs: SNAPSHOT_IDLE_TIMEOUT_MS, ...(signal ? { signal } : {}) });
    return readSnapshotStream(r.body, { batchSize: this.snapshotBatch });
  }

  async heartbeat(body: HeartbeatRequest) {
    return this.http.call('POST', `/v1/gateways/${this.gatewayId}/heartbeat`, { schema: HeartbeatResponse, ...this.auth(), body });
  }

  async updateDoors(body: UpdateDoorsRequest) {
    return this.http.call('PUT', `/v1/gateways/${this.gatewayId}/doors`, { schema: UpdateDoorsResponse, ...this.auth(), body });
  }

  async fetchRoot(version: number): Promise<unknown | null> {
    try {
      return await this.http.call('GET', `/v1/trust/root/${version}.json`);
    } catch (err) {
      if (err instanceof DammError && err.details?.['status'] === 404) return null; // the chain ends here
      throw err;
    }
  }
}
