/**
 * The small framework every `overt` command is written in: a declarative description (options, positionals,
 * help text with an example) parsed by node:util parseArgs, a uniform `--help` and `--json`, and the exit-code
 * contract (0 ok, 1 verification failed, 2 usage error, 3 profile locked). No dependency: parseArgs does all we
 * need.
 */
import { parseArgs } from 'node:util';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;
/** The profile could not be unlocked: wrong passphrase or key, or none given (docs/spec/cli.md §3.1). */
export const EXIT_LOCKED = 3;

/** The relay cannot be reached, or what answers is not an Overt relay (docs/spec/cli.md §4.1). */
export const EXIT_UNAVAILABLE = 4;

/** The exit-status line of every help text. */
export const EXIT_STATUS_HELP =
  'Exit status: 0 ok, 1 failed or refused, 2 usage error, 3 profile locked (wrong or missing passphrase),\n4 relay unreachable or not an Overt relay.';

/**
 * The relay could not be reached (connection refused, name not found, timed out) or what answered is not an
 * Overt relay (an HTTP error, a body that is not JSON). Exit code 4. The message names the URL and the reason.
 */
export class UnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnavailableError';
  }
}

/** Why a file could not be read or written, in words, from the Node error code (ENOENT, EACCES, EISDIR …). */
export function fileReason(e: unknown): string {
  const code = (e as { code?: unknown } | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file (ENOENT)';
    case 'EACCES':
    case 'EPERM':
      return `permission denied (${code})`;
    case 'EISDIR':
      return 'it is a directory (EISDIR)';
    case 'ENOTDIR':
      return 'a part of the path is not a directory (ENOTDIR)';
    case 'EEXIST':
      return 'it exists (EEXIST)';
    default:
      return typeof code === 'string' ? code : 'unreadable';
  }
}

/**
 * The network reason inside a failed fetch (`fetch failed` whose cause is a system error), e.g.
 * `ECONNREFUSED`, or undefined when `e`'s cause chain holds none.
 */
export function networkReason(e: unknown): string | undefined {
  for (
    let c: unknown = e, i = 0;
    c !== undefined && c !== null && i < 10;
    c = (c as { cause?: unknown }).cause, i++
  ) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string' && /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/.test(code)) return code;
    const errors = (c as { errors?: unknown }).errors;
    for (const inner of Array.isArray(errors) ? errors : []) {
      const r = networkReason(inner);
      if (r !== undefined) return r;
    }
  }
  // No system error code (e.g. fetch's "bad port"): the innermost message says what went wrong.
  let last: unknown = e;
  while ((last as { cause?: unknown } | undefined)?.cause instanceof Error)
    last = (last as { cause: unknown }).cause;
  return last instanceof Error && last !== e ? last.message : undefined;
}

/** A usage mistake: unknown option, missing argument, malformed value. Exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly multiple?: boolean;
  /** Placeholder shown in help, e.g. `DIR`. */
  readonly value?: string;
  readonly description: string;
}

/**
 * A profile that cannot be unlocked (docs/spec/cli.md §3.1): the passphrase or key does not open it, or none was
 * given. Exit code 3. The message says what to do; it never contains the passphrase.
 */
export class LockedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LockedError';
  }
}

/** Where a command writes. Tests pass their own; the process entry passes stdout/stderr. */
export interface Io {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Resolves when the process is asked to stop (SIGINT/SIGTERM); long-running commands wait on it. */
  readonly stopped: Promise<void>;
  /** The environment the passphrase variables are read from (default: the process's). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * Asks for a secret on the terminal without echoing it; absent when there is no terminal to ask on. Rejects
   * when the person cancels (Ctrl-C, Ctrl-D).
   */
  readonly readSecret?: (prompt: string) => Promise<string>;
  /**
   * Asks for one line on the terminal, echoed (`overt init`'s questions); absent when stdin is not a terminal.
   * Rejects when the person cancels (Ctrl-C, Ctrl-D).
   */
  readonly readLine?: (prompt: string) => Promise<string>;
  /** Whether stderr is a terminal: long commands draw a progress bar there only then (tty.ts). */
  readonly stderrIsTTY?: boolean;
  /** Whether stdout is a terminal: output is coloured only then (tty.ts, `paintFor`). */
  readonly stdoutIsTTY?: boolean;
}

export interface CommandContext {
  readonly values: Readonly<Record<string, string | boolean | string[] | undefined>>;
  readonly positionals: readonly string[];
  readonly json: boolean;
  readonly io: Io;
}

export interface Command {
  /** `['log', 'verify']`. */
  readonly path: readonly [string, string];
  readonly summary: string;
  /** Positional arguments, in order, e.g. `['URL']`; each is required. */
  readonly positionals: readonly string[];
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** Paragraphs printed after the options in `--help`. */
  readonly details?: string;
  readonly examples: readonly string[];
  run(ctx: CommandContext): Promise<number>;
}

const COMMON: Readonly<Record<string, OptionSpec>> = {
  json: { type: 'boolean', description: 'print machine-readable JSON instead of text' },
  help: { type: 'boolean', description: 'show this help' },
};

export function helpText(cmd: Command): string {
  const all = { ...cmd.options, ...COMMON };
  const name = cmd.path.join(' ').trim();
  const lines = [`overt ${name} — ${cmd.summary}`, ''];
  lines.push(`Usage: overt ${name} ${cmd.positionals.join(' ')} [options]`.replace(/ +/g, ' '));
  lines.push('', 'Options:');
  const left = Object.entries(all).map(
    ([name, o]) => `  --${name}${o.type === 'string' ? ` ${o.value ?? 'VALUE'}` : ''}`,
  );
  const width = Math.max(...left.map((l) => l.length)) + 2;
  Object.values(all).forEach((o, i) => {
    const more = o.multiple ? ' (repeatable)' : '';
    lines.push(`${left[i]!.padEnd(width)}${o.description}${more}`);
  });
  if (cmd.details) lines.push('', cmd.details);
  lines.push('', cmd.examples.length > 1 ? 'Examples:' : 'Example:');
  for (const e of cmd.examples) lines.push(`  ${e}`);
  lines.push('', EXIT_STATUS_HELP);
  return `${lines.join('\n')}\n`;
}

/**
 * Puts `args` in the form node:util parseArgs reads without guessing (docs/spec/cli.md §1.1): every value of a
 * string option joined to it (`--to=-x…`), so that a value beginning with `-` (a base64url id does one time in
 * 64) is never taken for an option; every other token beginning with a single `-` (there are no short options)
 * and everything after `--` moved after one `--`, so it is a positional whatever it begins with. Options,
 * then positionals, keep their order.
 */
export function normaliseArgs(
  options: Readonly<Record<string, { readonly type: 'string' | 'boolean' }>>,
  args: readonly string[],
): string[] {
  const opts: string[] = [];
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const tok = args[i]!;
    if (tok === '--') {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (tok.startsWith('--')) {
      const name = tok.slice(2);
      if (Object.hasOwn(options, name) && options[name]!.type === 'string' && i + 1 < args.length) {
        opts.push(`--${name}=${args[++i]!}`);
      } else {
        opts.push(tok);
      }
    } else if (tok === '-h') {
      opts.push('--help');
    } else {
      positionals.push(tok);
    }
  }
  return positionals.length === 0 ? opts : [...opts, '--', ...positionals];
}

/** Parses `args` (after the two command words) for `cmd`. @throws UsageError. */
export function parseCommandArgs(
  cmd: Command,
  args: readonly string[],
): { values: Record<string, string | boolean | string[] | undefined>; positionals: string[] } {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = {};
  for (const [name, o] of Object.entries({ ...cmd.options, ...COMMON }))
    options[name] = o.multiple ? { type: o.type, multiple: true } : { type: o.type };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: normaliseArgs(options, args),
      options,
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    const message = (e as Error).message;
    // A positional that begins with `--` cannot be told from a mistyped option: say how to pass it.
    throw new UsageError(
      /^Unknown option '--/.test(message)
        ? `${message.split('. ')[0]} (a value that begins with '--' goes after '--', e.g. overt ${cmd.path.join(' ').trim()} -- --VALUE)`
        : message,
    );
  }
  const values = { ...parsed.values } as Record<string, string | boolean | string[] | undefined>;
  if (values.help === true) return { values, positionals: parsed.positionals };
  // `[TEXT]` is optional; a last positional written `…]` takes any number (the command says what it accepts).
  const required = cmd.positionals.filter((p) => !p.startsWith('[')).length;
  const most = cmd.positionals.at(-1)?.endsWith('…]') ? Number.POSITIVE_INFINITY : cmd.positionals.length;
  if (parsed.positionals.length < required || parsed.positionals.length > most) {
    throw new UsageError(
      cmd.positionals.length === 0
        ? `unexpected argument ${JSON.stringify(parsed.positionals[0])}`
        : `expected ${cmd.positionals.join(' ')}`,
    );
  }
  return { values, positionals: parsed.positionals };
}

/** The value of a required string option. @throws UsageError when absent. */
export function requireString(ctx: CommandContext, name: string): string {
  const v = ctx.values[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required`);
  return v;
}

export function optionalString(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function stringList(ctx: CommandContext, name: string): string[] {
  const v = ctx.values[name];
  return Array.isArray(v) ? v : [];
}

/** A decimal integer option within [min, max]. @throws UsageError. */
export function intOption(ctx: CommandContext, name: string, min: number, max: number): number | undefined {
  const v = optionalString(ctx, name);
  if (v === undefined) return undefined;
  if (!/^(0|[1-9][0-9]*)$/.test(v) || Number(v) < min || Number(v) > max)
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}`);
  return Number(v);
}

/**
 * Splits `KEY=VALUE`. Either side may itself contain `=` (a URL's query, a vkey's base64 padding), so the split
 * is at the first `=` whose right-hand side `acceptValue` accepts. @throws UsageError if there is none.
 */
export function splitPair(
  option: string,
  text: string,
  acceptValue: (value: string) => boolean,
): [string, string] {
  for (let i = text.indexOf('='); i > 0; i = text.indexOf('=', i + 1)) {
    const value = text.slice(i + 1);
    if (acceptValue(value)) return [text.slice(0, i), value];
  }
  throw new UsageError(`--${option} takes KEY=VALUE with a valid value, got ${JSON.stringify(text)}`);
}

/** Writes a result: `human` lines for people, or one JSON document for `--json`. */
export function emit(ctx: CommandContext, json: unknown, human: string): void {
  if (ctx.json) ctx.io.stdout(`${JSON.stringify(json)}\n`);
  else ctx.io.stdout(human.endsWith('\n') ? human : `${human}\n`);
}
