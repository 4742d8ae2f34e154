/**
 * String format checks shared by TypeBox's format registry (formats.ts) and
 * by code that must run without TypeBox (the browser wizard's catalog check).
 * Pure and dependency-free.
 */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isDateTime(v: string): boolean {
  return DATE_TIME.test(v) && !Number.isNaN(Date.parse(v));
}

export function isUuid(v: string): boolean {
  return UUID.test(v);
}

/** Install passes and invites: opaque bearer tokens (the API schema and the wizard both use this). */
export const PASS_TOKEN_PATTERN = '^dp_[A-Za-z0-9_-]{22,64}$';
