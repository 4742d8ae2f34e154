/**
 * Published root documents, kept in Postgres (table trust_roots, migration
 * 0003) so every control-plane process serves the same chain and a backup of
 * the database carries them.
 *
 * The store never accepts a root that a client would refuse: version 1 must
 * carry a threshold of its own root keys, and every later version must pass
 * the same `verifyNextRoot` step clients run (signed by a threshold of the
 * previous root's keys AND of its own, exactly N+1).
 */
import type { Envelope } from '../../core/envelope.js';
import { DammError } from '../../core/errors.js';
import { envelopePayloadSha256, trustRoot, verifyNextRoot, walkRootChain, type VerifiedRoot } from '../../core/trust/index.js';
import { withTx, type Db, type Queryable } from '../../store/db.js';
import { audit } from '../../store/audit.js';

/** Serialises root publication across processes (and with migrations' lock id space kept apart). */
const ROOT_PUBLISH_LOCK = 0x44414d52; // "DAMR"

export interface PublishedRoot {
  version: number;
  envelope: Envelope;
  /** The exact JSON text published at /v1/trust/root/{version}.json. */
  text: string;
  payloadSha256: string;
  issuedAt: Date;
  expiresAt: Date;
  publishedAt: Date;
  publishedBy: string;
}

interface Row {
  version: number;
  envelope: string;
  payload_sha256: string;
  issued_at: Date;
  expires_at: Date;
  published_at: Date;
  published_by: string;
}

function toPublished(r: Row): PublishedRoot {
  return {
    version: r.version,
    envelope: JSON.parse(r.envelope) as Envelope,
    text: r.envelope,
    payloadSha256: r.payload_sha256,
    issuedAt: r.issued_at,
    expiresAt: r.expires_at,
    publishedAt: r.published_at,
    publishedBy: r.published_by,
  };
}

export async function latestRootVersion(q: Queryable): Promise<number> {
  const r = await q.query<{ v: number | null }>('SELECT max(version) AS v FROM trust_roots');
  return r.rows[0]?.v ?? 0;
}

export async function getRoot(q: Queryable, version: number): Promise<PublishedRoot | null> {
  const r = await q.query<Row>('SELECT * FROM trust_roots WHERE version = $1', [version]);
  return r.rows[0] ? toPublished(r.rows[0]) : null;
}

export async function latestRoot(q: Queryable): Promise<PublishedRoot | null> {
  const r = await q.query<Row>('SELECT * FROM trust_roots ORDER BY version DESC LIMIT 1');
  return r.rows[0] ? toPublished(r.rows[0]) : null;
}

export async function listRoots(q: Queryable, opts: { after?: number } = {}): Promise<PublishedRoot[]> {
  const r = await q.query<Row>('SELECT * FROM trust_roots WHERE version > $1 ORDER BY version', [opts.after ?? 0]);
  return r.rows.map(toPublished);
}

export function payloadSha256Of(envelope: Envelope): string {
  const sha = envelopePayloadSha256(envelope);
  if (sha === null) throw new DammError('signature_invalid', 'Root envelope payload is not valid base64.');
  return sha;
}

/**
 * Verifies the whole published chain from version 1 (optionally pinned) to
 * the latest, exactly as a client that pinned root 1 would. Expiry of the
 * final root is not checked here; callers decide what an expired root means.
 */
export async function loadVerifiedChain(q: Queryable, opts: { pinnedSha256?: string } = {}): Promise<VerifiedRoot | null> {
  const roots = await listRoots(q);
  if (roots.length === 0) return null;
  return verifyPublishedChain(roots, opts);
}

export function verifyPublishedChain(roots: PublishedRoot[], opts: { pinnedSha256?: string; from?: VerifiedRoot } = {}): VerifiedRoot {
  let start = opts.from ?? null;
  if (start === null) {
    const first = roots[0];
    if (!first) throw new DammError('trust_invalid', 'No root is published.');
    if (first.version !== 1) throw new DammError('trust_invalid', `The published root chain starts at version ${first.version}, not 1.`);
    start = trustRoot(first.envelope, opts.pinnedSha256 ? { pinnedSha256: opts.pinnedSha256 } : {});
  }
  const from = start.version;
  // The same walk every client runs (core's walkRootChain), over the whole chain: a root the store holds is one a client would accept.
  const walk = walkRootChain(start, roots.filter((r) => r.version > from).map((r) => r.envelope), { maxWalk: Number.MAX_SAFE_INTEGER });
  if (walk.failure !== null) throw walk.failure;
  return walk.root;
}

/**
 * Publishes a signed root as the next version. Refuses anything a client
 * would refuse, and a version other than latest+1 (two operators rotating at
 * once: the second must re-run against the new latest). In the same
 * transaction the current catalog is marked for re-signing, so the next
 * request (or the key-ring reload in every process) signs with the keys this
 * root certifies.
 */
export async function publishRoot(
  db: Db,
  envelope: Envelope,
  opts: { actor: string; now: Date; expectVersion?: number },
): Promise<VerifiedRoot> {
  return withTx(db, async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1)', [ROOT_PUBLISH_LOCK]);
    const roots = await listRoots(tx);
    let verified: VerifiedRoot;
    if (roots.length === 0) {
      verified = trustRoot(envelope);
      if (verified.version !== 1) throw new DammError('trust_invalid', `The first published root must be version 1, not ${verified.version}.`);
    } else {
      const latest = verifyPublishedChain(roots);
      if (opts.expectVersion !== undefined && opts.expectVersion !== latest.version + 1) {
        throw new DammError('conflict', `Root version ${latest.version} was published meanwhile; run the command again.`);
      }
      verified = verifyNextRoot(latest, envelope);
    }
    const text = JSON.stringify(envelope);
    await tx.query(
      'INSERT INTO trust_roots (version, envelope, payload_sha256, issued_at, expires_at, published_at, published_by) VALUES ($1, $2, $3, $4, $5, $6, $7)',
      [verified.version, text, verified.payloadSha256, verified.issuedAt, verified.expiresAt, opts.now, opts.actor],
    );
    await markCatalogForResign(tx, `root-${verified.version}`);
    await audit(tx, {
      at: opts.now,
      actor: opts.actor,
      action: 'trust.root_published',
      subject: `root:${verified.version}`,
      details: {
        payloadSha256: verified.payloadSha256,
        expiresAt: verified.document.expiresAt,
        catalogKeys: verified.document.roles.catalog.keyids.map((k) => k.slice(0, 16)),
        admissionKeys: verified.document.roles.admission.keyids.map((k) => k.slice(0, 16)),
        rootKeys: verified.document.roles.root.keyids.map((k) => k.slice(0, 16)),
        rootThreshold: verified.document.roles.root.threshold,
      },
    });
    return verified;
  });
}

/**
 * Makes the next `currentCatalog()` call sign a new version: the stored
 * digest no longer matches the front doors, which is exactly the condition
 * the catalog service re-signs on.
 */
export async function markCatalogForResign(q: Queryable, reason: string): Promise<void> {
  await q.query('UPDATE catalog_state SET doors_digest = $1 WHERE id = 1', [`resign:${reason}`]);
}
