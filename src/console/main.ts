/**
 * The operator console at /console/ (docs/console.md): six pages over the
 * operator API, a session cookie instead of a stored token, every change
 * asked for in words first and confirmed in words after (the server writes
 * it to the audit log with the operator's name).
 */
import { ApiError, api, whenSignedOut } from './api.js';
import { barChart } from './charts.js';
import { byId, clear, h, labelCells, shortId } from './dom.js';
import { bytes, dateTime, relative } from '../wizard/format.js';
import { qrSvg } from '../wizard/qr.js';

// --- API shapes (the fields this page reads; the schemas are in core/api-schemas.ts) ---
interface Device {
  id: string; publicKey: string; ipv4: string; ipv6: string; tier: string; region: string; state: 'active' | 'suspended' | 'revoked';
  stateReason: string | null; gatewayName: string | null; note: string | null; usageBytes: number; quotaBytes: number | null; createdAt: string;
}
interface Endpoint { host: string; port: number }
/** One lane of a gateway (one interface): its doors are its endpoints. */
interface Lane { lane: number; protocol: string; tier: string; endpoints: Endpoint[]; health: { up: boolean; listening: boolean; peers: number; reportedAt: string } | null }
interface Gateway {
  id: string; name: string; region: string; country: string; registered: boolean; online: boolean; doors: Lane[];
  lastHeartbeatAt: string | null; heartbeatAgeSeconds: number | null; peers: number; bytesToday: number; wgPublicKey: string | null;
  drained: boolean;
}
interface Pass { id: string; kind: string; tier: string; maxUses: number; usesLeft: number; expiresAt: string; createdBy: string; note: string | null; state: string }
interface AuditEntry { id: number; at: string; actor: string; action: string; subject: string | null; details: Record<string, unknown> }
interface Overview {
  posture: { status: 'ok' | 'degraded' | 'down'; summary: string; catalog: { version: number; expiresAt: string; frontDoors: number } | null };
  gateways: { total: number; registered: number; online: number };
  doors: { total: number; up: number };
  devices: { active: number; suspended: number; revoked: number };
  enrollmentsPerHour: { hour: string; count: number }[];
  bytesPerDay: { day: string; bytes: number }[];
  warnings: string[];
}
interface TrustKey { keyid: string; notBefore: string; notAfter: string; validNow: boolean; keyFileHere: boolean }
interface TrustRole { threshold: number; keys: TrustKey[]; rotationDueAt: string | null }
interface Trust {
  rootVersion: number; rootIssuedAt: string; rootExpiresAt: string; rootRefreshDueAt: string; rootV1Sha256: string;
  root: { threshold: number; keyids: string[] }; catalog: TrustRole; admission: TrustRole; warnings: string[];
}

const PAGES = ['overview', 'devices', 'gateways', 'invites', 'audit', 'keys'] as const;
type Page = (typeof PAGES)[number];

const flashEl = byId('flash');
let followTimer: number | null = null;

function flash(text: string, kind: 'ok' | 'bad' = 'ok'): void {
  flashEl.textContent = text;
  flashEl.dataset['kind'] = kind;
}

function problem(err: unknown): string {
  if (err instanceof ApiError) return `${err.message}${err.requestId ? ` (reference ${err.requestId})` : ''}`;
  return 'Something went wrong in this page. Reload it and try again.';
}

// --- confirmation in words before every change ---
const dialog = byId<HTMLDialogElement>('confirm');
function confirmInWords(title: string, message: string, action: string): Promise<boolean> {
  byId('confirm-h').textContent = title;
  byId('confirm-msg').textContent = message;
  const ok = byId<HTMLButtonElement>('confirm-ok');
  ok.textContent = action;
  return new Promise((resolve) => {
    const done = (v: boolean) => {
      ok.onclick = null;
      byId('confirm-cancel').onclick = null;
      dialog.onclose = null;
      if (dialog.open) dialog.close();
      resolve(v);
    };
    ok.onclick = () => done(true);
    byId('confirm-cancel').onclick = () => done(false);
    dialog.onclose = () => done(false); // Escape
    dialog.showModal();
    byId('confirm-cancel').focus();
  });
}

/** Asks, acts, says what happened; the list is re-read so the page shows the server's state. */
async function change(ask: { title: string; message: string; action: string }, act: () => Promise<unknown>, done: string, reload: () => Promise<void>): Promise<void> {
  if (!(await confirmInWords(ask.title, ask.message, ask.action))) {
    flash('Nothing was changed.');
    return;
  }
  try {
    await act();
    flash(done);
  } catch (err) {
    flash(problem(err), 'bad');
  }
  await reload();
}

// --- sign-in and session ---
function showSignIn(message?: string): void {
  stopFollowing();
  for (const p of PAGES) byId(`page-${p}`).hidden = true;
  byId('nav').hidden = true;
  byId('who').hidden = true;
  byId('sign-in').hidden = false;
  const err = byId('sign-in-error');
  err.hidden = !message;
  err.textContent = message ?? '';
  byId<HTMLInputElement>('token').focus();
}

function showSignedIn(operator: string): void {
  byId('sign-in').hidden = true;
  byId('nav').hidden = false;
  byId('who').hidden = false;
  byId('who-name').textContent = `Signed in as ${operator}`;
}

whenSignedOut((message) => showSignIn(message));

byId<HTMLFormElement>('sign-in-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const input = byId<HTMLInputElement>('token');
  const token = input.value.trim();
  if (!token) {
    showSignIn('Paste your operator token first.');
    return;
  }
  try {
    const s = await api.signIn(token);
    input.value = '';
    showSignedIn(s.operator);
    flash(`Signed in as ${s.operator}. The session ends after a while without use, and at the latest ${dateTime(new Date(s.expiresAt))}.`);
    await route(true);
  } catch (err) {
    input.setAttribute('aria-invalid', 'true');
    showSignIn(problem(err));
  }
});

byId('sign-out').addEventListener('click', async () => {
  try {
    await api.signOut();
    showSignIn();
    flash('Signed out. The session has ended on the server too.');
  } catch (err) {
    flash(problem(err), 'bad');
  }
});

// --- router ---
function currentPage(): Page {
  const name = location.hash.slice(1);
  return (PAGES as readonly string[]).includes(name) ? (name as Page) : 'overview';
}

async function route(focus: boolean): Promise<void> {
  if (!byId('sign-in').hidden) return;
  stopFollowing();
  const page = currentPage();
  for (const p of PAGES) byId(`page-${p}`).hidden = p !== page;
  for (const a of byId('nav').querySelectorAll('a')) {
    if (a.getAttribute('href') === `#${page}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (focus) {
    // A confirmation belongs to the page it was given on.
    flash('');
    byId(`${page}-h`).focus();
  }
  try {
    await LOADERS[page]();
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) flash(problem(err), 'bad');
  }
}

window.addEventListener('hashchange', () => void route(true));

// --- overview ---
async function loadOverview(): Promise<void> {
  const o = await api.get<Overview>('overview');
  const posture = byId('ov-posture');
  posture.textContent = o.posture.summary;
  posture.dataset['status'] = o.posture.status;
  const warnings = byId('ov-warnings');
  clear(warnings);
  if (o.warnings.length === 0) warnings.append(h('li', { class: 'none' }, 'No warnings.'));
  for (const w of o.warnings) warnings.append(h('li', {}, w));
  const tiles = byId('ov-tiles');
  clear(tiles);
  const tile = (label: string, value: string, state?: string) => h('div', { class: 'card tile', 'data-state': state }, h('p', { class: 'tile-value' }, value), h('p', { class: 'tile-label' }, label));
  tiles.append(
    tile('gateways online', `${o.gateways.online} of ${o.gateways.registered}`, o.gateways.online < o.gateways.registered ? 'bad' : 'ok'),
    tile('doors up', `${o.doors.up} of ${o.doors.total}`, o.doors.up < o.doors.total ? 'bad' : 'ok'),
    tile('devices active', String(o.devices.active)),
    tile('suspended / revoked', `${o.devices.suspended} / ${o.devices.revoked}`),
    tile('catalog version', o.posture.catalog ? `v${o.posture.catalog.version}` : 'none'),
  );
  const enrolls = o.enrollmentsPerHour;
  const totalEnrolls = enrolls.reduce((n, x) => n + x.count, 0);
  const hour = (iso: string) => new Date(iso).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  byId('ov-enroll').replaceChildren(
    barChart(enrolls.map((x) => ({ label: hour(x.hour), value: x.count, title: `${x.count} enrollment(s) in the hour from ${hour(x.hour)}` })), `${totalEnrolls} enrollment(s) in the last 24 hours, at most ${Math.max(0, ...enrolls.map((x) => x.count))} in one hour.`, { labelEvery: 6 }),
  );
  const days = o.bytesPerDay;
  byId('ov-bytes').replaceChildren(
    barChart(days.map((x) => ({ label: x.day.slice(5), value: x.bytes, title: `${bytes(x.bytes)} on ${x.day}` })), `${bytes(days.reduce((n, x) => n + x.bytes, 0))} in the last 14 days; today ${bytes(days.at(-1)?.bytes ?? 0)}.`, { labelEvery: 3 }),
  );
}

// --- devices ---
function usageText(d: Device): string {
  return d.quotaBytes === null ? `${bytes(d.usageBytes)} (no quota)` : `${bytes(d.usageBytes)} of ${bytes(d.quotaBytes)}`;
}

async function loadDevices(): Promise<void> {
  const q = byId<HTMLInputElement>('device-q').value.trim();
  const state = byId<HTMLSelectElement>('device-state').value;
  const params = new URLSearchParams({ limit: '200' });
  if (q) params.set('q', q);
  if (state) params.set('state', state);
  const { devices } = await api.get<{ devices: Device[] }>(`devices?${params}`);
  const body = byId('devices-table').querySelector('tbody')!;
  clear(body);
  byId('devices-empty').hidden = devices.length > 0;
  for (const d of devices) {
    const name = `device ${shortId(d.id)} (${d.ipv4})`;
    const actions = h('td', { class: 'row-actions' });
    const act = (label: string, verb: string, path: string, message: string, done: string) => {
      const b = h('button', { type: 'button', 'data-action': verb, 'aria-label': `${label} ${name}` }, label);
      b.addEventListener('click', () => void change({ title: `${label} ${name}?`, message, action: label }, () => api.post(`devices/${d.id}/${path}`, {}), done, loadDevices));
      actions.append(b);
    };
    if (d.state === 'active') act('Suspend', 'suspend', 'suspend', 'Its peer leaves every gateway now; its address is kept, and you can resume it later.', `Suspended ${name}: its peer is leaving every gateway.`);
    if (d.state === 'suspended') act('Resume', 'resume', 'resume', 'It is admitted on its gateways again within seconds.', `Resumed ${name}: it is admitted on its gateways again.`);
    if (d.state !== 'revoked') act('Revoke', 'revoke', 'revoke', 'Its peer leaves every gateway now and its address is freed. This cannot be undone: the person needs a new invite.', `Revoked ${name}: its peer is leaving every gateway and its address is free.`);
    body.append(
      h('tr', { 'data-device': d.id, 'data-state': d.state },
        h('td', {}, h('code', { title: d.id }, shortId(d.id)), h('br'), h('span', { class: 'muted', title: d.publicKey }, `key ${d.publicKey.slice(0, 10)}…`)),
        h('td', {}, h('span', { class: `badge ${d.state}` }, d.state), d.stateReason ? h('span', { class: 'muted reason' }, ` ${d.stateReason}`) : null),
        h('td', {}, d.ipv4),
        h('td', {}, d.gatewayName ? `${d.gatewayName} (${d.region})` : d.region),
        h('td', {}, usageText(d)),
        h('td', {}, d.note ?? ''),
        actions,
      ),
    );
  }
  labelCells(byId<HTMLTableElement>('devices-table'));
}

byId<HTMLFormElement>('device-search').addEventListener('submit', (ev) => {
  ev.preventDefault();
  void loadDevices().catch((err) => flash(problem(err), 'bad'));
});

// --- gateways ---
async function loadGateways(): Promise<void> {
  const { gateways } = await api.get<{ gateways: Gateway[] }>('gateways/detail');
  const list = byId('gateway-list');
  clear(list);
  if (gateways.length === 0) list.append(h('p', { class: 'muted' }, 'No gateway yet.'));
  for (const g of gateways) {
    const state = !g.registered ? 'not registered' : `${g.online ? 'online' : 'offline'}${g.drained ? ', drained' : ''}`;
    const actions = h('p', { class: 'row-actions' });
    const act = (label: string, verb: string, message: string, done: string) => {
      const b = h('button', { type: 'button', 'data-action': verb, 'aria-label': `${label} gateway ${g.name}` }, label);
      b.addEventListener('click', () => void change({ title: `${label} gateway ${g.name}?`, message, action: label }, () => api.post(`gateways/${g.id}/${verb}`, {}), done, loadGateways));
      actions.append(b);
    };
    if (g.drained) act('Undrain', 'undrain', 'New devices may be placed on it again.', `Undrained ${g.name}: it takes new devices again.`);
    else act('Drain', 'drain', 'No new device is placed on it; the devices it has keep working and its doors stay in the catalog.', `Drained ${g.name}: no new devices land there; its devices keep working.`);
    act('Remove', 'remove', 'It leaves the catalog and placement for good and its credential stops working. Devices placed on it lose their tunnel and are told to get a new configuration. This cannot be undone.', `Removed ${g.name}: its devices are told to get a new configuration.`);
    const heard = g.lastHeartbeatAt ? `last heartbeat ${relative(new Date(g.lastHeartbeatAt))}` : 'no heartbeat yet';
    const doors = h('ul', { class: 'doors' });
    for (const lane of g.doors) {
      // Up: the gateway heartbeats and the lane's interface said it is up and bound (before its first report, the heartbeat alone).
      const up = g.online && (lane.health === null || (lane.health.up && lane.health.listening));
      const peers = lane.health ? `, ${lane.health.peers} peers` : '';
      for (const e of lane.endpoints) {
        doors.append(h('li', {}, h('span', { class: `badge ${up ? 'active' : 'revoked'}` }, up ? 'up' : 'down'), ` ${lane.tier} ${lane.protocol} ${e.host}:${e.port}${peers}`));
      }
    }
    if (g.doors.length === 0) doors.append(h('li', { class: 'muted' }, 'no doors until it registers'));
    list.append(
      h('section', { class: 'card gateway', 'data-gateway': g.id, 'aria-label': `Gateway ${g.name}` },
        h('h2', {}, g.name, ' ', h('span', { class: `badge ${g.online ? 'active' : g.registered ? 'revoked' : 'suspended'}` }, state)),
        h('dl', {},
          h('dt', {}, 'Region'), h('dd', {}, `${g.region} (${g.country})`),
          h('dt', {}, 'Heartbeat'), h('dd', {}, heard),
          h('dt', {}, 'Peers'), h('dd', {}, String(g.peers)),
          h('dt', {}, 'Bytes today'), h('dd', {}, bytes(g.bytesToday)),
          h('dt', {}, 'Key'), h('dd', {}, h('code', {}, g.wgPublicKey ?? '—')),
        ),
        h('h3', {}, 'Doors'),
        doors,
        actions,
      ),
    );
  }
}

byId<HTMLFormElement>('gateway-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const err = byId('gateway-error');
  const region = byId<HTMLInputElement>('gw-region').value.trim();
  const country = byId<HTMLInputElement>('gw-country').value.trim();
  const name = byId<HTMLInputElement>('gw-name').value.trim();
  if (!region || !/^[A-Za-z]{2}$/.test(country)) {
    err.hidden = false;
    err.textContent = 'Give a region (such as NL or eu-west) and a two-letter exit country (such as NL).';
    return;
  }
  err.hidden = true;
  try {
    const [gw, trust] = await Promise.all([
      // joinCode: from servers that offer `damm gateway join` (one line carrying the URL, the token and the pin).
      api.post<{ gatewayId: string; name: string; registrationToken: string; expiresAt: string; joinCode?: string }>('gateways', { region, country, ...(name ? { name } : {}) }),
      api.get<Trust>('trust'),
    ]);
    const controlPlane = new URL('..', document.baseURI).href.replace(/\/$/, '');
    byId<HTMLTextAreaElement>('gw-env').value = `DAMM_CONTROL_PLANE=${controlPlane}\nDAMM_GATEWAY_TOKEN=${gw.registrationToken}\nDAMM_ROOT_SHA256=${trust.rootV1Sha256}\n`;
    byId('gw-join-wrap').hidden = !gw.joinCode;
    byId<HTMLTextAreaElement>('gw-join').value = gw.joinCode ?? '';
    byId('gw-added-what').textContent = `Gateway ${gw.name} (${region.toUpperCase()}, exit ${country.toUpperCase()}) is waiting to register. Its one-time token expires ${dateTime(new Date(gw.expiresAt))}.`;
    byId('gw-added').hidden = false;
    byId('gw-added-h').focus();
    flash(`Added gateway ${gw.name}: it appears as "not registered" until its agent starts with the token below.`);
    await loadGateways();
  } catch (e) {
    err.hidden = false;
    err.textContent = problem(e);
  }
});

// --- invites and passes ---
async function loadPasses(): Promise<void> {
  const { passes } = await api.get<{ passes: Pass[] }>('passes?limit=200');
  const body = byId('passes-table').querySelector('tbody')!;
  clear(body);
  for (const p of passes.filter((x) => x.kind !== 'public')) {
    const actions = h('td', { class: 'row-actions' });
    const what = `${p.kind === 'invite' ? 'invite' : 'pass'} ${shortId(p.id)}${p.note ? ` (“${p.note}”)` : ''}`;
    if (p.state === 'usable') {
      const b = h('button', { type: 'button', 'data-action': 'revoke', 'aria-label': `Revoke ${what}` }, 'Revoke');
      b.addEventListener('click', () =>
        void change(
          { title: `Revoke ${what}?`, message: 'Its link stops working at once. Devices already enrolled with it stay connected.', action: 'Revoke' },
          () => api.post(`passes/${p.id}/revoke`),
          `Revoked ${what}: its link no longer works.`,
          loadPasses,
        ),
      );
      actions.append(b);
    }
    body.append(
      h('tr', { 'data-pass': p.id },
        h('td', {}, p.kind),
        h('td', {}, h('span', { class: `badge ${p.state === 'usable' ? 'active' : 'revoked'}` }, p.state)),
        h('td', {}, p.tier),
        h('td', {}, `${p.usesLeft} of ${p.maxUses}`),
        h('td', {}, dateTime(new Date(p.expiresAt))),
        h('td', {}, p.note ?? ''),
        actions,
      ),
    );
  }
  labelCells(byId<HTMLTableElement>('passes-table'));
}

byId<HTMLFormElement>('invite-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const err = byId('invite-error');
  const uses = Number(byId<HTMLInputElement>('inv-uses').value);
  const days = Number(byId<HTMLInputElement>('inv-days').value);
  if (!Number.isInteger(uses) || uses < 1 || uses > 100000) {
    err.hidden = false;
    err.textContent = 'Uses must be a whole number from 1 to 100000.';
    return;
  }
  if (!Number.isFinite(days) || days <= 0 || days > 365) {
    err.hidden = false;
    err.textContent = 'The expiry must be more than 0 and at most 365 days.';
    return;
  }
  err.hidden = true;
  const tier = byId<HTMLSelectElement>('inv-tier').value;
  const note = byId<HTMLInputElement>('inv-note').value.trim();
  try {
    const inv = await api.post<{ id: string; link: string; tier: string; uses: number; expiresAt: string }>('invites', {
      uses,
      expiresInSeconds: Math.max(60, Math.round(days * 86400)),
      ...(tier ? { tier } : {}),
      ...(note ? { note } : {}),
    });
    byId<HTMLTextAreaElement>('issued-link').value = inv.link;
    byId('issued-qr').replaceChildren(qrSvg(inv.link, 'QR code of the invite link'));
    byId('issued').hidden = false;
    byId('issued-h').focus();
    flash(`Issued an invite${note ? ` for “${note}”` : ''}: tier ${inv.tier}, ${inv.uses} use(s), expires ${dateTime(new Date(inv.expiresAt))}.`);
    await loadPasses();
  } catch (e) {
    err.hidden = false;
    err.textContent = problem(e);
  }
});

byId('copy-link').addEventListener('click', async () => {
  try {
    await navigator.clipboard.writeText(byId<HTMLTextAreaElement>('issued-link').value);
    flash('Link copied.');
  } catch {
    byId<HTMLTextAreaElement>('issued-link').select();
    flash('Select the link and copy it yourself: this browser did not allow the page to.', 'bad');
  }
});

// --- audit ---
let lastAuditId = 0;

function auditParams(): URLSearchParams {
  const p = new URLSearchParams();
  const action = byId<HTMLInputElement>('audit-action').value.trim();
  const actor = byId<HTMLInputElement>('audit-actor').value.trim();
  const device = byId<HTMLInputElement>('audit-device').value.trim();
  const since = byId<HTMLInputElement>('audit-since').value;
  const until = byId<HTMLInputElement>('audit-until').value;
  if (action) p.set('action', action);
  if (actor) p.set('actor', actor);
  if (device) p.set('subject', `device:${device}`);
  if (since) p.set('since', new Date(since).toISOString());
  if (until) p.set('until', new Date(until).toISOString());
  return p;
}

function auditRow(e: AuditEntry): HTMLTableRowElement {
  const details = Object.entries(e.details).map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`).join(', ');
  return h('tr', { 'data-audit': String(e.id), 'data-action': e.action },
    h('td', {}, h('time', { datetime: e.at }, dateTime(new Date(e.at)))),
    h('td', {}, e.actor),
    h('td', {}, e.action),
    h('td', {}, e.subject ?? ''),
    h('td', { class: 'details' }, details),
  );
}

async function loadAudit(): Promise<void> {
  const p = auditParams();
  p.set('limit', '200');
  const { entries } = await api.get<{ entries: AuditEntry[] }>(`audit?${p}`);
  const body = byId('audit-table').querySelector('tbody')!;
  body.replaceChildren(...entries.slice().reverse().map(auditRow));
  labelCells(byId<HTMLTableElement>('audit-table'));
  lastAuditId = entries.at(-1)?.id ?? lastAuditId;
  if (byId<HTMLInputElement>('audit-follow').checked) startFollowing();
}

/** Follow live: new entries matching the filter are read every few seconds, after the last one shown. */
function startFollowing(): void {
  stopFollowing();
  followTimer = window.setInterval(async () => {
    const p = auditParams();
    p.set('afterId', String(lastAuditId));
    p.set('limit', '100');
    try {
      const { entries } = await api.get<{ entries: AuditEntry[] }>(`audit?${p}`);
      if (entries.length === 0) return;
      byId('audit-table').querySelector('tbody')!.prepend(...entries.slice().reverse().map(auditRow));
      labelCells(byId<HTMLTableElement>('audit-table'));
      lastAuditId = entries.at(-1)!.id;
    } catch (err) {
      stopFollowing();
      if (!(err instanceof ApiError && err.status === 401)) flash(problem(err), 'bad');
    }
  }, 3000);
}

function stopFollowing(): void {
  if (followTimer !== null) window.clearInterval(followTimer);
  followTimer = null;
}

byId<HTMLFormElement>('audit-filter').addEventListener('submit', (ev) => {
  ev.preventDefault();
  void loadAudit().catch((err) => flash(problem(err), 'bad'));
});
byId<HTMLInputElement>('audit-follow').addEventListener('change', (ev) => {
  if ((ev.target as HTMLInputElement).checked) {
    startFollowing();
    flash('Following the audit log: new entries appear at the top.');
  } else {
    stopFollowing();
    flash('Stopped following the audit log.');
  }
});

// --- keys ---
async function loadKeys(): Promise<void> {
  const t = await api.get<Trust>('trust');
  const body = byId('keys-body');
  clear(body);
  const warn = h('ul', { class: 'warnings', 'aria-label': 'Warnings' });
  if (t.warnings.length === 0) warn.append(h('li', { class: 'none' }, 'No warnings.'));
  for (const w of t.warnings) warn.append(h('li', {}, w));
  body.append(
    warn,
    h('section', { class: 'card' },
      h('h2', {}, `Root version ${t.rootVersion}`),
      h('dl', {},
        h('dt', {}, 'Issued'), h('dd', {}, dateTime(new Date(t.rootIssuedAt))),
        h('dt', {}, 'Expires'), h('dd', {}, `${dateTime(new Date(t.rootExpiresAt))} (${relative(new Date(t.rootExpiresAt))})`),
        h('dt', {}, 'Refresh due'), h('dd', {}, dateTime(new Date(t.rootRefreshDueAt))),
        h('dt', {}, 'Root keys'), h('dd', {}, `${t.root.threshold} of ${t.root.keyids.length}`),
        h('dt', {}, 'Pin (root v1)'), h('dd', {}, h('code', {}, t.rootV1Sha256)),
      ),
    ),
  );
  for (const role of ['catalog', 'admission'] as const) {
    const r = t[role];
    const rows = r.keys.map((k) =>
      h('tr', {},
        h('td', {}, h('code', { title: k.keyid }, k.keyid.slice(0, 16))),
        h('td', {}, `${dateTime(new Date(k.notBefore))} – ${dateTime(new Date(k.notAfter))}`),
        h('td', {}, h('span', { class: `badge ${k.validNow ? 'active' : 'revoked'}` }, k.validNow ? 'valid now' : 'not valid now')),
        h('td', {}, k.keyFileHere ? 'on this host' : 'not on this host'),
      ),
    );
    body.append(
      h('section', { class: 'card' },
        h('h2', {}, `${role === 'catalog' ? 'Catalog' : 'Admission'} keys (threshold ${r.threshold})`),
        h('p', {}, r.rotationDueAt ? `Next rotation due ${dateTime(new Date(r.rotationDueAt))} (${relative(new Date(r.rotationDueAt))}).` : 'No key is valid now: rotate at once.'),
        h('div', { class: 'table-wrap' },
          h('table', {}, h('caption', { class: 'vh' }, `${role} keys`),
            h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Key'), h('th', { scope: 'col' }, 'Window'), h('th', { scope: 'col' }, 'Now'), h('th', { scope: 'col' }, 'Key file'))),
            h('tbody', {}, ...rows),
          ),
        ),
      ),
    );
  }
  for (const table of body.querySelectorAll('table')) labelCells(table);
}

const LOADERS: Record<Page, () => Promise<void>> = {
  overview: loadOverview,
  devices: loadDevices,
  gateways: loadGateways,
  invites: loadPasses,
  audit: loadAudit,
  keys: loadKeys,
};

// --- start ---
void (async () => {
  try {
    const s = await api.session();
    if (!s) return showSignIn();
    showSignedIn(s.operator);
    await route(false);
  } catch (err) {
    showSignIn(problem(err));
  }
})();
