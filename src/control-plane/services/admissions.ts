/**
 * Admission records on the control-plane side: signed inside the transaction
 * that admits or removes a device (so the feed event commits atomically with
 * the change), renewed by a background job before they expire, and re-issued
 * at once when the key ring drops an admission key they were signed with.
 * The services that change devices call deviceAdmitted/deviceRemoved
 * (ctx.admissions); the feed rows themselves are written by src/store/feed.ts.
 */
import {
  ADMISSION_VALIDITY_SECONDS,
  admissionRecordFor,
  revocationRecordFor,
  signRecord,
} from '../../core/admission.js';
import { nodeEd25519 } from '../../platform/node-ed25519.js';
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.js';
import { withTx, type Db, type Tx } from '../../store/db.js';
import { expireAdmissions, insertAdmission, insertRemoval, insertRenewals, type NewFeedEvent } from '../../store/feed.js';
import { audit } from '../../store/audit.js';
import { periodStartOf } from '../../store/usage.js';
import { DEVICE_COLUMNS } from './devices.js';
import type { Admissions, DeviceRow } from '../context.js';
import type { KeyRing } from '../keyring.js';
import type { FeedService } from './feed.js';

export interface AdmissionDeps {
  db: Db;
  keys: KeyRing;
  clock: Clock;
  log: Logger;
  /** Told about every transaction that wrote feed events, so it sequences them after COMMIT. */
  feed: FeedService;
}

export interface AdmissionOptions {
  validitySeconds?: number;
  /** Renew records ending within this window (default a third of the validity). */
  renewBeforeSeconds?: number;
  renewIntervalMs?: number;
  renewBatch?: number;
}

export class AdmissionIssuer implements Admissions {
  private readonly ed = nodeEd25519();
  readonly validitySeconds: number;
  readonly renewBeforeSeconds: number;
  private readonly renewIntervalMs: number;
  private readonly renewBatch: number;
  private timer: NodeJS.Timeout | null = null;
  private renewing: Promise<unknown> | null = null;
  private unsubscribe: (() => void) | null = null;

  constructor(
    private readonly deps: AdmissionDeps,
    opts: AdmissionOptions = {},
  ) {
    this.validitySeconds = opts.validitySeconds ?? ADMISSION_VALIDITY_SECONDS;
    this.renewBeforeSeconds = opts.renewBeforeSeconds ?? Math.floor(this.validitySeconds / 3);
    this.renewIntervalMs = opts.renewIntervalMs ?? 60_000;
    this.renewBatch = opts.renewBatch ?? 500;
  }

  private admissionEvent(d: DeviceRow, now: Date): NewFeedEvent {
    const record = admissionRecordFor({ id: d.id, publicKey: d.public_key, ipv4: d.ipv4, ipv6: d.ipv6, scope: d.scope }, now, this.validitySeconds);
    return { scope: d.scope, deviceId: d.id, kind: 'upsert', envelope: signRecord(record, this.deps.keys.signers('admission'), this.ed) };
  }

  private removalEvent(d: DeviceRow, now: Date, reason: string): NewFeedEvent {
    const record = revocationRecordFor({ id: d.id, publicKey: d.public_key, scope: d.scope }, now);
    return { scope: d.scope, deviceId: d.id, kind: 'remove', envelope: signRecord(record, this.deps.keys.signers('admission'), this.ed), reason };
  }

  /** Called inside the transaction that admitted the device (enrolled, reinstated). */
  async deviceAdmitted(tx: Tx, device: DeviceRow): Promise<void> {
    const now = this.deps.clock.now();
    await insertAdmission(tx, this.admissionEvent(device, now), new Date(now.getTime() + this.validitySeconds * 1000));
    this.deps.feed.wrote(tx);
  }

  /** Called inside the transaction that removed the device (revoked, suspended). */
  async deviceRemoved(tx: Tx, device: DeviceRow, reason: string): Promise<void> {
    await insertRemoval(tx, this.removalEvent(device, this.deps.clock.now(), reason));
    this.deps.feed.wrote(tx);
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
    const expired = await expireAdmissions(this.deps.db, this.deps.clock.now());
    const n = await this.renewDue();
    this.deps.log.warn({ reason, expired, reissued: n }, 'admission records re-issued after an admission key was dropped');
    return n;
  }

  /** Re-issues records of active devices that end within the renewal window. Returns how many were renewed. */
  async renewDue(): Promise<number> {
    let total = 0;
    for (;;) {
      const now = this.deps.clock.now();
      const n = await withTx(this.deps.db, async (tx: Tx) => {
        // Device rows are locked first (as revocation and suspension do), and
        // rows another process is renewing are skipped.
        const r = await tx.query<DeviceRow>(
          `SELECT ${DEVICE_COLUMNS} FROM devices
           WHERE state = 'active' AND id IN (SELECT device_id FROM admissions WHERE not_after < $1 ORDER BY not_after LIMIT $2)
           FOR UPDATE SKIP LOCKED`,
          [new Date(now.getTime() + this.renewBeforeSeconds * 1000), this.renewBatch],
        );
        if (r.rows.length === 0) return 0;
        await insertRenewals(tx, r.rows.map((d) => this.admissionEvent(d, now)), new Date(now.getTime() + this.validitySeconds * 1000));
        this.deps.feed.wrote(tx);
        return r.rows.length;
      });
      total += n;
      if (n < this.renewBatch) return total;
    }
  }

  /**
   * Devices suspended for exceeding their quota in an earlier usage period
   * come back when a new period starts: state active, a fresh admission
   * record on the feed (deviceAdmitted), an audit entry.
   * Only quota suspensions (state_reason "quota exceeded: ...") are undone.
   */
  async reinstateQuotaSuspended(): Promise<string[]> {
    const now = this.deps.clock.now();
    const period = periodStartOf(now);
    return withTx(this.deps.db, async (tx: Tx) => {
      const r = await tx.query<DeviceRow>(
        `UPDATE devices SET state = 'active', state_reason = NULL, state_changed_at = $2
         WHERE id IN (SELECT id FROM devices WHERE state = 'suspended' AND state_reason LIKE 'quota exceeded:%' AND state_changed_at < $1
                      ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED)
         RETURNING ${DEVICE_COLUMNS}`,
        [period, now, this.renewBatch],
      );
      for (const d of r.rows) {
        await audit(tx, { at: now, actor: 'system:usage', action: 'device.reinstated', subject: `device:${d.id}`, details: { reason: `new usage period from ${period.toISOString().slice(0, 10)}` } });
        await this.deviceAdmitted(tx, d);
      }
      return r.rows.map((d) => d.id);
    });
  }

  private async backgroundPass(): Promise<void> {
    const back = await this.reinstateQuotaSuspended();
    if (back.length > 0) this.deps.log.info({ reinstated: back.length }, 'devices suspended for quota reinstated: a new usage period started');
    const n = await this.renewDue();
    if (n > 0) this.deps.log.info({ renewed: n }, 'admission records renewed');
  }

  start(): void {
    // A root that dropped an admission key this process signed with (revoked,
    // lost): live records re-issued under the new key at once, not at renewal.
    this.unsubscribe = this.deps.keys.onChange(async (change) => {
      const dropped = change.droppedSigners.filter((k) => k.role === 'admission');
      if (dropped.length === 0) return;
      await this.reissueAll(`root v${change.version} dropped admission key(s) ${dropped.map((k) => k.keyid.slice(0, 16)).join(', ')}`);
    });
    this.timer = setInterval(() => {
      if (this.renewing) return;
      this.renewing = this.backgroundPass()
        .catch((err) => this.deps.log.warn({ err }, 'admission renewal failed'))
        .finally(() => (this.renewing = null));
    }, this.renewIntervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    if (this.timer) clearInterval(this.timer);
    await this.renewing;
  }
}
