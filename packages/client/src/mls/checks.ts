/**
 * Overt's checks on a peer's handshake content, run on the decrypted and signature-verified proposal or commit
 * BEFORE it is handed to ts-mls to be applied, and on the roster that results.
 *
 * They close gaps that RFC 9420 leaves to the application or that a buggy engine could leave open:
 * - MLS-6: a commit whose proposals need an UpdatePath must carry one (RFC 9420 §12.4, the "Path Required"
 *   column of the proposal-type registry, §17.4). Without it the commit secret is zero, so a member removed by
 *   the commit can compute the next epoch's keys (the ts-mls 2.0.0-rc.10 bug noted in DESIGN §9).
 * - MLS-7: only add, remove and update proposals are accepted. PSK, ReInit, ExternalInit, GroupContextExtensions
 *   and custom proposals are never needed by Overt, and each widens what a single member can do to the group.
 * - MLS-4: a member can refresh its keys but never change who it is (RFC 9420 §5.3.3 leaves credential updates
 *   to the application; a device that changes user or identity key is a different device and must be added).
 * - MLS-5: one leaf per (user id, device id).
 */

import { equalBytes } from '@overt/core';
import {
  bytesToBase64,
  type ClientState,
  type Commit,
  type LeafNode,
  type Proposal,
  type RatchetTree,
} from 'ts-mls';
import { leafToNodeIndex, toLeafIndex } from 'ts-mls/treemath.js';
import { ClientError } from '../errors.js';
import { deviceKey, type Member } from './credential.js';
import { rosterOf } from './engine.js';

/** Proposal types that require an UpdatePath in the commit that covers them (RFC 9420 §17.4, "Path Required"). */
const PATH_REQUIRED = new Set(['update', 'remove', 'external_init', 'group_context_extensions']);
const ALLOWED = new Set(['add', 'remove', 'update']);

export interface ResolvedProposal {
  readonly proposal: Proposal;
  /** The member that sent it (the committer, for proposals inline in the commit). */
  readonly sender: number | undefined;
}

/**
 * Resolves a commit's proposals, inline or by reference to proposals received earlier in the epoch (RFC 9420
 * §12.4). Throws MLS_INVALID for a reference to a proposal this member never received.
 */
export function resolveProposals(commit: Commit, state: ClientState, committer: number): ResolvedProposal[] {
  return commit.proposals.map((p) => {
    if (p.proposalOrRefType === 'proposal') return { proposal: p.proposal, sender: committer };
    const found = state.unappliedProposals[bytesToBase64(p.reference)];
    if (found === undefined) throw new ClientError('MLS_INVALID', 'commit references an unknown proposal');
    return { proposal: found.proposal, sender: found.senderLeafIndex };
  });
}

function typeName(p: Proposal): string {
  return typeof p.proposalType === 'number' ? `custom` : p.proposalType;
}

/** MLS-7: the proposal is of a type Overt accepts. */
export function checkProposalType(p: Proposal): void {
  if (!ALLOWED.has(typeName(p)))
    throw new ClientError('MLS_PROPOSAL_UNSUPPORTED', `proposal type ${typeName(p)} is not allowed`, {
      check: 'MLS-7',
    });
}

/** MLS-4: `next` (from an Update or a commit path) keeps the credential and signature key of the leaf it replaces. */
export function checkSameIdentity(tree: RatchetTree, leafIndex: number, next: LeafNode): void {
  const node = tree[leafToNodeIndex(toLeafIndex(leafIndex))];
  if (node?.nodeType !== 'leaf')
    throw new ClientError('MLS_SENDER', 'sender leaf is blank', { check: 'MLS-8' });
  const prev = node.leaf;
  const same =
    prev.credential.credentialType === 'basic' &&
    next.credential.credentialType === 'basic' &&
    equalBytes(prev.credential.identity, next.credential.identity) &&
    equalBytes(prev.signaturePublicKey, next.signaturePublicKey);
  if (!same)
    throw new ClientError(
      'MLS_CREDENTIAL_CHANGED',
      'a member may not change its credential or identity key',
      {
        check: 'MLS-4',
      },
    );
}

/** Checks a standalone proposal message from member `sender` (MLS-7, MLS-4). */
export function checkProposal(p: Proposal, sender: number, state: ClientState): void {
  checkProposalType(p);
  if (typeof p.proposalType !== 'number' && p.proposalType === 'update')
    checkSameIdentity(
      state.ratchetTree,
      sender,
      (p as Extract<Proposal, { proposalType: 'update' }>).update.leafNode,
    );
}

/** Checks a commit from member `committer` against the current state, before it is applied (MLS-7, MLS-6, MLS-4). */
export function checkCommit(commit: Commit, committer: number, state: ClientState): void {
  const proposals = resolveProposals(commit, state, committer);
  for (const { proposal, sender } of proposals) {
    checkProposalType(proposal);
    if (proposal.proposalType === 'update' && sender !== undefined)
      checkSameIdentity(state.ratchetTree, sender, proposal.update.leafNode);
  }
  // RFC 9420 §12.4: "The path field of a Commit MUST be populated if the Commit covers at least one Update or
  // Remove proposal [...] [or] covers no proposals at all", and §17.4 adds ExternalInit and
  // GroupContextExtensions.
  const needsPath = proposals.length === 0 || proposals.some((p) => PATH_REQUIRED.has(typeName(p.proposal)));
  if (needsPath && commit.path === undefined)
    throw new ClientError('MLS_COMMIT_MISSING_PATH', 'commit requires an UpdatePath', { check: 'MLS-6' });
  if (commit.path !== undefined) checkSameIdentity(state.ratchetTree, committer, commit.path.leafNode);
}

/** MLS-5 (and MLS-1/MLS-2 for every leaf): the roster of `tree`, with one leaf per (user id, device id). */
export function checkRoster(tree: RatchetTree): Member[] {
  const members = rosterOf(tree);
  const seen = new Set<string>();
  for (const m of members) {
    const key = deviceKey(m);
    if (seen.has(key))
      throw new ClientError('MLS_DUPLICATE_DEVICE', 'two leaves claim the same device', { check: 'MLS-5' });
    seen.add(key);
  }
  return members;
}
