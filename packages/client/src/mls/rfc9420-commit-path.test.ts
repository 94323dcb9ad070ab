/**
 * RFC 9420 §12.4 / §17.4 ("Path Required"): a commit covering a Remove (or Update, or nothing at all) must carry
 * an UpdatePath. Without one the commit secret is all zeros, so the new epoch's secrets depend only on the old
 * epoch's init_secret — which the member being removed knows. ts-mls 2.0.0-rc.10 sends such commits for a
 * single Remove (DESIGN §9). These tests build such commits the way a faulty or malicious member would, with
 * ts-mls's own lower-level functions, and check that Overt refuses them (MLS-6), that ts-mls 1.6.4 refuses them
 * too, and that accepting one would indeed have let the removed member into the next epoch.
 */
import { equalBytes, fromBase64 } from '@overt/core';
import {
  type ClientState,
  createCommit,
  createProposal,
  decodeMlsMessage,
  emptyPskIndex,
  encodeMlsMessage,
  type ProposalOrRef,
  processPrivateMessage,
  type RatchetTree,
} from 'ts-mls';
import { nextEpochContext } from 'ts-mls/clientState.js';
import {
  createConfirmationTag,
  createContentCommitSignature,
  verifyConfirmationTag,
} from 'ts-mls/framedContent.js';
import { initializeEpoch } from 'ts-mls/keySchedule.js';
import { protect, unprotectPrivateMessage } from 'ts-mls/messageProtection.js';
import { removeLeafNode } from 'ts-mls/ratchetTree.js';
import { treeHashRoot } from 'ts-mls/treeHash.js';
import { toLeafIndex } from 'ts-mls/treemath.js';
import { describe, expect, test } from 'vitest';
import { expectClientError } from '../../test/expect-error.js';
import { deliver, device, makeGroup, rawState } from '../../test/mls-helpers.js';
import type { Conversation } from '../index.js';
import { mlsCiphersuite } from './ciphersuite.js';

/**
 * A commit from the member holding `state`, covering `proposals`, with NO UpdatePath, correctly signed,
 * confirmed and encrypted: exactly what a peer that skips the path would send. `treeAfter` is the tree once the
 * proposals are applied (the committer must hash it into the new GroupContext).
 */
async function commitWithoutPath(state: ClientState, proposals: ProposalOrRef[], treeAfter: RatchetTree) {
  const cs = await mlsCiphersuite();
  const own = state.privatePath.leafIndex;
  const { framedContent, signature } = await createContentCommitSignature(
    state.groupContext,
    'mls_private_message',
    { proposals, path: undefined },
    { senderType: 'member', leafIndex: own },
    new Uint8Array(),
    state.signaturePrivateKey,
    cs.signature,
  );
  const context = await nextEpochContext(
    state.groupContext,
    'mls_private_message',
    framedContent,
    signature,
    await treeHashRoot(treeAfter, cs.hash),
    state.confirmationTag,
    cs.hash,
  );
  // No path: commit_secret is the all-zero vector (RFC 9420 §8), and there is no PSK.
  const zeros = new Uint8Array(cs.kdf.size);
  const epoch = await initializeEpoch(state.keySchedule.initSecret, zeros, context, zeros, cs.kdf);
  const confirmationTag = await createConfirmationTag(
    epoch.keySchedule.confirmationKey,
    context.confirmedTranscriptHash,
    cs.hash,
  );
  const { privateMessage } = await protect(
    state.keySchedule.senderDataSecret,
    new Uint8Array(),
    state.groupContext,
    state.secretTree,
    { ...framedContent, auth: { contentType: 'commit', signature, confirmationTag } },
    own,
    state.clientConfig.paddingConfig,
    cs,
  );
  return {
    bytes: encodeMlsMessage({ version: 'mls10', wireformat: 'mls_private_message', privateMessage }),
    privateMessage,
    epoch,
  };
}

const removeInline = (leaf: number): ProposalOrRef => ({
  proposalOrRefType: 'proposal',
  proposal: { proposalType: 'remove', remove: { removed: leaf } },
});

describe('RFC 9420 §12.4: commits that need an UpdatePath', () => {
  test('a Remove commit without an UpdatePath is refused (MLS-6), and ts-mls 1.6.4 refuses it as well', async () => {
    const { convs } = await makeGroup(3);
    const [a, b, c] = convs as [Conversation, Conversation, Conversation];
    const sa = rawState(a);
    const crafted = await commitWithoutPath(
      sa,
      [removeInline(2)],
      removeLeafNode(sa.ratchetTree, toLeafIndex(2)),
    );

    const before = b.serialize();
    await expectClientError(b.processIncoming(crafted.bytes), 'MLS_COMMIT_MISSING_PATH', 'MLS-6');
    await expectClientError(c.processIncoming(crafted.bytes), 'MLS_COMMIT_MISSING_PATH', 'MLS-6');
    expect(equalBytes(b.serialize(), before)).toBe(true);

    // Finding: ts-mls 1.6.4 on its own also rejects it (processCommit's "needsUpdatePath" covers Remove).
    const cs = await mlsCiphersuite();
    await expect(
      processPrivateMessage(rawState(b), crafted.privateMessage, emptyPskIndex, cs),
    ).rejects.toThrow('Update path is required');
  });

  test('had it been accepted, the removed member could have derived the next epoch; with a path it cannot', async () => {
    const { convs } = await makeGroup(3);
    const [a, , c] = convs as [Conversation, Conversation, Conversation];
    const cs = await mlsCiphersuite();
    const sa = rawState(a);
    const crafted = await commitWithoutPath(
      sa,
      [removeInline(2)],
      removeLeafNode(sa.ratchetTree, toLeafIndex(2)),
    );

    // C, the member being removed, still holds epoch 1: it opens the commit and recomputes the new epoch.
    const sc = rawState(c);
    const attempt = async (pm: typeof crafted.privateMessage) => {
      const opened = await unprotectPrivateMessage(
        sc.keySchedule.senderDataSecret,
        pm,
        sc.secretTree,
        sc.ratchetTree,
        sc.groupContext,
        sc.clientConfig.keyRetentionConfig,
        cs,
      );
      const content = opened.content.content;
      const auth = opened.content.auth;
      if (content.contentType !== 'commit' || auth.contentType !== 'commit') throw new Error('not a commit');
      const tree = removeLeafNode(sc.ratchetTree, toLeafIndex(2));
      const context = await nextEpochContext(
        sc.groupContext,
        'mls_private_message',
        content,
        auth.signature,
        await treeHashRoot(tree, cs.hash),
        sc.confirmationTag,
        cs.hash,
      );
      const zeros = new Uint8Array(cs.kdf.size);
      const guess = await initializeEpoch(sc.keySchedule.initSecret, zeros, context, zeros, cs.kdf);
      const ok = await verifyConfirmationTag(
        guess.keySchedule.confirmationKey,
        auth.confirmationTag,
        context.confirmedTranscriptHash,
        cs.hash,
      );
      return { ok, guess };
    };
    const pathless = await attempt(crafted.privateMessage);
    expect(pathless.ok).toBe(true);
    expect(
      equalBytes(pathless.guess.keySchedule.exporterSecret, crafted.epoch.keySchedule.exporterSecret),
    ).toBe(true);
    expect(equalBytes(pathless.guess.encryptionSecret, crafted.epoch.encryptionSecret)).toBe(true);

    // The same removal committed properly (with a path, as Overt sends it): C's guess fails.
    const proper = await a.removeMembers([device('user2')]);
    const decoded = decodeMlsMessage(proper.commit, 0)![0];
    if (decoded.wireformat !== 'mls_private_message') throw new Error('unexpected');
    expect((await attempt(decoded.privateMessage)).ok).toBe(false);
  });

  test('a Remove proposal committed by reference without a path is refused too (MLS-6)', async () => {
    const { convs } = await makeGroup(3);
    const [a, b] = convs as [Conversation, Conversation, Conversation];
    const cs = await mlsCiphersuite();
    const proposed = await createProposal(
      rawState(a),
      false,
      { proposalType: 'remove', remove: { removed: 2 } },
      cs,
    );
    const [got] = await deliver(encodeMlsMessage(proposed.message), [b]);
    expect(got!.kind).toBe('proposal');
    const ref = Object.keys(proposed.newState.unappliedProposals)[0]!;
    const state = proposed.newState;
    const crafted = await commitWithoutPath(
      state,
      [{ proposalOrRefType: 'reference', reference: fromBase64(ref) }],
      removeLeafNode(state.ratchetTree, toLeafIndex(2)),
    );
    await expectClientError(b.processIncoming(crafted.bytes), 'MLS_COMMIT_MISSING_PATH', 'MLS-6');
  });

  test('an empty commit without a path is refused (MLS-6)', async () => {
    const { convs } = await makeGroup(2);
    const [a, b] = convs as [Conversation, Conversation];
    const sa = rawState(a);
    const crafted = await commitWithoutPath(sa, [], sa.ratchetTree);
    await expectClientError(b.processIncoming(crafted.bytes), 'MLS_COMMIT_MISSING_PATH', 'MLS-6');
  });

  test('proposal types Overt never uses are refused (MLS-7), even though ts-mls would apply them', async () => {
    const { convs } = await makeGroup(2);
    const [a, b] = convs as [Conversation, Conversation];
    const cs = await mlsCiphersuite();
    const gce = await createCommit(
      { state: rawState(a), cipherSuite: cs },
      {
        extraProposals: [
          { proposalType: 'group_context_extensions', groupContextExtensions: { extensions: [] } },
        ],
      },
    );
    await expectClientError(
      b.processIncoming(encodeMlsMessage(gce.commit)),
      'MLS_PROPOSAL_UNSUPPORTED',
      'MLS-7',
    );
    // ts-mls itself applies it (and, contrary to RFC 9420 §17.4, without a path).
    const decoded = decodeMlsMessage(encodeMlsMessage(gce.commit), 0)![0];
    if (decoded.wireformat !== 'mls_private_message') throw new Error('unexpected');
    const applied = await processPrivateMessage(rawState(b), decoded.privateMessage, emptyPskIndex, cs);
    expect(applied.kind === 'newState' && applied.newState.groupContext.epoch).toBe(2n);

    const custom = await createProposal(
      rawState(a),
      false,
      { proposalType: 0xf0f0, proposalData: new Uint8Array(3) },
      cs,
    );
    await expectClientError(
      b.processIncoming(encodeMlsMessage(custom.message)),
      'MLS_PROPOSAL_UNSUPPORTED',
      'MLS-7',
    );
  });
});
