/**
 * Where a profile's passphrase comes from (docs/spec/cli.md §3.1). Every command that opens a profile unlocks it
 * the same way, in this order:
 *
 *   1. `--passphrase-file FILE`: its first line (one trailing `\n` or `\r\n` removed); a regular file that group or
 *      others can read is refused, like a device key;
 *   2. `$OVERT_PASSPHRASE`;
 *   3. a prompt on the terminal (no echo; a new passphrase is asked twice).
 *
 * A demo user's profile (`--as NAME`, made by `overt up --demo-users`) also has a passphrase file beside it,
 * `<data>/demo/NAME.passphrase`, used after `--passphrase-file` and before the environment.
 *
 * Which profile a command opens ({@link profileDir}): `--profile DIR`; else `--as NAME`, the demo user's profile
 * `<data>/demo/NAME` (`<data>` is `$OVERT_DATA` or `./data`); else `$OVERT_PROFILE`; else the per-user default
 * `$XDG_CONFIG_HOME/overt/profile` (`~/.config/overt/profile` when XDG_CONFIG_HOME is unset).
 *
 * A profile created with `$OVERT_PROFILE_KEY` set (and no passphrase given) is locked with that raw 32-byte key
 * (64 hex digits) instead: no Argon2id, for automation and tests; it is opened with the same variable. Nothing here
 * prints, logs or puts a passphrase in an error.
 */
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ProfileSecret } from '@overt/client';
import { fromHex } from '@overt/core';
import { type CommandContext, fileReason, LockedError, optionalString, UsageError } from './command.js';

export const ENV_PASSPHRASE = 'OVERT_PASSPHRASE';
export const ENV_PROFILE_KEY = 'OVERT_PROFILE_KEY';
export const ENV_NEW_PASSPHRASE = 'OVERT_NEW_PASSPHRASE';
export const ENV_PROFILE = 'OVERT_PROFILE';
export const ENV_DATA = 'OVERT_DATA';
/** The passphrase of a sealed org admin key (`overt init`, admin-key.ts). */
export const ENV_ADMIN_PASSPHRASE = 'OVERT_ADMIN_PASSPHRASE';

/** The demo users `overt up --demo-users` makes (cli.md §12). */
export const DEMO_USERS = ['alice', 'bob', 'carol'] as const;
const DEMO_NAME = /^[a-z][a-z0-9-]{0,31}$/;

/** The shortest passphrase a new profile accepts, in characters. */
export const PASSPHRASE_MIN = 8;

/** The options of every command that opens a profile. */
export const profileOptions = {
  profile: {
    type: 'string',
    value: 'DIR',
    description: `the device profile directory (default $${ENV_PROFILE}, else ~/.config/overt/profile)`,
  },
  as: {
    type: 'string',
    value: 'NAME',
    description:
      'a demo user of `overt up --demo-users` (alice, bob, carol): its profile and passphrase file',
  },
  'passphrase-file': {
    type: 'string',
    value: 'FILE',
    description: `read the profile's passphrase from FILE (else $${ENV_PASSPHRASE}, or a prompt on a terminal)`,
  },
} as const;

function envOf(ctx: CommandContext, name: string): string | undefined {
  const v = (ctx.io.env ?? process.env)[name];
  return v === undefined || v === '' ? undefined : v;
}

/** The data directory of `overt up` that `--as` looks in: `$OVERT_DATA`, else `./data`. */
export function demoDataDir(ctx: CommandContext): string {
  return resolve(envOf(ctx, ENV_DATA) ?? 'data');
}

/** A demo user's profile directory and passphrase file under an `overt up` data directory. */
export function demoProfile(dataDir: string, name: string): { dir: string; passphraseFile: string } {
  return { dir: join(dataDir, 'demo', name), passphraseFile: join(dataDir, 'demo', `${name}.passphrase`) };
}

/** The profile directory this command opens (or, for `device init`, creates): see the header. */
export function profileDir(ctx: CommandContext): string {
  const profile = optionalString(ctx, 'profile');
  const as = optionalString(ctx, 'as');
  if (profile !== undefined && as !== undefined) throw new UsageError('give --profile or --as, not both');
  if (profile !== undefined) return resolve(profile);
  if (as !== undefined) {
    if (!DEMO_NAME.test(as))
      throw new UsageError(`--as ${JSON.stringify(as)} is not a demo user name (e.g. alice)`);
    const data = demoDataDir(ctx);
    const { dir } = demoProfile(data, as);
    if (!existsSync(dir))
      throw new UsageError(
        `no demo user ${as} in ${data}: start with \`overt up --demo-users\` (or set ${ENV_DATA} to its --data)`,
      );
    return dir;
  }
  const env = envOf(ctx, ENV_PROFILE);
  if (env !== undefined) return resolve(env);
  return join(envOf(ctx, 'XDG_CONFIG_HOME') ?? join(homedir(), '.config'), 'overt', 'profile');
}

/** The passphrase file of `--as NAME`, or undefined without --as. */
function demoPassphraseFile(ctx: CommandContext): string | undefined {
  const as = optionalString(ctx, 'as');
  return as === undefined || !DEMO_NAME.test(as)
    ? undefined
    : demoProfile(demoDataDir(ctx), as).passphraseFile;
}

const NO_SECRET = `no passphrase given: set ${ENV_PASSPHRASE}, pass --passphrase-file FILE, or run on a terminal`;

/** The passphrase in FILE: its first line. Refuses a regular file others can read. */
export async function passphraseFromFile(option: string, path: string): Promise<string> {
  let text: string;
  try {
    const st = await stat(path);
    if (st.isFile() && (st.mode & 0o077) !== 0)
      throw new UsageError(`--${option} ${path} is accessible by others; chmod 600 it`);
    text = await readFile(path, 'utf8');
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read --${option} ${path}: ${fileReason(e)}`);
  }
  const nl = text.indexOf('\n');
  const line = nl < 0 ? text : text.slice(0, nl);
  const pass = line.endsWith('\r') ? line.slice(0, -1) : line;
  if (pass === '') throw new UsageError(`--${option} holds an empty passphrase`);
  return pass;
}

function rawKey(text: string): Uint8Array {
  if (!/^[0-9a-fA-F]{64}$/.test(text))
    throw new UsageError(`${ENV_PROFILE_KEY} must be 64 hex digits (a 32-byte key)`);
  return fromHex(text.toLowerCase());
}

function checkNew(passphrase: string): string {
  if ([...passphrase].length < PASSPHRASE_MIN)
    throw new UsageError(`a passphrase needs at least ${PASSPHRASE_MIN} characters`);
  return passphrase;
}

/** The secrets one command run may need, from its options, its environment and its terminal. */
export class SecretSource {
  constructor(private readonly ctx: CommandContext) {}

  private env(name: string): string | undefined {
    return envOf(this.ctx, name);
  }

  /** `--passphrase-file`, else a demo user's passphrase file (`--as`): the option named and the path. */
  private file(): { option: string; path: string } | undefined {
    const file = optionalString(this.ctx, 'passphrase-file');
    if (file !== undefined) return { option: 'passphrase-file', path: file };
    const demo = demoPassphraseFile(this.ctx);
    return demo === undefined ? undefined : { option: 'as', path: demo };
  }

  private async ask(prompt: string): Promise<string> {
    const read = this.ctx.io.readSecret;
    if (read === undefined) throw new LockedError(NO_SECRET);
    try {
      return await read(prompt);
    } catch {
      throw new LockedError('no passphrase given (cancelled)');
    }
  }

  private async askNew(intro: string): Promise<string> {
    // Say why a passphrase is wanted (e.g. an old profile to encrypt), and how to give one.
    if (this.ctx.io.readSecret === undefined) throw new LockedError(`${intro} (${NO_SECRET})`);
    this.ctx.io.stderr(`${intro}\n`);
    const first = checkNew(await this.ask('New passphrase: '));
    if ((await this.ask('Repeat it: ')) !== first) throw new UsageError('the two passphrases differ');
    return first;
  }

  /**
   * The secret a new profile key is wrapped for (`device init`, or encrypting an old profile): the passphrase
   * sources in order, then `$OVERT_PROFILE_KEY`, then a prompt asked twice. `intro` says why it is asked.
   */
  async forNew(intro: string): Promise<ProfileSecret> {
    const file = this.file();
    if (file !== undefined)
      return { kind: 'passphrase', passphrase: checkNew(await passphraseFromFile(file.option, file.path)) };
    const env = this.env(ENV_PASSPHRASE);
    if (env !== undefined) return { kind: 'passphrase', passphrase: checkNew(env) };
    const raw = this.env(ENV_PROFILE_KEY);
    if (raw !== undefined) return { kind: 'raw', key: rawKey(raw) };
    return { kind: 'passphrase', passphrase: await this.askNew(intro) };
  }

  /** The secret that unlocks a profile whose key file says `kdf` (`argon2id`: a passphrase; `raw`: a key). */
  async forUnlock(kdf: 'argon2id' | 'raw', dir: string): Promise<ProfileSecret> {
    if (kdf === 'raw') {
      const raw = this.env(ENV_PROFILE_KEY);
      if (raw === undefined) throw new LockedError(`${dir} is locked with a raw key: set ${ENV_PROFILE_KEY}`);
      return { kind: 'raw', key: rawKey(raw) };
    }
    const file = this.file();
    if (file !== undefined)
      return { kind: 'passphrase', passphrase: await passphraseFromFile(file.option, file.path) };
    const env = this.env(ENV_PASSPHRASE);
    if (env !== undefined) return { kind: 'passphrase', passphrase: env };
    return { kind: 'passphrase', passphrase: await this.ask(`Passphrase for ${dir}: `) };
  }

  /** The new passphrase of `overt device passphrase`: `--new-passphrase-file`, `$OVERT_NEW_PASSPHRASE`, a prompt. */
  async forChange(): Promise<ProfileSecret> {
    const file = optionalString(this.ctx, 'new-passphrase-file');
    if (file !== undefined)
      return {
        kind: 'passphrase',
        passphrase: checkNew(await passphraseFromFile('new-passphrase-file', file)),
      };
    const env = this.env(ENV_NEW_PASSPHRASE);
    if (env !== undefined) return { kind: 'passphrase', passphrase: checkNew(env) };
    return { kind: 'passphrase', passphrase: await this.askNew('Choose the new passphrase.') };
  }

  /** A line for the person at the terminal (stderr), e.g. that an old profile was encrypted. */
  note(text: string): void {
    this.ctx.io.stderr(`${text}\n`);
  }
}
