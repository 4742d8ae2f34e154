/**
 * The one reading of a control-plane error answer, shared by every client
 * (the wizard in the browser, the Node client under the CLI, the gateway
 * agent and the trust fetcher). Pure: it takes what came over the wire and
 * returns the code, sentence, retry hint and request id a caller acts on.
 *
 * The control plane answers a refusal with
 *   { "error": { "code", "message", "requestId", "retryAfterSeconds"? } }
 * (src/control-plane/errors-http.ts) and a Retry-After / x-request-id header.
 * A proxy in front of it may answer anything, so every field is optional.
 */
import { isErrorCode, type ErrorCode } from './errors.js';

/**
 * A known ErrorCode when the body names one; otherwise a stable fallback:
 * 'store_unavailable' for a 503 that names none (the service is briefly
 * unavailable, as when it is closing), 'bad_response' for a success status
 * whose body could not be used, `http_<status>` for any other status.
 */
export type ApiErrorCode = ErrorCode | 'bad_response' | `http_${number}`;

export interface DecodedApiError {
  code: ApiErrorCode;
  message: string;
  /** From the body, else from a Retry-After header in seconds; null when neither gives a positive number. */
  retryAfterSeconds: number | null;
  /** From the body, else from the x-request-id header; quoted to the operator as a reference. */
  requestId: string | null;
}

export interface ApiErrorAnswer {
  status: number;
  /** The parsed JSON body, or null when there was none or it was not JSON. */
  body: unknown;
  /** The Retry-After header as received (null or undefined when absent). */
  retryAfter?: string | null | undefined;
  /** The x-request-id header as received. */
  requestId?: string | null | undefined;
}

export function decodeApiError(answer: ApiErrorAnswer): DecodedApiError {
  const { status } = answer;
  const e = errorObject(answer.body);
  const named = typeof e?.['code'] === 'string' && isErrorCode(e['code']) ? e['code'] : null;
  const code: ApiErrorCode = named ?? (status === 503 ? 'store_unavailable' : status >= 200 && status < 300 ? 'bad_response' : `http_${status}`);
  const message = typeof e?.['message'] === 'string' && e['message'] !== '' ? e['message'] : `The service answered with status ${status}.`;
  const bodyRetry = e?.['retryAfterSeconds'];
  const header = answer.retryAfter == null || answer.retryAfter.trim() === '' ? NaN : Number(answer.retryAfter);
  const retryAfterSeconds = typeof bodyRetry === 'number' && Number.isFinite(bodyRetry) && bodyRetry >= 0 ? bodyRetry : Number.isFinite(header) && header > 0 ? header : null;
  const requestId = typeof e?.['requestId'] === 'string' ? e['requestId'] : (answer.requestId ?? null);
  return { code, message, retryAfterSeconds, requestId };
}

function errorObject(body: unknown): Record<string, unknown> | null {
  if (typeof body !== 'object' || body === null) return null;
  const e = (body as { error?: unknown }).error;
  return typeof e === 'object' && e !== null ? (e as Record<string, unknown>) : null;
}
