/** Operator commands that talk to a running control plane over its API. */
import type { Command } from 'commander';
import { api, resolveTarget } from '../api-client.js';
import { withApi } from '../common.js';
import { fail, printJson, printTable } from '../output.js';

type ApiOpts = { dataDir: string; url?: string; token?: string; json?: boolean };

const int = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive whole number`);
  return n;
};

/** Accepts 90s, 15m, 12h, 7d or plain seconds. */
export function parseDuration(v: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(v.trim());
  if (!m) throw new Error(`"${v}" is not a duration (try 15m, 12h or 7d)`);
  return Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86400 } as const)[m[2] as '' | 's' | 'm' | 'h' | 'd'];
}

function run<O extends ApiOpts>(fn: (opts: O, ...args: string[]) => Promise<void>) {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const opts = cmd.opts() as O;
    try {
      await fn(opts, ...(args.slice(0, -2) as string[]));
    } catch (err) {
      fail(err);
    }
  };
}

export function registerOperator(program: Command): void {
  const pass = program.command('pass').description('install passes');
  withApi(pass.command('issue'))
    .description('issue one single-use install pass')
    .option('--tier <tier>', 'service tier')
    .option('--expires <duration>', 'lifetime, e.g. 15m or 2h', parseDuration)
    .option('--note <text>', 'a note for the audit log')
    .action(run<ApiOpts & { tier?: string; expires?: number; note?: string }>(async (o) => {
      const t = await resolveTarget(o);
      const p = await api<{ token: string; link: string; expiresAt: string; tier: string }>(t, 'POST', '/v1/operator/passes', {
        ...(o.tier ? { tier: o.tier } : {}), ...(o.expires ? { expiresInSeconds: o.expires } : {}), ...(o.note ? { note: o.note } : {}),
      });
      if (o.json) return printJson(p);
      process.stdout.write(`${p.link}\n  pass ${p.token}\n  tier ${p.tier}, expires ${p.expiresAt}\n`);
    }));
  withApi(pass.command('list')).description('list passes and invites').option('--limit <n>', 'how many', int('limit'), 100)
    .action(run<ApiOpts & { limit: number }>(async (o) => {
      const r = await api<{ passes: Record<string, unknown>[] }>(await resolveTarget(o), 'GET', `/v1/operator/passes?limit=${o.limit}`);
      if (o.json) return printJson(r);
      printTable(r.passes, ['id', 'kind', 'tier', 'usesLeft', 'maxUses', 'state', 'expiresAt']);
    }));

  const invite = program.command('invite').description('invites: passes with a tier, an expiry and a number of uses');
  withApi(invite.command('issue'))
    .description('issue an invite link')
    .option('--tier <tier>', 'service tier')
    .option('--uses <n>', 'how many devices may enroll with it', int('uses'), 1)
    .option('--expires <duration>', 'lifetime, e.g. 7d', parseDuration)
    .option('--note <text>', 'a note for the audit log')
    .action(run<ApiOpts & { tier?: string; uses: number; expires?: number; note?: string }>(async (o) => {
      const p = await api<{ token: string; link: string; expiresAt: string; tier: string; uses: number }>(await resolveTarget(o), 'POST', '/v1/operator/invites', {
        uses: o.uses, ...(o.tier ? { tier: o.tier } : {}), ...(o.expires ? { expiresInSeconds: o.expires } : {}), ...(o.note ? { note: o.note } : {}),
      });
      if (o.json) return printJson(p);
      process.stdout.write(`${p.link}\n  ${p.uses} use(s), tier ${p.tier}, expires ${p.expiresAt}\n`);
    }));

  const device = program.command('device').description('enrolled devices');
  withApi(device.command('list')).description('list devices')
    .option('--state <state>', 'active, suspended or revoked')
    .option('--search <text>', 'a device id (or its start), tunnel address, public key prefix, or words of its invite note')
    .option('--limit <n>', 'how many', int('limit'), 100)
    .action(run<ApiOpts & { state?: string; search?: string; limit: number }>(async (o) => {
      const q = new URLSearchParams({ limit: String(o.limit), ...(o.state ? { state: o.state } : {}), ...(o.search ? { q: o.search } : {}) });
      const r = await api<{ devices: Record<string, unknown>[] }>(await resolveTarget(o), 'GET', `/v1/operator/devices?${q}`);
      if (o.json) return printJson(r);
      printTable(r.devices, ['id', 'ipv4', 'region', 'exitCountry', 'tier', 'state', 'createdAt']);
    }));
  withApi(device.command('revoke <id>')).description('revoke a device: its peer leaves every gateway')
    .option('--reason <text>', 'why (recorded)')
    .action(run<ApiOpts & { reason?: string }>(async (o, id) => {
      const r = await api<Record<string, unknown>>(await resolveTarget(o), 'POST', `/v1/operator/devices/${encodeURIComponent(id!)}/revoke`, o.reason ? { reason: o.reason } : {});
      if (o.json) return printJson(r);
      process.stdout.write(`revoked ${String(r.id)} (${String(r.ipv4)})\n`);
    }));

  for (const [verb, done, what] of [['suspend', 'suspended', 'suspend a device: its peer leaves every gateway, its address is kept'], ['resume', 'resumed', 'resume a suspended device']] as const) {
    withApi(device.command(`${verb} <id>`)).description(what)
      .option('--reason <text>', 'why (recorded)')
      .action(run<ApiOpts & { reason?: string }>(async (o, id) => {
        const r = await api<Record<string, unknown>>(await resolveTarget(o), 'POST', `/v1/operator/devices/${encodeURIComponent(id!)}/${verb}`, o.reason ? { reason: o.reason } : {});
        if (o.json) return printJson(r);
        process.stdout.write(`${done} ${String(r.id)} (${String(r.ipv4)})\n`);
      }));
  }
  withApi(invite.command('revoke <id>')).description('revoke an invite or pass by its id: its link stops working')
    .action(run<ApiOpts>(async (o, id) => {
      await api<void>(await resolveTarget(o), 'POST', `/v1/operator/passes/${encodeURIComponent(id!)}/revoke`);
      if (o.json) return printJson({ revoked: id });
      process.stdout.write(`revoked ${id}\n`);
    }));

  const gateway = program.commands.find((c) => c.name() === 'gateway') ?? program.command('gateway').description('gateways');
  withApi(gateway.command('add')).description('add a gateway and print its one-time registration token')
    .requiredOption('--region <region>', 'region code, e.g. NL')
    .requiredOption('--country <cc>', 'exit country (ISO 3166 alpha-2)')
    .option('--name <name>', 'a name for it')
    .action(run<ApiOpts & { region: string; country: string; name?: string }>(async (o) => {
      const r = await api<{ gatewayId: string; registrationToken: string; expiresAt: string; name: string; joinCode: string }>(await resolveTarget(o), 'POST', '/v1/operator/gateways', {
        region: o.region, country: o.country, ...(o.name ? { name: o.name } : {}),
      });
      if (o.json) return printJson(r);
      process.stdout.write(
        `gateway ${r.name} (${r.gatewayId}), join code valid once, until ${r.expiresAt}.\n` +
          'On the gateway host, as root, run the line below and paste the join code when asked\n' +
          '(it carries the registration token: keep it off command lines and out of shell history):\n\n' +
          '  damm gateway join --endpoint <public address of this host>\n\n' +
          `join code:\n${r.joinCode}\n`,
      );
    }));
  withApi(gateway.command('list')).description('list gateways')
    .action(run<ApiOpts>(async (o) => {
      const r = await api<{ gateways: Record<string, unknown>[] }>(await resolveTarget(o), 'GET', '/v1/operator/gateways');
      if (o.json) return printJson(r);
      printTable(r.gateways.map((g) => ({ ...g, doors: (g.doors as GatewayDoorView[]).map(doorText).join(' | ') })),
        ['id', 'name', 'region', 'country', 'online', 'drained', 'doors', 'lastHeartbeatAt']);
    }));
  for (const [verb, what] of [['drain', 'stop placing new devices on a gateway; its devices keep working'], ['undrain', 'let a drained gateway take new devices again']] as const) {
    withApi(gateway.command(`${verb} <id>`)).description(what)
      .option('--reason <text>', 'why (recorded in the audit log)')
      .action(run<ApiOpts & { reason?: string }>(async (o, id) => {
        const r = await api<{ id: string; name: string; drained: boolean }>(await resolveTarget(o), 'POST', `/v1/operator/gateways/${encodeURIComponent(id!)}/${verb}`, o.reason ? { reason: o.reason } : {});
        if (o.json) return printJson(r);
        process.stdout.write(`gateway ${r.name} (${r.id}) ${r.drained ? 'is drained: no new devices land there; its devices keep working' : 'takes new devices again'}\n`);
      }));
  }
  withApi(gateway.command('remove <id>')).description('remove a gateway for good (no replacement): it leaves the catalog and placement, its credential stops working')
    .option('--reason <text>', 'why (recorded in the audit log)')
    .action(run<ApiOpts & { reason?: string }>(async (o, id) => {
      const r = await api<{ id: string; name: string; devicesPlaced: number }>(await resolveTarget(o), 'POST', `/v1/operator/gateways/${encodeURIComponent(id!)}/remove`, o.reason ? { reason: o.reason } : {});
      if (o.json) return printJson(r);
      process.stdout.write(`removed gateway ${r.name} (${r.id}); ${r.devicesPlaced} active device(s) had their config pointing there: whoami now tells them to get a new one\n`);
    }));

  const auditCmd = program.command('audit').description('the audit log');
  withApi(auditCmd.command('tail')).description('show recent audit entries')
    .option('--limit <n>', 'how many', int('limit'), 50)
    .option('--action <action>', 'only this action, e.g. device.enrolled')
    .option('-f, --follow', 'keep printing new entries')
    .action(run<ApiOpts & { limit: number; action?: string; follow?: boolean }>(async (o) => {
      const t = await resolveTarget(o);
      const show = (entries: { id: number; at: string; actor: string; action: string; subject: string | null }[]) => {
        for (const e of entries) {
          if (o.json) process.stdout.write(`${JSON.stringify(e)}\n`);
          else process.stdout.write(`${e.at}  ${e.action.padEnd(22)} ${(e.subject ?? '').padEnd(46)} ${e.actor}\n`);
        }
      };
      const q = (extra: Record<string, string>) => new URLSearchParams({ limit: String(o.limit), ...(o.action ? { action: o.action } : {}), ...extra });
      let r = await api<{ entries: { id: number; at: string; actor: string; action: string; subject: string | null }[] }>(t, 'GET', `/v1/operator/audit?${q({})}`);
      show(r.entries);
      let last = r.entries.at(-1)?.id ?? 0;
      while (o.follow) {
        await new Promise((res) => setTimeout(res, 1000));
        r = await api(t, 'GET', `/v1/operator/audit?${q({ afterId: String(last) })}`);
        show(r.entries);
        last = r.entries.at(-1)?.id ?? last;
      }
    }));
}

interface GatewayDoorView {
  lane: number;
  protocol: string;
  tier: string;
  endpoints: { host: string; port: number }[];
  health: { up: boolean; listening: boolean; peers: number } | null;
}

/** One lane in a line: "T0 wireguard 192.0.2.1:51820,443 up 3 peers" (or "not reported", "down", "not listening"). */
function doorText(d: GatewayDoorView): string {
  const hosts = [...new Set(d.endpoints.map((e) => e.host))];
  const where = hosts.map((h) => `${h}:${d.endpoints.filter((e) => e.host === h).map((e) => e.port).join(',')}`).join(' ');
  const h = d.health;
  const state = !h ? 'not reported' : !h.up ? 'down' : !h.listening ? 'not listening' : `up ${h.peers} peers`;
  return `${d.tier} ${d.protocol} ${where} ${state}`;
}
