/**
 * The official RFC 9420 interoperability vectors (mlswg/mls-implementations, test-vectors.md), ciphersuite 1,
 * run against ts-mls 1.6.4 as Overt assembles it (ciphersuite.ts: noble hashes and AES-GCM, noble HKDF,
 * libsodium Ed25519); the crypto basics also against ts-mls's unmodified default provider.
 * Vector files and their provenance: packages/client/test/vectors/mls/SOURCE.md. TreeKEM and passive-client
 * vectors: rfc9420-treekem-passive-client-vectors.test.ts.
 *
 * Left out, because ts-mls exposes no function for it: the `exporter` entry of key-schedule.json (its labels are
 * random bytes that are not UTF-8, and ts-mls's MLS-Exporter takes a string label). psk_secret.json and
 * messages.json are not committed (Overt uses no PSKs; messages.json has no ciphersuite to subset and is 2.6 MiB).
 */
import { randomBytes } from '@overt/core';
import type { CiphersuiteImpl, MLSMessage, PrivateMessage } from 'ts-mls';
import { decodeAuthenticatedContent } from 'ts-mls/authenticatedContent.js';
import { determineLength } from 'ts-mls/codec/variableLength.js';
import { decodeCommit, encodeCommit } from 'ts-mls/commit.js';
import { refhash } from 'ts-mls/crypto/hash.js';
import { decryptWithLabel, encryptWithLabel } from 'ts-mls/crypto/hpke.js';
import { deriveSecret, deriveTreeSecret, expandWithLabel } from 'ts-mls/crypto/kdf.js';
import { signWithLabel, verifyWithLabel } from 'ts-mls/crypto/signature.js';
import { createContentCommitSignature, verifyConfirmationTag } from 'ts-mls/framedContent.js';
import { encodeGroupContext } from 'ts-mls/groupContext.js';
import { verifyGroupInfoConfirmationTag, verifyGroupInfoSignature } from 'ts-mls/groupInfo.js';
import { makeKeyPackageRef } from 'ts-mls/keyPackage.js';
import { initializeEpoch } from 'ts-mls/keySchedule.js';
import { verifyLeafNodeSignature } from 'ts-mls/leafNode.js';
import {
  protect,
  protectApplicationData,
  protectProposal,
  unprotectPrivateMessage,
} from 'ts-mls/messageProtection.js';
import {
  protectProposalPublic,
  protectPublicMessage,
  unprotectPublicMessage,
} from 'ts-mls/messageProtectionPublic.js';
import { verifyParentHashes } from 'ts-mls/parentHash.js';
import { decodeProposal, encodeProposal } from 'ts-mls/proposal.js';
import {
  addLeafNode,
  decodeRatchetTree,
  encodeRatchetTree,
  removeLeafNode,
  resolution,
  updateLeafNode,
} from 'ts-mls/ratchetTree.js';
import { createSecretTree, deriveKey, deriveNonce } from 'ts-mls/secretTree.js';
import { expandSenderDataKey, expandSenderDataNonce } from 'ts-mls/sender.js';
import { createConfirmedHash, createInterimHash } from 'ts-mls/transcriptHash.js';
import { treeHash, treeHashRoot } from 'ts-mls/treeHash.js';
import {
  isLeaf,
  leafToNodeIndex,
  left,
  nodeWidth,
  parent,
  right,
  root,
  sibling,
  toLeafIndex,
  toNodeIndex,
} from 'ts-mls/treemath.js';
import { decryptGroupInfo, decryptGroupSecrets } from 'ts-mls/welcome.js';
import { expect, test } from 'vitest';
import {
  decodeMessage,
  describeVectors,
  groupContext,
  h,
  hex,
  load,
  privateOf,
  suite1,
} from '../../test/mls-vectors.js';
import { mlsCiphersuite, tsMlsCiphersuite } from './ciphersuite.js';

describeVectors('tree-math.json', () => {
  test('root, left, right, parent and sibling of every node', () => {
    for (const v of load('tree-math.json')) {
      const n = v.n_leaves as number;
      expect(nodeWidth(n)).toBe(v.n_nodes);
      expect(root(n)).toBe(v.root);
      for (let i = 0; i < v.n_nodes; i++) {
        const x = toNodeIndex(i);
        if (!isLeaf(x)) {
          expect(left(x)).toBe(v.left[i]);
          expect(right(x)).toBe(v.right[i]);
        } else {
          expect(v.left[i]).toBeNull();
          expect(v.right[i]).toBeNull();
        }
        if (i === v.root) {
          expect(v.parent[i]).toBeNull();
          expect(v.sibling[i]).toBeNull();
        } else {
          expect(parent(x, n)).toBe(v.parent[i]);
          expect(sibling(x, n)).toBe(v.sibling[i]);
        }
      }
    }
  });
});

describeVectors('deserialization.json', () => {
  test('variable-length vector headers (RFC 9420 §2.1.2)', () => {
    for (const v of load('deserialization.json')) {
      const header = h(v.vlbytes_header);
      const { length, lengthFieldSize } = determineLength(header, 0);
      expect(length).toBe(v.length);
      expect(lengthFieldSize).toBe(header.length);
    }
  });
});

async function cryptoBasics(cs: CiphersuiteImpl) {
  for (const v of suite1('crypto-basics.json')) {
    expect(hex(await refhash(v.ref_hash.label, h(v.ref_hash.value), cs.hash))).toBe(v.ref_hash.out);
    const e = v.expand_with_label;
    expect(hex(await expandWithLabel(h(e.secret), e.label, h(e.context), e.length, cs.kdf))).toBe(e.out);
    const d = v.derive_secret;
    expect(hex(await deriveSecret(h(d.secret), d.label, cs.kdf))).toBe(d.out);
    const t = v.derive_tree_secret;
    expect(hex(await deriveTreeSecret(h(t.secret), t.label, t.generation, t.length, cs.kdf))).toBe(t.out);
    const s = v.sign_with_label;
    expect(await verifyWithLabel(h(s.pub), s.label, h(s.content), h(s.signature), cs.signature)).toBe(true);
    // Ed25519 is deterministic (RFC 8032), so signing reproduces the vector's signature.
    expect(hex(await signWithLabel(h(s.priv), s.label, h(s.content), cs.signature))).toBe(s.signature);
    const bad = h(s.signature);
    bad[5] = bad[5]! ^ 1;
    expect(await verifyWithLabel(h(s.pub), s.label, h(s.content), bad, cs.signature)).toBe(false);
    const x = v.encrypt_with_label;
    const priv = await cs.hpke.importPrivateKey(h(x.priv));
    const pt = await decryptWithLabel(priv, x.label, h(x.context), h(x.kem_output), h(x.ciphertext), cs.hpke);
    expect(hex(pt)).toBe(x.plaintext);
    const sealed = await encryptWithLabel(
      await cs.hpke.importPublicKey(h(x.pub)),
      x.label,
      h(x.context),
      h(x.plaintext),
      cs.hpke,
    );
    expect(hex(await decryptWithLabel(priv, x.label, h(x.context), sealed.enc, sealed.ct, cs.hpke))).toBe(
      x.plaintext,
    );
  }
}

describeVectors('crypto-basics.json', () => {
  test('Overt’s ciphersuite implementation', async () => cryptoBasics(await mlsCiphersuite()));
  test('ts-mls’s default provider', async () => cryptoBasics(await tsMlsCiphersuite()));
});

describeVectors('secret-tree.json', () => {
  test('sender-data key and nonce; handshake and application ratchets of every leaf', async () => {
    const cs = await mlsCiphersuite();
    for (const v of suite1('secret-tree.json')) {
      const sd = v.sender_data;
      expect(hex(await expandSenderDataKey(cs, h(sd.sender_data_secret), h(sd.ciphertext)))).toBe(sd.key);
      expect(hex(await expandSenderDataNonce(cs, h(sd.sender_data_secret), h(sd.ciphertext)))).toBe(sd.nonce);
      const tree = await createSecretTree(v.leaves.length, h(v.encryption_secret), cs.kdf);
      for (let i = 0; i < v.leaves.length; i++) {
        const node = tree[leafToNodeIndex(toLeafIndex(i))]!;
        for (const g of v.leaves[i]) {
          for (const [ratchet, kind] of [
            [node.handshake, 'handshake'],
            [node.application, 'application'],
          ] as const) {
            // RFC 9420 §9.1: ratchet_secret[n+1] = DeriveTreeSecret(ratchet_secret[n], "secret", n, Nh).
            let secret = ratchet.secret;
            for (let n = 0; n < g.generation; n++)
              secret = await deriveTreeSecret(secret, 'secret', n, cs.kdf.size, cs.kdf);
            expect(hex(await deriveKey(secret, g.generation, cs))).toBe(g[`${kind}_key`]);
            expect(hex(await deriveNonce(secret, g.generation, cs))).toBe(g[`${kind}_nonce`]);
          }
        }
      }
    }
  });
});

describeVectors('key-schedule.json', () => {
  test('group context encoding and every epoch secret, chained over the epochs', async () => {
    const cs = await mlsCiphersuite();
    for (const v of suite1('key-schedule.json')) {
      let initSecret = h(v.initial_init_secret);
      for (let i = 0; i < v.epochs.length; i++) {
        const e = v.epochs[i];
        const gc = groupContext(
          { ...v, confirmed_transcript_hash: e.confirmed_transcript_hash },
          BigInt(i),
          h(e.tree_hash),
        );
        expect(hex(encodeGroupContext(gc))).toBe(e.group_context);
        const s = await initializeEpoch(initSecret, h(e.commit_secret), gc, h(e.psk_secret), cs.kdf);
        expect(hex(s.joinerSecret)).toBe(e.joiner_secret);
        expect(hex(s.welcomeSecret)).toBe(e.welcome_secret);
        expect(hex(s.encryptionSecret)).toBe(e.encryption_secret);
        const k = s.keySchedule;
        expect(hex(k.senderDataSecret)).toBe(e.sender_data_secret);
        expect(hex(k.exporterSecret)).toBe(e.exporter_secret);
        expect(hex(k.epochAuthenticator)).toBe(e.epoch_authenticator);
        expect(hex(k.externalSecret)).toBe(e.external_secret);
        expect(hex(k.confirmationKey)).toBe(e.confirmation_key);
        expect(hex(k.membershipKey)).toBe(e.membership_key);
        expect(hex(k.resumptionPsk)).toBe(e.resumption_psk);
        expect(hex(k.initSecret)).toBe(e.init_secret);
        const ext = await cs.hpke.deriveKeyPair(k.externalSecret);
        expect(hex(await cs.hpke.exportPublicKey(ext.publicKey))).toBe(e.external_pub);
        initSecret = k.initSecret;
      }
    }
  });
});

describeVectors('transcript-hashes.json', () => {
  test('confirmation tag, confirmed and interim transcript hashes', async () => {
    const cs = await mlsCiphersuite();
    for (const v of suite1('transcript-hashes.json')) {
      const d = decodeAuthenticatedContent(h(v.authenticated_content), 0);
      if (d === undefined) throw new Error('authenticated content does not decode');
      const ac = d[0];
      if (ac.content.contentType !== 'commit' || ac.auth.contentType !== 'commit')
        throw new Error('not a commit');
      expect(
        await verifyConfirmationTag(
          h(v.confirmation_key),
          ac.auth.confirmationTag,
          h(v.confirmed_transcript_hash_after),
          cs.hash,
        ),
      ).toBe(true);
      const confirmed = await createConfirmedHash(
        h(v.interim_transcript_hash_before),
        { wireformat: ac.wireformat, content: ac.content, signature: ac.auth.signature },
        cs.hash,
      );
      const interim = await createInterimHash(confirmed, ac.auth.confirmationTag, cs.hash);
      expect(hex(confirmed)).toBe(v.confirmed_transcript_hash_after);
      expect(hex(interim)).toBe(v.interim_transcript_hash_after);
    }
  });
});

describeVectors('message-protection.json', () => {
  test('public and private proposals, commits and application data: unprotect, and protect round trips', async () => {
    const cs = await mlsCiphersuite();
    for (const v of suite1('message-protection.json')) {
      const gc = groupContext(v, BigInt(v.epoch), h(v.tree_hash));
      const sigPub = h(v.signature_pub);
      const sigPriv = h(v.signature_priv);
      const membership = h(v.membership_key);
      const senderData = h(v.sender_data_secret);
      const tree = () => createSecretTree(2, h(v.encryption_secret), cs.kdf);
      const retention = {
        retainKeysForGenerations: 10,
        retainKeysForEpochs: 4,
        maximumForwardRatchetSteps: 200,
      };
      const openPrivate = async (pm: PrivateMessage) =>
        (await unprotectPrivateMessage(senderData, pm, await tree(), [], gc, retention, cs, sigPub)).content
          .content;
      const openPublic = async (m: MLSMessage) => {
        if (m.wireformat !== 'mls_public_message') throw new Error('expected a PublicMessage');
        return (await unprotectPublicMessage(membership, gc, [], m.publicMessage, cs, sigPub)).content;
      };

      // Proposal.
      const proposal = decodeProposal(h(v.proposal), 0)![0];
      const pp = await openPublic(decodeMessage(h(v.proposal_pub)));
      expect(pp.contentType === 'proposal' && hex(encodeProposal(pp.proposal))).toBe(v.proposal);
      const pv = await openPrivate(privateOf(decodeMessage(h(v.proposal_priv))));
      expect(pv.contentType === 'proposal' && hex(encodeProposal(pv.proposal))).toBe(v.proposal);
      const pubAgain = await protectProposalPublic(
        sigPriv,
        membership,
        gc,
        new Uint8Array(),
        proposal,
        1,
        cs,
      );
      const pp2 = await openPublic({
        version: 'mls10',
        wireformat: 'mls_public_message',
        publicMessage: pubAgain.publicMessage,
      });
      expect(pp2.contentType === 'proposal' && hex(encodeProposal(pp2.proposal))).toBe(v.proposal);
      const privAgain = await protectProposal(
        sigPriv,
        senderData,
        proposal,
        new Uint8Array(),
        gc,
        await tree(),
        1,
        { kind: 'padUntilLength', padUntilLength: 0 },
        cs,
      );
      const pv2 = await openPrivate(privAgain.privateMessage);
      expect(pv2.contentType === 'proposal' && hex(encodeProposal(pv2.proposal))).toBe(v.proposal);

      // Commit.
      const commit = decodeCommit(h(v.commit), 0)![0];
      const cp = await openPublic(decodeMessage(h(v.commit_pub)));
      expect(cp.contentType === 'commit' && hex(encodeCommit(cp.commit))).toBe(v.commit);
      const cv = await openPrivate(privateOf(decodeMessage(h(v.commit_priv))));
      expect(cv.contentType === 'commit' && hex(encodeCommit(cv.commit))).toBe(v.commit);
      for (const wireformat of ['mls_public_message', 'mls_private_message'] as const) {
        const { framedContent, signature } = await createContentCommitSignature(
          gc,
          wireformat,
          commit,
          { senderType: 'member', leafIndex: 1 },
          new Uint8Array(),
          sigPriv,
          cs.signature,
        );
        const auth = { contentType: 'commit' as const, signature, confirmationTag: randomBytes(32) };
        if (wireformat === 'mls_public_message') {
          const pm = await protectPublicMessage(
            membership,
            gc,
            { wireformat, content: framedContent, auth },
            cs,
          );
          const back = await openPublic({ version: 'mls10', wireformat, publicMessage: pm });
          expect(back.contentType === 'commit' && hex(encodeCommit(back.commit))).toBe(v.commit);
        } else {
          const { privateMessage } = await protect(
            senderData,
            new Uint8Array(),
            gc,
            await tree(),
            { ...framedContent, auth },
            1,
            { kind: 'padUntilLength', padUntilLength: 0 },
            cs,
          );
          const back = await openPrivate(privateMessage);
          expect(back.contentType === 'commit' && hex(encodeCommit(back.commit))).toBe(v.commit);
        }
      }

      // Application data: private only.
      const av = await openPrivate(privateOf(decodeMessage(h(v.application_priv))));
      expect(av.contentType === 'application' && hex(av.applicationData)).toBe(v.application);
      const appAgain = await protectApplicationData(
        sigPriv,
        senderData,
        h(v.application),
        new Uint8Array(),
        gc,
        await tree(),
        1,
        { kind: 'padUntilLength', padUntilLength: 0 },
        cs,
      );
      const av2 = await openPrivate(appAgain.privateMessage);
      expect(av2.contentType === 'application' && hex(av2.applicationData)).toBe(v.application);
      const appContent = {
        groupId: gc.groupId,
        epoch: gc.epoch,
        sender: { senderType: 'member' as const, leafIndex: 1 },
        authenticatedData: new Uint8Array(),
        contentType: 'application' as const,
        applicationData: h(v.application),
      };
      await expect(
        protectPublicMessage(
          membership,
          gc,
          {
            wireformat: 'mls_public_message',
            content: appContent,
            auth: { contentType: 'application', signature: new Uint8Array(64) },
          },
          cs,
        ),
      ).rejects.toThrow();
    }
  });
});

describeVectors('welcome.json', () => {
  test('group secrets and GroupInfo decrypt; signature and confirmation tag verify', async () => {
    const cs = await mlsCiphersuite();
    for (const v of suite1('welcome.json')) {
      const kp = decodeMessage(h(v.key_package));
      const w = decodeMessage(h(v.welcome));
      if (kp.wireformat !== 'mls_key_package' || w.wireformat !== 'mls_welcome')
        throw new Error('unexpected');
      const ref = await makeKeyPackageRef(kp.keyPackage, cs.hash);
      const secrets = await decryptGroupSecrets(
        await cs.hpke.importPrivateKey(h(v.init_priv)),
        ref,
        w.welcome,
        cs.hpke,
      );
      if (secrets === undefined) throw new Error('group secrets do not decode');
      const psk = new Uint8Array(cs.kdf.size);
      const gi = await decryptGroupInfo(w.welcome, secrets.joinerSecret, psk, cs);
      if (gi === undefined) throw new Error('group info does not decode');
      expect(await verifyGroupInfoSignature(gi, h(v.signer_pub), cs.signature)).toBe(true);
      expect(await verifyGroupInfoConfirmationTag(gi, secrets.joinerSecret, psk, cs)).toBe(true);
    }
  });
});

describeVectors('tree-operations.json', () => {
  test('add, update and remove applied to a tree give the expected tree and tree hash', async () => {
    const cs = await mlsCiphersuite();
    for (const v of suite1('tree-operations.json')) {
      const before = decodeRatchetTree(h(v.tree_before), 0)![0];
      expect(hex(await treeHashRoot(before, cs.hash))).toBe(v.tree_hash_before);
      const p = decodeProposal(h(v.proposal), 0)![0];
      let after: typeof before;
      if (p.proposalType === 'add') after = addLeafNode(before, p.add.keyPackage.leafNode)[0];
      else if (p.proposalType === 'update')
        after = updateLeafNode(before, p.update.leafNode, toLeafIndex(v.proposal_sender));
      else if (p.proposalType === 'remove') after = removeLeafNode(before, toLeafIndex(p.remove.removed));
      else throw new Error('unexpected proposal type');
      expect(hex(encodeRatchetTree(after))).toBe(v.tree_after);
      expect(hex(await treeHashRoot(after, cs.hash))).toBe(v.tree_hash_after);
    }
  });
});

describeVectors('tree-validation.suite1.json', () => {
  test('resolutions, per-node tree hashes, parent hashes and leaf signatures', async () => {
    const cs = await mlsCiphersuite();
    for (const v of suite1('tree-validation.suite1.json')) {
      const tree = decodeRatchetTree(h(v.tree), 0)![0];
      for (let i = 0; i < v.resolutions.length; i++)
        expect(resolution(tree, toNodeIndex(i))).toEqual(v.resolutions[i]);
      for (let i = 0; i < v.tree_hashes.length; i++)
        expect(hex(await treeHash(tree, toNodeIndex(i), cs.hash))).toBe(v.tree_hashes[i]);
      expect(await verifyParentHashes(tree, cs.hash)).toBe(true);
      for (let i = 0; i < tree.length; i += 2) {
        const node = tree[i];
        if (node?.nodeType !== 'leaf') continue;
        const ok =
          node.leaf.leafNodeSource === 'key_package'
            ? true
            : await verifyLeafNodeSignature(node.leaf, h(v.group_id), i / 2, cs.signature);
        expect(ok).toBe(true);
      }
    }
  });
});
