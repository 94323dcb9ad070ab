import { fromBase64Url, isUserId, toBase64Url } from '@overt/core';
import { guarded } from './chat-commands.js';
import { type Command, EXIT_OK, emit, requireString, UsageError } from './command.js';
import { profileDir, profileOptions, SecretSource } from './passphrase.js';
import { openProfile } from './profile.js';

function conversationArg(text: string): Uint8Array {
  try {
    const id = fromBase64Url(text);
    if (id.length > 0) return id;
  } catch {
    // Reported just below as a usage error.
  }
  throw new UsageError(`${JSON.stringify(text)} is not a conversation id (see 'overt chat list')`);
}

/** The users of a comma-separated option, each a valid user id (core ids.ts). @throws UsageError. */
function users(option: string, text: string): string[] {
  const list = [...new Set(text.split(',').map((u) => u.trim()))].filter((u) => u !== '');
  if (list.length === 0) throw new UsageError(`--${option} needs at least one user`);
  for (const u of list)
    if (!isUserId(u)) throw new UsageError(`--${option}: ${JSON.stringify(u)} is not a user id`);
  return list;
}

const memberText = (m: { userId: string; deviceId: string }) => `${m.userId}/${m.deviceId}`;

const chatAdd: Command = {
  path: ['chat', 'add'],
  summary: 'add users (all their enrolled devices) to a conversation',
  positionals: [],
  options: {
    ...profileOptions,
    to: { type: 'string', value: 'CONV', description: 'the conversation id (overt chat list)' },
    with: { type: 'string', value: 'USER[,USER…]', description: 'who to add' },
  },
  details:
    'Every enrolled device of each user needs a key package on the relay (they run any command once);\notherwise nothing is added and the command fails with SDK_MEMBER_UNREACHABLE (KP-1).',
  examples: ['overt chat add --profile ~/.overt/alice --to <conv> --with carol'],
  run: (ctx) =>
    guarded(ctx, async () => {
      const conv = conversationArg(requireString(ctx, 'to'));
      const add = users('with', requireString(ctx, 'with'));
      const p = await openProfile(profileDir(ctx), new SecretSource(ctx));
      // Catch up first (as send does): a commit not processed yet would make the relay refuse ours. What it
      // receives stays unread in the store for `overt read` (client.md §4.3).
      await p.client.receive();
      if (!p.client.conversationIds().some((c) => toBase64Url(c) === toBase64Url(conv)))
        throw new UsageError('this device is not in that conversation (see overt chat list)');
      const missing = await p.client.addMembers(conv, add);
      const members = p.client.members(conv);
      emit(
        ctx,
        { ok: true, conversation: toBase64Url(conv), members, missing },
        `members: ${members.map(memberText).join(', ')}`,
      );
      return EXIT_OK;
    }),
};

const chatRemove: Command = {
  path: ['chat', 'remove'],
  summary: 'remove users (all their devices) from a conversation',
  positionals: [],
  options: {
    ...profileOptions,
    to: { type: 'string', value: 'CONV', description: 'the conversation id (overt chat list)' },
    user: { type: 'string', value: 'USER[,USER…]', description: 'who to remove' },
  },
  details: 'A user who is not a member is refused (nothing is committed).',
  examples: ['overt chat remove --profile ~/.overt/alice --to <conv> --user carol'],
  run: (ctx) =>
    guarded(ctx, async () => {
      const conv = conversationArg(requireString(ctx, 'to'));
      const gone = users('user', requireString(ctx, 'user'));
      const p = await openProfile(profileDir(ctx), new SecretSource(ctx));
      // Catch up first (as send does): a commit not processed yet would make the relay refuse ours. What it
      // receives stays unread in the store for `overt read` (client.md §4.3).
      await p.client.receive();
      if (!p.client.conversationIds().some((c) => toBase64Url(c) === toBase64Url(conv)))
        throw new UsageError('this device is not in that conversation (see overt chat list)');
      const before = p.client.members(conv);
      for (const u of gone)
        if (!before.some((m) => m.userId === u))
          throw new UsageError(`${JSON.stringify(u)} is not a member of that conversation`);
      await p.client.removeMembers(conv, gone);
      const members = p.client.members(conv);
      emit(
        ctx,
        { ok: true, conversation: toBase64Url(conv), removed: gone, members },
        `members: ${members.map(memberText).join(', ')}`,
      );
      return EXIT_OK;
    }),
};

export const memberCommands: readonly Command[] = [chatAdd, chatRemove];
