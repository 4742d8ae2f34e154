import { DammError } from '../core/errors.js';
import type { Db } from '../store/db.js';
import type { Config } from './config.js';

/**
 * Addresses are stored as offsets into the pools, so the pools may not
 * change under existing devices. The first start records them; a later
 * start with different pools is refused with a clear error.
 */
export async function checkPoolSettings(db: Db, config: Config): Promise<void> {
  const want = { ipv4Pool: config.ipv4Pool, ipv6Prefix: config.ipv6Prefix };
  await db.query("INSERT INTO settings (key, value) VALUES ('address_pools', $1) ON CONFLICT (key) DO NOTHING", [JSON.stringify(want)]);
  const r = await db.query<{ value: { ipv4Pool: string; ipv6Prefix: string } }>("SELECT value FROM settings WHERE key = 'address_pools'");
  const have = r.rows[0]!.value;
  if (have.ipv4Pool !== want.ipv4Pool || have.ipv6Prefix !== want.ipv6Prefix) {
    throw new DammError(
      'config_invalid',
      `This store was set up with address pools ${have.ipv4Pool} and ${have.ipv6Prefix}; the configuration now says ${want.ipv4Pool} and ${want.ipv6Prefix}. Pools cannot change under enrolled devices.`,
    );
  }
}
