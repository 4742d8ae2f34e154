/** How the CLI speaks: plain lines for people, --json for scripts, one exit code rule. */
import { isDammError } from '../core/errors.js';

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function printTable(rows: Record<string, unknown>[], columns: string[]): void {
  if (rows.length === 0) {
    process.stdout.write('(none)\n');
    return;
  }
  const cells = rows.map((r) => columns.map((c) => String(r[c] ?? '')));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  process.stdout.write(`${line(columns)}\n${cells.map(line).join('\n')}\n`);
}

export function fail(err: unknown): never {
  if (isDammError(err)) {
    process.stderr.write(`damm: ${err.message} [${err.code}]\n`);
  } else if (err instanceof Error) {
    process.stderr.write(`damm: ${err.message}\n`);
  } else {
    process.stderr.write(`damm: ${String(err)}\n`);
  }
  process.exit(1);
}
