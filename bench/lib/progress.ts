/**
 * A progress line on stderr while a benchmark works: rewritten in place on a
 * terminal, printed every few seconds otherwise (CI logs, piped output).
 */
export class Progress {
  private last = 0;
  private readonly tty = !!process.stderr.isTTY;
  private readonly started = Date.now();

  constructor(private readonly name: string, private readonly quiet = false) {}

  update(text: string, force = false): void {
    if (this.quiet) return;
    const now = Date.now();
    const every = this.tty ? 200 : 3000;
    if (!force && now - this.last < every) return;
    this.last = now;
    const line = `[${this.name} ${((now - this.started) / 1000).toFixed(1)}s] ${text}`;
    if (this.tty) process.stderr.write(`\r\x1b[K${line.slice(0, (process.stderr.columns || 120) - 1)}`);
    else process.stderr.write(`${line}\n`);
  }

  /** A line that stays (a phase finished, a number worth seeing now). */
  note(text: string): void {
    if (this.quiet) return;
    const line = `[${this.name} ${((Date.now() - this.started) / 1000).toFixed(1)}s] ${text}`;
    process.stderr.write(this.tty ? `\r\x1b[K${line}\n` : `${line}\n`);
  }

  done(text: string): void {
    this.note(text);
  }
}
