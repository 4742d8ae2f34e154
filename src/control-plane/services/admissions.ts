/**
 * Admission records on the control-plane side: signed inside the transaction
 * that admits or removes a device (so the feed event commits atomically with
 * the change), and renewed by a background job before they expire.
 */
import {
  ADMISSION_VALIDITY_SECONDS,
  admissionRecordFor,
  revocationRecordFor,
  signRecord,
} from '../../core/admission.js';
import { nodeEd25519 } from '../../platform/node-ed25519.js';
import { withTx, type Tx } from '../../store/db.js';
import { insertFeedEvents, type NewFeedEvent } from '../../store/feed.js';
import { audit } from '../../store/audit.js';
import { periodStartOf } from '../../store/usage.js';
import { DEVICE_COLUMNS } from './devices.js';
import type { Ctx, DeviceChangeListener, DeviceRow } from '../context.js';
import type { FeedService } from './feed.js';

export interface AdmissionOptions {
  validitySeconds?: number;
  /** Renew records ending within this window (default a third of the validity). */
  renewBeforeSeconds?: number;
  renewIntervalMs?: number;
  renewBatch?: number;
}

export class AdmissionIssuer {
  private readonly ed = nodeEd25519();
  readonly validitySeconds: number;
  readonly renewBeforeSeconds: number;
  private readonly renewIntervalMs: number;
  private readonly renewBatch: number;
  private timer: NodeJS.Timeout | null = null;
  private renewing: Promise<unknown> | null = null;

  constructor(
    private readonly ctx: Ctx,
    private readonly feed: FeedService,
    opts: AdmissionOptions = {},
  ) {
    this.validitySeconds = opts.validitySeconds ?? ADMISSION_VALIDITY_SECONDS;
    this.renewBeforeSeconds = opts.renewBeforeSeconds ?? Math.floor(this.validitySeconds / 3);
    this.renewIntervalMs = opts.renewIntervalMs ?? 60_000;
    this.renewBatch = opts.renewBatch ?? 500;
  }

  private admissionEvent(d: DeviceRow, now: Date): NewFeedEvent {
    const record = admissionRecordFor({ id: d.id, publicKey: d.public_key, ipv4: d.ipv4, ipv6: d.ipv6, scope: d.scope }, now, this.validitySeconds);
    return { scope: d.scope, deviceId: d.id, kind: 'upsert', envelope: signRecord(record, this.ctx.keys.signers('admission'), this.ed) };
  }

  private removalEvent(d: DeviceRow, now: Date, reason: string): NewFeedEvent {
    const record = revocationRecordFor({ id: d.id, publicKey: d.public_key, scope: d.scope }, now);
    return { scope: d.scope, deviceId: d.id, kind: 'remove', envelope: signRecord(record, this.ctx.keys.signers('admission'), this.ed), reason };
  }

  listener(): DeviceChangeListener {
    return {
      deviceAdmitted: async (tx, device) => {
        const now = this.ctx.clock.now();
        const ev = this.admissionEvent(device, now);
        // The feed event and the expiry row in one statement (one round trip).
        await tx.query(
          `WITH f AS (INSERT INTO feed_events (scope, device_id, kind, envelope) VALUES ($1, $2, 'upsert', $3))
           INSERT INTO admissions (device_id, scope, not_after) VALUES ($2, $1, $4)`,
          [ev.scope, ev.deviceId, JSON.stringify(ev.envelope), new Date(now.getTime() + this.validitySeconds * 1000)],
        );
        this.feed.wrote(tx);
      },
      deviceRemoved: async (tx, device, reason) => {
        await insertFeedEvents(tx, [this.removalEvent(device, this.ctx.clock.now(), reason)]);
        await tx.query('DELETE FROM admissions WHERE device_id = $1', [device.id]);
        this.feed.wrote(tx);
      },
    };
  }

  /**
   * After a root update dropped an admission key this process signed with
   * (revoked or lost): every live record may carry only that key's signature,
   * which gateways stop accepting on their next root update. Ends all current
   * admissions now and renews them at once, so the re-issued records (signed
   * with the keys the new root certifies) reach the feed within seconds rather
   * than on the renewal schedule. With several control-plane processes each
   * one does this when it reloads; the second pass only re-issues again.
   */
  async reissueAll(reason: string): Promise<number> {
    const now = this.ctx.clock.now();
    const r = await this.ctx.db.query('UPDATE admissions SET not_after = $1 WHERE not_after > $1', [now]);
    const n = await this.renewDue();
    this.ctx.log.warn({ reason, expired: r.rowCount ?? 0, reissued: n }, 'admission records re-issued after an admission key was dropped');
    return n;
  }

  /** Re-issues records of active devices that end within the renewal window. Returns how many were renewed. */
  async renewDue(): Promise<number> {
    let total = 0;
    for (;;) {
      const now = this.ctx.clock.now();
      const n = await withTx(this.ctx.db, async (tx: Tx) => {
        // Device rows are locked first (as revocation and suspension do), and
        // rows another process is renewing are skipped.
        const r = await tx.query<DeviceRow>(
          `SELECT ${DEVICE_COLUMNS} FROM devices
           WHERE state = 'active' AND id IN (SELECT device_id FROM admissions WHERE not_after < $1 ORDER BY not_after LIMIT $2)
           FOR UPDATE SKIP LOCKED`,
          [new Date(now.getTime() + this.renewBeforeSeconds * 1000), this.renewBatch],
        );
        if (r.rows.length === 0) return 0;
        await insertFeedEvents(tx, r.rows.map((d) => this.admissionEvent(d, now)));
        await tx.query('UPDATE admissions SET not_after = $2 WHERE device_id = ANY($1::uuid[])', [
          r.rows.map((d) => d.id),
          new Date(now.getTime() + this.validitySeconds * 1000),
        ]);
        this.feed.wrote(tx);
        return r.rows.length;
      });
      total += n;
      if (n < this.renewBatch) return total;
    }
  }

  /**
   * Devices suspended for exceeding their quota in an earlier usage period
   * come back when a new period starts: state active, a fresh admission
   * record on the feed (the listeners' deviceAdmitted), an audit entry.
   * Only quota suspensions (state_reason "quota exceeded: ...") are undone.
   */
  async reinstateQuotaSuspended(): Promise<string[]> {
    const now = this.ctx.clock.now();
    const period = periodStartOf(now);
    return withTx(this.ctx.db, async (tx: Tx) => {
      const r = await tx.query<DeviceRow>(
        `UPDATE devices SET state = 'active', state_reason = NULL, state_changed_at = $2
         WHERE id IN (SELECT id FROM devices WHERE state = 'suspended' AND state_reason LIKE 'quota exceeded:%' AND state_changed_at < $1
                      ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
         RETURNING ${DEVICE_COLUMNS}`,
        [period, now, this.renewBatch],
      );
      for (const d of r.rows) {
        await audit(tx, { at: now, actor: 'system:usage', action: 'device.reinstated', subject: `device:${d.id}`, details: { reason: `new usage period from ${period.toISOString().slice(0, 10)}` } });
        for (const l of this.ctx.deviceListeners) await l.deviceAdmitted(tx, d);
      }
      return r.rows.map((d) => d.id);
    });
  }

  private async backgroundPass(): Promise<void> {
    const back = await this.reinstateQuotaSuspended();
    if (back.length > 0) this.ctx.log.info({ reinstated: back.length }, 'devices suspended for quota reinstated: a new usage period started');
    const n = await this.renewDue();
    if (n > 0) this.ctx.log.info({ renewed: n }, 'admission records renewed');
  }

  start(): void {
    this.timer = setInterval(() => {
      if (this.renewing) return;
      this.renewing = this.backgroundPass()
        .catch((err) => this.ctx.log.warn({ err }, 'admission renewal failed'))
        .finally(() => (this.renewing = null));
    }, this.renewIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.renewing;
  }
}
