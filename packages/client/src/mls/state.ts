/**
 * Serialisation of a conversation's MLS state for the device's own storage (which must encrypt it at rest: it
 * holds the epoch secrets and the HPKE private keys of the member's path).
 *
 * Format (docs/spec/mls.md, "Conversation state"):
 *   u8 version = 1
 *   u32 len ‖ group_state                 ts-mls 1.6.4 encodeGroupState, signature_private_key emptied
 *   u8 has_pending (0 or 1)
 *   if 1: u32 len ‖ pending_group_state ‖ u32 len ‖ pending_commit ‖ u32 len ‖ pending_welcome (len 0: none)
 *
 * The device identity key is never written: ts-mls keeps the signing key inside every group state, so it is
 * removed before encoding and put back from the {@link MlsIdentity} on restore. Restoring checks (MLS-18) that
 * the bytes are one canonical encoding, that the group is on Overt's ciphersuite, that this member's own leaf
 * carries this identity, and that the ratchet tree hashes to the tree hash in the group context.
 */
import { equalBytes, isOvertError, Reader, Writer } from '@overt/core';
import {
  type ClientConfig,
  type ClientState,
  decodeGroupState,
  encodeGroupState,
  type GroupState,
} from 'ts-mls';
import { treeHashRoot } from 'ts-mls/treeHash.js';
import { leafToNodeIndex, toLeafIndex } from 'ts-mls/treemath.js';
import { ClientError } from '../errors.js';
import { CIPHERSUITE_NAME, mlsCiphersuite } from './ciphersuite.js';
import { type MlsIdentity, memberCredentialOf, sameCredential } from './credential.js';
import { decodeMlsStrict } from './engine.js';

export const STATE_VERSION = 1;
const MAX_STATE_BYTES = 1 << 28;

export interface PendingCommit {
  readonly state: ClientState;
  readonly commit: Uint8Array;
  readonly welcome: Uint8Array | undefined;
}

export interface StoredConversation {
  readonly state: ClientState;
  readonly pending: PendingCommit | undefined;
}

function groupStateBytes(state: ClientState): Uint8Array {
  const { clientConfig: _config, ...rest } = state;
  return encodeGroupState({ ...rest, signaturePrivateKey: new Uint8Array(0) });
}

export function encodeConversationState(s: StoredConversation): Uint8Array {
  const group = groupStateBytes(s.state);
  if (s.pending === undefined) {
    // Capacity is exact: the Writer is never asked to grow.
    return new Writer(1 + 4 + group.length + 1).u8(STATE_VERSION).vec32(group).u8(0).finish();
  }
  const pending = groupStateBytes(s.pending.state);
  const welcome = s.pending.welcome ?? new Uint8Array(0);
  return new Writer(1 + 4 + group.length + 1 + 12 + pending.length + s.pending.commit.length + welcome.length)
    .u8(STATE_VERSION)
    .vec32(group)
    .u8(1)
    .vec32(pending)
    .vec32(s.pending.commit)
    .vec32(welcome)
    .finish();
}

function bad(message: string, cause?: unknown): ClientError {
  return new ClientError('MLS_STATE_MALFORMED', message, { check: 'MLS-18', cause });
}

async function decodeGroup(
  bytes: Uint8Array,
  identity: MlsIdentity,
  config: ClientConfig,
): Promise<ClientState> {
  let gs: GroupState;
  try {
    const decoded = decodeGroupState(bytes, 0);
    if (decoded === undefined || decoded[1] !== bytes.length) throw bad('group state does not decode');
    gs = decoded[0];
    if (!equalBytes(encodeGroupState(gs), bytes)) throw bad('group state is not canonically encoded');
  } catch (e) {
    if (e instanceof ClientError) throw e;
    throw bad('group state does not decode', e);
  }
  if (gs.signaturePrivateKey.length !== 0) throw bad('group state holds a signing key');
  if (gs.groupContext.cipherSuite !== CIPHERSUITE_NAME || gs.groupContext.version !== 'mls10')
    throw bad('group state is not on the Overt ciphersuite');
  const own = gs.ratchetTree[leafToNodeIndex(toLeafIndex(gs.privatePath.leafIndex))];
  if (gs.groupActiveState.kind === 'active') {
    if (own?.nodeType !== 'leaf') throw bad('own leaf is missing');
    let c: ReturnType<typeof memberCredentialOf>;
    try {
      c = memberCredentialOf(own.leaf.credential, own.leaf.signaturePublicKey);
    } catch (e) {
      throw bad('own leaf has no Overt credential', e);
    }
    if (!sameCredential(c, identity)) throw bad('state belongs to another identity');
  }
  const cs = await mlsCiphersuite();
  let hash: Uint8Array;
  try {
    hash = await treeHashRoot(gs.ratchetTree, cs.hash);
  } catch (e) {
    throw bad('ratchet tree is inconsistent', e);
  }
  if (!equalBytes(hash, gs.groupContext.treeHash)) throw bad('ratchet tree does not match the group context');
  return { ...gs, signaturePrivateKey: identity.signingKey.secretKey, clientConfig: config };
}

/** Restores what {@link encodeConversationState} wrote. Throws MLS_STATE_MALFORMED (MLS-18). */
export async function decodeConversationState(
  bytes: Uint8Array,
  identity: MlsIdentity,
  config: ClientConfig,
): Promise<StoredConversation> {
  let groupBytes: Uint8Array;
  let pendingParts: [Uint8Array, Uint8Array, Uint8Array] | undefined;
  try {
    const r = new Reader(bytes);
    if (r.u8('state version') !== STATE_VERSION) throw bad('unknown state version');
    groupBytes = r.vec32('group state', MAX_STATE_BYTES);
    const flag = r.u8('pending flag');
    if (flag === 1) {
      pendingParts = [
        r.vec32('pending state', MAX_STATE_BYTES),
        r.vec32('pending commit', MAX_STATE_BYTES),
        r.vec32('pending welcome', MAX_STATE_BYTES),
      ];
    } else if (flag !== 0) throw bad('invalid pending flag');
    r.finish('conversation state');
  } catch (e) {
    if (isOvertError(e)) throw bad('conversation state does not decode', e);
    throw e;
  }
  const state = await decodeGroup(groupBytes, identity, config);
  if (pendingParts === undefined) return { state, pending: undefined };
  const [ps, commit, welcome] = pendingParts;
  const pendingState = await decodeGroup(ps, identity, config);
  if (
    !equalBytes(pendingState.groupContext.groupId, state.groupContext.groupId) ||
    pendingState.groupContext.epoch !== state.groupContext.epoch + 1n
  ) {
    throw bad('pending commit does not follow the current epoch');
  }
  try {
    const c = decodeMlsStrict(commit);
    if (c.wireformat !== 'mls_private_message' || c.privateMessage.contentType !== 'commit')
      throw bad('pending commit');
    if (welcome.length > 0 && decodeMlsStrict(welcome).wireformat !== 'mls_welcome')
      throw bad('pending welcome');
  } catch (e) {
    if (e instanceof ClientError && e.code === 'MLS_STATE_MALFORMED') throw e;
    throw bad('pending commit does not decode', e);
  }
  return {
    state,
    pending: { state: pendingState, commit, welcome: welcome.length > 0 ? welcome : undefined },
  };
}
