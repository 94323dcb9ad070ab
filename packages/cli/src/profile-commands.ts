/**
 * Commands on the encrypted profile itself (docs/spec/cli.md §3): `device passphrase` rewraps the profile key
 * for a new passphrase, and `file save` writes a received file, kept encrypted in the profile's store, out to a
 * path the user chooses. Neither contacts the relay.
 */
import { stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fallbackFileName, type KeyValueStore, sanitizeFileName } from '@overt/client';
import { fromBase64Url, toBase64Url, utf8Decode } from '@overt/core';
import { guarded } from './chat-commands.js';
import { type Command, EXIT_OK, emit, optionalString, UsageError } from './command.js';
import { ENV_NEW_PASSPHRASE, profileDir, profileOptions, SecretSource } from './passphrase.js';
import { changePassphrase, FILE_INFO_PREFIX, FILE_PREFIX, unlockProfile } from './profile.js';

const devicePassphrase: Command = {
  path: ['device', 'passphrase'],
  summary: 'change the passphrase that encrypts a profile',
  positionals: [],
  options: {
    ...profileOptions,
    'new-passphrase-file': {
      type: 'string',
      value: 'FILE',
      description: `read the new passphrase from FILE (else $${ENV_NEW_PASSPHRASE}, or asked twice)`,
    },
  },
  details:
    'Unlocks DIR with its current passphrase, then wraps its profile key for the new one: one small file is\nrewritten, no record. A profile locked with $OVERT_PROFILE_KEY gets a passphrase this way.',
  examples: [
    'overt device passphrase --profile ~/.overt/alice',
    'overt device passphrase --profile ~/.overt/alice --passphrase-file old.txt --new-passphrase-file new.txt',
  ],
  run: (ctx) =>
    guarded(ctx, async () => {
      const dir = profileDir(ctx);
      await changePassphrase(dir, new SecretSource(ctx));
      emit(ctx, { ok: true, profile: dir }, `the passphrase of ${dir} is changed`);
      return EXIT_OK;
    }),
};

function messageId(text: string): string {
  try {
    if (fromBase64Url(text).length === 16) return toBase64Url(fromBase64Url(text));
  } catch {
    // Reported just below as a usage error.
  }
  throw new UsageError(`${JSON.stringify(text)} is not a message id (see 'overt read')`);
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The name a received file is saved under: the one `overt read` stored (the SDK's sanitised sender's name),
 * sanitised again in case the profile was written by an older version; a file received before names travelled
 * gets the fallback `file-<hex>` (client.md §4.8).
 */
async function storedName(store: KeyValueStore, id: string): Promise<string> {
  const fallback = fallbackFileName(fromBase64Url(id));
  const info = await store.get(`${FILE_INFO_PREFIX}${id}`);
  if (info === undefined) return fallback;
  try {
    const name = (JSON.parse(utf8Decode(info)) as { name?: unknown }).name;
    return typeof name === 'string' ? sanitizeFileName(name, fallback) : fallback;
  } catch {
    return fallback;
  }
}

/** Writes `bytes` into `dir` as `name`, or `stem (n).ext` for the first n = 1..999 free: never overwrites. */
async function writeUnderFreeName(dir: string, name: string, bytes: Uint8Array): Promise<string> {
  const dot = name.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
  for (let n = 0; n < 1000; n++) {
    const path = join(dir, n === 0 ? name : `${stem} (${n})${ext}`);
    try {
      // 'wx': created here or refused, so a file that appears meanwhile is not overwritten either.
      await writeFile(path, bytes, { mode: 0o600, flag: 'wx' });
      return path;
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST') throw new UsageError(`cannot write ${path}`);
    }
  }
  throw new UsageError(`${join(dir, name)} and 999 renamed copies exist; give --out PATH`);
}

const fileSave: Command = {
  path: ['file', 'save'],
  summary: 'write a received file out of the encrypted profile',
  positionals: ['MESSAGE_ID'],
  options: {
    ...profileOptions,
    out: {
      type: 'string',
      value: 'PATH',
      description:
        "where to write it (mode 0600; must not exist), or a directory to write it into under the sender's name",
    },
  },
  details:
    "Received files are kept encrypted in the profile; `overt read` prints each one's message id and name. Without\n--out the file is written to the current directory under the name the sender gave it, made safe (no\ndirectories, no control characters, no leading dots); if that name is taken, ' (1)', ' (2)', … is added\nbefore its extension: nothing is ever overwritten. The copy written out is not encrypted: it is yours to keep\nor delete.",
  examples: [
    'overt file save Q2hhdCBtZXNzYWdlIGlkIQ --profile ~/.overt/bob',
    'overt file save Q2hhdCBtZXNzYWdlIGlkIQ --out ./report.pdf --profile ~/.overt/bob',
  ],
  run: (ctx) =>
    guarded(ctx, async () => {
      const id = messageId(ctx.positionals[0]!);
      const given = optionalString(ctx, 'out');
      const p = await unlockProfile(profileDir(ctx), new SecretSource(ctx));
      const bytes = await p.store.get(`${FILE_PREFIX}${id}`);
      if (bytes === undefined) throw new UsageError(`no received file with message id ${id} in this profile`);
      let out: string;
      if (given !== undefined && !(await isDirectory(given))) {
        out = given;
        try {
          await writeFile(out, bytes, { mode: 0o600, flag: 'wx' });
        } catch (e) {
          if ((e as { code?: string }).code === 'EEXIST') throw new UsageError(`${out} exists`);
          throw new UsageError(`cannot write ${out}`);
        }
      } else {
        out = await writeUnderFreeName(given ?? '.', await storedName(p.store, id), bytes);
      }
      emit(
        ctx,
        { ok: true, messageId: id, path: resolve(out), bytes: bytes.length },
        `saved ${bytes.length} bytes to ${out}`,
      );
      return EXIT_OK;
    }),
};

export const profileCommands: readonly Command[] = [devicePassphrase, fileSave];
