/**
 * The gateway_doors migration keeps gateways registered before lanes
 * existed working: their endpoints become lane 0 (plain WireGuard, their
 * key), so the catalog lists the same door ids and placement still finds them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { createTestDatabase } from '../helpers/db.js';
import { listMigrations } from '../../src/store/migrate.js';
import { withTx } from '../../src/store/db.js';
import { frontDoorsOf } from '../../src/control-plane/services/catalog.js';
import { wgKeyPair } from '../helpers/keys.js';

test('gateways from before lanes become lane-0 doors with the same catalog ids', async () => {
  const database = await createTestDatabase();
  try {
    const m = (await listMigrations()).find((x) => x.name === 'gateway_doors');
    assert.ok(m, 'the gateway_doors migration exists');
    const key = wgKeyPair().publicKey;
    const registered = '6b1f6a3e-3c44-4d8e-9d7a-5c7b2f9e1a01';
    const pending = '6b1f6a3e-3c44-4d8e-9d7a-5c7b2f9e1a02';
    const endpoints = [
      { tier: 'T0', host: '192.0.2.10', port: 51820 },
      { tier: 'T0', host: '192.0.2.10', port: 443 },
      { tier: 'T0', host: '2001:db8::10', port: 51820 },
    ];
    const sql = await readFile(m.file, 'utf8');
    const rows = await withTx(database.db, async (tx) => {
      // The table as it was before this migration.
      await tx.query('ALTER TABLE gateways DROP COLUMN doors, DROP COLUMN door_health, DROP COLUMN door_health_at');
      await tx.query("ALTER TABLE gateways ADD COLUMN endpoints jsonb NOT NULL DEFAULT '[]'");
      await tx.query(
        `INSERT INTO gateways (id, name, region, country, wg_public_key, endpoints, egress_ips, registered_at, last_heartbeat_at)
         VALUES ($1, 'gw-old', 'NL', 'NL', $2, $3, '{192.0.2.10}', now(), now()), ($4, 'gw-pending', 'NL', 'NL', NULL, '[]', '{}', NULL, NULL)`,
        [registered, key, JSON.stringify(endpoints), pending],
      );
      await tx.query(sql);
      return (await tx.query('SELECT * FROM gateways ORDER BY name')).rows;
    });
    const [old, notYet] = rows;
    assert.deepEqual(old.doors, [
      {
        lane: 0,
        protocol: 'wireguard',
        tier: 'T0',
        publicKey: key,
        params: null,
        endpoints: endpoints.map(({ host, port }) => ({ host, port })),
      },
    ]);
    assert.deepEqual(notYet.doors, [], 'an unregistered gateway has no doors yet');
    assert.ok(!('endpoints' in old), 'the old column is gone (one place for doors)');
    const ids = frontDoorsOf(old, { ipv4Cidr: '10.66.0.0/16', ipv6Prefix: 'fd0d:a44d:66::/64' }).map((d) => d.id);
    assert.deepEqual(ids, [`${registered}/T0/51820`, `${registered}/T0/443`, `${registered}/T0/51820/2`], 'the ids the old catalog used');
  } finally {
    await database.close();
  }
});
