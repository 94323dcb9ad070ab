/**
 * Asking on the terminal (docs/spec/cli.md §3.1, §13): a passphrase without echo, or an answer to one of `overt init`'s
 * questions with echo. The prompt goes to stderr (stdout stays the command's output), and Ctrl-C or Ctrl-D on an
 * empty line cancels. Both read stdin in raw mode, one character at a time, and keep what arrives beyond the end of
 * the line for the next question, so answers pasted (or fed to a pseudo-terminal) ahead of their prompts are kept.
 */

/** What the terminal sent beyond the last line read. */
let pending = '';

function readTtyLine(prompt: string, echo: boolean): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  let value = '';
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = () => {
      done = true;
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    const onData = (chunk: string) => {
      const chars = [...chunk];
      for (let i = 0; i < chars.length; i++) {
        const ch = chars[i]!;
        if (ch === '\r' || ch === '\n') {
          const rest = chars.slice(i + 1);
          // A CR LF pair ends one line, not two.
          if (ch === '\r' && rest[0] === '\n') rest.shift();
          pending = rest.join('');
          finish();
          resolve(value);
          return;
        }
        if (ch === '\u0003' || (ch === '\u0004' && value === '')) {
          pending = '';
          finish();
          reject(new Error('cancelled'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') {
          if (echo && value !== '') process.stderr.write('\b \b');
          value = [...value].slice(0, -1).join('');
        } else if (ch === '\u0015') value = '';
        else if (ch >= ' ') {
          value += ch;
          if (echo) process.stderr.write(ch);
        }
      }
    };
    stdin.on('data', onData);
    const early = pending;
    pending = '';
    if (early !== '') onData(early);
    if (!done) stdin.resume();
  });
}

/** Reads one line from the terminal on stdin with echo off. Rejects when the person cancels. */
export function readSecretFromTty(prompt: string): Promise<string> {
  return readTtyLine(prompt, false);
}

/** Reads one echoed line from the terminal. Rejects when the person cancels. */
export function readLineFromTty(prompt: string): Promise<string> {
  return readTtyLine(prompt, true);
}

/**
 * A progress bar on stderr for long steps (`overt request collect|open`): drawn only when stderr is a terminal and
 * the output is not `--json`, redrawn at most every 100 ms, erased when done. Quiet otherwise: a script or a pipe
 * sees only the command's result.
 */
export class Progress {
  private done = 0;
  private last = 0;

  constructor(
    private readonly write: ((text: string) => void) | undefined,
    private readonly label: string,
    private readonly total: number,
  ) {}

  /** A bar for `ctx`: live on a terminal, silent under --json or when stderr is not a terminal. */
  static for(
    ctx: { readonly json: boolean; readonly io: { stderr(t: string): void; readonly stderrIsTTY?: boolean } },
    label: string,
    total: number,
  ): Progress {
    return new Progress(ctx.io.stderrIsTTY === true && !ctx.json ? ctx.io.stderr : undefined, label, total);
  }

  /** Counts `n` more units done. */
  tick(n = 1): void {
    this.done += n;
    const now = Date.now();
    if (this.write === undefined || (now - this.last < 100 && this.done < this.total)) return;
    this.last = now;
    const width = 30;
    const frac = this.total > 0 ? Math.min(1, this.done / this.total) : 1;
    const filled = Math.round(frac * width);
    this.write(
      `\r\u001b[2K${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.done}/${this.total}`,
    );
  }

  /** Erases the bar. */
  end(): void {
    if (this.write !== undefined && this.last !== 0) this.write('\r\u001b[2K');
  }
}

/** Colours for text on stdout: SGR codes when enabled, the text unchanged otherwise. */
export interface Paint {
  readonly ok: (text: string) => string;
  readonly bad: (text: string) => string;
  readonly dim: (text: string) => string;
  readonly bold: (text: string) => string;
}

function sgr(enabled: boolean, code: string): (text: string) => string {
  return enabled ? (text) => `\u001b[${code}m${text}\u001b[0m` : (text) => text;
}

/** Colours only when stdout is a terminal, the output is not `--json`, and NO_COLOR is unset (no-color.org). */
export function paintFor(ctx: {
  readonly json: boolean;
  readonly io: {
    readonly stdoutIsTTY?: boolean;
    readonly env?: Readonly<Record<string, string | undefined>>;
  };
}): Paint {
  const noColor = (ctx.io.env ?? process.env).NO_COLOR;
  const on = ctx.io.stdoutIsTTY === true && !ctx.json && (noColor === undefined || noColor === '');
  return { ok: sgr(on, '32'), bad: sgr(on, '31'), dim: sgr(on, '2'), bold: sgr(on, '1') };
}
