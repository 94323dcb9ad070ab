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
 * All operations of one client run one at a time, and state is written to the store before the mailbox is
 * acknowledged, so a crash repeats at most the processing of unacknowledged items (MLS then refuses a replay).
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
import { ClientError, isClientError } from '../errors.js';
import type { TrustAnchors } from '../log/anchors.js';
import { Conversation, type ConversationOptions, type DeviceRef } from '../mls/conversation.js';
import { createMlsIdentity, type MemberCredential, type MlsIdentity } from '../mls/credential.js';
import type { HistorySetting } from '../mls/history.js';
import {
  decodeKeyPackageBundle,
  encodeKeyPackageBundle,
  generateKeyPackage,
  type KeyPackageBundle,
} from '../mls/keyPackage.js';
import type { KeyValueStore } from '../store/store.js';
import { MailboxSocket, type WebSocketConstructor } from '../transport/mailbox-socket.js';
import {
  type FetchLike,
  type FiledReport,
  type MailboxItem,
  RelayTransport,
} from '../transport/relay-transport.js';
import { fileReport, forgetReportable, type StampStatus } from './franking.js';
import {
  type HistoryContext,
  holdHistoryPart,
  keepHistoryRecord,
  noteJoined,
  openHeldHistory,
  shareHistory,
} from './history.js';
import { KeyTransparency, type KtEvent } from './key-transparency.js';
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
      readonly contentType: string;
      readonly payload: Uint8Array;
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

/** One device's session with a relay. Create with {@link OvertClient.open}. */
export class OvertClient {
  /** Signed access to the relay as this device (for endpoints the SDK does not wrap). */
  readonly transport: RelayTransport;
  readonly identity: MlsIdentity;
  /** Key transparency: the verified log, the authentication service, epoch keys, monitoring. */
  readonly kt: KeyTransparency;
  private readonly conversations = new Map<string, Conversation>();
  private readonly bundles = new Map<string, KeyPackageBundle>();
  private readonly epochKeys = new Map<number, Element>();
  private readonly pendingEvents: ClientEvent[] = [];
  private cursor = 0;
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
      ...(options.fetch ? { fetch: (url: string) => options.fetch!(url, {}) } : {}),
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
    const s = options.store;
    await c.kt.init();
    try {
      for (const k of await s.list('conv/')) {
        const bytes = await s.get(k);
        if (bytes === undefined) continue;
        const conv = await Conversation.restore(c.identity, bytes, c.mlsOptions);
        if (convKey(conv.groupId) !== k)
          throw new ClientError('SDK_STORE_MALFORMED', 'stored conversation is filed under another id', {
            check: 'CLI-7',
          });
        c.conversations.set(k, conv);
      }
      for (const k of await s.list('kp/')) {
        const bytes = await s.get(k);
        if (bytes !== undefined) c.bundles.set(k, await decodeKeyPackageBundle(bytes, c.identity));
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
    const cursor = await s.get(CURSOR_KEY);
    if (cursor !== undefined) {
      let text = '';
      try {
        text = utf8Decode(cursor);
      } catch {
        // Not UTF-8: refused just below like any other malformed cursor.
      }
      const n = Number(text);
      if (!/^(0|[1-9][0-9]{0,15})$/.test(text) || !Number.isSafeInteger(n))
        throw new ClientError('SDK_STORE_MALFORMED', 'mailbox cursor does not decode', { check: 'CLI-7' });
      c.cursor = n;
    }
    return c;
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
    options: { history?: HistorySetting } = {},
  ): Promise<{ conversationId: Uint8Array; missing: string[] }> {
    return this.exclusive(async () => {
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
      if (conv.epoch !== epoch) await shareHistory(this.historyContext(), conv, before);
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

  /** Sends a file (any bytes, up to the relay's 64 MiB blob limit) with its content type. */
  sendFile(conversationId: Uint8Array, bytes: Uint8Array, contentType: string): Promise<SentMessage> {
    return this.send(conversationId, bytes, contentType);
  }

  /**
   * Processes every pending mailbox item in order and acknowledges it; returns what happened, including items
   * received while another operation had to catch up first. Never throws for a bad item: it becomes a
   * `rejected` event. Throws RELAY_* when the relay cannot be read.
   */
  sync(): Promise<ClientEvent[]> {
    return this.exclusive(async () => {
      await this.syncLocked();
      return this.pendingEvents.splice(0);
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
    const run = this.tail.then(f, f);
    this.tail = run.catch(() => undefined);
    return run;
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
  private historyContext(): HistoryContext {
    return {
      store: this.options.store,
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

  private send(conversationId: Uint8Array, payload: Uint8Array, contentType: string): Promise<SentMessage> {
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
        return { messageId: sealed.header.messageId, epoch };
      }
    });
  }

  private async syncLocked(): Promise<void> {
    if (this.options.monitorLog) this.pendingEvents.push(...(await this.kt.monitor()));
    // Welcomes, commits and messages all rest on the log (members, epoch keys): not on a stale view (KT-FRESH-1).
    else await this.kt.ensureFresh();
    await this.resolvePending();
    for (;;) {
      const items = await this.transport.mailbox(this.cursor);
      if (items.length === 0) return;
      for (const item of items) {
        const event = await this.process(item);
        if (event !== undefined) this.pendingEvents.push(event);
      }
      const upTo = items[items.length - 1]!.seq;
      await this.transport.ack(upTo);
      this.cursor = upTo;
      await this.options.store.put(CURSOR_KEY, utf8Encode(String(upTo)));
    }
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

  private async process(item: MailboxItem): Promise<ClientEvent | undefined> {
    const inboxKey = `inbox/${item.seq}`;
    try {
      if (item.kind === 'welcome') return await this.processWelcome(item);
      const conv = this.conversations.get(convKey(item.groupId));
      if (conv === undefined)
        throw new ClientError('SDK_UNKNOWN_CONVERSATION', 'item for an unknown conversation');
      const emit = (e: ClientEvent) => this.pendingEvents.push(e);
      if (await openHeldHistory(this.historyContext(), conv, item.seq, emit)) return undefined;
      const stored = await this.options.store.get(inboxKey);
      let pending = stored === undefined ? undefined : decodePendingOpen(stored);
      if (pending === undefined) {
        const inc = await conv.processIncoming(item.data);
        if (inc.kind === 'history') {
          // Held before the MLS state, like the inbox record: its key is consumed once saved (history.ts).
          await holdHistoryPart(this.options.store, item.seq, inc.part, inc.sender);
          await this.saveConversation(conv);
          await openHeldHistory(this.historyContext(), conv, item.seq, emit);
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
          // The record before the MLS state: a crash in between leaves a record, never a consumed key without one.
          await this.options.store.put(inboxKey, encodePendingOpen(pending));
        }
        await this.saveConversation(conv);
        if (inc.kind === 'commit')
          return inc.own
            ? undefined
            : {
                kind: 'membership',
                conversationId: conv.groupId,
                added: inc.change.added.map(sender),
                removed: inc.change.removed.map(sender),
                removedSelf: inc.removedSelf,
              };
        if (inc.kind === 'proposal') return undefined;
      }
      const event = await this.openMessage(conv, pending!, item.inline);
      if (event.kind === 'message')
        await keepHistoryRecord(this.options.store, conv, pending!.transport, event.sendTime);
      await this.options.store.delete(inboxKey);
      return event;
    } catch (e) {
      if (isTransient(e)) throw e;
      await this.options.store.delete(inboxKey);
      if (isClientError(e, 'MLS_OWN_MESSAGE')) return undefined;
      return this.rejected(item, e);
    }
  }

  private async processWelcome(item: MailboxItem): Promise<ClientEvent | undefined> {
    if (this.conversations.get(convKey(item.groupId))?.isMember) return undefined;
    const { conversation, keyPackageRef } = await Conversation.join(
      this.identity,
      item.data,
      [...this.bundles.values()],
      this.mlsOptions,
    );
    await noteJoined(this.options.store, conversation);
    await this.saveConversation(conversation);
    const k = `kp/${toHex(keyPackageRef)}`;
    // A last-resort package may be named by further Welcomes (RFC 9420 §16.8): its keys stay.
    if (this.bundles.get(k)?.lastResort !== true) {
      this.bundles.delete(k);
      await this.options.store.delete(k);
    }
    return {
      kind: 'joined',
      conversationId: conversation.groupId,
      members: conversation.members().map(sender),
    };
  }

  /**
   * Flow 2: the envelope the MLS message announces, opened against what MLS says (CLI-1..CLI-3). The epoch key
   * is the one published for the header's epoch.
   */
  private openMessage(
    conv: Conversation,
    p: PendingOpen,
    inline: MailboxItem['inline'],
  ): Promise<ClientEvent> {
    return this.receive(conv, p.transport, inline, {
      senderUserId: p.senderUserId,
      senderDeviceId: p.senderDeviceId,
      ...(p.senderKey !== undefined ? { senderKey: p.senderKey } : {}),
      members: p.members,
      live: true,
    });
  }

  /** Fetches (or takes the pushed copy of), opens and checks one envelope (receive.ts). */
  private async receive(
    conv: Conversation,
    transport: KeyTransport,
    inline: MailboxItem['inline'],
    origin: Origin,
  ) {
    const ctx = this.receiveContext();
    return openReceived(ctx, conv, transport, await fetchEnvelope(ctx, transport.messageId, inline), origin);
  }

  private receiveContext(): ReceiveContext {
    return {
      store: this.options.store,
      transport: this.transport,
      orgId: this.options.orgId,
      relayFrankingKey: this.options.relayFrankingKey,
      sendTimeSkewMs: this.options.sendTimeSkewMs ?? SEND_TIME_SKEW_MS,
      epochKey: async (epoch) => (await this.epochKey(epoch)).key,
      deviceKey: (userId, deviceId) => this.kt.deviceKey(userId, deviceId),
    };
  }
}
