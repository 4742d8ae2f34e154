#!/usr/bin/env node
/**
 * `damm`: one command for operators.
 *
 * Start-up rule: the command modules imported here only declare commands and
 * options (commander, node builtins, small helpers); each action imports the
 * server, store, trust or agent code it needs when it runs, so `--version` and
 * `--help` stay fast. test/cli/startup.test.ts fails if fastify, pg, typebox
 * and the like load for them.
 */
import { Command, CommanderError } from 'commander';
import { registerServe } from './commands/serve.js';
import { registerOperator } from './commands/operator.js';
import { registerKeys } from './commands/keys.js';
import { registerBackup } from './commands/backup.js';
import { registerGatewayRun } from './commands/gateway.js';
import { registerGatewayJoin } from './commands/gateway-join.js';
import { registerCatalog } from './commands/catalog.js';
import { VERSION } from '../io/version.js';

const program = new Command('damm')
  .description('DAMM: from "I opened a link" to "my traffic leaves through a DAMM gateway"')
  .version(VERSION)
  .showHelpAfterError('(add --help for usage)')
  .exitOverride();

registerServe(program);
registerOperator(program);
registerKeys(program);
registerBackup(program);
registerGatewayRun(program);
registerGatewayJoin(program);
registerCatalog(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  process.stderr.write(`damm: ${(err as Error).message}\n`);
  process.exit(1);
}
