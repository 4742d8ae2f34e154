/**
 * The one place where failures become HTTP responses: DammError codes map to
 * status through core/errors; Fastify's own errors (validation, body size,
 * content type) map to stable codes; a database that is down or restarting
 * is a 503 store_unavailable with a Retry-After, whichever query noticed it;
 * anything else is a 500 whose details stay in the log.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { DammError, httpStatusFor, isDammError, type ErrorCode } from '../core/errors.js';
import { isStoreUnavailable, storeUnavailable } from '../store/db.js';

function fromFastify(err: FastifyError): DammError | null {
  if (err.validation) {
    const first = err.validation[0];
    const where = err.validationContext ?? 'request';
    let msg = err.message;
    if (first?.keyword === 'additionalProperties') {
      msg = `${where} has an unknown field "${(first.params as { additionalProperty?: string }).additionalProperty}".`;
    }
    const publicKeyProblem = /publicKey|wgPublicKey/.test(first?.instancePath ?? '') || /publicKey/.test(msg);
    return new DammError(publicKeyProblem ? 'invalid_public_key' : 'invalid_request', publicKeyProblem ? `Invalid WireGuard public key: ${msg}` : msg);
  }
  const map: Record<string, ErrorCode> = {
    FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
    FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
    FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_request',
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_request',
  };
  const code = err.code ? map[err.code] : undefined;
  if (code) return new DammError(code, err.message);
  if (err.statusCode === 400 || (err instanceof SyntaxError)) return new DammError('invalid_request', 'The request body is not valid JSON.');
  return null;
}

/** `onRefused` sees the code of every refusal (4xx and 503), for the rejections metric. */
export const createErrorHandler = (onRefused: (code: ErrorCode) => void) => (err: FastifyError, request: FastifyRequest, reply: FastifyReply): void => {
  const damm = isDammError(err) ? err : isStoreUnavailable(err) ? storeUnavailable(err) : fromFastify(err);
  if (!damm) {
    request.log.error({ err }, 'unhandled error');
    void reply.status(500).send({ error: { code: 'internal', message: 'Something went wrong on our side. Please try again.', requestId: request.id } });
    return;
  }
  const status = httpStatusFor(damm.code);
  if (status < 500 || status === 503) onRefused(damm.code);
  if (status >= 500) request.log.error({ err: damm, cause: damm.cause }, damm.message);
  else request.log.info({ code: damm.code }, 'request refused');
  const retry = damm.details?.retryAfterSeconds;
  if (typeof retry === 'number') void reply.header('retry-after', String(retry));
  void reply.status(status).send({
    error: {
      code: damm.code,
      message: damm.message,
      requestId: request.id,
      ...(typeof retry === 'number' ? { retryAfterSeconds: retry } : {}),
    },
  });
};
