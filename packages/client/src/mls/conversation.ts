/**
 * A conversation: one MLS group (RFC 9420) whose members are devices. Every Overt conversation, 1:1 included, is
 * one of these. It wraps a ts-mls 1.6.4 ClientState behind a small interface and adds Overt's rules:
 *
 * - every member is an Overt credential whose identity key is its MLS signature key (MLS-1, MLS-2), accepted by
 *   the application's authentication service, the key-transparency hook (MLS-3), once per (user, device)
 *   (MLS-5), never changing identity (MLS-4);
 * - handshake content is checked before it is applied: only add/remove/update proposals (MLS-7), an UpdatePath
 *   wherever RFC 9420 requires one (MLS-6), member senders only (MLS-8);
 * - application messages carry exactly one key-transport payload (MLS-14); replays are reported as such (MLS-9);
 *   a message from an earlier epoch is accepted only from a sender still in the group (MLS-12);
 * - every failure is a typed {@link ClientError}; a failed operation leaves the state exactly as it was.
 *
 * Commits follow the delivery-service discipline of RFC 9420 §14: creating one does not advance the epoch. It
 * stays pending until {@link Conversation.mergePendingCommit} (the relay accepted it) or until it comes back from
 * the relay through {@link Conversation.processIncoming}; if another member's commit for the same epoch arrives
 * first, ours is discarded and the caller is told so.
 *
 * Operations on one conversation run one at a time (an internal queue), so two concurrent calls can never both
 * start from the same state: a message key is used once.
 */
import { equalBytes, randomBytes } from '@overt/core';
import type { CiphersuiteImpl } from 'ts-mls';
import {
  acceptAll,
  type ClientConfig,
  type ClientState,
  type CreateCommitResult,
  createApplicationMessage,
  createCommit,
  createGroup,
  createProposal,
  defaultKeyPackageEqualityConfig,
  defaultKeyRetentionConfig,
  defaultLifetimeConfig,
  defaultPaddingConfig,
  emptyPskIndex,
  generateKeyPackageWithKey,
  joinGroup,
  type LeafNode,
  mlsExporter,
  type PrivateMessage,
  type Proposal,
  processPrivateMessage,
  type RatchetTree,
} from 'ts-mls';
import { unprotectPrivateMessage } from 'ts-mls/messageProtection.js';
import { decryptSenderData } from 'ts-mls/privateMessage.js';
import { leafToNodeIndex, toLeafIndex } from 'ts-mls/treemath.js';
import { ClientError, ClientInternalError } from '../errors.js';
import { type AuthenticateMember, AuthGate } from './auth.js';
import { checkCommit, checkProposal, checkRoster } from './checks.js';
import { CIPHERSUITE_NAME, mlsCiphersuite } from './ciphersuite.js';
import {
  deviceKey,
  type Member,
  type MemberCredential,
  type MlsIdentity,
  memberCredentialOf,
  sameCredential,
  toMlsCredential,
} from './credential.js';
import {
  decodeMlsStrict,
  encodeMls,
  fromEngineError,
  memberAt,
  ownLeafIndex,
  rosterOf,
  wipe,
} from './engine.js';
import {
  decodeHistoryPart,
  encodeHistoryPart,
  HISTORY_PAYLOAD_TYPE,
  type HistoryPart,
  type HistorySetting,
  historyExtensions,
  historySettingOf,
} from './history.js';
import {
  checkKeyPackage,
  KEY_PACKAGE_BACKDATE_SECONDS,
  KEY_PACKAGE_LIFETIME_SECONDS,
  type KeyPackageBundle,
  overtCapabilities,
} from './keyPackage.js';
import {
  CONVERSATION_NAME_PAYLOAD_TYPE,
  decodeConversationName,
  decodeKeyTransport,
  encodeConversationName,
  encodeKeyTransport,
  type KeyTransportPayload,
} from './payload.js';
import { decodeConversationState, encodeConversationState, type PendingCommit } from './state.js';

export interface ConversationOptions {
  /** The authentication service: accept or reject a device (MLS-3). The key-transparency check goes here. */
  readonly authenticate: AuthenticateMember;
  /** Clock in milliseconds since 1970, for key-package lifetimes (default Date.now). */
  readonly now?: () => number;
}

/** A device to remove, by identity. */
export interface DeviceRef {
  readonly userId: string;
  readonly deviceId: Uint8Array;
}

/** How a commit changed the roster. `updated`: same device, fresh keys (a path or an Update). */
export interface RosterChange {
  readonly added: readonly Member[];
  readonly removed: readonly Member[];
  readonly updated: readonly Member[];
}

/** What to send after creating a commit: the commit to the group, the Welcome (if members were added) to them. */
export interface CommitOutput {
  readonly commit: Uint8Array;
  readonly welcome: Uint8Array | undefined;
}

export type ProposalSummary =
  | { readonly type: 'add'; readonly member: MemberCredential }
  | { readonly type: 'remove'; readonly member: Member }
  | { readonly type: 'update'; readonly member: Member };

/** The result of {@link Conversation.processIncoming}. */
export type Incoming =
  | {
      readonly kind: 'application';
      /** The epoch the message was sent in (may be earlier than the current one). */
      readonly epoch: bigint;
      readonly sender: Member;
      readonly payload: KeyTransportPayload;
    }
  | {
      /** A history bundle part (history.ts): records of earlier messages for devices that joined later. */
      readonly kind: 'history';
      readonly epoch: bigint;
      readonly sender: Member;
      readonly part: HistoryPart;
    }
  | {
      /** A conversation name (payload.ts, mls.md §6): the sender names or renames the conversation. */
      readonly kind: 'name';
      readonly epoch: bigint;
      readonly sender: Member;
      readonly name: string;
    }
  | {
      readonly kind: 'proposal';
      readonly epoch: bigint;
      readonly sender: Member;
      readonly proposal: ProposalSummary;
    }
  | {
      readonly kind: 'commit';
      /** The epoch the commit created. */
      readonly epoch: bigint;
      readonly committer: Member;
      /** True when this was our own pending commit, echoed back by the relay and now merged. */
      readonly own: boolean;
      readonly change: RosterChange;
      /** True when this commit removed us: the conversation is over for this device. */
      readonly removedSelf: boolean;
      /** True when we had a pending commit for the same epoch and it lost to this one. */
      readonly discardedPendingCommit: boolean;
    };

/** The conversation id of the envelope header (docs/spec/envelope.md §2.1) is the group id: 1..64 bytes. */
const MAX_GROUP_ID_BYTES = 64;
const MAX_EXPORT_BYTES = 255 * 32;

function clientConfig(gate: AuthGate): ClientConfig {
  return {
    keyRetentionConfig: defaultKeyRetentionConfig,
    lifetimeConfig: defaultLifetimeConfig,
    keyPackageEqualityConfig: defaultKeyPackageEqualityConfig,
    paddingConfig: defaultPaddingConfig,
    authService: gate,
  };
}

function leafAt(tree: RatchetTree, leafIndex: number): LeafNode | undefined {
  const node = tree[leafToNodeIndex(toLeafIndex(leafIndex))];
  return node?.nodeType === 'leaf' ? node.leaf : undefined;
}

/** Roster difference between two trees, by leaf index and identity. */
function rosterChange(before: RatchetTree, after: RatchetTree): RosterChange {
  const added: Member[] = [];
  const removed: Member[] = [];
  const updated: Member[] = [];
  const width = Math.max(before.length, after.length);
  for (let i = 0; 2 * i < width; i++) {
    const a = memberAt(before, i);
    const b = memberAt(after, i);
    if (a !== undefined && b !== undefined && sameCredential(a, b)) {
      if (!equalBytes(leafAt(before, i)!.hpkePublicKey, leafAt(after, i)!.hpkePublicKey)) updated.push(b);
      continue;
    }
    if (a !== undefined) removed.push(a);
    if (b !== undefined) added.push(b);
  }
  return { added, removed, updated };
}

/**
 * The state to adopt when a pending commit is merged: the commit's new state, but with the receive history of
 * the epochs it leaves behind taken from the live state. Messages decrypted while the commit was pending used up
 * keys in the live state; keeping the commit's older copy would let those messages be decrypted again (MLS-9).
 */
function withLiveHistory(next: ClientState, live: ClientState): ClientState {
  const history = new Map(next.historicalReceiverData);
  for (const epoch of history.keys()) {
    if (epoch === live.groupContext.epoch) {
      const entry = history.get(epoch)!;
      history.set(epoch, { ...entry, secretTree: live.secretTree });
    } else {
      const entry = live.historicalReceiverData.get(epoch);
      if (entry !== undefined) history.set(epoch, entry);
      else history.delete(epoch);
    }
  }
  return { ...next, historicalReceiverData: history };
}

export class Conversation {
  private tail: Promise<unknown> = Promise.resolve();
  private lastOwnCommit: Uint8Array | undefined;

  private constructor(
    private readonly cs: CiphersuiteImpl,
    private readonly gate: AuthGate,
    private readonly now: () => number,
    private state: ClientState,
    private pending: PendingCommit | undefined,
  ) {}

  /**
   * Creates a new group with this device as its only member, at epoch 0. `groupId` (the conversation id) defaults
   * to 32 random bytes. `history` is fixed for the group's life (history.ts): it goes into the GroupContext.
   * Throws MLS_USAGE for a group id outside 1..64 bytes.
   */
  static async create(
    identity: MlsIdentity,
    options: ConversationOptions,
    groupId: Uint8Array = randomBytes(32),
    history: HistorySetting = 'none',
  ): Promise<Conversation> {
    const extensions = historyExtensions(history);
    if (groupId.length < 1 || groupId.length > MAX_GROUP_ID_BYTES)
      throw new ClientError('MLS_USAGE', 'group id must be 1..64 bytes');
    const cs = await mlsCiphersuite();
    const gate = new AuthGate(options.authenticate);
    const now = options.now ?? Date.now;
    const nowS = Math.floor(now() / 1000);
    try {
      const kp = await generateKeyPackageWithKey(
        toMlsCredential(identity),
        overtCapabilities(),
        {
          notBefore: BigInt(nowS - KEY_PACKAGE_BACKDATE_SECONDS),
          notAfter: BigInt(nowS + KEY_PACKAGE_LIFETIME_SECONDS),
        },
        [],
        { signKey: identity.signingKey.secretKey, publicKey: identity.identityKey },
        cs,
      );
      const state = await createGroup(
        groupId.slice(),
        kp.publicPackage,
        kp.privatePackage,
        extensions,
        cs,
        clientConfig(gate),
      );
      return new Conversation(cs, gate, now, state, undefined);
    } catch (e) {
      throw fromEngineError(e, 'local', 'create group');
    }
  }

  /**
   * Joins a group from a Welcome (RFC 9420 §12.4.3.1) addressed to one of `keyPackages` (this device's unused
   * key packages; the caller deletes the one reported as used). The Welcome must carry the ratchet tree.
   *
   * Every leaf of the group is offered to the authentication service (MLS-3); the roster must satisfy MLS-1, -2
   * and -5; the group must be on suite 1 with no group-context extension but the history setting (MLS-17).
   * Throws MLS_WIRE_FORMAT, MLS_WELCOME_NOT_FOR_US, MLS_GROUP_POLICY, MLS_CREDENTIAL_*, MLS_DUPLICATE_DEVICE,
   * MLS_DECRYPT, MLS_VERIFY, MLS_INVALID, MLS_MALFORMED.
   */
  static async join(
    identity: MlsIdentity,
    welcomeBytes: Uint8Array,
    keyPackages: readonly KeyPackageBundle[],
    options: ConversationOptions,
  ): Promise<{ conversation: Conversation; keyPackageRef: Uint8Array }> {
    const msg = decodeMlsStrict(welcomeBytes);
    if (msg.wireformat !== 'mls_welcome')
      throw new ClientError('MLS_WIRE_FORMAT', 'expected a Welcome', { check: 'MLS-16' });
    const welcome = msg.welcome;
    if (welcome.cipherSuite !== CIPHERSUITE_NAME)
      throw new ClientError('MLS_GROUP_POLICY', 'group is not on the Overt ciphersuite', { check: 'MLS-17' });
    const bundle = keyPackages.find((b) => welcome.secrets.some((s) => equalBytes(s.newMember, b.ref)));
    if (bundle === undefined)
      throw new ClientError('MLS_WELCOME_NOT_FOR_US', 'Welcome names none of our key packages');
    const kpMsg = decodeMlsStrict(bundle.keyPackage);
    if (kpMsg.wireformat !== 'mls_key_package')
      throw new ClientError('MLS_USAGE', 'bundle does not hold a key package');
    const owner = memberCredentialOf(
      kpMsg.keyPackage.leafNode.credential,
      kpMsg.keyPackage.leafNode.signaturePublicKey,
    );
    if (!sameCredential(owner, identity))
      throw new ClientError('MLS_USAGE', 'key package belongs to another identity');

    const cs = await mlsCiphersuite();
    const gate = new AuthGate(options.authenticate);
    gate.begin();
    let state: ClientState;
    try {
      state = await joinGroup(
        welcome,
        kpMsg.keyPackage,
        {
          initPrivateKey: bundle.initPrivateKey,
          hpkePrivateKey: bundle.encryptionPrivateKey,
          signaturePrivateKey: identity.signingKey.secretKey,
        },
        emptyPskIndex,
        cs,
        undefined,
        undefined,
        clientConfig(gate),
      );
    } catch (e) {
      throw gate.refusal ?? fromEngineError(e, 'incoming', 'Welcome');
    }
    if (gate.refusal !== undefined) throw gate.refusal;
    historySettingOf(state.groupContext.extensions);
    const conversation = new Conversation(cs, gate, options.now ?? Date.now, state, undefined);
    await conversation.authenticateNewLeaves(undefined, state.ratchetTree);
    const self = memberAt(state.ratchetTree, ownLeafIndex(state));
    if (self === undefined || !sameCredential(self, identity))
      throw new ClientInternalError('joined leaf does not carry our identity');
    return { conversation, keyPackageRef: bundle.ref };
  }

  /** Restores a conversation saved with {@link serialize}. Throws MLS_STATE_MALFORMED (MLS-18). */
  static async restore(
    identity: MlsIdentity,
    bytes: Uint8Array,
    options: ConversationOptions,
  ): Promise<Conversation> {
    const cs = await mlsCiphersuite();
    const gate = new AuthGate(options.authenticate);
    const stored = await decodeConversationState(bytes, identity, clientConfig(gate));
    return new Conversation(cs, gate, options.now ?? Date.now, stored.state, stored.pending);
  }

  /** The MLS group id (the conversation id). */
  get groupId(): Uint8Array {
    return this.state.groupContext.groupId.slice();
  }

  get epoch(): bigint {
    return this.state.groupContext.epoch;
  }

  /** The history setting every member agreed on through the GroupContext (history.ts, MLS-17). */
  get history(): HistorySetting {
    return historySettingOf(this.state.groupContext.extensions);
  }

  get ownLeafIndex(): number {
    return ownLeafIndex(this.state);
  }

  /** False once this device was removed from the group. */
  get isMember(): boolean {
    return this.state.groupActiveState.kind === 'active';
  }

  get hasPendingCommit(): boolean {
    return this.pending !== undefined;
  }

  /** True when proposals await a commit; application messages cannot be sent until then. */
  get hasPendingProposals(): boolean {
    return Object.keys(this.state.unappliedProposals).length > 0;
  }

  /** RFC 9420 §8.7 epoch authenticator: equal for all members of the epoch; for out-of-band comparison. */
  get epochAuthenticator(): Uint8Array {
    return this.state.keySchedule.epochAuthenticator.slice();
  }

  /**
   * The members of the current epoch, or of a retained earlier one (for the envelope's recipients check of a
   * late message), in leaf order. Throws MLS_EPOCH (MLS-11) for an epoch whose tree is not retained.
   */
  members(epoch?: bigint): Member[] {
    if (epoch === undefined || epoch === this.state.groupContext.epoch)
      return rosterOf(this.state.ratchetTree);
    const old = this.state.historicalReceiverData.get(epoch);
    if (old === undefined)
      throw new ClientError('MLS_EPOCH', 'no roster for that epoch', { check: 'MLS-11' });
    return rosterOf(old.ratchetTree);
  }

  /** Serialises the state (see state.ts) for the device's encrypted store. */
  serialize(): Uint8Array {
    return encodeConversationState({ state: this.state, pending: this.pending });
  }

  /**
   * Adds devices by their key packages (as published, MLSMessage bytes). Each is validated (MLS-13, MLS-1, MLS-2),
   * must be a new (user, device) (MLS-5) and accepted by the authentication service (MLS-3). Leaves a pending
   * commit; returns the commit for the group and the Welcome for the new devices.
   */
  addMembers(keyPackages: readonly Uint8Array[]): Promise<CommitOutput> {
    return this.exclusive(async () => {
      this.requireMember();
      this.requireNoPending();
      if (keyPackages.length === 0) throw new ClientError('MLS_USAGE', 'no key packages to add');
      this.gate.begin();
      const present = new Set(this.members().map(deviceKey));
      const proposals: Proposal[] = [];
      for (const bytes of keyPackages) {
        const kp = await checkKeyPackage(bytes, this.now());
        const key = deviceKey(kp.member);
        if (present.has(key))
          throw new ClientError('MLS_DUPLICATE_DEVICE', 'device is already in the group', { check: 'MLS-5' });
        present.add(key);
        await this.gate.authenticate(kp.member);
        proposals.push({ proposalType: 'add', add: { keyPackage: kp.keyPackage } });
      }
      return this.commitWith(proposals);
    });
  }

  /** Removes devices by identity. Throws MLS_USAGE for an unknown device or for this device (use {@link leave}). */
  removeMembers(devices: readonly DeviceRef[]): Promise<CommitOutput> {
    return this.exclusive(async () => {
      this.requireMember();
      this.requireNoPending();
      if (devices.length === 0) throw new ClientError('MLS_USAGE', 'no devices to remove');
      const roster = this.members();
      const proposals: Proposal[] = [];
      const seen = new Set<number>();
      for (const d of devices) {
        const m = roster.find((r) => deviceKey(r) === deviceKey(d));
        if (m === undefined) throw new ClientError('MLS_USAGE', 'device is not in the group');
        if (m.leafIndex === this.ownLeafIndex)
          throw new ClientError('MLS_USAGE', 'use leave() to remove this device');
        if (seen.has(m.leafIndex)) continue;
        seen.add(m.leafIndex);
        proposals.push({ proposalType: 'remove', remove: { removed: m.leafIndex } });
      }
      this.gate.begin();
      return this.commitWith(proposals);
    });
  }

  /**
   * Self-update: an empty commit, whose UpdatePath gives this device fresh keys and the group a fresh epoch
   * secret (RFC 9420 §12.4; post-compromise security). Throws MLS_PROPOSALS_PENDING if proposals await a commit
   * (use {@link commitPendingProposals}).
   */
  update(): Promise<CommitOutput> {
    return this.exclusive(async () => {
      this.requireMember();
      this.requireNoPending();
      if (this.hasPendingProposals)
        throw new ClientError('MLS_PROPOSALS_PENDING', 'commit the pending proposals instead');
      this.gate.begin();
      return this.commitWith([]);
    });
  }

  /** Commits the proposals received in this epoch (e.g. another member's leave). */
  commitPendingProposals(): Promise<CommitOutput> {
    return this.exclusive(async () => {
      this.requireMember();
      this.requireNoPending();
      if (!this.hasPendingProposals) throw new ClientError('MLS_USAGE', 'no pending proposals');
      this.gate.begin();
      return this.commitWith([]);
    });
  }

  /**
   * Leaves the group: returns a Remove proposal for this device (RFC 9420 §12.1.3: a member cannot commit its own
   * removal). Another member commits it; until then this device can no longer send application messages.
   */
  leave(): Promise<Uint8Array> {
    return this.exclusive(async () => {
      this.requireMember();
      this.requireNoPending();
      const state = this.state;
      try {
        const res = await createProposal(
          state,
          false,
          { proposalType: 'remove', remove: { removed: ownLeafIndex(state) } },
          this.cs,
        );
        this.state = res.newState;
        return encodeMls(res.message);
      } catch (e) {
        throw fromEngineError(e, 'local', 'leave');
      }
    });
  }

  /** Adopts our pending commit (the relay accepted it). Throws MLS_PENDING_COMMIT if there is none. */
  mergePendingCommit(): Promise<{ epoch: bigint; change: RosterChange }> {
    return this.exclusive(async () => {
      if (this.pending === undefined) throw new ClientError('MLS_PENDING_COMMIT', 'no pending commit');
      const change = this.mergePending();
      return { epoch: this.epoch, change };
    });
  }

  /** Drops our pending commit (the relay refused it). */
  discardPendingCommit(): Promise<void> {
    return this.exclusive(async () => {
      if (this.pending === undefined) throw new ClientError('MLS_PENDING_COMMIT', 'no pending commit');
      this.pending = undefined;
    });
  }

  /**
   * Encrypts one key-transport payload as an MLS application message (a PrivateMessage, RFC 9420 §6.3).
   * Throws MLS_NOT_MEMBER, MLS_PROPOSALS_PENDING, MLS_USAGE.
   */
  encrypt(payload: KeyTransportPayload): Promise<Uint8Array> {
    return this.encryptData(() => encodeKeyTransport(payload));
  }

  /**
   * Encrypts one history-bundle part (history.ts) as an MLS application message. Throws MLS_USAGE for a part
   * out of range, MLS_GROUP_POLICY (HIS-2) unless the group's history setting is `'shared'`, and what
   * {@link encrypt} throws.
   */
  encryptHistory(part: HistoryPart): Promise<Uint8Array> {
    return this.encryptData(() => {
      if (this.history !== 'shared')
        throw new ClientError('MLS_GROUP_POLICY', 'the conversation does not share history', {
          check: 'HIS-2',
        });
      return encodeHistoryPart(part);
    });
  }

  /**
   * Encrypts a conversation name (payload.ts) as an MLS application message. Throws MLS_USAGE for a name the
   * format cannot carry, and what {@link encrypt} throws.
   */
  encryptName(name: string): Promise<Uint8Array> {
    return this.encryptData(() => encodeConversationName(name));
  }

  private encryptData(encode: () => Uint8Array): Promise<Uint8Array> {
    return this.exclusive(async () => {
      this.requireMember();
      if (this.hasPendingProposals)
        throw new ClientError('MLS_PROPOSALS_PENDING', 'commit the pending proposals before sending');
      const data = encode();
      let res: Awaited<ReturnType<typeof createApplicationMessage>>;
      try {
        res = await createApplicationMessage(this.state, data, this.cs);
      } catch (e) {
        throw fromEngineError(e, 'local', 'encrypt');
      }
      this.state = res.newState;
      if (this.pending === undefined) wipe(res.consumed);
      return encodeMls({
        version: 'mls10',
        wireformat: 'mls_private_message',
        privateMessage: res.privateMessage,
      });
    });
  }

  /**
   * Processes one message from the group: an application message, a proposal or a commit. On any error the
   * state is unchanged. Throws MLS_MALFORMED (MLS-15), MLS_WIRE_FORMAT (MLS-16), MLS_WRONG_GROUP (MLS-10),
   * MLS_EPOCH (MLS-11), MLS_REPLAY (MLS-9), MLS_OWN_MESSAGE, MLS_DECRYPT, MLS_VERIFY, MLS_SENDER (MLS-8, MLS-12),
   * MLS_PAYLOAD_MALFORMED (MLS-14), MLS_PROPOSAL_UNSUPPORTED (MLS-7), MLS_COMMIT_MISSING_PATH (MLS-6),
   * MLS_CREDENTIAL_* (MLS-1..4), MLS_DUPLICATE_DEVICE (MLS-5), MLS_INVALID, MLS_NOT_MEMBER.
   */
  processIncoming(bytes: Uint8Array): Promise<Incoming> {
    return this.exclusive(async () => {
      this.requireMember();
      const msg = decodeMlsStrict(bytes);
      if (msg.wireformat !== 'mls_private_message')
        throw new ClientError('MLS_WIRE_FORMAT', 'group messages must be PrivateMessages', {
          check: 'MLS-16',
        });
      const pm = msg.privateMessage;
      if (!equalBytes(pm.groupId, this.state.groupContext.groupId))
        throw new ClientError('MLS_WRONG_GROUP', 'message is for another group', { check: 'MLS-10' });
      if (pm.contentType === 'application') return this.receiveApplication(pm);
      return this.receiveHandshake(pm, bytes);
    });
  }

  /** RFC 9420 §8.5 MLS-Exporter of the current epoch. Throws MLS_USAGE for an empty label or a bad length. */
  exportSecret(label: string, context: Uint8Array, length: number): Promise<Uint8Array> {
    return this.exclusive(async () => {
      this.requireMember();
      if (label.length === 0 || !Number.isInteger(length) || length < 1 || length > MAX_EXPORT_BYTES)
        throw new ClientError('MLS_USAGE', 'exporter label must be non-empty and length 1..8160');
      return mlsExporter(this.state.keySchedule.exporterSecret, label, context, length, this.cs);
    });
  }

  // ---------------------------------------------------------------------------------------------------------

  private exclusive<T>(f: () => Promise<T>): Promise<T> {
    const run = this.tail.then(f, f);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private requireMember(): void {
    if (this.state.groupActiveState.kind !== 'active')
      throw new ClientError('MLS_NOT_MEMBER', 'this device is no longer a member', { check: 'MLS-19' });
  }

  private requireNoPending(): void {
    if (this.pending !== undefined)
      throw new ClientError('MLS_PENDING_COMMIT', 'a commit is pending: merge or discard it first');
  }

  /**
   * MLS-3 and MLS-5 on a tree that is about to become ours: every leaf that was not in `before` with the same
   * identity must have been accepted by the authentication service during this operation (ts-mls asks it for
   * key packages, paths and Welcome trees; a leaf it did not ask about is asked about here).
   */
  private async authenticateNewLeaves(before: RatchetTree | undefined, after: RatchetTree): Promise<void> {
    for (const m of checkRoster(after)) {
      const prev = before === undefined ? undefined : memberAt(before, m.leafIndex);
      if (prev !== undefined && sameCredential(prev, m)) continue;
      if (!this.gate.hasAccepted(m)) await this.gate.authenticate(m);
    }
  }

  /** Creates a commit and keeps it pending. The caller has begun the gate for this operation. */
  private async commitWith(extraProposals: Proposal[]): Promise<CommitOutput> {
    const state = this.state;
    let res: CreateCommitResult;
    try {
      res = await createCommit(
        { state, cipherSuite: this.cs },
        { extraProposals, ratchetTreeExtension: true },
      );
    } catch (e) {
      throw this.gate.refusal ?? fromEngineError(e, 'local', 'commit');
    }
    if (this.gate.refusal !== undefined) throw this.gate.refusal;
    await this.authenticateNewLeaves(state.ratchetTree, res.newState.ratchetTree);
    const commit = encodeMls(res.commit);
    const welcome =
      res.welcome === undefined
        ? undefined
        : encodeMls({ version: 'mls10', wireformat: 'mls_welcome', welcome: res.welcome });
    this.pending = { state: res.newState, commit, welcome };
    return { commit, welcome };
  }

  private mergePending(): RosterChange {
    const p = this.pending;
    if (p === undefined) throw new ClientInternalError('merge without a pending commit');
    const merged = withLiveHistory(p.state, this.state);
    const change = rosterChange(this.state.ratchetTree, merged.ratchetTree);
    this.state = merged;
    this.pending = undefined;
    this.lastOwnCommit = p.commit;
    return change;
  }

  /** The receive data for `epoch`: the current epoch's, or a retained earlier one's (MLS-11). */
  private epochData(epoch: bigint) {
    const s = this.state;
    if (epoch === s.groupContext.epoch)
      return {
        current: true,
        senderDataSecret: s.keySchedule.senderDataSecret,
        secretTree: s.secretTree,
        ratchetTree: s.ratchetTree,
        groupContext: s.groupContext,
      };
    const old = epoch < s.groupContext.epoch ? s.historicalReceiverData.get(epoch) : undefined;
    if (old === undefined)
      throw new ClientError('MLS_EPOCH', 'no keys for the message epoch', { check: 'MLS-11' });
    return { current: false, ...old };
  }

  /**
   * Explains why unprotecting a PrivateMessage failed, for the cases that have their own code: a key already used
   * (replay, MLS-9), our own message echoed, a sender that is not a member (MLS-8). Only runs on the failure path.
   */
  private async explainFailure(
    e: unknown,
    pm: PrivateMessage,
    data: { senderDataSecret: Uint8Array; secretTree: ClientState['secretTree']; ratchetTree: RatchetTree },
  ): Promise<Error> {
    if (e instanceof ClientError) return e;
    let sender: Awaited<ReturnType<typeof decryptSenderData>>;
    try {
      sender = await decryptSenderData(pm, data.senderDataSecret, this.cs);
    } catch (cause) {
      return new ClientError('MLS_DECRYPT', 'sender data does not decrypt', { cause });
    }
    if (sender === undefined)
      return new ClientError('MLS_MALFORMED', 'sender data does not decode', { cause: e });
    if (leafAt(data.ratchetTree, sender.leafIndex) === undefined)
      return new ClientError('MLS_SENDER', 'sender is not a member', { check: 'MLS-8', cause: e });
    if (sender.leafIndex === this.ownLeafIndex)
      return new ClientError('MLS_OWN_MESSAGE', 'message was sent by this device', { cause: e });
    const node = data.secretTree[leafToNodeIndex(toLeafIndex(sender.leafIndex))];
    const ratchet = pm.contentType === 'application' ? node?.application : node?.handshake;
    if (
      ratchet !== undefined &&
      sender.generation < ratchet.generation &&
      ratchet.unusedGenerations[sender.generation] === undefined
    ) {
      return new ClientError('MLS_REPLAY', 'message key already used or discarded', {
        check: 'MLS-9',
        cause: e,
      });
    }
    return fromEngineError(e, 'incoming', 'message');
  }

  private async receiveApplication(pm: PrivateMessage): Promise<Incoming> {
    const state = this.state;
    const data = this.epochData(pm.epoch);
    let res: Awaited<ReturnType<typeof unprotectPrivateMessage>>;
    try {
      res = await unprotectPrivateMessage(
        data.senderDataSecret,
        pm,
        data.secretTree,
        data.ratchetTree,
        data.groupContext,
        state.clientConfig.keyRetentionConfig,
        this.cs,
      );
    } catch (e) {
      throw await this.explainFailure(e, pm, data);
    }
    const content = res.content.content;
    if (content.contentType !== 'application' || content.sender.senderType !== 'member')
      throw new ClientError('MLS_INVALID', 'not an application message from a member');
    const sender = memberAt(data.ratchetTree, content.sender.leafIndex);
    if (sender === undefined)
      throw new ClientError('MLS_SENDER', 'sender is not a member', { check: 'MLS-8' });
    if (!data.current) {
      // MLS-12: the retained keys of an earlier epoch would let a member removed since then keep injecting
      // messages tagged with that epoch; accept them only from a sender who is still the same member now.
      const now = memberAt(state.ratchetTree, sender.leafIndex);
      if (now === undefined || !sameCredential(now, sender))
        throw new ClientError('MLS_SENDER', 'sender left the group after that epoch', { check: 'MLS-12' });
    }
    const bytes = content.applicationData;
    // The first byte tells a history part (history.ts) from a key transport (payload.ts, version 1).
    // Type 3 is a conversation name (payload.ts).
    const decoded =
      bytes[0] === HISTORY_PAYLOAD_TYPE
        ? { kind: 'history' as const, part: decodeHistoryPart(bytes) }
        : bytes[0] === CONVERSATION_NAME_PAYLOAD_TYPE
          ? { kind: 'name' as const, name: decodeConversationName(bytes) }
          : { kind: 'application' as const, payload: decodeKeyTransport(bytes) };
    if (data.current) {
      this.state = { ...state, secretTree: res.tree };
    } else {
      const history = new Map(state.historicalReceiverData);
      history.set(pm.epoch, { ...state.historicalReceiverData.get(pm.epoch)!, secretTree: res.tree });
      this.state = { ...state, historicalReceiverData: history };
    }
    if (this.pending === undefined) wipe(res.consumed);
    return { ...decoded, epoch: pm.epoch, sender };
  }

  private async receiveHandshake(pm: PrivateMessage, bytes: Uint8Array): Promise<Incoming> {
    const state = this.state;
    if (this.pending !== undefined && equalBytes(bytes, this.pending.commit)) {
      const change = this.mergePending();
      const self = memberAt(this.state.ratchetTree, this.ownLeafIndex)!;
      return {
        kind: 'commit',
        epoch: this.epoch,
        committer: self,
        own: true,
        change,
        removedSelf: false,
        discardedPendingCommit: false,
      };
    }
    if (this.lastOwnCommit !== undefined && equalBytes(bytes, this.lastOwnCommit))
      throw new ClientError('MLS_OWN_MESSAGE', 'our own commit, already merged');
    if (pm.epoch !== state.groupContext.epoch)
      throw new ClientError('MLS_EPOCH', 'handshake message is not for the current epoch', {
        check: 'MLS-11',
      });

    // Decrypt and verify once without keeping the result, to run Overt's checks on the plaintext before ts-mls
    // applies anything.
    const data = this.epochData(pm.epoch);
    let opened: Awaited<ReturnType<typeof unprotectPrivateMessage>>;
    try {
      opened = await unprotectPrivateMessage(
        data.senderDataSecret,
        pm,
        data.secretTree,
        data.ratchetTree,
        data.groupContext,
        state.clientConfig.keyRetentionConfig,
        this.cs,
      );
    } catch (e) {
      throw await this.explainFailure(e, pm, data);
    }
    const content = opened.content.content;
    if (content.sender.senderType !== 'member')
      throw new ClientError('MLS_SENDER', 'handshake sender is not a member', { check: 'MLS-8' });
    const senderIndex = content.sender.leafIndex;
    const sender = memberAt(state.ratchetTree, senderIndex);
    if (sender === undefined)
      throw new ClientError('MLS_SENDER', 'sender is not a member', { check: 'MLS-8' });
    let summary: ProposalSummary | undefined;
    if (content.contentType === 'proposal') {
      checkProposal(content.proposal, senderIndex, state);
      summary = this.summarise(content.proposal, sender, state);
    } else if (content.contentType === 'commit') checkCommit(content.commit, senderIndex, state);
    else throw new ClientError('MLS_INVALID', 'unexpected content type');

    this.gate.begin();
    let result: Awaited<ReturnType<typeof processPrivateMessage>>;
    try {
      result = await processPrivateMessage(state, pm, emptyPskIndex, this.cs, acceptAll);
    } catch (e) {
      throw this.gate.refusal ?? fromEngineError(e, 'incoming', 'handshake message');
    }
    if (this.gate.refusal !== undefined) throw this.gate.refusal;
    if (result.kind !== 'newState') throw new ClientInternalError('handshake produced application data');
    const next = result.newState;

    if (summary !== undefined) {
      this.state = next;
      if (this.pending === undefined) wipe(result.consumed);
      return { kind: 'proposal', epoch: pm.epoch, sender, proposal: summary };
    }

    const change = rosterChange(state.ratchetTree, next.ratchetTree);
    const discardedPendingCommit = this.pending !== undefined;
    if (next.groupActiveState.kind === 'removedFromGroup') {
      this.state = next;
      this.pending = undefined;
      return {
        kind: 'commit',
        epoch: pm.epoch + 1n,
        committer: sender,
        own: false,
        change,
        removedSelf: true,
        discardedPendingCommit,
      };
    }
    await this.authenticateNewLeaves(state.ratchetTree, next.ratchetTree);
    this.state = next;
    this.pending = undefined;
    wipe(result.consumed);
    return {
      kind: 'commit',
      epoch: next.groupContext.epoch,
      committer: sender,
      own: false,
      change,
      removedSelf: false,
      discardedPendingCommit,
    };
  }

  private summarise(p: Proposal, sender: Member, state: ClientState): ProposalSummary {
    if (typeof p.proposalType === 'number') throw new ClientInternalError('unchecked proposal type');
    switch (p.proposalType) {
      case 'add': {
        const leaf = p.add.keyPackage.leafNode;
        return { type: 'add', member: memberCredentialOf(leaf.credential, leaf.signaturePublicKey) };
      }
      case 'remove': {
        const m = memberAt(state.ratchetTree, p.remove.removed);
        if (m === undefined) throw new ClientError('MLS_INVALID', 'proposal removes a blank leaf');
        return { type: 'remove', member: m };
      }
      case 'update':
        return { type: 'update', member: sender };
      default:
        throw new ClientInternalError('unchecked proposal type');
    }
  }
}
