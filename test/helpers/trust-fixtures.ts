/** Shared fixtures for the trust tests: a fixed clock origin and deterministic keys. */
import { sha256 } from '@noble/hashes/sha2.js';
import { utf8 } from '../../src/core/bytes.js';
import { PAYLOAD_TYPES, signEnvelope, signingKeyFromSeed, type Envelope, type SigningKey } from '../../src/core/envelope.js';
import type { CatalogBody } from '../../src/core/trust/verify.js';

export const T0 = new Date('2026-06-01T00:00:00.000Z');
export const MIN = 60_000;
export const DAY = 86_400_000;
export const at = (ms: number): Date => new Date(T0.getTime() + ms);
/** The same label always gives the same key, so failures are reproducible. */
export const key = (label: string): SigningKey => signingKeyFromSeed(sha256(utf8.encode(`damm-test:${label}`)));

/** Catalog signing as the control plane does it (core/catalog.ts signCatalog): the JSON bytes in a catalog envelope. */
export const signCatalog = (c: CatalogBody, keys: SigningKey[]): Envelope => signEnvelope(PAYLOAD_TYPES.catalog, utf8.encode(JSON.stringify(c)), keys);
