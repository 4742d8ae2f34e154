/**
 * Where things live inside a DAMM data directory. Shared by the control
 * plane (its key ring), backup/restore and the CLI, none of which should
 * import another's modules just to find a folder.
 */
import path from 'node:path';

/** The online signing keys (catalog, admission), one file of mode 0600 each. */
export function keysDir(dataDir: string): string {
  return path.join(dataDir, 'keys');
}
