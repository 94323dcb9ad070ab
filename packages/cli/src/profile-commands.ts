/**
 * Commands on the encrypted profile itself (docs/spec/cli.md §3): `device passphrase` rewraps the profile key
 * for a new passphrase, and `file save` writes a received file, kept encrypted in the profile's store, out to a
 * path the user chooses. Neither contacts the relay.
 */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { fromBase64Url, toBase64Url } from '@overt/core';
import { guarded } from './chat-commands.js';
import { type Command, EXIT_OK, emit, requireString, UsageError } from './command.js';
import { ENV_NEW_PASSPHRASE, profileOptions, SecretSource } from './passphrase.js';
import { changePassphrase, FILE_PREFIX, unlockProfile } from './profile.js';

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
      const dir = resolve(requireString(ctx, 'profile'));
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

const fileSave: Command = {
  path: ['file', 'save'],
  summary: 'write a received file out of the encrypted profile',
  positionals: ['MESSAGE_ID'],
  options: {
    ...profileOptions,
    out: { type: 'string', value: 'PATH', description: 'where to write it (mode 0600; must not exist)' },
  },
  details:
    "Received files are kept encrypted in the profile; `overt read` prints each one's message id. The copy\nwritten to PATH is not encrypted: it is yours to keep or delete.",
  examples: ['overt file save Q2hhdCBtZXNzYWdlIGlkIQ --out ./report.pdf --profile ~/.overt/bob'],
  run: (ctx) =>
    guarded(ctx, async () => {
      const id = messageId(ctx.positionals[0]!);
      const out = requireString(ctx, 'out');
      const p = await unlockProfile(resolve(requireString(ctx, 'profile')), new SecretSource(ctx));
      const bytes = await p.store.get(`${FILE_PREFIX}${id}`);
      if (bytes === undefined) throw new UsageError(`no received file with message id ${id} in this profile`);
      try {
        await writeFile(out, bytes, { mode: 0o600, flag: 'wx' });
      } catch (e) {
        if ((e as { code?: string }).code === 'EEXIST') throw new UsageError(`${out} exists`);
        throw new UsageError(`cannot write ${out}`);
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
