/**
 * Asking for a passphrase on the terminal (docs/spec/cli.md §3.1): the prompt goes to stderr (stdout stays the
 * command's output), the typed characters are not echoed, and Ctrl-C or Ctrl-D on an empty line cancels.
 */

/** Reads one line from the terminal on stdin with echo off. Rejects when the person cancels. */
export function readSecretFromTty(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  let value = '';
  return new Promise((resolve, reject) => {
    const finish = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') {
          finish();
          resolve(value);
          return;
        }
        if (ch === '\u0003' || (ch === '\u0004' && value === '')) {
          finish();
          reject(new Error('cancelled'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') value = [...value].slice(0, -1).join('');
        else if (ch === '\u0015') value = '';
        else if (ch >= ' ') value += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** Reads one echoed line from the terminal (prompt on stderr). Rejects on Ctrl-C or Ctrl-D. */
export async function readLineFromTty(prompt: string): Promise<string> {
  const { createInterface } = await import('node:readline');
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    return await new Promise<string>((resolve, reject) => {
      rl.once('close', () => reject(new Error('cancelled')));
      rl.once('SIGINT', () => reject(new Error('cancelled')));
      rl.question(prompt, resolve);
    });
  } finally {
    rl.removeAllListeners('close');
    rl.close();
  }
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
