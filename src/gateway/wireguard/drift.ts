/**
 * Does an interface still hold the device-level settings the agent gave it?
 * A daemon that restarted comes back with no key, no port and (amneziawg-go)
 * default headers; something else may have changed a setting by hand. Drift
 * repair calls `configureInterface` again when this lists anything; the
 * peers are compared separately (replacePeers).
 */
import { awgParamsEqual } from '../../core/amneziawg.js';
import type { InterfaceConfig, InterfaceState } from './backend.js';

export type InterfaceDrift = 'private_key' | 'listen_port' | 'awg';

/** What differs between the read-back `state` and the `want`ed settings (empty: nothing). */
export function interfaceDrift(
  state: InterfaceState,
  want: Pick<InterfaceConfig, 'listenPort' | 'awg'> & { publicKey: string },
): InterfaceDrift[] {
  const drift: InterfaceDrift[] = [];
  if (state.publicKey !== want.publicKey) drift.push('private_key');
  // Port 0 asks the daemon to pick one: any port it bound is right.
  if (want.listenPort !== 0 && state.listenPort !== want.listenPort) drift.push('listen_port');
  if (want.awg !== undefined && (state.awg === undefined || !awgParamsEqual(state.awg, want.awg))) drift.push('awg');
  return drift;
}
