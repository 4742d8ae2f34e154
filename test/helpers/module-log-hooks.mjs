// Module hooks for test/cli/startup.test.ts: every module URL the process loads
// is appended to the file named by DAMM_MODULE_LOG (hooks run on their own thread).
import { appendFileSync } from 'node:fs';

export async function load(url, context, nextLoad) {
  appendFileSync(process.env.DAMM_MODULE_LOG, `${url}\n`);
  return nextLoad(url, context);
}
