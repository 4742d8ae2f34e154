/**
 * The one error type that crosses DAMM's module boundaries.
 *
 * Every failure a caller can act on has a stable machine-readable `code`, a
 * sentence a person can read, and (optionally) the underlying cause. HTTP
 * status is derived from the code in exactly one place (`httpStatusFor`), so
 * routes never pick status numbers themselves.
 */
export const ERROR_CODES = {
  // 400: the request itself is wrong
  invalid_request: 400,
  invalid_public_key: 400,
  invalid_argument: 400,
  // 401/403: who you are / what you may do
  unauthorized: 401,
  forbidden: 403,
  invalid_pass: 403,
  pass_expired: 403,
  pass_used: 403,
  public_minting_disabled: 403,
  // 404/409
  not_found: 404,
  key_already_enrolled: 409,
  conflict: 409,
  token_used: 409,
  // 413/415/429
  payload_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  // 410: feed cursor too old — take a snapshot
  cursor_expired: 410,
  // 503: capacity or dependency
  no_gateway_available: 503,
  address_pool_exhausted: 503,
  store_unavailable: 503,
  // verification failures (clients): never mapped to a server response normally
  signature_invalid: 422,
  payload_type_mismatch: 422,
  catalog_expired: 422,
  catalog_rollback: 422,
  record_invalid: 422,
  trust_invalid: 422,
  // configuration / internal
  config_invalid: 500,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class DammError extends Error {
  readonly code: ErrorCode;
  /** Extra structured, non-secret detail safe to show a client (e.g. retryAfterSeconds). */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DammError';
    this.code = code;
    this.details = options?.details;
  }
}

export function httpStatusFor(code: ErrorCode): number {
  return ERROR_CODES[code];
}

export function isDammError(err: unknown): err is DammError {
  return err instanceof DammError;
}

export function isErrorCode(value: string): value is ErrorCode {
  return Object.prototype.hasOwnProperty.call(ERROR_CODES, value);
}
