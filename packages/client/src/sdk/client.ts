/**
 * `OvertClient`: one device's messaging session (docs/spec/client.md §4). It joins the pieces: the relay transport
 * (signed requests), the MLS layer (one `Conversation` per group), core's envelopes (seal with an access capsule,
 * open with the recipient checks) and a key–value store for everything that must survive a restart.
 *
 * Send (DESIGN §4 flow 1): seal the payload under the current epoch key with a header naming this device and the
 * conversation's users → PUT the envelope (inline, or a chunked blob for large files) → send (message id, K, seed)
 * through MLS; the envelope is signed with this device's identity key (envelope.md §3.1). Receive (flow 2): read
 * the mailbox in order → MLS-decrypt → fetch the envelope → `openEnvelope` with the context MLS vouches for (sender
 * credential and its key, group id, the roster of the message's epoch) and the time checks (CLI-8, CLI-9). Any failure
 * is returned as a `rejected` event with its code and check ID, never as a message (A5, CLI-1..CLI-4).
 *
 * All operations of one client run one at a time (and, with a profile `lock`, one process at a time). Receiving is
 * durable and idempotent (client.md §4.3): each mailbox item's effects — the MLS state, the event it produces, the
 * mailbox cursor — are written in one atomic store batch before the item is acknowledged, and events stay in the
 * store until read, so a crash or an error at any point neither loses a message nor processes one twice.
 */
import {
  calendarMonthEpoch,
  ciphertextLength,
  DEFAULT_CHUNK_SIZE,
  type Element,
  equalBytes,
  type HeaderFields,
  isOvertError,
  type KeyTransport,
  randomBytes,
  type SigningKeyPair,
  toBase64Url,
  toHex,
  utf8Decode,
  utf8Encode,
} from '@overt/core';
import { readAllLabels } from '../access/notices.js';
import { AccessPublicClient } from '../access/relay-client.js';
import { ClientError, isClientError } from '../errors.js';
import type { TrustAnchors } from '../log/anchors.js';
import { Conversation, type ConversationOptions, type DeviceRef } from '../mls/conversation.js';
import {
  createMlsIdentity,
  type Member,
  type MemberCredential,
  type MlsIdentity,
} from '../mls/credential.js';
import type { HistorySetting } from '../mls/history.js';
import {
  decodeKeyPackageBundle,
  encodeKeyPackageBundle,
  generateKeyPackage,
  type KeyPackageBundle,
} from '../mls/keyPackage.js';
import { validConversationName } from '../mls/payload.js';
import { type KeyValueStore, StoreTransaction } from '../store/store.js';
import { MailboxSocket, type WebSocketConstructor } from '../transport/mailbox-socket.js';
import {
  type FetchLike,
  type FiledReport,
  type MailboxItem,
  RelayTransport,
  type RetryPolicy,
} from '../transport/relay-transport.js';
import { encodeFileContent, FILE_CONTENT_TYPE } from './content.js';
import {
  decodeEvent,
  EVENT_PREFIX,
  encodeEvent,
  itemEventKey,
  monitorEventKey,
  repeatingAlertKey,
} from './events.js';
import { fileReport, forgetReportable, type StampStatus } from './franking.js';
import { keepHeader } from './headers.js';
import {
  type HistoryContext,
  holdHistoryPart,
  keepHistoryRecord,
  noteJoined,
  openHeldHistory,
  shareHistory,
} from './history.js';
import { KeyTransparency, type KtEvent } from './key-transparency.js';
import { markNoticesSeen, type StoredNotice, storedNotices, updateNotices } from './notices-store.js';
import { decodePendingOpen, encodePendingOpen, type PendingOpen } from './pending.js';
import {
  fetchEnvelope,
  isRaceLost,
  isTransient,
  type Origin,
  openReceived,
  type ReceiveContext,
  SEND_TIME_SKEW_MS,
} from './receive.js';
import { sealAndPut, sealInline } from './upload.js';

/** Content type of text messages. */
export const TEXT_CONTENT_TYPE = 'text/plain; charset=utf-8';
/** Envelopes whose ciphertext is larger than this go through a chunked blob (the relay's body limit is 2 MiB). */
export const INLINE_ENVELOPE_MAX = 1 << 20;
/**
 * Envelopes whose ciphertext is at most this long go with their MLS message in one WebSocket send frame when the
 * client is connected (relay.md §6.8; the relay's frame limit is 1.25 MiB in all).
 */
export const SOCKET_ENVELOPE_MAX = 1 << 19;
/** Blob chunk size used for uploads (the relay accepts 64 KiB .. 1 MiB). */
export const BLOB_CHUNK_SIZE = 1 << 20;
/** A last-resort key package is renewed when less than this much of its lifetime (90 days) is left. */
export const LAST_RESORT_RENEW_SECONDS = 30 * 24 * 3600;
/** How often a send or commit is retried after losing a race for the group's epoch (relay DS-3/DS-4). */
const MAX_RETRIES = 5;

export interface OvertClientOptions {
  /** The relay's base URL. */
  readonly url: string;
  /** The organisation id that envelope headers carry (the relay's). */
  readonly orgId: string;
  readonly userId: string;
  /** The device id: `[A-Za-z0-9._~-]{1,64}` (relay.md §2.2); it travels as ASCII bytes in MLS and envelopes. */
  readonly deviceId: string;
  /** The device identity key: enrolled on the log by the org-admin, also the MLS signature key. */
  readonly signingKey: SigningKeyPair;
  readonly store: KeyValueStore;
  /**
   * The org's trust anchors (log origin and key, witnesses and quorum, admin key): every member's device and every
   * epoch key is checked against the log they define (key transparency, docs/spec/client.md §8).
   */
  readonly trust: TrustAnchors;
  /** Also read the log and report alerts about this user's devices in every `sync()` (default false). */
  readonly monitorLog?: boolean;
  /**
   * The oldest view of the log a key-transparency decision may rest on, in seconds (default 300; client.md §8.6,
   * A16): judged from the witness quorum's cosignature timestamps against `now`. An older view is refreshed before
   * the decision; if the relay serves nothing fresher the operation fails with KT_LOG_STALE (KT-FRESH-1).
   */
  readonly maxLogAgeSeconds?: number;
  /**
   * The relay's franking public key (relay.md §10, `/.well-known/overt` `franking_key`): each message's stamp is
   * checked against it on receipt (FRK-5). Without it stamps are kept unchecked (`stampStatus: 'unverified'`).
   */
  readonly relayFrankingKey?: Uint8Array;
  /**
   * Largest accepted difference between a live message's send time and the relay's stamp time, ms (CLI-9;
   * default {@link SEND_TIME_SKEW_MS}, the relay's default ingest window). Raise it only with the relay's.
   */
  readonly sendTimeSkewMs?: number;
  readonly fetch?: FetchLike;
  readonly WebSocket?: WebSocketConstructor;
  readonly now?: () => number;
  /** How relay requests are retried (client.md §2.1; default DEFAULT_RETRY of the transport). */
  readonly retry?: RetryPolicy;
  /**
   * Takes the lock of the store for one operation, resolving to its release (client.md §4.8; the CLI's profile
   * lock, cli.md §3.3). With it every operation runs under the lock and first re-reads the state from the store,
   * since another process may have advanced it meanwhile. Without it the store must have no other writer.
   */
  readonly lock?: () => Promise<() => Promise<void>>;
}

/** An event kept in the store until read (client.md §4.3): `id` names it for {@link OvertClient.markRead}. */
export interface UnreadEvent {
  readonly id: string;
  readonly event: ClientEvent;
}

/** Who sent a message, as the MLS credential that signed it says. */
export interface Sender {
  readonly userId: string;
  readonly deviceId: string;
}

/** What `sync()` reports, in mailbox order. */
export type ClientEvent =
  | { readonly kind: 'joined'; readonly conversationId: Uint8Array; readonly members: readonly Sender[] }
  | {
      readonly kind: 'membership';
      readonly conversationId: Uint8Array;
      readonly added: readonly Sender[];
      readonly removed: readonly Sender[];
      /** This device was removed: the conversation is closed for it. */
      readonly removedSelf: boolean;
    }
  | {
      readonly kind: 'message';
      readonly conversationId: Uint8Array;
      readonly messageId: Uint8Array;
      readonly sender: Sender;
      readonly sendTime: number;
      /** The content type (of a file: the one inside its FileContent, client.md §4.8). */
      readonly contentType: string;
      readonly payload: Uint8Array;
      /** A file's name as the sender gave it, sanitised (content.ts `sanitizeFileName`); absent for text and older files. */
      readonly fileName?: string;
      /** The franking key of the envelope (secret), kept for an abuse report (DESIGN §4 flow 10). */
      readonly frankingKey: Uint8Array;
      /** The relay's franking stamp and what the recipient knows of it (client.md §4.5, FRK-5). */
      readonly stamp: Uint8Array | undefined;
      readonly stampStatus: StampStatus;
      /** A report is kept for it: `report(messageId)` can file it with the organisation. */
      readonly reportable: boolean;
      /** Set for an earlier message given to this device when it joined (history, client.md §4.6). */
      readonly history?: { readonly sharedBy: Sender };
    }
  | {
      /** A member named or renamed the conversation (end-to-end encrypted, mls.md §6; client.md §4.1). */
      readonly kind: 'renamed';
      readonly conversationId: Uint8Array;
      readonly name: string;
      readonly by: Sender;
    }
  | {
      /** A mailbox item that failed a check: never shown as a message. `code`/`check` say which rule failed. */
      readonly kind: 'rejected';
      readonly conversationId: Uint8Array;
      readonly item: 'welcome' | 'commit' | 'message' | 'history';
      readonly sender: string;
      readonly code: string;
      readonly check: string | undefined;
    }
  /**
   * Log monitoring found a statement about this user's devices they did not expect (KT-6, KT-7; A6), an epoch key
   * that is not the trustees' or a second key for an epoch (KT-8, KT-9; A14), or a new access policy (KT-10).
   */
  | KtEvent;

/** The result of a send. */
export interface SentMessage {
  readonly messageId: Uint8Array;
  readonly epoch: number;
}

function sender(m: MemberCredential): Sender {
  return { userId: m.userId, deviceId: utf8Decode(m.deviceId) };
}

function convKey(id: Uint8Array): string {
  return `conv/${toBase64Url(id)}`;
}

const CURSOR_KEY = 'mailbox/cursor';
/** The highest seq acknowledged to the relay (≤ the cursor; items in between are processed, not yet acked). */
const ACKED_KEY = 'mailbox/acked';

/** Decodes a stored mailbox counter; SDK_STORE_MALFORMED (CLI-7) if it is not a decimal safe integer. */
function decodeCounter(bytes: Uint8Array | undefined, what: string): number {
  if (bytes === undefined) return 0;
  let text = '';
  try {
    text = utf8Decode(bytes);
  } catch {
    // Not UTF-8: refused just below like any other malformed counter.
  }
  const n = Number(text);
  if (!/^(0|[1-9][0-9]{0,15})$/.test(text) || !Number.isSafeInteger(n))
    throw new ClientError('SDK_STORE_MALFORMED', `${what} does not decode`, { check: 'CLI-7' });
  return n;
}

/** When this device last found one of its user's devices without a key package (decimal ms; client.md §4.1). */
function ownRetryKey(deviceId: string): string {
  return `ownadd/${deviceId}`;
}
/** How long a device of this user found without a key package is not claimed for again. */
const OWN_DEVICE_RETRY_MS = 10 * 60_000;

/** A conversation's name (UTF-8), as the last name payload received or sent says (client.md §3, §4.1). */
function nameKey(id: Uint8Array): string {
  return `convname/${toBase64Url(id)}`;
}

/** One device's session with a relay. Create with {@link OvertClient.open}. */
export class OvertClient {
  /** Signed access to the relay as this device (for endpoints the SDK does not wrap). */
  readonly transport: RelayTransport;
  readonly identity: MlsIdentity;
  /** Key transparency: the verified log, the authentication service, epoch keys, monitoring. */
  readonly kt: KeyTransparency;
  private readonly conversations = new Map<string, Conversation>();
  private readonly bundles = new Map<string, KeyPackageBundle>();
  /** Conversation names by conversation key (`conv/…`). */
  private readonly names = new Map<string, string>();
  /** Events kept by {@link storeEvent} in this session. */
  private ownEvents = 0;
  private readonly epochKeys = new Map<number, Element>();
  private cursor = 0;
  private acked = 0;
  private tail: Promise<unknown> = Promise.resolve();
  private readonly mlsOptions: ConversationOptions;
  /** The mailbox socket opened by connect(), while open: small messages are sent on it. */
  private socket: MailboxSocket | undefined;

  private constructor(private readonly options: OvertClientOptions) {
    this.transport = new RelayTransport({
      url: options.url,
      key: options.signingKey,
      signer: { kind: 'device', deviceId: options.deviceId },
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.now ? { now: options.now } : {}),
      ...(options.retry ? { retry: options.retry } : {}),
    });
    this.identity = createMlsIdentity(options.userId, utf8Encode(options.deviceId), options.signingKey);
    this.kt = new KeyTransparency({
      anchors: options.trust,
      orgId: options.orgId,
      userId: options.userId,
      deviceId: options.deviceId,
      identityKey: options.signingKey.publicKey,
      store: options.store,
      transport: this.transport,
      ...(options.fetch
        ? { fetch: (url: string) => options.fetch!(url, { method: 'GET', headers: {} }) }
        : {}),
      ...(options.now ? { now: options.now } : {}),
      ...(options.maxLogAgeSeconds !== undefined ? { maxLogAgeSeconds: options.maxLogAgeSeconds } : {}),
    });
    this.mlsOptions = {
      authenticate: (m) => this.authenticate(m),
      ...(options.now ? { now: options.now } : {}),
    };
  }

  /**
   * Opens a session, restoring conversations, key packages and the mailbox cursor from the store.
   * Throws SDK_STORE_MALFORMED if stored bytes do not decode (MLS_STATE_MALFORMED kept as cause).
   */
  static async open(options: OvertClientOptions): Promise<OvertClient> {
    const c = new OvertClient(options);
    const release = await options.lock?.();
    try {
      await c.kt.init();
      await c.reload();
    } finally {
      await release?.();
    }
    return c;
  }

  /**
   * Re-reads conversations, key packages and the mailbox cursor from the store (at open, after taking the lock,
   * and after a failed sync whose in-memory MLS state may be ahead of the store).
   */
  private async reload(): Promise<void> {
    const s = this.options.store;
    const conversations = new Map<string, Conversation>();
    const bundles = new Map<string, KeyPackageBundle>();
    const names = new Map<string, string>();
    // Every record is read at once (the reads overlap; start-up, issue #9), then each is decoded in key order, so
    // the first failure is the one reading them one by one would meet.
    const read = async (prefix: string) => {
      const keys = await s.list(prefix);
      return { keys, values: await Promise.allSettled(keys.map((k) => s.get(k))) };
    };
    const settled = <T>(r: PromiseSettledResult<T>): T => {
      if (r.status === 'rejected') throw r.reason;
      return r.value;
    };
    const [convs, convNames, keyPackages, cursorRead, ackedRead] = await Promise.allSettled([
      read('conv/'),
      read('convname/'),
      read('kp/'),
      s.get(CURSOR_KEY),
      s.get(ACKED_KEY),
    ]);
    try {
      const { keys, values } = settled(convs);
      for (const [i, k] of keys.entries()) {
        const bytes = settled(values[i]!);
        if (bytes === undefined) continue;
        const conv = await Conversation.restore(this.identity, bytes, this.mlsOptions);
        if (convKey(conv.groupId) !== k)
          throw new ClientError('SDK_STORE_MALFORMED', 'stored conversation is filed under another id', {
            check: 'CLI-7',
          });
        conversations.set(k, conv);
      }
      const named = settled(convNames);
      for (const [i, k] of named.keys.entries()) {
        const bytes = settled(named.values[i]!);
        const name = bytes === undefined ? undefined : utf8Decode(bytes);
        if (name === undefined || !validConversationName(name))
          throw new ClientError('SDK_STORE_MALFORMED', 'stored conversation name does not decode', {
            check: 'CLI-7',
          });
        names.set(`conv/${k.slice('convname/'.length)}`, name);
      }
      const kps = settled(keyPackages);
      for (const [i, k] of kps.keys.entries()) {
        const bytes = settled(kps.values[i]!);
        if (bytes !== undefined) bundles.set(k, await decodeKeyPackageBundle(bytes, this.identity));
      }
    } catch (cause) {
      if (isClientError(cause, 'SDK_STORE_MALFORMED')) throw cause;
      if (isClientError(cause))
        throw new ClientError('SDK_STORE_MALFORMED', 'stored state does not decode', {
          check: 'CLI-7',
          cause,
        });
      throw cause;
    }
    const cursor = decodeCounter(settled(cursorRead), 'mailbox cursor');
    const ackedBytes = settled(ackedRead);
    const acked = ackedBytes === undefined ? cursor : decodeCounter(ackedBytes, 'ack');
    this.conversations.clear();
    for (const [k, v] of conversations) this.conversations.set(k, v);
    this.bundles.clear();
    for (const [k, v] of bundles) this.bundles.set(k, v);
    this.names.clear();
    for (const [k, v] of names) this.names.set(k, v);
    this.cursor = cursor;
    this.acked = Math.min(acked, cursor);
  }

  get userId(): string {
    return this.options.userId;
  }

  get deviceId(): string {
    return this.options.deviceId;
  }

  /** Ids of the conversations this device is a member of. */
  conversationIds(): Uint8Array[] {
    return [...this.conversations.values()].filter((c) => c.isMember).map((c) => c.groupId);
  }

  /** The MLS conversation (for inspection and advanced use; the SDK persists it after its own operations). */
  conversation(conversationId: Uint8Array): Conversation {
    const c = this.conversations.get(convKey(conversationId));
    if (c === undefined) throw new ClientError('SDK_UNKNOWN_CONVERSATION', 'no such conversation');
    return c;
  }

  /** The conversation's name, or undefined when it has none (client.md §4.1). */
  conversationName(conversationId: Uint8Array): string | undefined {
    const name = this.names.get(convKey(this.conversation(conversationId).groupId));
    return name === '' ? undefined : name;
  }

  /**
   * Names or renames a conversation for all its members: the name goes as an MLS application message (mls.md §6
   * payload type 3), so the relay never sees it. `''` removes the name. SDK_USAGE for a name longer than 256
   * bytes of UTF-8 or with a control character.
   */
  setConversationName(conversationId: Uint8Array, name: string): Promise<void> {
    return this.exclusive(async () => {
      if (!validConversationName(name))
        throw new ClientError(
          'SDK_USAGE',
          'a conversation name is at most 256 bytes of UTF-8 without control characters',
        );
      await this.sendNameLocked(this.conversation(conversationId), name);
    });
  }

  /** The current roster of a conversation, one entry per device. */
  members(conversationId: Uint8Array): Sender[] {
    return this.conversation(conversationId).members().map(sender);
  }

  /**
   * Generates `count` one-time key packages, keeps their private halves in the store, publishes them. With them
   * goes a last-resort key package (RFC 9420 §16.8, relay.md DS-12) when this device holds none with more than
   * {@link LAST_RESORT_RENEW_SECONDS} of its lifetime left: the relay hands it out when the one-time packages
   * are gone, so claiming them all cannot stop others from adding this device.
   */
  publishKeyPackages(count: number): Promise<number> {
    return this.exclusive(async () => {
      if (!Number.isSafeInteger(count) || count < 1 || count > 100)
        throw new ClientError('SDK_USAGE', 'publish 1..100 key packages at a time');
      const kpOptions = this.options.now ? { now: this.options.now } : {};
      const bundles = await Promise.all(
        Array.from({ length: count }, () => generateKeyPackage(this.identity, kpOptions)),
      );
      const renewAt = BigInt(Math.floor((this.options.now ?? Date.now)() / 1000) + LAST_RESORT_RENEW_SECONDS);
      const hasLastResort = [...this.bundles.values()].some((b) => b.lastResort && b.notAfter > renewAt);
      const lastResort = hasLastResort
        ? undefined
        : await generateKeyPackage(this.identity, { ...kpOptions, lastResort: true });
      for (const b of lastResort === undefined ? bundles : [...bundles, lastResort]) {
        const k = `kp/${toHex(b.ref)}`;
        await this.options.store.put(k, encodeKeyPackageBundle(b));
        this.bundles.set(k, b);
      }
      return this.transport.publishKeyPackages(
        bundles.map((b) => b.keyPackage),
        lastResort?.keyPackage,
      );
    });
  }

  /**
   * Creates a conversation (an MLS group) with every active device of `userIds` and this user's other devices.
   * Every device of a named user must have a key package on the relay (a one-time or a last-resort one): if one
   * has none, or a named user has no active device, nothing is created on the relay and SDK_MEMBER_UNREACHABLE
   * (KP-1) is thrown. This user's own other devices without a package are left out (listed in `missing`).
   * `history` (default `'none'`, fixed for the conversation's life): whether devices added later are given
   * earlier messages (client.md §4.6).
   */
  createConversation(
    userIds: readonly string[],
    options: { history?: HistorySetting; name?: string } = {},
  ): Promise<{ conversationId: Uint8Array; missing: string[] }> {
    return this.exclusive(async () => {
      if (options.name !== undefined && !validConversationName(options.name))
        throw new ClientError(
          'SDK_USAGE',
          'a conversation name is at most 256 bytes of UTF-8 without control characters',
        );
      // Every member is about to be authenticated against the log: refuse up front on a stale view (KT-FRESH-1).
      await this.kt.ensureFresh();
      const conv = await Conversation.create(this.identity, this.mlsOptions, undefined, options.history);
      const users = [...new Set([this.userId, ...userIds])];
      const named = new Set(userIds.filter((u) => u !== this.userId));
      // Claims before the group exists on the relay: a refusal leaves no group behind (KP-1).
      const first = await this.claimForAdd(conv, users, named);
      await this.transport.createGroup(conv.groupId);
      await this.saveConversation(conv);
      const missing = await this.addUsersLocked(conv, users, named, first);
      // After the members are in: they all decrypt it (client.md §4.1).
      if (options.name !== undefined && options.name !== '') await this.sendNameLocked(conv, options.name);
      return { conversationId: conv.groupId, missing };
    });
  }

  /**
   * Adds every active device of `userIds` not yet in the conversation (new members, or new devices of members).
   * Every such device must have a key package on the relay, and every named user an active device: otherwise
   * nothing is committed and SDK_MEMBER_UNREACHABLE (KP-1) is thrown (the packages claimed for the others are
   * used up). Returns the device ids that had no key package (none, given that rule). In a `'shared'`
   * conversation, new devices of users already in it are then sent the history this device holds (client.md
   * §4.6); if that fails the error is thrown, the devices stay added.
   */
  addMembers(conversationId: Uint8Array, userIds: readonly string[]): Promise<string[]> {
    return this.exclusive(async () => {
      const conv = this.conversation(conversationId);
      await this.kt.ensureFresh();
      const before = conv.members();
      const epoch = conv.epoch;
      const missing = await this.addUsersLocked(conv, userIds, new Set(userIds));
      if (conv.epoch !== epoch) await this.afterAddLocked(conv, before);
      return missing;
    });
  }

  /** Removes every device of `userIds` from the conversation. */
  removeMembers(conversationId: Uint8Array, userIds: readonly string[]): Promise<void> {
    return this.exclusive(async () => {
      const conv = this.conversation(conversationId);
      const gone = new Set(userIds);
      const refs = conv.members().filter((m) => gone.has(m.userId));
      await this.removeLocked(conv, refs);
    });
  }

  /** Removes the named devices (e.g. a lost phone) from the conversation. */
  removeDevices(conversationId: Uint8Array, devices: readonly Sender[]): Promise<void> {
    return this.exclusive(async () => {
      const conv = this.conversation(conversationId);
      const refs = devices.map((d) => ({ userId: d.userId, deviceId: utf8Encode(d.deviceId) }));
      await this.removeLocked(conv, refs);
    });
  }

  /** Sends a text message. */
  sendText(conversationId: Uint8Array, text: string): Promise<SentMessage> {
    return this.send(conversationId, utf8Encode(text), TEXT_CONTENT_TYPE);
  }

  /**
   * Sends a file (any bytes, up to the relay's 64 MiB blob limit) with its content type and, optionally, its name:
   * both travel encrypted inside a FileContent (client.md §4.8); the envelope header says only
   * {@link FILE_CONTENT_TYPE}. SDK_USAGE for a type or name the format cannot carry. `onProgress` is told the
   * bytes sealed and uploaded so far when the file goes through a chunked blob (large files only).
   */
  sendFile(
    conversationId: Uint8Array,
    bytes: Uint8Array,
    contentType: string,
    options: { name?: string; onProgress?: (done: number, total: number) => void } = {},
  ): Promise<SentMessage> {
    const content = encodeFileContent({ contentType, name: options.name ?? '', data: bytes });
    return this.send(conversationId, content, FILE_CONTENT_TYPE, options.onProgress);
  }

  /**
   * Processes every pending mailbox item in order and acknowledges it; returns every unread event (in mailbox
   * order) and marks them read, including events of earlier syncs that failed part-way or were received while
   * another operation had to catch up first. Never throws for a bad item: it becomes a `rejected` event. Throws
   * RELAY_* when the relay cannot be read; the events processed so far stay unread for the next call.
   * An application that must not lose an event to its own crash uses {@link receive}, {@link unread} and
   * {@link markRead} instead.
   */
  sync(): Promise<ClientEvent[]> {
    return this.exclusive(async () => {
      await this.syncLocked();
      const unread = await this.unreadLocked();
      await this.options.store.batch(unread.map((u) => ({ key: u.id, value: undefined })));
      return unread.map((u) => u.event);
    });
  }

  /**
   * Processes every pending mailbox item like {@link sync}, leaving the events unread in the store (client.md
   * §4.3). Throws RELAY_* when the relay cannot be read; what was processed stays processed.
   */
  receive(): Promise<void> {
    return this.exclusive(() => this.syncLocked());
  }

  /** The unread events, in mailbox order (log-monitoring events last). */
  unread(): Promise<UnreadEvent[]> {
    return this.exclusive(() => this.unreadLocked());
  }

  /** Marks events read (deletes them from the store), e.g. once the application has shown or kept them. */
  markRead(ids: readonly string[]): Promise<void> {
    return this.exclusive(async () => {
      if (ids.some((id) => !id.startsWith(EVENT_PREFIX)))
        throw new ClientError('SDK_USAGE', 'not an event id');
      await this.options.store.batch(ids.map((key) => ({ key, value: undefined })));
    });
  }

  /**
   * Reports a received message to the organisation (DESIGN §4 flow 10, A12): files the report kept when it
   * arrived (header, plaintext, franking key, the relay's stamp) with the relay, which verifies and stores it.
   * SDK_NOT_REPORTABLE (FRK-6) when none is kept; RELAY_REFUSED with the relay's REPORT_* code otherwise.
   */
  report(messageId: Uint8Array, options: { reason?: string } = {}): Promise<FiledReport> {
    return this.exclusive(() => fileReport(this.options.store, this.transport, messageId, options.reason));
  }

  /** Deletes the report kept for a message (e.g. when the user deletes it); it can no longer be reported. */
  forgetReportable(messageId: Uint8Array): Promise<void> {
    return this.exclusive(() => forgetReportable(this.options.store, messageId));
  }

  /**
   * Opens the mailbox WebSocket; `onWake` is called whenever the relay pushes items (call `sync()` then).
   * Throws RELAY_UNAVAILABLE.
   */
  async connect(onWake: () => void, onClose?: (code: number) => void): Promise<MailboxSocket> {
    const socket = await MailboxSocket.open({
      url: this.options.url,
      key: this.options.signingKey,
      signer: { kind: 'device', deviceId: this.deviceId },
      onItems: () => onWake(),
      onClose: (code) => {
        if (this.socket === socket) this.socket = undefined;
        onClose?.(code);
      },
      ...(this.options.WebSocket ? { WebSocket: this.options.WebSocket } : {}),
      ...(this.options.now ? { now: this.options.now } : {}),
    });
    this.socket = socket;
    return socket;
  }

  /**
   * Log monitoring (KT-6, KT-7): reads the log up to its latest verified checkpoint and returns the alerts about
   * this user's devices (a device the user did not approve, an unannounced removal). Throws KT_LOG_INVALID when
   * the log fails verification, KT_LOG_UNAVAILABLE when it cannot be read.
   */
  monitorLog(): Promise<KtEvent[]> {
    return this.exclusive(() => this.kt.monitor());
  }

  /**
   * The user's notices (after-release.md §4, NOT-1): reads the log to its latest checkpoint (on a fresh view,
   * KT-FRESH-1), builds the notice of every unsealed request that names this user — who asked, the legal basis and
   * justification, the trustees' decisions, the window, and exactly which of this user's messages held here were
   * opened — with the execution's labels from the relay's public read, checked against the logged execution
   * (WF-E6), and returns every kept notice with whether it was marked seen. ACCESS_INVALID (NOT-1) when the relay
   * serves labels that are not the execution's; the log's and relay's errors otherwise.
   */
  notices(): Promise<StoredNotice[]> {
    return this.exclusive(async () => {
      await this.kt.log.update();
      await this.kt.ensureFresh();
      const labels = new AccessPublicClient({
        url: this.options.url,
        ...(this.options.fetch ? { fetch: this.options.fetch } : {}),
      });
      await updateNotices({
        store: this.options.store,
        anchors: {
          orgKey: this.options.trust.adminKey,
          relayKey: this.options.trust.accessKey,
          orgId: this.options.orgId,
        },
        userId: this.userId,
        labels: (requestId) => readAllLabels((from) => labels.publicLabels(requestId, from, 4096)),
      });
      return storedNotices(this.options.store);
    });
  }

  /** Marks notices seen (by request id, base64url), so that they are no longer shown as new. */
  markNoticesSeen(requestIds: readonly string[]): Promise<void> {
    return this.exclusive(() => markNoticesSeen(this.options.store, requestIds));
  }

  /** The user approves one of their own devices: its enrolment raises no alert (see {@link KeyTransparency}). */
  approveDevice(deviceId: string, identityKey?: Uint8Array): Promise<void> {
    return this.exclusive(() => this.kt.approveDevice(deviceId, identityKey));
  }

  /**
   * The identity key the verified log holds for `deviceId`, a device of this user (KT-3): so a device can be
   * checked as enrolled before it is approved. Throws SDK_DEVICE_UNVERIFIED (CLI-5) when the directory lists no
   * enrolment of it, KT_DEVICE_NOT_ON_LOG (KT-3), KT_LOG_STALE (KT-FRESH-1), or the log's and relay's errors.
   */
  ownDeviceKey(deviceId: string): Promise<Uint8Array> {
    return this.exclusive(() => this.kt.deviceKey(this.userId, utf8Encode(deviceId)));
  }

  /** The user announces that one of their devices will be removed: its removal raises no alert. */
  forgetDevice(deviceId: string): Promise<void> {
    return this.exclusive(() => this.kt.forgetDevice(deviceId));
  }

  // --- internals (called with the lock held) ---

  private exclusive<T>(f: () => Promise<T>): Promise<T> {
    const locked = () => this.underLock(f);
    const run = this.tail.then(locked, locked);
    this.tail = run.catch(() => undefined);
    return run;
  }

  /** Runs `f` under the store lock, if any, on the state the store holds now (client.md §4.8). */
  private async underLock<T>(f: () => Promise<T>): Promise<T> {
    if (this.options.lock === undefined) return f();
    const release = await this.options.lock();
    try {
      await this.reload();
      return await f();
    } finally {
      await release();
    }
  }

  private async unreadLocked(): Promise<UnreadEvent[]> {
    const out: UnreadEvent[] = [];
    for (const id of await this.options.store.list(EVENT_PREFIX)) {
      const bytes = await this.options.store.get(id);
      if (bytes !== undefined) out.push({ id, event: decodeEvent(bytes) });
    }
    return out;
  }

  /**
   * The authentication service (MLS-3, CLI-5, KT-3, KT-4): a device may be in a conversation only if the
   * directory lists it as active with exactly this identity key, and the admin-signed enrolment at the log index
   * it gives is on the verified log naming exactly this user, device and key, with no removal read from the log.
   * Fails closed: a refusal throws (kept as the MLS error's cause).
   */
  private async authenticate(m: MemberCredential): Promise<boolean> {
    await this.kt.authenticate(m);
    return true;
  }

  /** What the history code (history.ts) needs from this client; called with the lock held. */
  private historyContext(store: KeyValueStore = this.options.store): HistoryContext {
    return {
      store,
      transport: this.transport,
      orgId: this.options.orgId,
      userId: this.userId,
      relayFrankingKey: this.options.relayFrankingKey,
      sendTimeSkewMs: this.options.sendTimeSkewMs ?? SEND_TIME_SKEW_MS,
      epochKey: async (epoch) => (await this.epochKey(epoch)).key,
      deviceKey: (userId, deviceId) => this.kt.deviceKey(userId, deviceId),
      save: (conv) => this.saveConversation(conv),
      catchUp: () => this.syncLocked(),
    };
  }

  private async saveConversation(conv: Conversation): Promise<void> {
    const k = convKey(conv.groupId);
    await this.options.store.put(k, conv.serialize());
    this.conversations.set(k, conv);
  }

  /**
   * The key of `epoch`, fetched by number and accepted only with its admin-signed statement on the verified log
   * (KT-5: KT_EPOCH_KEY_NOT_ON_LOG otherwise). Cached for the session.
   */
  private async epochKey(epoch: number): Promise<{ epoch: number; key: Element }> {
    // A cached key too is used only on a fresh view (KT-FRESH-1): sealing or opening is a decision on the log.
    await this.kt.ensureFresh();
    const cached = this.epochKeys.get(epoch);
    if (cached !== undefined) {
      // A second key for the epoch read from the log since: seal to neither (KT-9).
      await this.kt.checkEpochUsable(epoch);
      return { epoch, key: cached };
    }
    const key = await this.kt.epochKey(epoch);
    this.epochKeys.set(epoch, key);
    return { epoch, key };
  }

  /** Runs a commit through the relay; on losing the epoch race, catches up and rebuilds it (DS-3/DS-4). */
  private async commitWithRetry(
    conv: Conversation,
    build: () => Promise<
      { commit: Uint8Array; welcome: Uint8Array | undefined; removes?: string[] } | undefined
    >,
  ): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const out = await build();
      if (out === undefined) return;
      // Stored with the pending commit, so a crash before the answer cannot lose a commit the relay accepted.
      await this.saveConversation(conv);
      try {
        await this.transport.postCommit(conv.groupId, out.commit, out.welcome, out.removes ?? []);
      } catch (e) {
        if (isTransient(e)) {
          // The answer may be lost rather than the request: the relay sends the committer no copy of its own
          // commit, so ask which commit it holds for this epoch (DS-4: at most one).
          let accepted: Uint8Array | undefined;
          try {
            accepted = await this.transport.commitAt(conv.groupId, Number(conv.epoch));
          } catch {
            // Outcome unknown: the commit stays pending; the next sync() settles it (resolvePending).
            throw e;
          }
          if (accepted !== undefined && equalBytes(accepted, out.commit)) break;
        }
        await conv.discardPendingCommit();
        await this.saveConversation(conv);
        if (attempt < MAX_RETRIES && isRaceLost(e)) {
          await this.syncLocked();
          continue;
        }
        throw e;
      }
      break;
    }
    await conv.mergePendingCommit();
    await this.saveConversation(conv);
  }

  /**
   * Settles commits whose acceptance is unknown (their POST failed in transit): the relay's commit for that epoch
   * is processed like any incoming one — ours merges (mls.md §7.1 step 4.1), another member's replaces ours — and
   * with none, ours is discarded.
   */
  private async resolvePending(): Promise<void> {
    for (const conv of this.conversations.values()) {
      if (!conv.hasPendingCommit) continue;
      const accepted = await this.transport.commitAt(conv.groupId, Number(conv.epoch));
      if (accepted === undefined) await conv.discardPendingCommit();
      else await conv.processIncoming(accepted);
      await this.saveConversation(conv);
    }
  }

  /**
   * Adds the users' devices in one commit. `first`: packages already claimed for the first attempt; a retry after
   * losing the epoch race claims again.
   */
  private async addUsersLocked(
    conv: Conversation,
    userIds: readonly string[],
    named: ReadonlySet<string>,
    first?: { keyPackages: Uint8Array[]; missing: string[] },
  ): Promise<string[]> {
    let missing: string[] = [];
    let claimed = first;
    await this.commitWithRetry(conv, async () => {
      const c = claimed ?? (await this.claimForAdd(conv, userIds, named));
      claimed = undefined;
      missing = c.missing;
      if (c.keyPackages.length === 0) return undefined;
      return conv.addMembers(c.keyPackages);
    });
    return missing;
  }

  /**
   * Claims a key package of every active device of `userIds` not yet in the conversation. KP-1: a device of a
   * `named` user without one, or a named user with no active device, throws SDK_MEMBER_UNREACHABLE, so no
   * conversation is made or grown without someone its caller named; other devices (this user's own) without one
   * are returned as `missing`.
   */
  private async claimForAdd(
    conv: Conversation,
    userIds: readonly string[],
    named: ReadonlySet<string>,
  ): Promise<{ keyPackages: Uint8Array[]; missing: string[] }> {
    const present = new Set(conv.members().map((m) => `${m.userId}\u0000${utf8Decode(m.deviceId)}`));
    const keyPackages: Uint8Array[] = [];
    const missing: string[] = [];
    let unreachable = 0;
    let deviceless = 0;
    for (const userId of userIds) {
      const devices = await this.transport.userDevices(userId);
      const others = devices.filter((d) => d.status === 'active' && d.deviceId !== this.options.deviceId);
      if (others.length === 0 && named.has(userId)) deviceless++;
      const wanted = others.filter((d) => !present.has(`${userId}\u0000${d.deviceId}`));
      if (wanted.length === 0) continue;
      const none: string[] = [];
      if (wanted.length === others.length) {
        // Every active device of the user is wanted: one claim hands out a key package of each.
        const claim = await this.transport.claimKeyPackages(userId);
        const want = new Set(wanted.map((d) => d.deviceId));
        for (const k of claim.keyPackages) if (want.has(k.deviceId)) keyPackages.push(k.keyPackage);
        for (const d of claim.exhausted) if (want.has(d)) none.push(d);
      } else {
        // Some are in the conversation already: claim only the new ones, so no one-time key package of a present
        // device is used up (DS-6 per-device claims, relay.md §6.2).
        for (const d of wanted) {
          const kp = await this.claimDevice(userId, d.deviceId);
          if (kp === undefined) none.push(d.deviceId);
          else keyPackages.push(kp);
        }
      }
      if (named.has(userId)) unreachable += none.length;
      else missing.push(...none);
    }
    if (unreachable > 0 || deviceless > 0)
      throw new ClientError(
        'SDK_MEMBER_UNREACHABLE',
        `${unreachable} device(s) of the named users have no key package on the relay and ${deviceless} named ` +
          'user(s) have no active device: nothing was added',
        { check: 'KP-1' },
      );
    return { keyPackages, missing };
  }

  /** One key package of a device, or undefined when it has none left (or is no longer active). */
  private async claimDevice(userId: string, deviceId: string): Promise<Uint8Array | undefined> {
    try {
      return await this.transport.claimDeviceKeyPackage(userId, deviceId);
    } catch (e) {
      if (
        isClientError(e) &&
        e.code === 'RELAY_REFUSED' &&
        (e.relayCode === 'DS_KEY_PACKAGE_EXHAUSTED' || e.relayCode === 'DIR_DEVICE_REMOVED')
      )
        return undefined;
      throw e;
    }
  }

  private async removeLocked(conv: Conversation, refs: readonly DeviceRef[]): Promise<void> {
    if (refs.length === 0) return;
    await this.commitWithRetry(conv, async () => {
      const roster = conv.members();
      const still = refs.filter((r) =>
        roster.some((m) => m.userId === r.userId && equalBytes(m.deviceId, r.deviceId)),
      );
      if (still.length === 0) return undefined;
      const out = await conv.removeMembers(still);
      return { ...out, removes: still.map((r) => utf8Decode(r.deviceId)) };
    });
  }

  /**
   * What follows a commit that added devices: the history this device holds (a `'shared'` conversation, §4.6) and
   * the conversation's name, so the new devices have it too (§4.1).
   */
  private async afterAddLocked(conv: Conversation, before: readonly Member[]): Promise<void> {
    await shareHistory(this.historyContext(), conv, before);
    const name = this.names.get(convKey(conv.groupId));
    if (name !== undefined && name !== '' && conv.isMember) await this.sendNameLocked(conv, name);
  }

  /**
   * A user's new device joins their conversations (client.md §4.1 "Own devices"): every device of this user that
   * the user approved on this device ({@link approveDevice}, kt/known) and that the directory lists as active and
   * enrolled is added to each conversation this device is in and it is not, with a key package claimed for that
   * device alone (DS-6); the other members check it on the log like any new member (KT-3, CLI-5). Each addition
   * is reported as a `membership` event. A device with no key package left is skipped until a later sync; a
   * conversation whose commit is refused is left as it is (retried by the next sync); a transient failure (e.g.
   * the relay's claim limit, DS-11) ends the pass without failing sync().
   */
  private async addOwnDevicesLocked(): Promise<void> {
    const known = (await this.kt.knownDevices()).filter((d) => d.deviceId !== this.deviceId);
    const convs = [...this.conversations.values()].filter((c) => c.isMember);
    if (known.length === 0 || convs.length === 0) return;
    const wanted = (await this.transport.userDevices(this.userId)).filter(
      (d) =>
        d.userId === this.userId &&
        d.status === 'active' &&
        d.enrolLogIndex !== null &&
        known.some(
          (k) =>
            k.deviceId === d.deviceId &&
            (k.identityKey === undefined || equalBytes(k.identityKey, d.identityKey)),
        ),
    );
    // A device found without a key package is not claimed for again for OWN_DEVICE_RETRY_MS (kept in the store,
    // so short-lived sessions such as CLI commands do not spend the relay's claim budget, DS-11, on it).
    const now = (this.options.now ?? Date.now)();
    const exhausted = new Set<string>();
    for (const d of wanted) {
      const at = await this.options.store.get(ownRetryKey(d.deviceId));
      if (at !== undefined && now - Number(utf8Decode(at)) < OWN_DEVICE_RETRY_MS) exhausted.add(d.deviceId);
    }
    for (const conv of convs) {
      const absent = () => {
        const present = new Set(
          conv
            .members()
            .filter((m) => m.userId === this.userId)
            .map((m) => utf8Decode(m.deviceId)),
        );
        return wanted.filter((d) => !present.has(d.deviceId) && !exhausted.has(d.deviceId));
      };
      if (absent().length === 0) continue;
      const before = conv.members();
      const epoch = conv.epoch;
      try {
        await this.commitWithRetry(conv, async () => {
          if (!conv.isMember) return undefined;
          const keyPackages: Uint8Array[] = [];
          for (const d of absent()) {
            const kp = await this.claimDevice(this.userId, d.deviceId);
            if (kp === undefined) {
              exhausted.add(d.deviceId);
              await this.options.store.put(ownRetryKey(d.deviceId), utf8Encode(String(now)));
            } else keyPackages.push(kp);
          }
          return keyPackages.length === 0 ? undefined : conv.addMembers(keyPackages);
        });
      } catch (e) {
        // Best effort after the mailbox: a refusal or a transient failure (the relay's claim limit, DS-11, is
        // a 429) leaves the conversation as it is for the next sync, and stops this pass on a transient one.
        if (!isClientError(e) && !isOvertError(e)) throw e;
        if (isTransient(e)) return;
        continue;
      }
      if (conv.epoch === epoch || !conv.isMember) continue;
      const had = new Set(before.map((m) => `${m.userId}\u0000${utf8Decode(m.deviceId)}`));
      // Kept in the store like every event (client.md §4.3), after the add's own writes.
      await this.storeEvent({
        kind: 'membership',
        conversationId: conv.groupId,
        added: conv
          .members()
          .filter((m) => !had.has(`${m.userId}\u0000${utf8Decode(m.deviceId)}`))
          .map(sender),
        removed: [],
        removedSelf: false,
      });
      await this.afterAddLocked(conv, before);
    }
  }

  /**
   * Keeps an event this device made outside the mailbox (its user's new device added, client.md §4.1) in the
   * store until read, under the log-monitoring keys; `n` from 500,000 up, so it never meets a monitoring event's.
   */
  private async storeEvent(e: ClientEvent): Promise<void> {
    const at = (this.options.now ?? Date.now)();
    await this.options.store.put(monitorEventKey(at, 500_000 + (this.ownEvents++ % 500_000)), encodeEvent(e));
  }

  /** Sends a name payload to the conversation (retried after a lost epoch race) and records the name. */
  private async sendNameLocked(conv: Conversation, name: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const message = await conv.encryptName(name);
      await this.saveConversation(conv);
      try {
        await this.transport.postMessage(conv.groupId, message);
        break;
      } catch (e) {
        if (attempt < MAX_RETRIES && isRaceLost(e)) {
          await this.syncLocked();
          if (!conv.isMember) return;
          continue;
        }
        throw e;
      }
    }
    await this.saveName(conv.groupId, name);
  }

  private async saveName(conversationId: Uint8Array, name: string): Promise<void> {
    await this.options.store.put(nameKey(conversationId), utf8Encode(name));
    this.names.set(convKey(conversationId), name);
  }

  private send(
    conversationId: Uint8Array,
    payload: Uint8Array,
    contentType: string,
    onProgress?: (done: number, total: number) => void,
  ): Promise<SentMessage> {
    return this.exclusive(async () => {
      const conv = this.conversation(conversationId);
      for (let attempt = 0; ; attempt++) {
        // The epoch of the send time (calendar month, core directory/epochs.ts), not whatever the relay calls
        // current: a message sent at the end of a month is sealed to that month's key.
        const sendTime = (this.options.now ?? Date.now)();
        const { epoch, key } = await this.epochKey(calendarMonthEpoch(sendTime));
        const fields: HeaderFields = {
          orgId: this.options.orgId,
          epoch,
          conversationId: conv.groupId,
          senderUserId: this.userId,
          senderDeviceId: this.identity.deviceId,
          recipients: [...new Set(conv.members().map((m) => m.userId))].sort(),
          messageId: randomBytes(16),
          sendTime,
          contentType,
        };
        // Connected and small: the envelope goes with the MLS message in one send frame (relay.md §6.8).
        // Otherwise inline in a PUT, or, when large, streamed into a chunked blob as it is sealed (upload.ts).
        const socket = this.socket?.isOpen ? this.socket : undefined;
        const framed =
          socket !== undefined && ciphertextLength(payload.length, DEFAULT_CHUNK_SIZE) <= SOCKET_ENVELOPE_MAX
            ? await sealInline(fields, payload, key, this.options.signingKey)
            : undefined;
        const sealed =
          framed ??
          (await sealAndPut(this.transport, fields, payload, key, this.options.signingKey, {
            inlineMax: INLINE_ENVELOPE_MAX,
            blobChunkSize: BLOB_CHUNK_SIZE,
            ...(onProgress !== undefined ? { onProgress } : {}),
          }));
        const transport: KeyTransport = {
          messageId: sealed.header.messageId,
          contentKey: sealed.contentKey,
          seed: sealed.seed,
        };
        const message = await conv.encrypt(transport);
        await this.saveConversation(conv);
        try {
          if (framed !== undefined && socket !== undefined)
            await socket.send(conv.groupId, message, framed.envelope);
          // Linked to its envelope, so the recipients' catch-up reads serve both (relay.md §6.9).
          else await this.transport.postMessage(conv.groupId, message, sealed.header.messageId);
        } catch (e) {
          // Another member's commit moved the epoch: catch up, and send again under the new roster.
          if (attempt < MAX_RETRIES && isRaceLost(e)) {
            await this.syncLocked();
            continue;
          }
          throw e;
        }
        await keepHistoryRecord(this.options.store, conv, transport, sendTime);
        await keepHeader(this.options.store, sealed.headerBytes);
        return { messageId: sealed.header.messageId, epoch };
      }
    });
  }

  /**
   * Catches up (client.md §4.3): reads the mailbox in catch-up pages (relay.md §6.9: items with their envelopes
   * and stamps, one request per page) and processes each item; each item's effects, with the mailbox cursor, are
   * one atomic store batch, and a page is acknowledged once all of its items are. On any error the in-memory
   * state is re-read from the store (an MLS step may have run whose batch was not written) and the error thrown.
   */
  private async syncLocked(): Promise<void> {
    try {
      await this.syncSteps();
    } catch (e) {
      await this.reload();
      throw e;
    }
  }

  private async syncSteps(): Promise<void> {
    // The first catch-up page is asked for while the log is read (start-up, issue #9): nothing in it is looked at
    // before the view is fresh below, and it is used only if the cursor has not moved by then.
    const cursor = this.cursor;
    const firstPage = this.transport.catchUp(cursor);
    // Observed here so that a failure of the log read first leaves no unhandled rejection; awaited below.
    firstPage.catch(() => undefined);
    if (this.options.monitorLog) {
      const found = await this.kt.monitor();
      const at = (this.options.now ?? Date.now)();
      await this.options.store.batch(
        found.map((e, n) => ({
          key:
            e.kind === 'alert' && e.alert === 'unknown-device'
              ? repeatingAlertKey(e.logIndex)
              : monitorEventKey(at, n),
          value: encodeEvent(e),
        })),
      );
    }
    // Welcomes, commits and messages all rest on the log (members, epoch keys): not on a stale view (KT-FRESH-1).
    else await this.kt.ensureFresh();
    await this.resolvePending();
    // Items processed by an earlier run whose ack did not happen (a crash, a relay error): acknowledge them now.
    await this.ackProcessed();
    for (let first = this.cursor === cursor; ; first = false) {
      const page = first ? await firstPage : await this.transport.catchUp(this.cursor);
      for (const item of page.items) await this.process(item);
      await this.ackProcessed();
      if (!page.more || page.items.length === 0) break;
    }
    // The user's approved new devices join this device's conversations (client.md §4.1), after the mailbox.
    await this.addOwnDevicesLocked();
  }

  private async ackProcessed(): Promise<void> {
    if (this.acked >= this.cursor) return;
    const upTo = this.cursor;
    await this.transport.ack(upTo);
    await this.options.store.put(ACKED_KEY, utf8Encode(String(upTo)));
    this.acked = upTo;
  }

  private rejected(item: MailboxItem, e: unknown): ClientEvent {
    if (!isClientError(e) && !isOvertError(e)) throw e;
    return {
      kind: 'rejected',
      conversationId: item.groupId,
      item: item.kind,
      sender: item.sender,
      code: (e as ClientError).relayCode ?? (e as { code: string }).code,
      check: (e as { check?: string }).check,
    };
  }

  /**
   * Processes one mailbox item durably (client.md §4.3). Its effects — MLS state, unread events, history and
   * report records, the deletion of its inbox record, the cursor past it — are staged in one transaction and
   * written in one atomic batch. An application message takes two batches: the MLS decryption's (the inbox
   * record with K, seed and sender, and the advanced MLS state), then, once its envelope is fetched and opened,
   * the event's. Every crash point is safe: before the first batch nothing happened (MLS decrypts the item again);
   * between the two the inbox record is there and the envelope is opened from it, MLS is not asked again; after
   * the second the cursor is past the item, so it is never processed again, and its event is in the store until
   * read; an ack that did not happen is sent by the next sync. A transient failure throws with nothing of this item
   * written beyond the first batch; any other failure is a `rejected` event, written the same way.
   */
  private async process(item: MailboxItem): Promise<void> {
    const inboxKey = `inbox/${item.seq}`;
    let tx = new StoreTransaction(this.options.store);
    let events: ClientEvent[] = [];
    let joined: { k: string; conv: Conversation; usedKp: string | undefined } | undefined;
    try {
      joined = await this.processItem(item, inboxKey, tx, events);
    } catch (e) {
      if (isTransient(e)) throw e;
      // Nothing of the failed attempt is kept but the end of its inbox record; the MLS state stays as stored
      // (a failed MLS step writes nothing: the in-memory copy is re-read below).
      tx = new StoreTransaction(this.options.store);
      await tx.delete(inboxKey);
      events = isClientError(e, 'MLS_OWN_MESSAGE') ? [] : [this.rejected(item, e)];
      joined = undefined;
      const stored = await this.options.store.get(convKey(item.groupId));
      if (stored !== undefined && this.conversations.has(convKey(item.groupId)))
        this.conversations.set(
          convKey(item.groupId),
          await Conversation.restore(this.identity, stored, this.mlsOptions),
        );
    }
    for (const [n, e] of events.entries()) await tx.put(itemEventKey(item.seq, n), encodeEvent(e));
    await tx.put(CURSOR_KEY, utf8Encode(String(item.seq)));
    await tx.commit();
    this.cursor = item.seq;
    if (joined !== undefined) {
      this.conversations.set(joined.k, joined.conv);
      if (joined.usedKp !== undefined) this.bundles.delete(joined.usedKp);
    }
  }

  /** The item's effects, staged in `tx` (events into `events`); see {@link process}. */
  private async processItem(
    item: MailboxItem,
    inboxKey: string,
    tx: StoreTransaction,
    events: ClientEvent[],
  ): Promise<{ k: string; conv: Conversation; usedKp: string | undefined } | undefined> {
    if (item.kind === 'welcome') return this.processWelcome(item, tx, events);
    const conv = this.conversations.get(convKey(item.groupId));
    if (conv === undefined)
      throw new ClientError('SDK_UNKNOWN_CONVERSATION', 'item for an unknown conversation');
    const emit = (e: ClientEvent) => events.push(e);
    // A history part held by an earlier, interrupted run (its MLS step is done): open it now.
    if (await openHeldHistory(this.historyContext(tx), conv, item.seq, emit)) return undefined;
    const stored = await this.options.store.get(inboxKey);
    let pending = stored === undefined ? undefined : decodePendingOpen(stored);
    if (pending === undefined) {
      const inc = await conv.processIncoming(item.data);
      if (inc.kind === 'history') {
        // Held with the MLS state in one batch: its key is consumed once saved (history.ts).
        const first = new StoreTransaction(this.options.store);
        await holdHistoryPart(first, item.seq, inc.part, inc.sender);
        await first.put(convKey(conv.groupId), conv.serialize());
        await first.commit();
        await openHeldHistory(this.historyContext(tx), conv, item.seq, emit);
        return undefined;
      }
      if (inc.kind === 'name') {
        // The name, the MLS state and the event in the item's one batch (client.md §4.3).
        await tx.put(nameKey(conv.groupId), utf8Encode(inc.name));
        await tx.put(convKey(conv.groupId), conv.serialize());
        this.names.set(convKey(conv.groupId), inc.name);
        events.push({
          kind: 'renamed',
          conversationId: conv.groupId,
          name: inc.name,
          by: sender(inc.sender),
        });
        return undefined;
      }
      if (inc.kind === 'application') {
        pending = {
          transport: inc.payload,
          senderUserId: inc.sender.userId,
          senderDeviceId: inc.sender.deviceId,
          senderKey: inc.sender.identityKey,
          members: [...new Set(conv.members(inc.epoch).map((m) => m.userId))],
        };
        // The record with the MLS state, in one batch: never a consumed key without its record.
        await this.options.store.batch([
          { key: inboxKey, value: encodePendingOpen(pending) },
          { key: convKey(conv.groupId), value: conv.serialize() },
        ]);
      } else {
        await tx.put(convKey(conv.groupId), conv.serialize());
        if (inc.kind === 'commit' && !inc.own)
          events.push({
            kind: 'membership',
            conversationId: conv.groupId,
            added: inc.change.added.map(sender),
            removed: inc.change.removed.map(sender),
            removedSelf: inc.removedSelf,
          });
        return undefined;
      }
    }
    const event = await this.openMessage(conv, pending, item.inline, tx);
    if (event.kind === 'message') await keepHistoryRecord(tx, conv, pending.transport, event.sendTime);
    await tx.delete(inboxKey);
    events.push(event);
    return undefined;
  }

  private async processWelcome(
    item: MailboxItem,
    tx: StoreTransaction,
    events: ClientEvent[],
  ): Promise<{ k: string; conv: Conversation; usedKp: string | undefined } | undefined> {
    if (this.conversations.get(convKey(item.groupId))?.isMember) return undefined;
    const { conversation, keyPackageRef } = await Conversation.join(
      this.identity,
      item.data,
      [...this.bundles.values()],
      this.mlsOptions,
    );
    await noteJoined(tx, conversation);
    const k = convKey(conversation.groupId);
    await tx.put(k, conversation.serialize());
    const kp = `kp/${toHex(keyPackageRef)}`;
    // A last-resort package may be named by further Welcomes (RFC 9420 §16.8): its keys stay.
    const usedKp = this.bundles.get(kp)?.lastResort !== true ? kp : undefined;
    if (usedKp !== undefined) await tx.delete(usedKp);
    events.push({
      kind: 'joined',
      conversationId: conversation.groupId,
      members: conversation.members().map(sender),
    });
    return { k, conv: conversation, usedKp };
  }

  /**
   * Flow 2: the envelope the MLS message announces, opened against what MLS says (CLI-1..CLI-3). The epoch key
   * is the one published for the header's epoch.
   */
  private openMessage(
    conv: Conversation,
    p: PendingOpen,
    inline: MailboxItem['inline'],
    store: KeyValueStore,
  ): Promise<ClientEvent> {
    return this.openEnvelope(conv, p.transport, inline, store, {
      senderUserId: p.senderUserId,
      senderDeviceId: p.senderDeviceId,
      ...(p.senderKey !== undefined ? { senderKey: p.senderKey } : {}),
      members: p.members,
      live: true,
    });
  }

  /** Fetches (or takes the pushed copy of), opens and checks one envelope (receive.ts). */
  private async openEnvelope(
    conv: Conversation,
    transport: KeyTransport,
    inline: MailboxItem['inline'],
    store: KeyValueStore,
    origin: Origin,
  ) {
    const ctx = this.receiveContext(store);
    return openReceived(ctx, conv, transport, await fetchEnvelope(ctx, transport.messageId, inline), origin);
  }

  private receiveContext(store: KeyValueStore): ReceiveContext {
    return {
      store,
      transport: this.transport,
      orgId: this.options.orgId,
      relayFrankingKey: this.options.relayFrankingKey,
      sendTimeSkewMs: this.options.sendTimeSkewMs ?? SEND_TIME_SKEW_MS,
      epochKey: async (epoch) => (await this.epochKey(epoch)).key,
      deviceKey: (userId, deviceId) => this.kt.deviceKey(userId, deviceId),
    };
  }
}
