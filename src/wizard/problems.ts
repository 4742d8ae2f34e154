/**
 * Every failure becomes something a person can act on: a title, what it
 * means, what to do next and a way forward (retry, paste an invite, or use a
 * public pass). Never a stack trace; the request id is shown as a reference.
 */
import { ApiError, NetworkError } from './api.js';
import { clockTime, dateTime, waitInWords } from './format.js';
import { t } from './i18n.js';

export interface Problem {
  code: string;
  title: string;
  message: string;
  next: string[];
  /** A retry button; `notBefore` when the service said when. */
  retry: { label: string; notBefore: Date | null } | null;
  /** Show the "paste an invite" field. */
  inviteForm: boolean;
  /** Offer to continue with a public pass instead of a failed invite. */
  offerPublic: boolean;
  reference: string | null;
}

export interface ProblemContext {
  usingInvite: boolean;
  /** From the posture: null while unknown. */
  publicEnrollment: boolean | null;
  now?: Date;
}

const base = (code: string, title: string, message: string, more: Partial<Problem> = {}): Problem => ({
  code,
  title,
  message,
  next: [],
  retry: { label: t('problem.tryAgain'), notBefore: null },
  inviteForm: false,
  offerPublic: false,
  reference: null,
  ...more,
});

export function invalidInviteLink(): Problem {
  return base('invite_malformed', t('problem.inviteMalformed.title'), t('problem.inviteMalformed.message'), {
    next: [t('problem.inviteMalformed.next1'), t('problem.stillStuck')],
    retry: null,
    inviteForm: true,
  });
}

export function inviteOnly(): Problem {
  return base('public_minting_disabled', t('problem.inviteOnly.title'), t('problem.inviteOnly.message'), {
    next: [t('problem.inviteOnly.next1'), t('problem.inviteOnly.next2')],
    retry: null,
    inviteForm: true,
  });
}

/**
 * Enrolled, but the gateway in the answer could not be bound to the service's
 * signed gateway list: no configuration is shown (core/door-binding.ts).
 * `err` is core's refusal; its reason (and the fields that differ) pick the sentence.
 */
export function unverifiedDoor(err: unknown): Problem {
  const details = (err as { details?: { reason?: string; fields?: string[] } } | undefined)?.details;
  const fields = details?.fields ?? [];
  const message =
    details?.reason === 'door_not_in_catalog'
      ? t('problem.door.notInCatalog')
      : details?.reason === 'door_mismatch'
        ? t(fields.includes('publicKey') ? 'problem.door.mismatchKey' : fields.includes('endpoint') ? 'problem.door.mismatchAddress' : 'problem.door.mismatch')
        : t('problem.door.unknown');
  return base('door_unverified', t('problem.door.title'), message, {
    next: [t('problem.door.next1'), t('problem.door.next2')],
  });
}

/** Why the service could not be trusted (catalog-check.ts's TrustFailure, without `unavailable`, which is a load failure told by describeProblem). */
export type UntrustedKind = 'pin_malformed' | 'pin_mismatch' | 'root_invalid' | 'catalog_invalid' | 'catalog_expired';

/**
 * The service did not pass the check the page runs before enrolling
 * (catalog-check.ts): nothing was enrolled, no config is shown. One sentence
 * per kind, each saying what happened and what to do; the codes are
 * `trust_<kind>`.
 */
export function untrustedService(kind: UntrustedKind, cause?: unknown): Problem {
  const nothingSent = t('trust.nothingSent');
  switch (kind) {
    case 'pin_mismatch':
      return base('trust_pin_mismatch', t('trust.pinMismatch.title'), t('trust.pinMismatch.message'), { next: [nothingSent, t('trust.pinMismatch.next')], retry: null });
    case 'pin_malformed':
      return base('trust_pin_malformed', t('trust.pinMalformed.title'), t('trust.pinMalformed.message'), { next: [nothingSent, t('trust.pinMalformed.next')], retry: null });
    case 'root_invalid':
      return base('trust_root_invalid', t('trust.root.title'), t('trust.root.message'), { next: [nothingSent] });
    case 'catalog_invalid':
      return base('trust_catalog_invalid', t('trust.catalog.title'), t('trust.catalog.message'), { next: [nothingSent] });
    case 'catalog_expired': {
      const until = (cause as { details?: { expiresAt?: unknown } } | undefined)?.details?.expiresAt;
      return base('trust_catalog_expired', t('trust.expired.title'), t('trust.expired.message', { until: typeof until === 'string' ? dateTime(new Date(until)) : '?' }), { next: [nothingSent] });
    }
  }
}

export function describeProblem(err: unknown, ctx: ProblemContext): Problem {
  const now = ctx.now ?? new Date();
  if (err instanceof NetworkError) {
    return base('network', t('problem.network.title'), t(err.message === 'timeout' ? 'problem.network.timeout' : 'problem.network.unreachable'), {
      next: [t('problem.network.next1'), t('problem.network.next2'), t('problem.network.next3')],
    });
  }
  if (!(err instanceof ApiError)) {
    return base('page_error', t('problem.page.title'), t('problem.page.message'), { next: [t('problem.page.next1')] });
  }
  const reference = err.requestId;
  const invite = ctx.usingInvite;
  const canGoPublic = ctx.usingInvite && ctx.publicEnrollment !== false;
  const askNew = { next: [t('problem.askNewInvite')], retry: null, inviteForm: true, offerPublic: canGoPublic, reference };
  switch (err.code) {
    case 'rate_limited': {
      const wait = err.retryAfterSeconds ?? 3600;
      const at = new Date(now.getTime() + wait * 1000);
      return base(err.code, t('problem.rateLimited.title'), t('problem.rateLimited.message', { time: clockTime(at), wait: waitInWords(wait) }), {
        next: [t('problem.rateLimited.next1'), t('problem.rateLimited.next2')],
        retry: { label: t('problem.tryAgain'), notBefore: at },
        inviteForm: true,
        reference,
      });
    }
    case 'public_minting_disabled':
      return { ...inviteOnly(), reference };
    case 'pass_used':
      return base(err.code, t(invite ? 'problem.passUsed.invite' : 'problem.passUsed.pass'), t(invite ? 'problem.passUsed.messageInvite' : 'problem.passUsed.messagePass'), askNew);
    case 'pass_expired':
      return base(err.code, t(invite ? 'problem.passExpired.invite' : 'problem.passExpired.pass'), t('problem.passExpired.message'), askNew);
    case 'invalid_pass':
      return base(err.code, t(invite ? 'problem.invalidPass.invite' : 'problem.invalidPass.pass'), t('problem.invalidPass.message'), {
        ...askNew,
        next: [t('problem.invalidPass.next1'), t('problem.stillStuck')],
      });
    case 'no_gateway_available':
      return base(err.code, t('problem.noGateway.title'), t('problem.noGateway.message'), { next: [t('problem.noGateway.next1'), t('problem.noGateway.next2')], reference });
    case 'address_pool_exhausted':
      return base(err.code, t('problem.full.title'), t('problem.full.message'), { next: [t('problem.full.next1')], reference });
    case 'store_unavailable': {
      const wait = err.retryAfterSeconds ?? 5;
      return base(err.code, t('problem.store.title'), t('problem.store.message', { wait: waitInWords(wait) }), {
        next: [t('problem.store.next1')],
        retry: { label: t('problem.tryAgain'), notBefore: new Date(now.getTime() + wait * 1000) },
        reference,
      });
    }
    default:
      if (err.status >= 500 || err.status === 0) {
        return base(err.code, t('problem.server.title'), t('problem.server.message'), { next: [t('problem.server.next1')], reference });
      }
      return base(err.code, t('problem.refused.title'), t('problem.refused.message', { code: err.code }), { next: [t('problem.refused.next1')], reference });
  }
}
