/**
 * The /get/ wizard: one page from "I opened a link" to a WireGuard tunnel.
 *
 * 0. verify the service first (catalog-check.ts: the invite link's root pin,
 *    or trust on first use, said above the button; the root chain; the
 *    signed catalog): when that fails, nothing is sent to /v1/enroll, no pass
 *    is minted or spent, and the page says in words what happened
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
 * Every sentence is a message of the page's language (i18n.ts). What the
 * page shows is rendered from its state by small views (say, problem,
 * result, test, usage, posture, catalog line), so switching the language
 * re-renders them in place: no reload, no new enrollment, the same keys.
 *
 * Secrets (private key, pass, invite) live only in this module's memory for
 * the life of the page: no storage, no cookies, no logging.
 */
import type { EnrollResponse, FrontDoor, Posture } from '../core/api-schemas.js';
import { bindEnrolledDoors, type BoundDoor } from '../core/door-binding.js';
import { tunnelName } from '../core/wg-config.js';
import { renderDoorConfig } from '../core/door-config.js';
import { api, ApiError } from './api.js';
import { checkCatalog, type CatalogCheck } from './catalog-check.js';
import { describeTest, testConnection, type TestContext, type TestResult } from './connection-test.js';
import { bytes, countryName, dateTime, relative, waitInWords } from './format.js';
import { currentLanguage, directionOf, LANGUAGES, pickLanguage, t, useLanguage, type Language, type MessageKey } from './i18n.js';
import { parseInvite, rootPinFromLocation, takeInviteFromLocation, type RootPin } from './invite.js';
import { generateKeyPair, type KeyPair } from './keys.js';
import { detectPlatform, importSteps, PLATFORMS, type Platform } from './platform.js';
import { describeProblem, invalidInviteLink, inviteOnly, untrustedService, unverifiedDoor, type Problem } from './problems.js';
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
  target.replaceChildren(...items.map((x) => el('li', x)));
  target.hidden = items.length === 0;
}

let statusKey: MessageKey | null = null;
function say(key: MessageKey | null): void {
  statusKey = key;
  $('status').textContent = key ? t(key) : '';
}

/** A transport tier in the page's language (the raw tier when the page does not know it). */
function tierName(tier: string): string {
  return /^T[0-4]$/.test(tier) ? t(`tier.${tier}` as MessageKey) : tier;
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
  /** The service check (root pin, root chain, signed catalog): run when the page opens, again when one fails and the person retries. */
  check: Promise<CatalogCheck> | null;
  busy: boolean;
} = { keys: null, pass: null, invite: null, posture: null, pin: null, check: null, busy: false };

// ---------------------------------------------------------------- problems

let retryTimer: ReturnType<typeof setInterval> | undefined;
/** The problem on screen, as a function of the language (re-run on a language switch). */
let problemView: (() => Problem) | null = null;

function showProblem(make: () => Problem): void {
  problemView = make;
  renderProblem();
  $('start').hidden = true;
  $('problem').hidden = false;
  say(null);
  $('problem-h').focus();
}

function renderProblem(): void {
  if (!problemView) return;
  clearInterval(retryTimer);
  const p = problemView();
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
      retry.textContent = left > 0 ? t('problem.retryIn', { label, wait: waitInWords(left) }) : label;
      if (left <= 0) clearInterval(retryTimer);
    };
    tick();
    if (notBefore) retryTimer = setInterval(tick, 5000);
  }
  $('go-public').hidden = !p.offerPublic;
  $('invite-form').hidden = !p.inviteForm;
  $('problem-ref').textContent = p.reference ? t('problem.reference', { ref: p.reference }) : '';
}

function hideProblem(): void {
  clearInterval(retryTimer);
  problemView = null;
  $('problem').hidden = true;
}

/** describeProblem for `err`, with the moment it happened fixed, so a re-render later says the same wait. */
function problemFor(err: unknown): () => Problem {
  const ctx = { usingInvite: session.pass?.kind === 'invite' || (session.pass === null && session.invite !== null), publicEnrollment: session.posture?.publicEnrollment ?? null, now: new Date() };
  return () => describeProblem(err, ctx);
}

// ---------------------------------------------------------------- enrollment

const PASS_PROBLEMS = new Set(['pass_expired', 'pass_used', 'invalid_pass']);

async function getPass(): Promise<Pass> {
  if (session.pass) return session.pass;
  if (session.invite) return (session.pass = { token: session.invite, kind: 'invite' });
  say('status.pass');
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
  say('status.key');
  session.keys ??= await generateKeyPair();
  const pass = await getPass();
  say('status.enroll');
  return api.enroll({ installPass: pass.token, publicKey: session.keys.publicKey, ...requestedExit() });
}

/**
 * The service check, shared by everything that needs it: one run at a time;
 * a failed one (or one whose catalog has expired since) is run afresh next
 * time, so "Try again" checks again instead of repeating the old verdict.
 */
function serviceCheck(): Promise<CatalogCheck> {
  const run = (session.check ??= checkCatalog(session.pin).then((c) => {
    catalogCheckShown = c;
    renderCatalogLine();
    return c;
  }));
  void run.then((c) => {
    if (session.check === run && (!c.ok || Date.parse(c.expiresAt) <= Date.now())) session.check = null;
  });
  return run;
}

/** A service that could not be verified: the problem for it (a load failure is told like any other load failure). */
function untrusted(c: Extract<CatalogCheck, { ok: false }>): () => Problem {
  return c.failure === 'unavailable' ? problemFor(c.cause) : () => untrustedService(c.failure as Exclude<typeof c.failure, 'unavailable'>, c.cause);
}

async function createConnection(): Promise<void> {
  if (session.busy) return;
  session.busy = true;
  hideProblem();
  $('start').hidden = true;
  try {
    // Verify first: nothing leaves this page for /v1/install-passes or /v1/enroll before the service proved who it is.
    say('status.checkService');
    const check = await serviceCheck();
    if (!check.ok) {
      showProblem(untrusted(check));
      return;
    }
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
    let doors: BoundDoor[];
    try {
      doors = await verifiedDoors(res, check.frontDoors); // the primary door (plain WireGuard) first
    } catch (err) {
      showProblem(err instanceof UntrustedService ? untrusted(err.check) : () => unverifiedDoor(err));
      return;
    }
    showResult(res, doors, session.keys!);
  } catch (err) {
    showProblem(problemFor(err));
  } finally {
    session.busy = false;
  }
}

function useInvite(token: string): void {
  session.invite = token;
  session.pass = null;
  $('invite-note').hidden = false;
}

/** The fresh check made after enrollment did not verify: told like the check before it. */
class UntrustedService extends Error {
  constructor(readonly check: Extract<CatalogCheck, { ok: false }>) {
    super(check.reason);
  }
}

/**
 * The doors the answer names, as the verified catalog lists them (the
 * primary door first), each with the device's addresses on it. The catalog
 * verified before enrolling is tried first; a gateway that came online since
 * (or any disagreement) needs the service's current catalog, verified afresh
 * through the same check. Throws UntrustedService when that check fails, and
 * core's DammError (door_not_in_catalog, door_mismatch, ...) when a door
 * cannot be bound: either way, no config.
 */
async function verifiedDoors(res: EnrollResponse, doors: FrontDoor[]): Promise<BoundDoor[]> {
  try {
    return bindEnrolledDoors(res, doors);
  } catch {
    // fall through to a fresh catalog
  }
  say('status.checkDoor');
  session.check = null;
  const check = await serviceCheck();
  if (!check.ok) throw new UntrustedService(check);
  return bindEnrolledDoors(res, check.frontDoors);
}

// ---------------------------------------------------------------- result

type Usage = { kind: 'quota'; quotaBytes: number | null; tier: string } | { kind: 'used'; bytes: number; quotaBytes: number | null; since: Date };

/** One door as the person gets it: the verified door, its own config text, tunnel name and file. */
interface DoorView {
  bound: BoundDoor;
  tunnel: string;
  file: string;
  conf: string;
  port: string;
}

/** What the result shows, kept so a language switch re-renders it exactly (the open door included). */
interface Shown {
  res: EnrollResponse;
  doors: DoorView[];
  /** Index of the door the person is looking at (the primary, plain WireGuard, first). */
  open: number;
  platform: Platform;
  usage: Usage;
  test: { result: TestResult; ctx: TestContext } | 'testing' | null;
}
let shown: Shown | null = null;

/** The app each door's config is for: product names, the same in every language. */
const APP = { wireguard: 'WireGuard', amneziawg: 'AmneziaWG' } as const;

const portOf = (endpoint: string) => endpoint.slice(endpoint.lastIndexOf(':') + 1);

/**
 * Each bound door's config, rendered from the verified catalog entry and that
 * door's addresses. Tunnel names are distinct per door and valid for the
 * apps: the primary door keeps damm-<region>, another WireGuard port gets
 * its port (damm-NL-443), an AmneziaWG door "awg" (damm-NL-awg).
 */
function doorViews(res: EnrollResponse, bound: BoundDoor[], keys: KeyPair): DoorView[] {
  const taken = new Set<string>();
  return bound.map((b, i) => {
    const { door } = b;
    const port = portOf(door.endpoint);
    const awg = door.protocol === 'amneziawg';
    const suffixes = [i === 0 ? '' : awg ? 'awg' : port, awg ? `awg${port}` : `${port}-${i}`, `d${i}`];
    const tunnel = suffixes.map((x) => tunnelName('damm', door.region, x)).find((n) => !taken.has(n))!;
    taken.add(tunnel);
    const conf = renderDoorConfig(door, {
      privateKey: keys.privateKey,
      addresses: b.addresses,
      dns: res.dns,
      allowedIps: res.allowedIps,
      persistentKeepalive: res.persistentKeepalive,
    });
    return { bound: b, tunnel, file: `${tunnel}.conf`, conf, port };
  });
}

/** A door in words: "WireGuard, UDP 443", "AmneziaWG, for networks that block WireGuard". */
function doorLabel(d: DoorView, all: DoorView[]): string {
  if (d.bound.door.protocol === 'wireguard') return t('door.wireguard', { port: d.port });
  return all.filter((x) => x.bound.door.protocol === d.bound.door.protocol).length > 1 ? t('door.awgPort', { port: d.port }) : t('door.awg');
}

/** `bound` are the catalog's (verified) entries, primary first: endpoints, gateway keys and parameters come only from there. */
function showResult(res: EnrollResponse, bound: BoundDoor[], keys: KeyPair): void {
  const current: Shown = (shown = {
    res,
    doors: doorViews(res, bound, keys),
    open: 0,
    platform: detectPlatform(navigator.userAgent, navigator.maxTouchPoints),
    usage: { kind: 'quota', quotaBytes: res.quotaBytes, tier: res.tier },
    test: null,
  });
  const openDoor = () => current.doors[current.open]!;

  $('download').onclick = () => {
    const { conf, file } = openDoor();
    const url = URL.createObjectURL(new Blob([conf], { type: 'application/octet-stream' }));
    const a = el('a');
    a.href = url;
    a.download = file;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  };
  $('copy').onclick = () => void copyConfig(openDoor().conf);

  // Tabs, one per door: arrows (mirrored right to left), Home and End move and open, as the ARIA tabs pattern asks.
  $('doors').onkeydown = (ev) => {
    const n = current.doors.length;
    const step = { ArrowRight: 1, ArrowLeft: -1 }[ev.key];
    const to = step !== undefined ? current.open + (document.documentElement.dir === 'rtl' ? -step : step) : ev.key === 'Home' ? 0 : ev.key === 'End' ? n - 1 : null;
    if (to === null) return;
    ev.preventDefault();
    selectDoor((to + n) % n, true);
  };

  const t1Available = !!session.posture?.regions.some((r) => r.tier === 'T1' && r.gatewaysOnline > 0);
  const test = $<HTMLButtonElement>('test');
  test.onclick = async () => {
    test.disabled = true;
    current.test = 'testing';
    renderTest();
    try {
      // The door the person is looking at: its tunnel name and UDP port are what the advice names.
      const d = openDoor();
      const protocol = d.bound.door.protocol;
      const awgElsewhere = protocol !== 'amneziawg' && current.doors.some((x) => x.bound.door.protocol === 'amneziawg');
      const ctx: TestContext = { deviceId: res.deviceId, tunnel: d.tunnel, udpPort: d.port, app: APP[protocol], awgElsewhere, obfuscated: protocol === 'amneziawg', t1Available };
      const result = await testConnection(ctx);
      current.test = { result, ctx };
      const usage = result.whoami?.device?.usage;
      if (usage) current.usage = { kind: 'used', bytes: usage.bytes, quotaBytes: usage.quotaBytes, since: new Date(usage.periodStart) };
    } finally {
      if (current.test === 'testing') current.test = null;
      renderTest();
      renderUsage();
      test.disabled = false;
    }
  };

  renderResult();
  // Which generator made the key (not secret): tests check the fallback is used where WebCrypto lacks X25519.
  $('result').dataset['keySource'] = keys.madeWith;
  $('result').hidden = false;
  say(null); // focus moves to the "ready" heading, which screen readers announce
  $('result-h').focus();
}

function selectDoor(i: number, focus: boolean): void {
  if (!shown) return;
  shown.open = i;
  renderResult();
  if (focus) $(`door-tab-${i}`).focus();
}

/** Everything in the result that has words: re-run on a language switch (the configs, keys, open door and handlers stay). */
function renderResult(): void {
  if (!shown) return;
  const { res, doors, open } = shown;
  const d = doors[open]!;
  const { file, tunnel, conf } = d;
  const app = APP[d.bound.door.protocol];
  renderPlacement(res, d.bound.door);

  const tabs = $('doors');
  const many = doors.length > 1;
  tabs.hidden = !many;
  tabs.setAttribute('aria-label', t('door.listLabel'));
  const tabFocused = tabs.contains(document.activeElement);
  tabs.replaceChildren(
    ...doors.map((x, i) => {
      const b = el('button', doorLabel(x, doors), 'door-tab');
      b.type = 'button';
      b.id = `door-tab-${i}`;
      b.dataset['protocol'] = x.bound.door.protocol;
      b.setAttribute('role', 'tab');
      b.setAttribute('aria-selected', String(i === open));
      b.setAttribute('aria-controls', 'door-panel');
      b.tabIndex = i === open ? 0 : -1;
      b.onclick = () => selectDoor(i, false);
      return b;
    }),
  );
  if (tabFocused) $(`door-tab-${open}`).focus();
  const panel = $('door-panel');
  panel.dataset['door'] = d.bound.door.id;
  if (many) panel.setAttribute('role', 'tabpanel');
  panel.setAttribute('aria-labelledby', many ? `door-tab-${open} import-h` : 'import-h');

  $('import-h').textContent = t('page.importH', { app });
  $('conf-label').textContent = t('page.confLabel', { app });
  $('qr-caption').textContent = t('page.qrCaption', { app });
  $('test-intro').textContent = t('page.testIntro', { app });
  $<HTMLTextAreaElement>('conf').value = conf;
  $('download').textContent = t('result.download', { file });
  $('qr').replaceChildren(qrSvg(conf, t('result.qrLabel', { tunnel, app })));

  // Steps per platform, preselected from this browser, switchable by hand.
  const renderSteps = () => $('steps').replaceChildren(...importSteps(shown!.platform, { file, tunnel }, d.bound.door.protocol).map(withCode));
  const radios = $('platforms');
  const focused = document.activeElement instanceof HTMLInputElement && document.activeElement.name === 'platform';
  radios.replaceChildren(
    el('legend', t('result.device')),
    ...PLATFORMS.map(({ id, label }) => {
      const wrap = el('label', undefined, 'seg');
      const input = el('input');
      input.type = 'radio';
      input.name = 'platform';
      input.value = id;
      input.checked = id === shown!.platform;
      input.onchange = () => {
        shown!.platform = id;
        renderSteps();
      };
      wrap.append(input, el('span', label));
      return wrap;
    }),
  );
  if (focused) radios.querySelector<HTMLInputElement>('input:checked')?.focus();
  renderSteps();
  renderUsage();
  renderTest();
}

function renderUsage(): void {
  if (!shown) return;
  const u = shown.usage;
  $('usage').textContent =
    u.kind === 'quota'
      ? u.quotaBytes === null
        ? t('result.noLimit')
        : t('result.quota', { amount: bytes(u.quotaBytes), tier: u.tier })
      : u.quotaBytes === null
        ? t('result.usedNoLimit', { used: bytes(u.bytes), since: dateTime(u.since) })
        : t('result.used', { used: bytes(u.bytes), quota: bytes(u.quotaBytes), since: dateTime(u.since) });
}

function renderTest(): void {
  const out = $('test-result');
  const state = shown?.test ?? null;
  if (state === null) {
    delete out.dataset['verdict'];
    out.replaceChildren();
    return;
  }
  if (state === 'testing') {
    out.dataset['verdict'] = 'testing';
    out.replaceChildren(el('p', t('test.testing')));
    return;
  }
  const words = describeTest(state.result, state.ctx);
  out.dataset['verdict'] = state.result.verdict;
  const nodes: HTMLElement[] = [el('p', words.headline, 'verdict')];
  if (words.details.length) {
    const ul = el('ul');
    list(ul, words.details);
    nodes.push(ul);
  }
  if (words.next.length) {
    nodes.push(el('p', t(state.result.verdict === 'through-damm' ? 'test.worthKnowing' : 'test.tryNext'), 'next-h'));
    const ul = el('ul');
    list(ul, words.next);
    nodes.push(ul);
  }
  out.replaceChildren(...nodes);
}

function renderPlacement(res: EnrollResponse, door: FrontDoor): void {
  const p = res.placement;
  const { region, exitCountry } = p.requested;
  const want = exitCountry
    ? region && region !== exitCountry
      ? t('result.wantExitRegion', { country: countryName(exitCountry), region })
      : t('result.wantExit', { country: countryName(exitCountry) })
    : region
      ? t('result.wantRegion', { region })
      : t('result.wantAny');
  const given = placeName(p.given.region, p.given.exitCountry);
  const box = $('placement');
  box.className = p.honoured ? 'card placement' : 'card placement warn';
  box.replaceChildren(
    el('h3', t(p.honoured ? 'result.exitH' : 'result.exitNotAsked')),
    dl([
      [t('result.asked'), want],
      [t('result.got'), t('result.gotExit', { place: given })],
      [t('result.why'), placementReason(p, want, given)],
      [t('result.connection'), t('result.connectionValue', { tier: tierName(door.tier), endpoint: door.endpoint })],
    ]),
  );
}

/**
 * Why this exit, in the page's language. The answer's own `reason` is
 * English prose for API clients; the page says the same from the
 * structured fields, and from the service status it tells a place whose
 * gateways are all offline from one DAMM has none for.
 */
function placementReason(p: EnrollResponse['placement'], wanted: string, given: string): string {
  if (p.honoured) return t(p.requested.region || p.requested.exitCountry ? 'placement.asRequested' : 'placement.noPreference', { place: given });
  const same = (a: string | null, b: string) => !a || a.toUpperCase() === b.toUpperCase();
  const known = session.posture?.regions.some((r) => r.gatewaysTotal > 0 && same(p.requested.region, r.region) && same(p.requested.exitCountry, r.country));
  return t(known ? 'placement.offline' : 'placement.missing', { wanted, place: given });
}

/** A list item whose `backticked` parts are shown as code (kept left to right inside right-to-left text). */
function withCode(text: string): HTMLLIElement {
  const li = el('li');
  text.split('`').forEach((part, i) => {
    if (i % 2 === 0) return li.append(part);
    const code = el('code', part);
    code.dir = 'ltr';
    li.append(code);
  });
  return li;
}

function dl(rows: [string, string][]): HTMLDListElement {
  const d = el('dl');
  for (const [k, v] of rows) d.append(el('dt', k), el('dd', v));
  return d;
}

let copyStatusKey: MessageKey | null = null;
function setCopyStatus(key: MessageKey | null): void {
  copyStatusKey = key;
  $('copy-status').textContent = key ? t(key) : '';
}

async function copyConfig(conf: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(conf);
  } catch {
    // Plain-http pages have no async clipboard: select the text for the person to copy.
    const ta = $<HTMLTextAreaElement>('conf');
    ($('conf-details') as HTMLDetailsElement).open = true;
    ta.select();
    const ok = document.execCommand('copy');
    setCopyStatus(ok ? 'result.copied' : 'result.selected');
    return;
  }
  setCopyStatus('result.copied');
}

// ---------------------------------------------------------------- posture panel

type PostureState = { kind: 'ok'; posture: Posture } | { kind: 'store'; wait: number } | { kind: 'failed' } | null;
let postureShown: PostureState = null;
let catalogCheckShown: CatalogCheck | null = null;

async function loadPosture(): Promise<void> {
  try {
    const p = await api.posture();
    session.posture = p;
    postureShown = { kind: 'ok', posture: p };
  } catch (err) {
    // The control plane answered but its database did not: gateways keep serving the tunnels they hold.
    postureShown = err instanceof ApiError && err.code === 'store_unavailable' ? { kind: 'store', wait: err.retryAfterSeconds ?? 5 } : { kind: 'failed' };
  }
  renderPosture();
}

function renderPosture(): void {
  const s = postureShown;
  if (!s) return;
  const summary = $('posture-summary');
  if (s.kind === 'ok') {
    const p = s.posture;
    $('posture').dataset['status'] = p.status;
    // The service's own summary is English prose for API clients; the page says it from the counts.
    const online = p.regions.reduce((n, r) => n + r.gatewaysOnline, 0);
    const total = p.regions.reduce((n, r) => n + r.gatewaysTotal, 0);
    const detail = p.status === 'down' ? t('posture.summaryDown') : p.status === 'degraded' ? t('posture.summaryDegraded', { online, total }) : t('posture.summaryOk', { total });
    summary.textContent = `${t(`posture.${p.status}`)} ${detail}`;
    list(
      $('posture-regions'),
      p.regions.map((r) => t('posture.region', { place: placeName(r.region, r.country), online: r.gatewaysOnline, total: r.gatewaysTotal, tier: tierName(r.tier) })),
    );
    fillExitChoices(p);
  } else if (s.kind === 'store') {
    $('posture').dataset['status'] = 'degraded';
    summary.textContent = t('posture.storeDown', { wait: waitInWords(s.wait) });
  } else {
    summary.textContent = t('posture.failed');
  }
}

/** The service-status line about the gateway list: what was checked, against what, and where the pin came from. */
function renderCatalogLine(): void {
  const c = catalogCheckShown;
  if (!c) return;
  const line = $('posture-catalog');
  line.dataset['pin'] = c.pinnedBy;
  if (!c.ok && c.failure === 'unavailable') {
    line.dataset['verified'] = 'unknown';
    line.textContent = t('posture.catalogUnloaded');
    return;
  }
  const source = t(c.pinnedBy === 'invite' ? 'posture.pinInvite' : 'posture.pinServer');
  line.dataset['verified'] = String(c.ok);
  line.textContent = c.ok
    ? `${t('posture.catalogOk', { version: c.version, doors: c.frontDoors.length, signed: relative(new Date(c.issuedAt)), until: dateTime(new Date(c.expiresAt)), root: c.rootVersion })} ${source} ${t(c.pinnedBy === 'invite' ? 'posture.meaningInvite' : 'posture.meaningServer')}`
    : `${t('posture.catalogBad', { reason: c.reason })} ${source} ${t('posture.noConnection')}`;
}

/** "Netherlands (NL)", or "Germany (DE), region eu-west" when the region is not just the country. */
function placeName(region: string, country: string): string {
  return region.toUpperCase() === country.toUpperCase() ? countryName(country) : t('result.place', { country: countryName(country), region });
}

function fillExitChoices(p: Posture): void {
  const select = $<HTMLSelectElement>('exit');
  const chosen = select.value;
  const seen = new Map<string, { label: string; online: boolean }>();
  for (const r of p.regions) {
    const key = `${r.region}|${r.country}`;
    const prev = seen.get(key);
    const label = placeName(r.region, r.country);
    seen.set(key, { label, online: (prev?.online ?? false) || r.gatewaysOnline > 0 });
  }
  const extra = [...select.options].filter((o) => o.value && !seen.has(o.value)); // choices added by hand (tests) survive a re-render
  select.replaceChildren(el('option', t('page.exitAny')));
  select.options[0]!.value = '';
  for (const [value, { label, online }] of seen) {
    const o = el('option', online ? label : t('posture.offline', { place: label }));
    o.value = value;
    select.append(o);
  }
  select.append(...extra);
  select.value = chosen;
  $('exit-field').hidden = seen.size < 2;
}

// ---------------------------------------------------------------- language

/** The static page's words: `data-i18n` sets the text, `data-i18n-label` the aria-label. */
function renderStatic(): void {
  const lang = currentLanguage();
  document.documentElement.lang = lang;
  document.documentElement.dir = directionOf(lang);
  document.title = t('page.title');
  for (const e of document.querySelectorAll<HTMLElement>('[data-i18n]')) e.textContent = t(e.dataset['i18n'] as MessageKey);
  for (const e of document.querySelectorAll<HTMLElement>('[data-i18n-label]')) e.setAttribute('aria-label', t(e.dataset['i18nLabel'] as MessageKey));
  $<HTMLSelectElement>('lang').value = lang;
}

/** Every view again, in the current language; the page's state (keys, pass, enrollment, step, focus) is untouched. */
function rerender(): void {
  renderStatic();
  if (statusKey) say(statusKey);
  renderProblem();
  renderResult();
  renderPosture();
  renderCatalogLine();
  if (inviteErrKey) $('invite-err').textContent = t(inviteErrKey);
  if (copyStatusKey) setCopyStatus(copyStatusKey);
}

async function switchLanguage(tag: Language): Promise<void> {
  try {
    await useLanguage(tag);
  } catch {
    // The catalog could not be fetched: stay in the language the page is in.
  }
  rerender();
}

function languageSwitch(): void {
  const select = $<HTMLSelectElement>('lang');
  select.replaceChildren(
    ...LANGUAGES.map(({ tag, name }) => {
      const o = el('option', name);
      o.value = tag;
      o.lang = tag;
      return o;
    }),
  );
  select.value = currentLanguage();
  select.onchange = () => void switchLanguage(select.value as Language);
}

// ---------------------------------------------------------------- start

let inviteErrKey: MessageKey | null = null;

function init(): void {
  languageSwitch();
  const preferred = pickLanguage(navigator.languages?.length ? navigator.languages : [navigator.language]);
  if (preferred !== 'en') void switchLanguage(preferred);
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
      inviteErrKey = parsed ? 'invite.malformed' : 'invite.empty';
      err.textContent = t(inviteErrKey);
      err.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    inviteErrKey = null;
    err.hidden = true;
    input.removeAttribute('aria-invalid');
    input.value = '';
    useInvite(parsed.token);
    void createConnection();
  };
  // Without a pin from the link, say so above the button, before anything is pressed.
  $('tofu-note').hidden = pin !== null;
  $('start').hidden = false;
  if (fromLink && 'malformed' in fromLink) showProblem(invalidInviteLink);
  else if (fromLink) useInvite(fromLink.token);
  const idle = () => $('problem').hidden && $('result').hidden && !session.busy;
  void Promise.all([serviceCheck(), loadPosture()]).then(([check]) => {
    // A service that did not verify: say so at once, before the person presses anything (a load failure waits for the button).
    if (!check.ok && check.failure !== 'unavailable' && !session.busy && $('result').hidden) showProblem(untrusted(check));
    // Invite-only and no invite: say so before the person presses anything.
    else if (session.posture && !session.posture.publicEnrollment && !session.invite && idle()) showProblem(inviteOnly);
  });
}

init();
