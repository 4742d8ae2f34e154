/**
 * `damm catalog show`: the client side of the trust model (docs/trust.md,
 * "Pinning in clients"), for anyone holding the pin, not only operators.
 *
 *   1. trust starts from root v1 and its sha256 (the pin `damm init` and
 *      `damm keys status` print), given here with --root-sha256 or
 *      DAMM_ROOT_SHA256, never taken from the control plane being checked;
 *   2. every run walks root N+1, N+2, ... (TrustClient.updateRoot: at most 32
 *      per run, progress kept in <state-dir>/trust-state.json);
 *   3. the catalog is verified against the latest root (threshold of catalog
 *      keys valid now, unexpired, not older than the last one seen here).
 *
 * Any failure is a refusal: nothing is printed but the error and its code,
 * and the exit status is 1.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { DammError, isDammError } from '../../core/errors.js';
import { withDataDir } from '../common.js';
import { fail, printJson, printTable } from '../output.js';

interface ShowOpts {
  dataDir: string;
  url?: string;
  rootSha256?: string;
  stateDir?: string;
  json?: boolean;
}

function checkPin(v: string | undefined, from: string, checkRootSha256: (value: string, from: string) => string): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : checkRootSha256(v, from);
}

/** --state-dir; else <data-dir>/client-trust when a data directory was named; else $XDG_CONFIG_HOME/damm/trust (~/.config/damm/trust). */
function stateDirFor(o: ShowOpts, dataDirNamed: boolean): string {
  if (o.stateDir) return path.resolve(o.stateDir);
  if (dataDirNamed) return path.resolve(o.dataDir, 'client-trust');
  const config = process.env.XDG_CONFIG_HOME || path.join(homedir(), '.config');
  return path.join(config, 'damm', 'trust');
}

async function urlFor(o: ShowOpts): Promise<string> {
  const url = o.url ?? process.env.DAMM_URL ?? (await readFile(path.join(o.dataDir, 'url'), 'utf8').catch(() => '')).trim();
  if (!url) throw new DammError('invalid_argument', 'No control plane URL: pass --url or set DAMM_URL.');
  return url.replace(/\/+$/, '');
}

async function show(o: ShowOpts, dataDirNamed: boolean): Promise<void> {
  // The trust client loads here, when the command runs, not for `damm --help` (src/cli/main.ts).
  const { httpTrustFetcher } = await import('../../client/http-fetcher.js');
  const { checkRootSha256, openPinnedTrust } = await import('../../client/trust-state.js');
  const url = await urlFor(o);
  const stateDir = stateDirFor(o, dataDirNamed);
  const givenPin = checkPin(o.rootSha256, '--root-sha256', checkRootSha256) ?? checkPin(process.env.DAMM_ROOT_SHA256, 'DAMM_ROOT_SHA256', checkRootSha256);
  const refused = (err: unknown): never => {
    if (isDammError(err)) throw new DammError(err.code, `Refusing the catalog from ${url}: ${err.message}`, { cause: err, ...(err.details ? { details: err.details } : {}) });
    throw err;
  };
  // The one pinned-root bootstrap (src/client/trust-state.ts), shared with the gateway agent.
  const opened = await openPinnedTrust({ dir: stateDir, pin: givenPin ? { sha256: givenPin } : {}, fetcher: httpTrustFetcher(url) }).catch((err: unknown) => {
    if (isDammError(err) && (err.details as { savedPin?: string } | undefined)?.savedPin) {
      throw new DammError(err.code, `${err.message}; use another --state-dir for another service.`, { cause: err, ...(err.details ? { details: err.details } : {}) });
    }
    return refused(err);
  });
  if (!opened) {
    throw new DammError('invalid_argument', `No trusted root in ${stateDir} yet: pass --root-sha256 (or set DAMM_ROOT_SHA256) to the sha256 of root v1 that the operator gave you ("damm init" and "damm keys status" print it).`);
  }
  const { client, root: before, pin } = opened;
  const result = await client.refresh().catch(refused);
  const root = await client.currentRoot();

  const doors = result.catalog.frontDoors.map((d) => ({
    id: d.id, region: d.region, country: d.country, tier: d.tier, protocol: d.protocol, endpoint: d.endpoint, gatewayId: d.gatewayId, publicKey: d.publicKey,
    params: d.params, tunnel: `${d.tunnel.ipv4Cidr} ${d.tunnel.ipv6Prefix}`,
  }));
  if (o.json) {
    printJson({
      url,
      stateDir,
      rootV1Sha256: pin,
      root: { version: root.version, expiresAt: root.document.expiresAt, walkedFrom: before.version },
      catalog: {
        version: result.version,
        issuedAt: result.catalog.issuedAt,
        expiresAt: result.catalog.expiresAt,
        stale: result.stale,
        payloadSha256: result.payloadSha256,
        signers: result.signers,
      },
      frontDoors: doors,
    });
    return;
  }
  const say = (line: string) => process.stdout.write(`${line}\n`);
  say(`catalog v${result.version} from ${url}: issued ${result.catalog.issuedAt}, expires ${result.catalog.expiresAt}${result.stale ? ' (EXPIRED, within the grace period)' : ''}`);
  say(`  verified against root v${root.version}${root.version !== before.version ? ` (walked from v${before.version})` : ''}, expires ${root.document.expiresAt}; pinned root v1 ${pin ?? '(pin file missing; trusting the saved state)'}`);
  say(`  ${doors.length} front door(s):`);
  printTable(doors, ['id', 'region', 'country', 'tier', 'protocol', 'endpoint', 'tunnel']);
}

export function registerCatalog(program: Command): void {
  const catalog = program.command('catalog').description('the signed front-door catalog, verified against a pinned root of trust');
  withDataDir(catalog.command('show'))
    .description('fetch the catalog, walk the root chain from the pinned root v1, verify, and print the front doors')
    .option('--url <url>', 'control plane URL (env DAMM_URL; default: <data-dir>/url)')
    .option('--root-sha256 <hex>', 'sha256 of root v1, from the operator (env DAMM_ROOT_SHA256); needed the first time a state directory is used')
    .option('--state-dir <dir>', 'where the trusted root and last catalog are kept (default: <data-dir>/client-trust when --data-dir or DAMM_DATA_DIR is set, else ~/.config/damm/trust)')
    .option('--json', 'print JSON for scripts')
    .action(async (_opts: unknown, cmd: Command) => {
      const o = cmd.opts() as ShowOpts;
      const dataDirNamed = cmd.getOptionValueSource('dataDir') === 'cli' || process.env.DAMM_DATA_DIR !== undefined;
      try {
        await show(o, dataDirNamed);
      } catch (err) {
        fail(err);
      }
    });
}
