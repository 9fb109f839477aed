/**
 * The launcher's stdout: children's JSON log lines passed through unchanged
 * when stdout is not a terminal (so `npm start | jq` and log shippers work),
 * or one readable line per entry, prefixed with the process name, on a terminal.
 * The launcher's own messages follow the same rule.
 */
export class Output {
  private width = 8;

  constructor(readonly pretty: boolean = Boolean(process.stdout.isTTY)) {}

  /** Makes the name column wide enough for every process name. */
  names(names: readonly string[]): void {
    this.width = Math.max(this.width, ...names.map((n) => n.length));
  }

  /** The launcher's own message. */
  info(msg: string, fields: Record<string, unknown> = {}): void {
    this.emit('info', msg, fields);
  }

  error(msg: string, fields: Record<string, unknown> = {}): void {
    this.emit('error', msg, fields);
  }

  /** One line a child wrote; lines that are not JSON (a crash trace) are wrapped so stdout stays JSON. */
  child(name: string, line: string, stream: 'stdout' | 'stderr'): void {
    if (line.trim() === '') return;
    let entry: Record<string, unknown> | null = null;
    if (line.startsWith('{')) {
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        entry = null;
      }
    }
    if (!this.pretty) {
      if (entry) process.stdout.write(line.endsWith('\n') ? line : line + '\n');
      else
        this.write({
          level: stream === 'stderr' ? 'error' : 'info',
          time: new Date().toISOString(),
          node: name,
          stream,
          msg: line,
        });
      return;
    }
    if (!entry) {
      this.line(name, stream === 'stderr' ? 'error' : 'info', line, '');
      return;
    }
    const {
      level,
      time: _time,
      service: _service,
      node: _node,
      pid: _pid,
      hostname: _host,
      msg,
      err,
      ...rest
    } = entry;
    const extra = Object.keys(rest).length > 0 ? ' ' + JSON.stringify(rest) : '';
    const stack =
      err && typeof err === 'object' && 'stack' in err
        ? '\n' + String((err as { stack: unknown }).stack)
        : '';
    this.line(name, String(level ?? 'info'), String(msg ?? ''), extra + stack);
  }

  private emit(level: string, msg: string, fields: Record<string, unknown>): void {
    // On a terminal the message says it all; the fields are for machines reading the JSON.
    if (this.pretty) this.line('launcher', level, msg, '');
    else this.write({ level, time: new Date().toISOString(), service: 'launcher', msg, ...fields });
  }

  private line(name: string, level: string, msg: string, extra: string): void {
    const time = new Date().toISOString().slice(11, 23);
    process.stdout.write(
      `${time} ${name.padEnd(this.width)} ${level.toUpperCase().padEnd(5)} ${msg}${extra}\n`,
    );
  }

  private write(entry: Record<string, unknown>): void {
    process.stdout.write(JSON.stringify(entry) + '\n');
  }
}
