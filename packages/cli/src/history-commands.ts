import { fromBase64Url, toBase64Url } from '@overt/core';
import { guarded, printable } from './chat-commands.js';
import { type Command, EXIT_OK, emit, optionalString, UsageError } from './command.js';
import { profileDir, profileOptions, SecretSource } from './passphrase.js';
import { unlockProfile } from './profile.js';
import { listShown, type ShownMessage } from './shown-log.js';

function conversationArg(text: string): string {
  try {
    const id = fromBase64Url(text);
    if (id.length > 0) return toBase64Url(id);
  } catch {
    // Reported just below as a usage error.
  }
  throw new UsageError(`${JSON.stringify(text)} is not a conversation id (see 'overt chat list')`);
}

/** One line, as `read` prints a message: time, short conversation id, sender, text or file; then its id. */
function line(m: ShownMessage): string {
  const from = printable(`${m.sender.userId}/${m.sender.deviceId}`);
  const body =
    m.text !== undefined
      ? printable(m.text)
      : `file (${printable(m.contentType)}, ${m.bytes ?? 0} bytes): overt file save ${m.messageId} --out PATH`;
  return `[${m.time}] ${m.conversation.slice(0, 8)} ${from}: ${body}  (${m.messageId})`;
}

const history: Command = {
  path: ['history', ''],
  summary: 'show the messages read or watch printed before',
  positionals: [],
  options: {
    ...profileOptions,
    conversation: { type: 'string', value: 'CONV', description: 'only this conversation (default: all)' },
  },
  details:
    'Reads the profile only (no relay): every message and file `overt read` or `overt watch` printed on this\ndevice, oldest first per conversation, with its message id, sender and send time. New messages are\nfetched by `overt read`.',
  examples: [
    'overt history --profile ~/.overt/bob',
    'overt history --profile ~/.overt/bob --conversation <conv> --json',
  ],
  run: (ctx) =>
    guarded(ctx, async () => {
      const convText = optionalString(ctx, 'conversation');
      const conv = convText === undefined ? undefined : conversationArg(convText);
      const p = await unlockProfile(profileDir(ctx), new SecretSource(ctx));
      const messages = await listShown(p.store, conv);
      emit(
        ctx,
        { ok: true, messages },
        messages.length === 0 ? 'no messages shown yet' : messages.map(line).join('\n'),
      );
      return EXIT_OK;
    }),
};

export const historyCommands: readonly Command[] = [history];
