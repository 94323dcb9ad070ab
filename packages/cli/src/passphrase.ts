/**
 * Where a profile's passphrase comes from (docs/spec/cli.md §3.1). Every command that opens a profile unlocks it
 * the same way, in this order:
 *
 *   1. `--passphrase-file FILE`: its first line (one trailing `\n` or `\r\n` removed); a regular file that group or
 *      others can read is refused, like a device key;
 *   2. `$OVERT_PASSPHRASE`;
 *   3. a prompt on the terminal (no echo; a new passphrase is asked twice).
 *
 * A profile created with `$OVERT_PROFILE_KEY` set (and no passphrase given) is locked with that raw 32-byte key
 * (64 hex digits) instead: no Argon2id, for automation and tests; it is opened with the same variable. Nothing here
 * prints, logs or puts a passphrase in an error.
 */
import { readFile, stat } from 'node:fs/promises';
import type { ProfileSecret } from '@overt/client';
import { fromHex } from '@overt/core';
import { type CommandContext, fileReason, LockedError, optionalString, UsageError } from './command.js';

export const ENV_PASSPHRASE = 'OVERT_PASSPHRASE';
export const ENV_PROFILE_KEY = 'OVERT_PROFILE_KEY';
export const ENV_NEW_PASSPHRASE = 'OVERT_NEW_PASSPHRASE';

/** The shortest passphrase a new profile accepts, in characters. */
export const PASSPHRASE_MIN = 8;

/** The options of every command that opens a profile. */
export const profileOptions = {
  profile: { type: 'string', value: 'DIR', description: 'the device profile directory (overt device init)' },
  'passphrase-file': {
    type: 'string',
    value: 'FILE',
    description: `read the profile's passphrase from FILE (else $${ENV_PASSPHRASE}, or a prompt on a terminal)`,
  },
} as const;

const NO_SECRET = `no passphrase given: set ${ENV_PASSPHRASE}, pass --passphrase-file FILE, or run on a terminal`;

/** The passphrase in FILE: its first line. Refuses a regular file others can read. */
async function passphraseFromFile(option: string, path: string): Promise<string> {
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
    const v = (this.ctx.io.env ?? process.env)[name];
    return v === undefined || v === '' ? undefined : v;
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
    const file = optionalString(this.ctx, 'passphrase-file');
    if (file !== undefined)
      return { kind: 'passphrase', passphrase: checkNew(await passphraseFromFile('passphrase-file', file)) };
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
    const file = optionalString(this.ctx, 'passphrase-file');
    if (file !== undefined)
      return { kind: 'passphrase', passphrase: await passphraseFromFile('passphrase-file', file) };
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
