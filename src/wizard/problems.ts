/**
 * Every failure becomes something a person can act on: a title, what it
 * means, what to do next and a way forward (retry, paste an invite, or use a
 * public pass). Never a stack trace; the request id is shown as a reference.
 */
import { ApiError, NetworkError } from './api.js';
import { clockTime, dateTime, waitInWords } from './format.js';

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
  retry: { label: 'Try again', notBefore: null },
  inviteForm: false,
  offerPublic: false,
  reference: null,
  ...more,
});

export function invalidInviteLink(): Problem {
  return base('invite_malformed', 'This invite link is incomplete', 'The invite in this link is cut off or changed, so it cannot work.', {
    next: ['Open the whole link again (some apps split long links), or paste it below.', 'Still stuck? Ask the person who sent it for a new invite.'],
    retry: null,
    inviteForm: true,
  });
}

export function inviteOnly(): Problem {
  return base('public_minting_disabled', 'This service is invite-only', 'New connections need an invite from the people who run this DAMM service.', {
    next: ['Ask them for an invite link, then open that link.', 'Already have one? Paste it below.'],
    retry: null,
    inviteForm: true,
  });
}

/**
 * Enrolled, but the gateway in the answer could not be checked against the
 * service's signed gateway list: no configuration is shown (core/door-binding.ts).
 * `message` is the sentence saying what did not match.
 */
export function unverifiedDoor(message: string): Problem {
  return base('door_unverified', 'No configuration: the gateway could not be checked', message, {
    next: [
      'Try again later, or from another network: a public Wi-Fi or a proxy may be changing what the service sends you.',
      'If it happens again, tell the people who run this service what this page said.',
    ],
  });
}

/** Why the service could not be trusted (catalog-check.ts's TrustFailure, without `unavailable`, which is a load failure told by describeProblem). */
export type UntrustedKind = 'pin_malformed' | 'pin_mismatch' | 'root_invalid' | 'catalog_invalid' | 'catalog_expired';

const NOTHING_SENT = 'Nothing was sent to the service: no connection was made and your invite, if you have one, is still unused.';

/**
 * The service did not pass the check the page runs before enrolling
 * (catalog-check.ts): nothing was enrolled, no config is shown. One sentence
 * per kind, each saying what happened and what to do; the codes are
 * `trust_<kind>`.
 */
export function untrustedService(kind: UntrustedKind, cause?: unknown): Problem {
  switch (kind) {
    case 'pin_mismatch':
      return base('trust_pin_mismatch', 'This link is for a different service', 'This link was made for a different service than the one answering. Do not use this network to connect; ask the person who sent you the link for a new one.', {
        next: [NOTHING_SENT, 'A public Wi-Fi, a proxy or a look-alike site can answer in place of the real service: try the link again from another network, such as mobile data.'],
        retry: null,
      });
    case 'pin_malformed':
      return base('trust_pin_malformed', 'This link is cut off', 'The part of the link that lets this page recognise the service (after "#root=") is incomplete, so this page cannot check who is answering and will not connect you.', {
        next: [NOTHING_SENT, 'Open the whole link again (some apps split long links). Still stuck? Ask the person who sent it for a new one.'],
        retry: null,
      });
    case 'root_invalid':
      return base('trust_root_invalid', 'This service could not prove who it is', "The service's keys did not pass the check in this page, so someone may be tampering with your connection to it. Do not connect through this network; try again later or from another network, and tell the person who sent you the link.", {
        next: [NOTHING_SENT],
      });
    case 'catalog_invalid':
      return base('trust_catalog_invalid', 'The list of gateways is not genuine', "The service's list of gateways is not signed by the service's own keys, so someone may be changing it on the way to you. Do not connect through this network; try again from another network, such as mobile data, and tell the people who run this service.", {
        next: [NOTHING_SENT],
      });
    case 'catalog_expired': {
      const until = (cause as { details?: { expiresAt?: unknown } } | undefined)?.details?.expiresAt;
      const when = typeof until === 'string' ? ` (it was valid until ${dateTime(new Date(until))})` : '';
      return base('trust_catalog_expired', 'The list of gateways is out of date', `The service sent a list of gateways that has expired${when}: either the service has a problem, or someone is replaying an old list to you. Do not connect for now; try again later, and tell the people who run this service if it keeps happening.`, {
        next: [NOTHING_SENT],
      });
    }
  }
}

export function describeProblem(err: unknown, ctx: ProblemContext): Problem {
  const now = ctx.now ?? new Date();
  if (err instanceof NetworkError) {
    return base('network', 'We can’t reach DAMM', err.message === 'timeout' ? 'The service did not answer in time.' : 'This device could not reach the service.', {
      next: [
        'Check that you are online, then try again.',
        'If a VPN is switched on, switch it off and try again.',
        'Some networks block sites like this one: try another network, such as mobile data.',
      ],
    });
  }
  if (!(err instanceof ApiError)) {
    return base('page_error', 'Something went wrong in this page', 'This browser could not finish the step.', {
      next: ['Try again. If it keeps failing, reload the page or try another browser.'],
    });
  }
  const reference = err.requestId;
  const inviteWord = ctx.usingInvite ? 'invite' : 'pass';
  const canGoPublic = ctx.usingInvite && ctx.publicEnrollment !== false;
  switch (err.code) {
    case 'rate_limited': {
      const wait = err.retryAfterSeconds ?? 3600;
      const at = new Date(now.getTime() + wait * 1000);
      return base(err.code, 'Too many new connections from your network', `This service limits how many connections one network can create each hour. You can try again at ${clockTime(at)} (in ${waitInWords(wait)}).`, {
        next: ['Wait until then and press "Try again", or use another network.', 'Have an invite? Paste it below: invites are not limited this way.'],
        retry: { label: 'Try again', notBefore: at },
        inviteForm: true,
        reference,
      });
    }
    case 'public_minting_disabled':
      return { ...inviteOnly(), reference };
    case 'pass_used':
      return base(err.code, `This ${inviteWord} has already been used`, `Every use of this ${inviteWord} has been taken, so it cannot connect another device.`, {
        next: ['Ask the person who sent it for a new invite, then open the new link or paste it below.'],
        retry: null,
        inviteForm: true,
        offerPublic: canGoPublic,
        reference,
      });
    case 'pass_expired':
      return base(err.code, `This ${inviteWord} has expired`, `Invites only work for a limited time, and this one has run out.`, {
        next: ['Ask the person who sent it for a new invite, then open the new link or paste it below.'],
        retry: null,
        inviteForm: true,
        offerPublic: canGoPublic,
        reference,
      });
    case 'invalid_pass':
      return base(err.code, `This ${inviteWord} doesn’t work`, 'The service does not know this invite: it may have been withdrawn, or the link was changed.', {
        next: ['Open the whole link again, or paste it below.', 'Still stuck? Ask the person who sent it for a new invite.'],
        retry: null,
        inviteForm: true,
        offerPublic: canGoPublic,
        reference,
      });
    case 'no_gateway_available':
      return base(err.code, 'No gateway is available right now', 'Every DAMM gateway is offline at the moment, so there is nowhere to connect you. Nothing was used up.', {
        next: ['Try again in a few minutes.', 'The service status below shows when gateways are back.'],
        reference,
      });
    case 'address_pool_exhausted':
      return base(err.code, 'This service is full', 'Every tunnel address is in use; the people who run it need to make room.', {
        next: ['Try again later, or tell the people who run this service.'],
        reference,
      });
    case 'store_unavailable': {
      const wait = err.retryAfterSeconds ?? 5;
      return base(err.code, 'DAMM is briefly unavailable', `The service cannot reach its database right now. Try again in ${waitInWords(wait)}.`, {
        next: ['Press "Try again" in a moment. If it keeps failing, tell the people who run this service and quote the reference below.'],
        retry: { label: 'Try again', notBefore: new Date(now.getTime() + wait * 1000) },
        reference,
      });
    }
    default:
      if (err.status >= 500 || err.status === 0) {
        return base(err.code, 'Something went wrong on DAMM’s side', 'The service could not finish your request. Nothing was used up.', {
          next: ['Try again in a moment. If it keeps failing, tell the people who run this service and quote the reference below.'],
          reference,
        });
      }
      return base(err.code, 'The service refused this request', err.message, {
        next: ['Try again. If it keeps failing, reload the page and start over.'],
        reference,
      });
  }
}
