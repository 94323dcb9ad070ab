/**
 * The messaging commands (docs/spec/cli.md): `device init` and `admin enrol` to put a device on the directory,
 * `device approve` to accept one of the user's own devices that log monitoring reported,
 * `chat new|list`, `send`, `read` and `watch` to talk through a relay with the SDK (@overt/client). `read` and
 * `watch` also print ALERT lines: a device enrolled for this user that the user did not approve (A6), an epoch key
 * the trustees did not sign or a second key for an epoch (A14); and NOTICE lines for a new access policy (KT-10). State lives
 * in a profile directory (profile.ts). Rejected mailbox items are printed as REJECTED with their code and check,
 * never as messages; text from the network is shown with control characters escaped so that a sender cannot
 * rewrite the reader's terminal.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import {
  ClientError,
  type ClientEvent,
  fallbackFileName,
  isClientError,
  type Notice,
  RECORDED_NOTICE,
  RelayTransport,
  recordedMembers,
  TEXT_CONTENT_TYPE,
  validConversationName,
} from '@overt/client';
import {
  fromBase64,
  fromBase64Url,
  isOvertError,
  isUserId,
  randomBytes,
  signDeviceStatement,
  toBase64,
  toBase64Url,
  utf8Decode,
  utf8Encode,
} from '@overt/core';
import { parseSignerKey, SIGNATURE_TYPE_ED25519, type SignerKey } from '@overt/log';
import { AdminKeyError, isSealedAdminKey, openAdminKey } from './admin-key.js';
import {
  type Command,
  type CommandContext,
  EXIT_FAILED,
  EXIT_OK,
  emit,
  fileReason,
  LockedError,
  networkReason,
  optionalString,
  requireString,
  UnavailableError,
  UsageError,
} from './command.js';
import { findEnrolment } from './enrol-lookup.js';
import {
  ENV_ADMIN_PASSPHRASE,
  profileDir,
  profileOptions,
  passphraseFromFile as readPassphraseFile,
  SecretSource,
} from './passphrase.js';
import {
  assertNoProfile,
  FILE_INFO_PREFIX,
  FILE_PREFIX,
  fetchOrg,
  fetchTrust,
  initProfile,
  type OpenProfile,
  openProfile,
} from './profile.js';
import { recordShown } from './shown-log.js';
import { Progress } from './tty.js';

const ID_RE = /^[A-Za-z0-9._~-]{1,64}$/;

const profileOption = profileOptions;

/** The options of the `overt admin` commands: the relay, and the org admin's key that signs for the org. */
export const adminOptions = {
  relay: { type: 'string', value: 'URL', description: 'the relay' },
  'admin-key': {
    type: 'string',
    value: 'FILE',
    description: "the org admin's key (npm start: ./data/admin.key; overt init: DIR/admin.key, sealed)",
  },
  'admin-passphrase-file': {
    type: 'string',
    value: 'FILE',
    description: `the passphrase of a sealed admin key (else $${ENV_ADMIN_PASSPHRASE}, or a prompt on a terminal)`,
  },
} as const;

/** The passphrase of a sealed admin key: --admin-passphrase-file, $OVERT_ADMIN_PASSPHRASE, or the terminal. */
export async function adminPassphrase(ctx: CommandContext, path: string): Promise<string> {
  const file = optionalString(ctx, 'admin-passphrase-file');
  if (file !== undefined) return readPassphraseFile('admin-passphrase-file', file);
  const env = (ctx.io.env ?? process.env)[ENV_ADMIN_PASSPHRASE];
  if (env !== undefined && env !== '') return env;
  if (ctx.io.readSecret === undefined)
    throw new LockedError(
      `the admin key ${path} is sealed: pass --admin-passphrase-file FILE, set ${ENV_ADMIN_PASSPHRASE}, or run on a terminal`,
    );
  try {
    return await ctx.io.readSecret(`Passphrase of the admin key ${path}: `);
  } catch {
    throw new LockedError('no passphrase given (cancelled)');
  }
}

/**
 * Reads the org admin's key from the file named by --admin-key (a plain signer key, or the sealed form of
 * `overt init`, admin-key.ts); a file that cannot be read is a usage error, a wrong passphrase exit 3.
 */
export function readAdminKey(ctx: CommandContext): Promise<SignerKey> {
  return readAdminKeyAt(ctx, requireString(ctx, 'admin-key'));
}

/** {@link readAdminKey} for the file at `path`; only an Ed25519 signer key is an org admin key. */
export async function readAdminKeyAt(ctx: CommandContext, path: string): Promise<SignerKey> {
  let adminText: string;
  try {
    adminText = (await readFile(path, 'utf8')).trim();
  } catch (e) {
    throw new UsageError(`cannot read --admin-key ${path}: ${fileReason(e)}`);
  }
  if (isSealedAdminKey(adminText)) {
    const passphrase = await adminPassphrase(ctx, path);
    try {
      return openAdminKey(adminText, { kind: 'passphrase', passphrase });
    } catch (e) {
      if (e instanceof AdminKeyError && e.reason === 'locked')
        throw new LockedError(`the passphrase does not open the admin key ${path}`);
      throw new UsageError(`--admin-key ${path} is not a sealed org admin key (${(e as Error).message})`);
    }
  }
  try {
    const key = parseSignerKey(adminText);
    if (key.type !== SIGNATURE_TYPE_ED25519) throw new Error('type');
    return key;
  } catch {
    // The parser's message is not shown: it could quote the file, and the file may be some other secret.
    throw new UsageError(
      `--admin-key ${path} is not an org admin key (a signer key such as npm start's ./data/admin.key, or overt init's sealed file)`,
    );
  }
}

/**
 * The error to show for `e`: `e` itself, or the KT_LOG_STALE refusal (KT-FRESH-1, client.md §8.6) among its causes
 * — an MLS refusal of a member made because the view of the log was stale says why only in its cause.
 */
function shownError(e: unknown): unknown {
  for (let c: unknown = e; c !== undefined; c = (c as { cause?: unknown }).cause)
    if (isClientError(c, 'KT_LOG_STALE')) return c;
  return e;
}

/** Runs `f`, turning a relay or SDK failure into a one-line error and exit status 1. */
export async function guarded(ctx: CommandContext, f: () => Promise<number>): Promise<number> {
  try {
    return await f();
  } catch (thrown) {
    const e = shownError(thrown);
    // The relay is down or unreachable: say so, rather than the layer that noticed (RELAY_UNAVAILABLE when the
    // relay was asked, KT_LOG_UNAVAILABLE when its log was). Exit 4 (cli.md §4.1).
    const net = networkReason(thrown);
    const systemCode = net !== undefined && /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/.test(net);
    if (isClientError(e, 'RELAY_UNAVAILABLE') || (systemCode && isClientError(e, 'KT_LOG_UNAVAILABLE')))
      throw new UnavailableError(
        `cannot reach the relay (${net ?? 'no answer'}); is it running? [${e.code}]`,
      );
    if (!isClientError(e) && !isOvertError(e)) throw thrown;
    const relayCode = isClientError(e) ? e.relayCode : undefined;
    const error = { code: e.code, check: e.check, relayCode, message: e.message };
    if (ctx.json) ctx.io.stdout(`${JSON.stringify({ ok: false, error })}\n`);
    ctx.io.stderr(
      `overt: ${e.message} [${e.code}${relayCode ? ` ${relayCode}` : ''}${e.check ? ` ${e.check}` : ''}]\n`,
    );
    return EXIT_FAILED;
  }
}

function convId(text: string): Uint8Array {
  try {
    const id = fromBase64Url(text);
    if (id.length > 0) return id;
  } catch {
    // Reported just below as a usage error.
  }
  throw new UsageError(`${JSON.stringify(text)} is not a conversation id (see 'overt chat list')`);
}

/** Escapes C0/C1 controls except newline and tab: network text must not drive the terminal. */
export function printable(text: string): string {
  let out = '';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    const control = (c < 0x20 && c !== 0x0a && c !== 0x09) || (c >= 0x7f && c <= 0x9f);
    out += control ? `\\u${c.toString(16).padStart(4, '0')}` : ch;
  }
  return out;
}

// --- device init / admin enrol ---

const deviceInit: Command = {
  path: ['device', 'init'],
  summary: 'create a device key in a new profile directory',
  positionals: [],
  options: {
    relay: { type: 'string', value: 'URL', description: 'the relay (npm start prints it)' },
    user: { type: 'string', value: 'USER', description: 'your user id' },
    device: {
      type: 'string',
      value: 'ID',
      description: 'this device id, unique in the org (default: laptop-<random>)',
    },
    ...profileOption,
  },
  details:
    'Creates DIR (mode 0700) with device.key (mode 0600) and prints the public key. Hand it to the org admin, who\nruns `overt admin enrol`; then run any profile command (e.g. `overt read`) to publish key packages.\nEverything secret in DIR is encrypted under a passphrase: --passphrase-file, $OVERT_PASSPHRASE, or asked\ntwice on the terminal; every command that opens the profile asks for it the same way.',
  examples: [
    'overt device init --relay http://127.0.0.1:8420 --user alice --profile ~/.overt/alice',
    'OVERT_PASSPHRASE=… overt device init --relay http://127.0.0.1:8420 --user alice --profile ~/.overt/alice --json',
  ],
  run: (ctx) =>
    guarded(ctx, async () => {
      const relay = requireString(ctx, 'relay');
      const user = requireString(ctx, 'user');
      if (!isUserId(user))
        throw new UsageError('--user must be 1 to 128 characters of A-Z a-z 0-9 . _ ~ @ + - (core ids.ts)');
      const dir = profileDir(ctx);
      const device = optionalString(ctx, 'device') ?? `laptop-${toBase64Url(randomBytes(6))}`;
      if (!ID_RE.test(device)) throw new UsageError('--device must match [A-Za-z0-9._~-]{1,64}');
      assertNoProfile(dir);
      const secret = await new SecretSource(ctx).forNew(`Choose a passphrase for the new profile ${dir}.`);
      // First contact: the org's trust anchors are pinned in the profile (trust on first use, cli.md §3).
      const { org, trust } = await fetchTrust(relay);
      const key = await initProfile(dir, { relay, org, user, device, trust }, secret);
      const pub = toBase64(key.publicKey);
      emit(
        ctx,
        { ok: true, profile: dir, org, user, device, deviceKey: pub },
        `profile   ${dir}\nuser      ${user}\ndevice    ${device}\ndevice key ${pub}\n\nAsk the org admin to run:\n  overt admin enrol --relay ${relay} --admin-key ./data/admin.key --user ${user} --device ${device} --device-key ${pub}`,
      );
      return EXIT_OK;
    }),
};

const adminEnrol: Command = {
  path: ['admin', 'enrol'],
  summary: "enrol a user's device: sign the device-added statement and log it",
  positionals: [],
  options: {
    ...adminOptions,
    user: { type: 'string', value: 'USER', description: 'the user id (created if new)' },
    device: { type: 'string', value: 'ID', description: 'the device id printed by `overt device init`' },
    'device-key': {
      type: 'string',
      value: 'PUB',
      description: 'the device public key (base64) printed by `overt device init`',
    },
  },
  details:
    'The relay checks the admin signature and appends the statement to the transparency log; prints its log index.',
  examples: [
    'overt admin enrol --relay http://127.0.0.1:8420 --admin-key ./data/admin.key --user bob --device laptop-1 --device-key <base64>',
  ],
  run: (ctx) =>
    guarded(ctx, async () => {
      const relay = requireString(ctx, 'relay');
      const user = requireString(ctx, 'user');
      const device = requireString(ctx, 'device');
      let identityKey: Uint8Array;
      try {
        identityKey = fromBase64(requireString(ctx, 'device-key'));
      } catch {
        throw new UsageError('--device-key must be base64');
      }
      if (identityKey.length !== 32)
        throw new UsageError('--device-key must be a 32-byte Ed25519 public key');
      const admin = await readAdminKey(ctx);
      const org = await fetchOrg(relay);
      const transport = new RelayTransport({ url: relay, key: admin.keyPair, signer: { kind: 'admin' } });
      let userCreated = true;
      try {
        await transport.createUser(user);
      } catch (e) {
        if (!isClientError(e) || e.relayCode !== 'DIR_USER_EXISTS') throw e;
        userCreated = false;
      }
      const statement = signDeviceStatement(admin.keyPair, {
        kind: 'added',
        orgId: org,
        userId: user,
        deviceId: device,
        identityKey,
        time: Date.now(),
      });
      let logIndex: number;
      let already = false;
      try {
        logIndex = await transport.enrolDevice(statement);
      } catch (e) {
        if (!isClientError(e) || e.relayCode !== 'DIR_DEVICE_EXISTS') throw e;
        // The same enrolment run again (a retry after a lost answer, a script run twice) is a no-op; the device
        // id taken by another user or key is still refused (ids are never reused, STORE-R-4).
        const index = await findEnrolment(relay, admin.keyPair.publicKey, {
          orgId: org,
          userId: user,
          deviceId: device,
          identityKey,
        });
        if (index === undefined) throw e;
        logIndex = index;
        already = true;
      }
      // Clients accept the device only once a witnessed checkpoint includes its enrolment (client.md §8).
      await waitWitnessed(relay, logIndex);
      emit(
        ctx,
        { ok: true, user, device, userCreated, logIndex, alreadyEnrolled: already },
        already
          ? `${user}/${device} is already enrolled with this key (log index ${logIndex}); nothing to do`
          : `enrolled ${user}/${device} (log index ${logIndex}${userCreated ? ', new user' : ''})`,
      );
      return EXIT_OK;
    }),
};

/**
 * Waits (up to 20 s) until the log's published checkpoint covers `index`. Only a convenience for the admin: the
 * checkpoint is not verified here, every client verifies it.
 */
async function waitWitnessed(relay: string, index: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const res = await fetch(new URL('/log/checkpoint', relay));
      const size = Number((await res.text()).split('\n')[1]);
      if (res.ok && size > index) return;
    } catch {
      // Not reachable right now: asked again below.
    }
    if (Date.now() > deadline)
      throw new UsageError('the enrolment is logged but no witnessed checkpoint covers it yet');
    await new Promise((r) => setTimeout(r, 100));
  }
}

const deviceApprove: Command = {
  path: ['device', 'approve'],
  summary: 'approve one of your own devices, so log monitoring stops alerting on it',
  positionals: ['DEVICE'],
  options: {
    ...profileOption,
    key: {
      type: 'string',
      value: 'PUB',
      description: 'only this identity key (base64) of the device (default: any key of that device id)',
    },
  },
  details:
    'Every read and watch checks the transparency log for devices enrolled for your user. A device you did not\napprove is printed as ALERT unknown-device on every read and watch until you approve it or the org admin\nremoves it (someone may be reading your messages: tell your org admin). Approve the devices you enrolled\nyourself, e.g. a new laptop, once the log shows them enrolled; a device that is not enrolled is refused.',
  examples: [
    'overt device approve alice-phone --profile ~/.overt/alice',
    'overt device approve alice-phone --key <base64> --profile ~/.overt/alice --json',
  ],
  run: (ctx) =>
    guarded(ctx, async () => {
      const device = ctx.positionals[0]!;
      if (!ID_RE.test(device)) throw new UsageError('DEVICE must match [A-Za-z0-9._~-]{1,64}');
      const keyText = optionalString(ctx, 'key');
      let identityKey: Uint8Array | undefined;
      if (keyText !== undefined) {
        try {
          identityKey = fromBase64(keyText);
        } catch {
          throw new UsageError('--key must be base64');
        }
        if (identityKey.length !== 32) throw new UsageError('--key must be a 32-byte Ed25519 public key');
      }
      const p = await openProfile(profileDir(ctx), new SecretSource(ctx));
      // Only a device the log shows enrolled for this user (KT-3, CLI-5): a typo must not approve a name that a
      // later, unwanted enrolment would then use without an alert.
      let logged: Uint8Array;
      try {
        logged = await p.client.ownDeviceKey(device);
      } catch (e) {
        if (isClientError(e, 'SDK_DEVICE_UNVERIFIED') || isClientError(e, 'KT_DEVICE_NOT_ON_LOG'))
          throw new UsageError(
            `${p.info.user}/${device} is not enrolled (the org admin runs overt admin enrol first); nothing approved`,
          );
        throw e;
      }
      if (identityKey !== undefined && toBase64(identityKey) !== toBase64(logged))
        throw new UsageError(`--key is not the key enrolled for ${p.info.user}/${device}; nothing approved`);
      await p.client.approveDevice(device, identityKey);
      emit(
        ctx,
        { ok: true, user: p.info.user, device, key: keyText ?? null },
        `approved ${p.info.user}/${device}${keyText ? ` (key ${keyText})` : ''}`,
      );
      return EXIT_OK;
    }),
};

// --- chat new / list ---

const chatNew: Command = {
  path: ['chat', 'new'],
  summary: 'create a conversation with other users',
  positionals: [],
  options: {
    ...profileOption,
    with: { type: 'string', value: 'USER[,USER…]', description: 'who to add (all their enrolled devices)' },
    name: {
      type: 'string',
      value: 'NAME',
      description: 'name the conversation (end-to-end encrypted, seen by all members)',
    },
  },
  examples: [
    'overt chat new --profile ~/.overt/alice --with bob,carol',
    'overt chat new --profile ~/.overt/alice --with bob,carol --name "Q3 planning"',
  ],
  run: (ctx) =>
    guarded(ctx, async () => {
      const users = requireString(ctx, 'with')
        .split(',')
        .map((u) => u.trim())
        .filter((u) => u !== '');
      if (users.length === 0) throw new UsageError('--with needs at least one user');
      const name = optionalString(ctx, 'name');
      if (name !== undefined && !validConversationName(name))
        throw new UsageError('--name is at most 256 bytes of UTF-8 without control characters');
      const p = await openProfile(profileDir(ctx), new SecretSource(ctx));
      const { conversationId, missing } = await p.client.createConversation(users, {
        ...(name !== undefined ? { name } : {}),
      });
      const id = toBase64Url(conversationId);
      const members = p.client.members(conversationId);
      emit(
        ctx,
        { ok: true, conversation: id, ...(name ? { name } : {}), members, missing },
        `${id}${name ? `  ${printable(name)}` : ''}\nmembers: ${members.map((m) => `${m.userId}/${m.deviceId}`).join(', ')}${
          missing.length > 0
            ? `\nnot added (no key package; they must run a command once): ${missing.join(', ')}`
            : ''
        }`,
      );
      return EXIT_OK;
    }),
};

const chatList: Command = {
  path: ['chat', 'list'],
  summary: "list this device's conversations and their members",
  positionals: [],
  options: { ...profileOption },
  details:
    'Syncs first, so conversations others added you to appear (their messages stay unread for `overt read`).',
  examples: ['overt chat list --profile ~/.overt/bob'],
  run: (ctx) =>
    guarded(ctx, async () => {
      const p = await openProfile(profileDir(ctx), new SecretSource(ctx));
      // Received events stay unread in the store (client.md §4.3) for `overt read`.
      await p.client.receive();
      // CLI-O1 (after-release.md §8.5): the recorded group comes from the policy on the verified log view.
      const policy = (await p.client.kt.log.accessPolicy())?.policy;
      const chats = p.client.conversationIds().map((id) => {
        const name = p.client.conversationName(id);
        const members = p.client.members(id);
        const recorded =
          policy === undefined
            ? []
            : recordedMembers(
                policy,
                members.map((m) => m.userId),
              );
        return {
          conversation: toBase64Url(id),
          ...(name !== undefined ? { name } : {}),
          members,
          ...(recorded.length > 0 ? { recorded } : {}),
        };
      });
      emit(
        ctx,
        { ok: true, conversations: chats },
        chats.length === 0
          ? 'no conversations'
          : chats
              .map(
                (c) =>
                  `${c.conversation}  ${c.name !== undefined ? `"${printable(c.name)}"  ` : ''}${printable(
                    c.members.map((m) => `${m.userId}/${m.deviceId}`).join(', '),
                  )}${c.recorded !== undefined ? `  [recorded: ${printable(c.recorded.join(', '))}]` : ''}`,
              )
              .join('\n'),
      );
      return EXIT_OK;
    }),
};

const chatRename: Command = {
  path: ['chat', 'rename'],
  summary: 'name or rename a conversation for all its members',
  positionals: ['NAME'],
  options: {
    ...profileOption,
    conv: { type: 'string', value: 'CONV', description: 'the conversation id (overt chat list)' },
  },
  details:
    'The name goes to the members end-to-end encrypted (an MLS message; the relay never sees it). An empty NAME\nremoves it.',
  examples: ['overt chat rename --profile ~/.overt/alice --conv <conv> "Q4 planning"'],
  run: (ctx) =>
    guarded(ctx, async () => {
      const conv = convId(requireString(ctx, 'conv'));
      if (ctx.positionals.length !== 1) throw new UsageError('give the new name as one argument');
      const name = ctx.positionals[0]!;
      if (!validConversationName(name))
        throw new UsageError('a name is at most 256 bytes of UTF-8 without control characters');
      const p = await openProfile(profileDir(ctx), new SecretSource(ctx));
      await p.client.receive();
      await p.client.setConversationName(conv, name);
      emit(
        ctx,
        { ok: true, conversation: toBase64Url(conv), name },
        `${toBase64Url(conv)} is now ${name === '' ? 'unnamed' : `"${printable(name)}"`}`,
      );
      return EXIT_OK;
    }),
};

// --- send ---

const send: Command = {
  path: ['send', ''],
  summary: 'send a text message or a file to a conversation',
  positionals: ['[TEXT…]'],
  options: {
    ...profileOption,
    to: {
      type: 'string',
      value: 'CONV|USER',
      description: 'a conversation id (overt chat list), or a user: the one-to-one conversation with them',
    },
    file: { type: 'string', value: 'PATH', description: 'send this file instead of text' },
    type: {
      type: 'string',
      value: 'MIME',
      description: 'content type of --file (default application/octet-stream)',
    },
  },
  details:
    '--to USER sends to the one-to-one conversation of this device with USER (their devices and yours), and\ncreates it the first time; USER must have run a command once (their key packages).',
  examples: [
    'overt send --as alice --to bob "hi"',
    'overt send --profile ~/.overt/alice --to <conv> "hello bob"',
    'overt send --profile ~/.overt/alice --to <conv> --file ./report.pdf --type application/pdf',
  ],
  run: (ctx) =>
    guarded(ctx, async () => {
      const to = requireString(ctx, 'to');
      const file = optionalString(ctx, 'file');
      if ((file === undefined) === (ctx.positionals.length === 0))
        throw new UsageError('give either a text argument or --file PATH');
      // Several words are refused rather than joined: the shell has already eaten the spacing and any quote or
      // glob characters between them, so what would be sent is not what was typed (cli.md §1.1).
      if (ctx.positionals.length > 1)
        throw new UsageError(
          `the text is ${ctx.positionals.length} arguments: quote it as one, e.g. overt send --to CONV "hello bob"`,
        );
      if (file === undefined && ctx.positionals[0]!.trim() === '')
        throw new UsageError('the message is empty: nothing to send');
      let bytes: Uint8Array | undefined;
      if (file !== undefined) {
        try {
          bytes = new Uint8Array(await readFile(file));
        } catch (e) {
          throw new UsageError(`cannot read --file ${file}: ${fileReason(e)}`);
        }
      }
      const p = await openProfile(profileDir(ctx), new SecretSource(ctx));
      // Catch up first: a commit we have not processed would make the relay refuse the send's epoch. What it
      // receives stays unread in the store for `overt read`.
      await p.client.receive();
      const conv = await conversationTo(p, to);
      let sent: Awaited<ReturnType<typeof p.client.sendText>>;
      if (bytes === undefined) sent = await p.client.sendText(conv, ctx.positionals[0]!);
      else {
        // The file's own name goes with it, encrypted (client.md §4.8); never the directories above it. A bar
        // on a terminal while a large file is sealed and uploaded chunk by chunk (KiB).
        const bar = Progress.for(ctx, 'uploading (KiB)', Math.ceil(bytes.length / 1024));
        let shown = 0;
        try {
          sent = await p.client.sendFile(
            conv,
            bytes,
            optionalString(ctx, 'type') ?? 'application/octet-stream',
            {
              name: basename(file!),
              onProgress: (done) => {
                const kib = Math.ceil(done / 1024);
                bar.tick(kib - shown);
                shown = kib;
              },
            },
          );
        } finally {
          bar.end();
        }
      }
      const messageId = toBase64Url(sent.messageId);
      emit(ctx, { ok: true, messageId, epoch: sent.epoch, bytes: bytes?.length }, `sent ${messageId}`);
      return EXIT_OK;
    }),
};

/**
 * `send --to`: a conversation of this device (its id), else a user id: the one-to-one conversation of this device
 * with that user (exactly the two users as members), created the first time (cli.md §5).
 */
export async function conversationTo(p: OpenProfile, to: string): Promise<Uint8Array> {
  let id: Uint8Array | undefined;
  try {
    id = fromBase64Url(to);
  } catch {
    // Not base64url: a user id, checked below.
  }
  const ids = p.client.conversationIds();
  const known = id === undefined ? undefined : ids.find((c) => toBase64Url(c) === toBase64Url(id));
  if (known !== undefined) return known;
  if (!isUserId(to))
    throw new UsageError(
      `${JSON.stringify(to)} is neither a conversation of this device nor a user id (see 'overt chat list')`,
    );
  const me = p.client.userId;
  if (to === me) throw new UsageError('--to names yourself: give another user or a conversation id');
  for (const c of ids) {
    const users = new Set(p.client.members(c).map((m) => m.userId));
    if (users.size === 2 && users.has(me) && users.has(to)) return c;
  }
  let created: Awaited<ReturnType<typeof p.client.createConversation>>;
  try {
    created = await p.client.createConversation([to]);
  } catch (e) {
    if (!isClientError(e) || e.relayCode !== 'DIR_USER_UNKNOWN') throw e;
    throw new ClientError(
      'SDK_UNKNOWN_CONVERSATION',
      "unknown conversation or user: --to names neither a conversation of this device nor a user of the org (see 'overt chat list')",
      { cause: e },
    );
  }
  const { conversationId, missing } = created;
  if (missing.includes(to))
    throw new UsageError(
      `${to} has no key package on the relay yet (not enrolled, or has not run a command since): they must run e.g. 'overt read' once`,
    );
  return conversationId;
}

// --- read / watch ---

/** What `read` and `watch` print for one event. */
interface Shown {
  readonly event: 'message' | 'file' | 'joined' | 'membership' | 'renamed' | 'rejected' | 'alert' | 'notice';
  readonly conversation?: string;
  readonly [k: string]: unknown;
}

async function show(p: OpenProfile, e: ClientEvent): Promise<{ json: Shown; text: string }> {
  if (e.kind === 'notice') {
    // A new access policy (KT-10, A14): who may now do what. Public facts only, no key material.
    return {
      json: {
        event: 'notice',
        notice: e.notice,
        serial: e.serial,
        previousSerial: e.previousSerial,
        changes: e.changes,
        logIndex: e.logIndex,
        check: e.check,
      },
      text: `NOTICE ${e.notice} serial ${e.previousSerial} → ${e.serial} (log index ${e.logIndex}, ${e.check}): ${printable(e.changes.join('; '))}`,
    };
  }
  if (e.kind === 'alert' && e.alert === 'seal-overdue') {
    // OVD-1 (after-release.md §3): a seal past its date with neither an unseal nor an extension on the log.
    const requestId = toBase64Url(e.requestId);
    const since = new Date(e.sealUntil).toISOString();
    return {
      json: {
        event: 'alert',
        alert: e.alert,
        requestId,
        sealUntil: e.sealUntil,
        logIndex: e.logIndex,
        check: e.check,
      },
      text: `ALERT seal-overdue request ${requestId} (sealed until ${since}, log index ${e.logIndex}, ${e.check}): the seal ran out with neither an unseal nor an extension on the log (tell your org's trustees)`,
    };
  }
  if (e.kind === 'alert' && !('userId' in e)) {
    const what =
      e.alert === 'epoch-key-invalid'
        ? `an epoch key on the log is not signed by the trustees of the access policy (${e.reason}); nothing is sealed to it (tell your org's trustees)`
        : `two different keys are on the log for one epoch (${e.reason}); nothing is sealed to either (tell your org's trustees)`;
    return {
      json: {
        event: 'alert',
        alert: e.alert,
        epoch: e.epoch ?? null,
        reason: e.reason,
        logIndex: e.logIndex,
        check: e.check,
      },
      text: `ALERT ${e.alert} epoch ${e.epoch ?? '?'} (log index ${e.logIndex}, ${e.check}): ${printable(what)}`,
    };
  }
  if (e.kind === 'alert') {
    const what =
      e.alert === 'unknown-device'
        ? 'a device you did not approve was enrolled for your user (tell your org admin; if it is yours: overt device approve)'
        : 'one of your devices was removed';
    return {
      json: {
        event: 'alert',
        alert: e.alert,
        user: e.userId,
        device: e.deviceId,
        key: toBase64(e.identityKey),
        logIndex: e.logIndex,
        check: e.check,
      },
      text: `ALERT ${e.alert} ${printable(`${e.userId}/${e.deviceId}`)} (log index ${e.logIndex}, ${e.check}): ${what}`,
    };
  }
  const conversation = toBase64Url(e.conversationId);
  const short = conversation.slice(0, 8);
  switch (e.kind) {
    case 'message': {
      // Kept for `overt history` (cli.md §3.4) as it is printed.
      await recordShown(p.store, e);
      const from = `${e.sender.userId}/${e.sender.deviceId}`;
      const time = new Date(e.sendTime).toISOString();
      const messageId = toBase64Url(e.messageId);
      if (e.contentType === TEXT_CONTENT_TYPE) {
        try {
          const text = utf8Decode(e.payload);
          return {
            json: {
              event: 'message',
              conversation,
              messageId,
              sender: e.sender,
              time,
              text,
              reportable: e.reportable,
            },
            // The id ends the line: `overt report ID` and `overt history` name messages by it.
            text: `[${time}] ${short} ${printable(from)}: ${printable(text)}  (${messageId})`,
          };
        } catch {
          // Not UTF-8 although labelled text: saved as a file below.
        }
      }
      // Kept encrypted in the profile's store; `overt file save` writes it out (cli.md §3), by default under the
      // sender's name, sanitised by the SDK (client.md §4.8).
      await p.store.put(`${FILE_PREFIX}${messageId}`, e.payload);
      const name = e.fileName ?? fallbackFileName(e.messageId);
      await p.store.put(
        `${FILE_INFO_PREFIX}${messageId}`,
        utf8Encode(JSON.stringify({ name, contentType: e.contentType })),
      );
      return {
        json: {
          event: 'file',
          conversation,
          messageId,
          sender: e.sender,
          time,
          name,
          contentType: e.contentType,
          bytes: e.payload.length,
          reportable: e.reportable,
        },
        text: `[${time}] ${short} ${printable(from)}: file ${printable(name)} (${printable(e.contentType)}, ${e.payload.length} bytes): overt file save ${messageId}`,
      };
    }
    case 'joined':
      return {
        json: { event: 'joined', conversation, members: e.members },
        text: `${short} you were added; members: ${printable(e.members.map((m) => `${m.userId}/${m.deviceId}`).join(', '))}`,
      };
    case 'membership':
      return {
        json: {
          event: 'membership',
          conversation,
          added: e.added,
          removed: e.removed,
          removedSelf: e.removedSelf,
        },
        text: `${short} ${printable(
          [
            ...e.added.map((m) => `+${m.userId}/${m.deviceId}`),
            ...e.removed.map((m) => `-${m.userId}/${m.deviceId}`),
          ].join(' '),
        )}${e.removedSelf ? ' (you were removed)' : ''}`,
      };
    case 'renamed':
      return {
        json: { event: 'renamed', conversation, name: e.name, by: e.by },
        text: `${short} ${printable(`${e.by.userId}/${e.by.deviceId}`)} ${
          e.name === '' ? 'removed the name' : `named it "${printable(e.name)}"`
        }`,
      };
    case 'rejected':
      return {
        json: {
          event: 'rejected',
          conversation,
          item: e.item,
          sender: e.sender,
          code: e.code,
          check: e.check,
        },
        text: `REJECTED ${e.item} in ${short} claimed from ${printable(e.sender)}: ${e.code}${
          e.check ? ` (${e.check})` : ''
        } — not shown, it failed verification`,
      };
  }
}

/**
 * Events received but not yet shown are kept by the SDK in the profile store until marked read (client.md §4.3):
 * a `read --conv` of another conversation, a `send`, a `chat list` or a read interrupted part-way loses none.
 * An older overt kept them under `cli/unread/` (encoded below): those are shown first, then deleted.
 */
const UNREAD = 'cli/unread/';

function decodeLegacyEvent(bytes: Uint8Array): ClientEvent {
  return JSON.parse(utf8Decode(bytes), (_k, v) =>
    v !== null && typeof v === 'object' && typeof v.b64 === 'string' && Object.keys(v).length === 1
      ? fromBase64(v.b64)
      : v,
  ) as ClientEvent;
}

/** Unread events of `conv` (or all), oldest first, and `done()` to mark them read once they are shown. */
async function unreadFor(
  p: OpenProfile,
  conv: Uint8Array | undefined,
): Promise<{ events: ClientEvent[]; done: () => Promise<void> }> {
  // Alerts and notices concern the user, not a conversation: always shown.
  const match = (e: ClientEvent) =>
    conv === undefined ||
    e.kind === 'alert' ||
    e.kind === 'notice' ||
    toBase64Url(e.conversationId) === toBase64Url(conv);
  const events: ClientEvent[] = [];
  const legacy: string[] = [];
  for (const k of await p.store.list(UNREAD)) {
    const bytes = await p.store.get(k);
    if (bytes === undefined) continue;
    const e = decodeLegacyEvent(bytes);
    if (!match(e)) continue;
    events.push(e);
    legacy.push(k);
  }
  const ids: string[] = [];
  for (const u of await p.client.unread()) {
    if (!match(u.event)) continue;
    events.push(u.event);
    ids.push(u.id);
  }
  return {
    events,
    done: async () => {
      await p.client.markRead(ids);
      for (const k of legacy) await p.store.delete(k);
    },
  };
}

/**
 * Receives, then takes the unread events. A receive that fails part-way (the relay gone, a rate limit past the
 * retries) still gives what it stored before failing, with the error: the caller shows those, then fails.
 */
async function receiveAndTake(
  p: OpenProfile,
  conv: Uint8Array | undefined,
): Promise<{ events: ClientEvent[]; done: () => Promise<void>; failure: unknown }> {
  let failure: unknown;
  try {
    await p.client.receive();
  } catch (e) {
    failure = e;
  }
  return { ...(await unreadFor(p, conv)), failure };
}

const read: Command = {
  path: ['read', ''],
  summary: 'fetch and print new messages',
  positionals: [],
  options: {
    ...profileOption,
    conv: { type: 'string', value: 'CONV', description: 'only this conversation (others stay unread)' },
  },
  details:
    'Files are kept encrypted in the profile (overt file save writes one out). A mailbox item that fails\nverification is printed as REJECTED with its error code and check ID, never as a message; the exit status is then 1. A device\nenrolled for your user that you did not approve is printed as ALERT on every read until approved or removed\n(exit status 1; see overt device approve),\nand so is an epoch key on the log that the trustees did not sign or a second key for one epoch. A new\naccess policy (other trustees, threshold, requesters or limits) is printed as NOTICE policy-changed.',
  examples: ['overt read --profile ~/.overt/bob', 'overt read --profile ~/.overt/bob --conv <conv> --json'],
  run: (ctx) =>
    guarded(ctx, async () => {
      const conv = optionalString(ctx, 'conv');
      const p = await openProfile(profileDir(ctx), new SecretSource(ctx));
      const { events, done, failure } = await receiveAndTake(
        p,
        conv === undefined ? undefined : convId(conv),
      );
      const shown = [];
      for (const e of events) shown.push(await show(p, e));
      if (failure !== undefined && shown.length === 0) throw failure;
      // CLI-O1 (after-release.md §8.5): conversations with a member of the recorded group are marked, from the
      // policy on the verified log view; a recorded user is told so.
      const policy = (await p.client.kt.log.accessPolicy())?.policy;
      const marks: { conversation: string; recorded: string[] }[] = [];
      if (policy !== undefined)
        for (const e of events) {
          const c = (e as { conversationId?: unknown }).conversationId;
          if (!(c instanceof Uint8Array)) continue;
          const id = toBase64Url(c);
          if (marks.some((m) => m.conversation === id)) continue;
          // A rejected item may name a conversation this device does not know: no mark then.
          let members: string[];
          try {
            members = p.client.members(c).map((m) => m.userId);
          } catch {
            continue;
          }
          const recorded = recordedMembers(policy, members);
          if (recorded.length > 0) marks.push({ conversation: id, recorded });
        }
      const self = policy !== undefined && recordedMembers(policy, [p.client.userId]).length > 0;
      const markLines = [
        ...(self ? [`RECORDED  ${RECORDED_NOTICE}`] : []),
        ...marks.map((m) => `RECORDED  conversation ${m.conversation}: ${printable(m.recorded.join(', '))}`),
      ];
      emit(
        ctx,
        {
          ok: true,
          events: shown.map((s) => s.json),
          ...(marks.length > 0 || self ? { recorded: { self, conversations: marks } } : {}),
        },
        [shown.length === 0 ? 'no new messages' : shown.map((s) => s.text).join('\n'), ...markLines].join(
          '\n',
        ),
      );
      // Marked read once printed: a crash before this shows them again, never loses them.
      await done();
      // What arrived before the failure is shown; the rest comes with the next read.
      if (failure !== undefined) throw failure;
      return events.some((e) => e.kind === 'rejected' || e.kind === 'alert') ? EXIT_FAILED : EXIT_OK;
    }),
};

const watch: Command = {
  path: ['watch', ''],
  summary: 'print messages as they arrive, until Ctrl-C',
  positionals: [],
  options: { ...profileOption },
  details:
    'Holds the mailbox WebSocket open; each wake-up syncs and prints. With --json, one JSON object per line;\nthe first is {"event":"watching"}.',
  examples: ['overt watch --profile ~/.overt/bob'],
  run: (ctx) =>
    guarded(ctx, async () => {
      const p = await openProfile(profileDir(ctx), new SecretSource(ctx));
      const line = (json: unknown, text: string) =>
        ctx.io.stdout(`${ctx.json ? JSON.stringify(json) : text}\n`);
      let running: Promise<void> = Promise.resolve();
      let failure: unknown;
      // Wake-ups are serialised: each sync prints its events before the next starts, so output keeps order.
      const drain = () => {
        running = running.then(async () => {
          try {
            const { events, done, failure } = await receiveAndTake(p, undefined);
            for (const e of events) {
              const s = await show(p, e);
              line(s.json, s.text);
            }
            await done();
            if (failure !== undefined) throw failure;
          } catch (e) {
            failure = e;
            ctx.io.stderr(`overt watch: sync failed: ${(e as Error).message}\n`);
          }
        });
      };
      let closed: (code: number) => void = () => undefined;
      const socketClosed = new Promise<number>((r) => {
        closed = r;
      });
      const socket = await p.client.connect(drain, (code) => closed(code));
      line(
        { event: 'watching', user: p.info.user, device: p.info.device },
        `watching as ${p.info.user}/${p.info.device} (Ctrl-C stops)`,
      );
      drain();
      const why = await Promise.race([ctx.io.stopped.then(() => 'stopped' as const), socketClosed]);
      socket.close();
      await running;
      if (why !== 'stopped') {
        ctx.io.stderr(`overt watch: the relay closed the connection (${why})\n`);
        return EXIT_FAILED;
      }
      return failure === undefined ? EXIT_OK : EXIT_FAILED;
    }),
};

// --- notices (after-release.md §4) ---

function noticeText(n: Notice, fresh: boolean): string {
  const iso = (ms: number) => new Date(ms).toISOString();
  const who = (xs: Notice['approvedBy']) =>
    xs.length === 0 ? 'none' : xs.map((t) => `${t.index} ${printable(t.name)}`).join(', ');
  const lines = [
    `${fresh ? 'NEW ' : ''}NOTICE access request ${n.requestId} by ${printable(n.requester.name)} (${printable(n.requester.id)}), unsealed ${iso(n.unsealedAt)} by ${n.publisher === 'relay' ? 'the relay' : `trustee ${n.publisher.trustee}`}`,
    `  legal basis: ${printable(n.legalBasis)}`,
    `  document hash: ${n.documentHash}`,
    `  justification: ${printable(n.justification)}`,
    `  case reference: ${printable(n.caseReference) || '(none)'}`,
    `  approved by: ${who(n.approvedBy)}; denied by: ${who(n.deniedBy)}`,
    `  window: ${iso(n.window.from)} to ${iso(n.window.until)}, conversations: ${n.conversations === 'all' ? 'all' : n.conversations.join(', ')}`,
    `  filed ${iso(n.filedAt)}, sealed until ${iso(n.sealUntil)}`,
    n.openedCount === 0
      ? `  none of your messages was opened (${n.inScopeCount} of those this device holds were in scope${n.executed ? '' : '; the request was never executed'})`
      : `  ${n.openedCount} of your messages opened (${n.inScopeCount} in scope of those this device holds):`,
    ...n.opened.map((m) => `    ${m.messageId} in conversation ${m.conversation}, sent ${iso(m.sentAt)}`),
  ];
  return lines.join('\n');
}

const notices: Command = {
  path: ['notices', ''],
  summary: 'show what unsealed access requests opened of your messages (who asked, why, approved by whom)',
  positionals: [],
  options: {
    ...profileOption,
    all: { type: 'boolean', description: 'show every notice, also those shown before' },
  },
  details:
    "Once an access request's seal has run out and it is unsealed on the transparency log, every subject of it is\n" +
    'told: who asked, under what legal basis and justification, which trustees approved or denied it, the time\n' +
    'window, and exactly which of your messages were opened (matched by this device against the messages it sent\n' +
    'or received) — or that none was. Everything is checked against the verified log; the relay only serves the\n' +
    'list of envelopes, which must match the logged execution. New messages are fetched first (they stay unread\n' +
    'for overt read). Each notice is shown once as NEW; --all shows them all; --json prints all, each with "new".',
  examples: ['overt notices --profile ~/.overt/alice', 'overt notices --profile ~/.overt/alice --all --json'],
  run: (ctx) =>
    guarded(ctx, async () => {
      const p = await openProfile(profileDir(ctx), new SecretSource(ctx));
      // The headers of messages not yet received are needed to match what was opened.
      await p.client.receive();
      const kept = await p.client.notices();
      const shown = ctx.values.all === true ? kept : kept.filter((k) => !k.seen);
      emit(
        ctx,
        { ok: true, notices: kept.map((k) => ({ ...k.notice, new: !k.seen })) },
        shown.length === 0 ? 'no new notices' : shown.map((k) => noticeText(k.notice, !k.seen)).join('\n\n'),
      );
      // Marked seen once printed: a crash before this shows them again.
      await p.client.markNoticesSeen(kept.filter((k) => !k.seen).map((k) => k.notice.requestId));
      return EXIT_OK;
    }),
};

export const chatCommands: readonly Command[] = [
  deviceInit,
  deviceApprove,
  adminEnrol,
  chatNew,
  chatList,
  chatRename,
  send,
  read,
  watch,
  notices,
];
