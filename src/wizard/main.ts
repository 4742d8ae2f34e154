/**
 * The /get/ wizard: one page from "I opened a link" to a WireGuard tunnel.
 *
 * 1. make the key pair here (keys.ts); only the public key is ever sent
 * 2. take the invite from the link, or get a public install pass
 * 3. enroll, then render the .conf with core's renderDoorConfig from the
 *    front door the answer names AS THE VERIFIED CATALOG LISTS IT (endpoint,
 *    gateway key): the enroll answer is unsigned, so it only picks the door
 *    (core/door-binding.ts); no verified catalog, or a door it does not hold
 *    or describes differently, and the page shows a refusal, never a config
 * 4. deliver it: download, inline QR, copyable text, per-platform steps
 * 5. "Test my connection" (whoami), placement honesty, usage, posture
 *
 * Secrets (private key, pass, invite) live only in this module's memory for
 * the life of the page: no storage, no cookies, no logging.
 */
import type { EnrollResponse, FrontDoor, Posture } from '../core/api-schemas.js';
import { bindEnrolledDoors, type BoundDoor } from '../core/door-binding.js';
import { DammError } from '../core/errors.js';
import { tunnelName } from '../core/wg-config.js';
import { renderDoorConfig } from '../core/door-config.js';
import { TRANSPORT_TIER_NAMES, type TransportTier } from '../core/tiers.js';
import { api, ApiError } from './api.js';
import { checkCatalog } from './catalog-check.js';
import { testConnection } from './connection-test.js';
import { bytes, countryName, dateTime, relative, waitInWords } from './format.js';
import { parseInvite, rootPinFromLocation, takeInviteFromLocation, type RootPin } from './invite.js';
import { generateKeyPair, type KeyPair } from './keys.js';
import { detectPlatform, importSteps, PLATFORMS, type Platform } from './platform.js';
import { describeProblem, invalidInviteLink, inviteOnly, unverifiedDoor, type Problem } from './problems.js';
import { qrSvg } from './qr.js';

// ---------------------------------------------------------------- DOM helpers

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, cls?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function list(target: HTMLElement, items: string[]): void {
  target.replaceChildren(...items.map((t) => el('li', t)));
  target.hidden = items.length === 0;
}

function say(text: string): void {
  $('status').textContent = text;
}

// ---------------------------------------------------------------- session state (memory only)

interface Pass {
  token: string;
  kind: 'public' | 'invite';
}

const session: {
  keys: KeyPair | null;
  pass: Pass | null;
  invite: string | null;
  posture: Posture | null;
  /** Where the root of trust comes from (the link's pin, or this server on first use). */
  pin: RootPin;
  /** The front doors of the last catalog this page verified, or null. */
  doors: FrontDoor[] | null;
  busy: boolean;
} = { keys: null, pass: null, invite: null, posture: null, pin: null, doors: null, busy: false };

// ---------------------------------------------------------------- problems

let retryTimer: ReturnType<typeof setInterval> | undefined;

function showProblem(p: Problem): void {
  clearInterval(retryTimer);
  const box = $('problem');
  box.dataset['code'] = p.code;
  $('problem-h').textContent = p.title;
  $('problem-msg').textContent = p.message;
  list($('problem-next'), p.next);
  const retry = $<HTMLButtonElement>('retry');
  retry.hidden = !p.retry;
  if (p.retry) {
    const { label, notBefore } = p.retry;
    const tick = () => {
      const left = notBefore ? (notBefore.getTime() - Date.now()) / 1000 : 0;
      retry.disabled = left > 0;
      retry.textContent = left > 0 ? `${label} (in ${waitInWords(left)})` : label;
      if (left <= 0) clearInterval(retryTimer);
    };
    tick();
    if (notBefore) retryTimer = setInterval(tick, 5000);
  }
  $('go-public').hidden = !p.offerPublic;
  $('invite-form').hidden = !p.inviteForm;
  $('problem-ref').textContent = p.reference ? `Reference for the people who run this service: ${p.reference}` : '';
  $('start').hidden = true;
  box.hidden = false;
  say('');
  $('problem-h').focus();
}

function hideProblem(): void {
  clearInterval(retryTimer);
  $('problem').hidden = true;
}

// ---------------------------------------------------------------- enrollment

const PASS_PROBLEMS = new Set(['pass_expired', 'pass_used', 'invalid_pass']);

async function getPass(): Promise<Pass> {
  if (session.pass) return session.pass;
  if (session.invite) return (session.pass = { token: session.invite, kind: 'invite' });
  say('Getting a one-time pass…');
  const minted = await api.mintPass();
  return (session.pass = { token: minted.installPass, kind: 'public' });
}

function requestedExit(): { region?: string; exitCountry?: string } {
  const v = $<HTMLSelectElement>('exit').value;
  if (!v) return {};
  const [region, exitCountry] = v.split('|');
  return { ...(region ? { region } : {}), ...(exitCountry ? { exitCountry } : {}) };
}

async function enrollOnce(): Promise<EnrollResponse> {
  say('Making your key on this device…');
  session.keys ??= await generateKeyPair();
  const pass = await getPass();
  say('Connecting you to a gateway…');
  return api.enroll({ installPass: pass.token, publicKey: session.keys.publicKey, ...requestedExit() });
}

async function createConnection(): Promise<void> {
  if (session.busy) return;
  session.busy = true;
  hideProblem();
  $('start').hidden = true;
  try {
    let res: EnrollResponse;
    try {
      res = await enrollOnce();
    } catch (err) {
      // Fix what the page can fix by itself, once: a public pass that ran out
      // while the person waited, or (astronomically unlikely) a key clash.
      if (!(err instanceof ApiError)) throw err;
      if (PASS_PROBLEMS.has(err.code) && session.pass?.kind === 'public') session.pass = null;
      else if (err.code === 'key_already_enrolled') session.keys = null;
      else throw err;
      res = await enrollOnce();
    }
    session.pass = null; // used
    let door: BoundDoor;
    try {
      door = (await verifiedDoors(res))[0]!; // the primary door (plain WireGuard) until the wizard offers each door
    } catch (err) {
      showProblem(unverifiedDoor(err instanceof DammError ? err.message : 'The gateway could not be checked against the signed gateway list.'));
      return;
    }
    showResult(res, door, session.keys!);
  } catch (err) {
    showProblem(describeProblem(err, { usingInvite: session.pass?.kind === 'invite', publicEnrollment: session.posture?.publicEnrollment ?? null }));
  } finally {
    session.busy = false;
  }
}

function useInvite(token: string): void {
  session.invite = token;
  session.pass = null;
  $('invite-note').hidden = false;
}

/**
 * The doors the answer names, as the verified catalog lists them (the
 * primary door first), each with the device's addresses on it. The catalog
 * checked when the page opened is tried first; a gateway that came online
 * since (or any disagreement) needs the service's current catalog, verified
 * afresh. Throws DammError with a sentence for the person when the door
 * cannot be bound, or the catalog cannot be verified: then no config.
 */
async function verifiedDoors(res: EnrollResponse): Promise<BoundDoor[]> {
  if (session.doors) {
    try {
      return bindEnrolledDoors(res, session.doors);
    } catch {
      // fall through to a fresh catalog
    }
  }
  say('Checking the gateway against the signed list…');
  let check;
  try {
    check = await checkCatalog(session.pin);
  } catch {
    throw new DammError('record_invalid', "The service's signed gateway list could not be loaded, so this page cannot check the gateway it gave you and will not give you a configuration.");
  }
  if (!check.ok) {
    throw new DammError('record_invalid', `The service's signed gateway list could not be verified (${check.reason}), so this page will not give you a configuration.`);
  }
  session.doors = check.frontDoors;
  return bindEnrolledDoors(res, check.frontDoors);
}

// ---------------------------------------------------------------- result

/** `bound.door` is the catalog's (verified) entry: the endpoint, gateway key and parameters come only from there. */
function showResult(res: EnrollResponse, bound: BoundDoor, keys: KeyPair): void {
  const { door } = bound;
  const tunnel = tunnelName('damm', door.region);
  const file = `${tunnel}.conf`;
  const conf = renderDoorConfig(door, {
    privateKey: keys.privateKey,
    addresses: bound.addresses,
    dns: res.dns,
    allowedIps: res.allowedIps,
    persistentKeepalive: res.persistentKeepalive,
  });
  const udpPort = door.endpoint.slice(door.endpoint.lastIndexOf(':') + 1);

  renderPlacement(res, door);

  // Delivery: download, QR, text.
  const download = $<HTMLButtonElement>('download');
  download.textContent = `Download ${file}`;
  download.onclick = () => {
    const url = URL.createObjectURL(new Blob([conf], { type: 'application/octet-stream' }));
    const a = el('a');
    a.href = url;
    a.download = file;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  };
  $('qr').replaceChildren(qrSvg(conf, `QR code of your WireGuard configuration "${tunnel}"`));
  $<HTMLTextAreaElement>('conf').value = conf;
  $('copy').onclick = () => void copyConfig(conf);

  // Steps per platform, preselected from this browser, switchable by hand.
  const renderSteps = (p: Platform) =>
    $('steps').replaceChildren(...importSteps(p).map((s) => withCode(s.replaceAll('{file}', file).replaceAll('{tunnel}', tunnel))));
  const chosen = detectPlatform(navigator.userAgent, navigator.maxTouchPoints);
  const radios = $('platforms');
  radios.replaceChildren(
    el('legend', 'Your device'),
    ...PLATFORMS.map(({ id, label }) => {
      const wrap = el('label', undefined, 'seg');
      const input = el('input');
      input.type = 'radio';
      input.name = 'platform';
      input.value = id;
      input.checked = id === chosen;
      input.onchange = () => renderSteps(id);
      wrap.append(input, el('span', label));
      return wrap;
    }),
  );
  renderSteps(chosen);

  // Allowance.
  $('usage').textContent =
    res.quotaBytes === null ? 'No data limit on this connection.' : `Up to ${bytes(res.quotaBytes)} per period on this connection (${res.tier} tier).`;

  // Test my connection.
  const t1Available = !!session.posture?.regions.some((r) => r.tier === 'T1' && r.gatewaysOnline > 0);
  const test = $<HTMLButtonElement>('test');
  test.onclick = async () => {
    test.disabled = true;
    const out = $('test-result');
    out.dataset['verdict'] = 'testing';
    out.replaceChildren(el('p', 'Testing…'));
    try {
      const r = await testConnection({ deviceId: res.deviceId, tunnel, udpPort, t1Available });
      out.dataset['verdict'] = r.verdict;
      const nodes: HTMLElement[] = [el('p', r.headline, 'verdict')];
      if (r.details.length) {
        const ul = el('ul');
        list(ul, r.details);
        nodes.push(ul);
      }
      if (r.next.length) {
        nodes.push(el('p', r.verdict === 'through-damm' ? 'Worth knowing:' : 'What to try next:', 'next-h'));
        const ul = el('ul');
        list(ul, r.next);
        nodes.push(ul);
      }
      out.replaceChildren(...nodes);
      const usage = r.whoami?.device?.usage;
      if (usage) {
        const since = dateTime(new Date(usage.periodStart));
        $('usage').textContent =
          usage.quotaBytes === null
            ? `Used ${bytes(usage.bytes)} since ${since} (no data limit).`
            : `Used ${bytes(usage.bytes)} of ${bytes(usage.quotaBytes)} since ${since}.`;
      }
    } finally {
      test.disabled = false;
    }
  };

  // Which generator made the key (not secret): tests check the fallback is used where WebCrypto lacks X25519.
  $('result').dataset['keySource'] = keys.madeWith;
  $('result').hidden = false;
  say(''); // focus moves to the "ready" heading, which screen readers announce
  $('result-h').focus();
}

function renderPlacement(res: EnrollResponse, door: FrontDoor): void {
  const p = res.placement;
  const want = p.requested.exitCountry
    ? `exit ${countryName(p.requested.exitCountry)}${p.requested.region && p.requested.region !== p.requested.exitCountry ? `, region ${p.requested.region}` : ''}`
    : p.requested.region
      ? `region ${p.requested.region}`
      : 'any exit';
  const tier = TRANSPORT_TIER_NAMES[door.tier as TransportTier] ?? door.tier;
  const box = $('placement');
  box.className = p.honoured ? 'card placement' : 'card placement warn';
  box.replaceChildren(
    el('h3', p.honoured ? 'Your exit' : 'Your exit is not the one you asked for'),
    dl([
      ['You asked for', want],
      ['You got', `exit ${placeName(p.given.region, p.given.exitCountry)}`],
      ['Why', p.reason],
      ['Connection', `${tier} to ${door.endpoint}`],
    ]),
  );
}

/** A list item whose `backticked` parts are shown as code. */
function withCode(text: string): HTMLLIElement {
  const li = el('li');
  text.split('`').forEach((part, i) => li.append(i % 2 ? el('code', part) : part));
  return li;
}

function dl(rows: [string, string][]): HTMLDListElement {
  const d = el('dl');
  for (const [k, v] of rows) d.append(el('dt', k), el('dd', v));
  return d;
}

async function copyConfig(conf: string): Promise<void> {
  const status = $('copy-status');
  try {
    await navigator.clipboard.writeText(conf);
  } catch {
    // Plain-http pages have no async clipboard: select the text for the person to copy.
    const ta = $<HTMLTextAreaElement>('conf');
    ($('conf-details') as HTMLDetailsElement).open = true;
    ta.select();
    const ok = document.execCommand('copy');
    status.textContent = ok ? 'Copied.' : 'Selected: press Ctrl+C (or ⌘C) to copy.';
    return;
  }
  status.textContent = 'Copied.';
}

// ---------------------------------------------------------------- posture panel

/** What the panel says about where the root of trust came from. */
const PIN_SOURCE = {
  invite: 'The root of trust was pinned by your invite link.',
  server: 'The root of trust was taken on first use from this server.',
} as const;
const PIN_MEANING = {
  invite: "So this check does not rest on this server's word alone.",
  server: 'So this shows the list matches the keys this server vouches for, not that the server is genuine; invite links from the people who run the service carry a pin.',
} as const;

async function loadPosture(pin: RootPin): Promise<void> {
  const summary = $('posture-summary');
  const catalogLine = $('posture-catalog');
  try {
    const p = await api.posture();
    session.posture = p;
    const words = { ok: 'Working normally.', degraded: 'Partly working.', down: 'Not working right now.' }[p.status];
    $('posture').dataset['status'] = p.status;
    summary.textContent = `${words} ${p.summary}`;
    list(
      $('posture-regions'),
      p.regions.map((r) => `${placeName(r.region, r.country)}: ${r.gatewaysOnline} of ${r.gatewaysTotal} gateways online, ${TRANSPORT_TIER_NAMES[r.tier as TransportTier] ?? r.tier}`),
    );
    fillExitChoices(p);
  } catch (err) {
    if (err instanceof ApiError && err.code === 'store_unavailable') {
      // The control plane answered but its database did not: gateways keep serving the tunnels they hold.
      $('posture').dataset['status'] = 'degraded';
      const wait = err.retryAfterSeconds ?? 5;
      summary.textContent = `Partly working. The service cannot reach its database right now, so new connections cannot be made; devices already connected keep working. Try again in ${waitInWords(wait)}.`;
    } else {
      summary.textContent = 'The service status could not be loaded. You can still try to connect.';
    }
  }
  try {
    const c = await checkCatalog(pin);
    if (c.ok) session.doors = c.frontDoors;
    catalogLine.dataset['verified'] = String(c.ok);
    catalogLine.dataset['pin'] = c.pinnedBy;
    catalogLine.textContent = c.ok
      ? `Gateway list: version ${c.version}, ${c.frontDoors.length} front door(s), signed ${relative(new Date(c.issuedAt))}, valid until ${dateTime(new Date(c.expiresAt))}. Its signature was checked in this page against the service's root of trust (version ${c.rootVersion}). ${PIN_SOURCE[c.pinnedBy]} ${PIN_MEANING[c.pinnedBy]}`
      : `Warning: the gateway list could not be verified (${c.reason}). ${PIN_SOURCE[c.pinnedBy]} Tell the people who run this service.`;
  } catch {
    catalogLine.dataset['verified'] = 'unknown';
    catalogLine.dataset['pin'] = pin === null ? 'server' : 'invite';
    catalogLine.textContent = 'The gateway list could not be loaded, so it was not checked.';
  }
}

/** "Netherlands (NL)", or "Germany (DE), region eu-west" when the region is not just the country. */
function placeName(region: string, country: string): string {
  return region.toUpperCase() === country.toUpperCase() ? countryName(country) : `${countryName(country)}, region ${region}`;
}

function fillExitChoices(p: Posture): void {
  const select = $<HTMLSelectElement>('exit');
  const seen = new Map<string, { label: string; online: boolean }>();
  for (const r of p.regions) {
    const key = `${r.region}|${r.country}`;
    const prev = seen.get(key);
    const label = placeName(r.region, r.country);
    seen.set(key, { label, online: (prev?.online ?? false) || r.gatewaysOnline > 0 });
  }
  select.replaceChildren(el('option', 'Any: the one with the most room'));
  select.options[0]!.value = '';
  for (const [value, { label, online }] of seen) {
    const o = el('option', online ? label : `${label}: offline now`);
    o.value = value;
    select.append(o);
  }
  $('exit-field').hidden = seen.size < 2;
}

// ---------------------------------------------------------------- start

function init(): void {
  // The pin first: taking the invite clears the address, fragment included. The pin is never sent anywhere.
  const pin = rootPinFromLocation(location);
  session.pin = pin;
  const fromLink = takeInviteFromLocation(location, history);
  $('go').onclick = () => void createConnection();
  $('retry').onclick = () => void createConnection();
  $('go-public').onclick = () => {
    session.invite = null;
    session.pass = null;
    $('invite-note').hidden = true;
    void createConnection();
  };
  $<HTMLFormElement>('invite-form').onsubmit = (ev) => {
    ev.preventDefault();
    const input = $<HTMLInputElement>('invite-input');
    const parsed = parseInvite(input.value);
    const err = $('invite-err');
    if (!parsed || 'malformed' in parsed) {
      err.textContent = parsed ? 'That does not look like a whole DAMM invite. Paste the full link you were sent.' : 'Paste your invite link first.';
      err.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    err.hidden = true;
    input.removeAttribute('aria-invalid');
    input.value = '';
    useInvite(parsed.token);
    void createConnection();
  };
  $('start').hidden = false;
  if (fromLink && 'malformed' in fromLink) showProblem(invalidInviteLink());
  else if (fromLink) useInvite(fromLink.token);
  void loadPosture(pin).then(() => {
    // Invite-only and no invite: say so before the person presses anything.
    if (session.posture && !session.posture.publicEnrollment && !session.invite && $('problem').hidden && $('result').hidden && !session.busy) {
      showProblem(inviteOnly());
    }
  });
}

init();
