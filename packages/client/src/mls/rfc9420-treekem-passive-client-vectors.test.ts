/**
 * RFC 9420 interop vectors, part 2 (test-vectors.md "TreeKEM" and "Passive Client Scenarios"), ciphersuite 1,
 * against ts-mls 1.6.4 as Overt assembles it (ciphersuite.ts). These exercise UpdatePath creation and
 * decryption, joining from a Welcome and following commits: the operations every Overt commit relies on.
 * Split from rfc9420-interop-vectors.test.ts because HPKE makes them the slow half.
 */
import { x25519 } from '@noble/curves/ed25519.js';
import {
  bytesToBase64,
  type CiphersuiteImpl,
  type ClientState,
  joinGroup,
  makePskIndex,
  processPrivateMessage,
  processPublicMessage,
} from 'ts-mls';
import { applyUpdatePathSecret } from 'ts-mls/createCommit.js';
import { getCommitSecret } from 'ts-mls/pathSecrets.js';
import { toPrivateKeyPath } from 'ts-mls/privateKeyPath.js';
import { decodeRatchetTree } from 'ts-mls/ratchetTree.js';
import { treeHashRoot } from 'ts-mls/treeHash.js';
import { leafToNodeIndex, toLeafIndex, toNodeIndex } from 'ts-mls/treemath.js';
import { applyUpdatePath, createUpdatePath, decodeUpdatePath } from 'ts-mls/updatePath.js';
import { expect, test } from 'vitest';
import {
  decodeMessage,
  describeVectors,
  groupContext,
  h,
  hex,
  type Json,
  privateOf,
  suite1,
} from '../../test/mls-vectors.js';
import { mlsCiphersuite } from './ciphersuite.js';

describeVectors('treekem.suite1.json', () => {
  test('every member decrypts every UpdatePath to the expected path secret and commit secret', async () => {
    const cs = await mlsCiphersuite();
    for (const v of suite1('treekem.suite1.json')) {
      const tree = decodeRatchetTree(h(v.ratchet_tree), 0)![0];
      // Private states; each private key must match the public key in the tree.
      const privates = new Map<number, ClientState['privatePath']>();
      for (const lp of v.leaves_private) {
        const secrets: Record<number, Uint8Array> = {};
        for (const ps of lp.path_secrets) secrets[ps.node] = h(ps.path_secret);
        const path = await toPrivateKeyPath(secrets, lp.index, cs);
        path.privateKeys[leafToNodeIndex(toLeafIndex(lp.index))] = h(lp.encryption_priv);
        for (const [node, priv] of Object.entries(path.privateKeys)) {
          const n = tree[Number(node)];
          const pub =
            n?.nodeType === 'leaf'
              ? n.leaf.hpkePublicKey
              : n?.nodeType === 'parent'
                ? n.parent.hpkePublicKey
                : undefined;
          expect(pub && hex(pub)).toBe(hex(x25519.getPublicKey(priv)));
        }
        privates.set(lp.index, path);
      }
      for (const up of v.update_paths) {
        const path = decodeUpdatePath(h(up.update_path), 0)![0];
        const sender = toLeafIndex(up.sender);
        const after = await applyUpdatePath(tree, sender, path, cs.hash);
        expect(hex(await treeHashRoot(after, cs.hash))).toBe(up.tree_hash_after);
        const gc = groupContext(v, BigInt(v.epoch), await treeHashRoot(after, cs.hash));
        for (const [j, priv] of privates) {
          if (j === up.sender) continue;
          const { nodeIndex, pathSecret } = await applyUpdatePathSecret(
            after,
            priv,
            sender,
            gc,
            path,
            [],
            cs,
          );
          expect(hex(pathSecret)).toBe(up.path_secrets[j]);
          expect(hex(await getCommitSecret(after, nodeIndex, pathSecret, cs.kdf))).toBe(up.commit_secret);
        }
        // A fresh UpdatePath from the same sender is decrypted by everyone to the sender's commit secret.
        // (Once per tree: this half checks ts-mls against itself, the half above against the vectors.)
        if (up !== v.update_paths[0]) continue;
        const signer = v.leaves_private.find((l: Json) => l.index === up.sender);
        const created = await createUpdatePath(
          tree,
          sender,
          groupContext(v, BigInt(v.epoch) - 1n, new Uint8Array()),
          h(signer.signature_priv),
          cs,
        );
        const [newTree, newPath, pathSecrets] = created;
        const last = pathSecrets.at(-1)!;
        const expected = hex(
          await getCommitSecret(newTree, toNodeIndex(last.nodeIndex), last.secret, cs.kdf),
        );
        const applied = await applyUpdatePath(tree, sender, newPath, cs.hash);
        const gc2 = groupContext(v, BigInt(v.epoch), await treeHashRoot(applied, cs.hash));
        for (const [j, priv] of privates) {
          if (j === up.sender) continue;
          const { nodeIndex, pathSecret } = await applyUpdatePathSecret(
            applied,
            priv,
            sender,
            gc2,
            newPath,
            [],
            cs,
          );
          expect(hex(await getCommitSecret(applied, nodeIndex, pathSecret, cs.kdf))).toBe(expected);
        }
      }
    }
  });
});

async function passiveClient(v: Json, cs: CiphersuiteImpl): Promise<void> {
  const kp = decodeMessage(h(v.key_package));
  const w = decodeMessage(h(v.welcome));
  if (kp.wireformat !== 'mls_key_package' || w.wireformat !== 'mls_welcome') throw new Error('unexpected');
  // The private keys match the key package.
  expect(hex(x25519.getPublicKey(h(v.init_priv)))).toBe(hex(kp.keyPackage.initKey));
  expect(hex(x25519.getPublicKey(h(v.encryption_priv)))).toBe(hex(kp.keyPackage.leafNode.hpkePublicKey));
  const external: Record<string, Uint8Array> = {};
  for (const p of v.external_psks) external[bytesToBase64(h(p.psk_id))] = h(p.psk);
  const tree = v.ratchet_tree === null ? undefined : decodeRatchetTree(h(v.ratchet_tree), 0)![0];
  let state = await joinGroup(
    w.welcome,
    kp.keyPackage,
    {
      initPrivateKey: h(v.init_priv),
      hpkePrivateKey: h(v.encryption_priv),
      signaturePrivateKey: h(v.signature_priv),
    },
    makePskIndex(undefined, external),
    cs,
    tree,
  );
  expect(hex(state.keySchedule.epochAuthenticator)).toBe(v.initial_epoch_authenticator);
  for (const epoch of v.epochs) {
    for (const bytes of [...epoch.proposals, epoch.commit]) {
      const m = decodeMessage(h(bytes));
      const psks = makePskIndex(state, external);
      if (m.wireformat === 'mls_public_message')
        state = (await processPublicMessage(state, m.publicMessage, psks, cs)).newState;
      else state = (await processPrivateMessage(state, privateOf(m), psks, cs)).newState;
    }
    expect(hex(state.keySchedule.epochAuthenticator)).toBe(epoch.epoch_authenticator);
  }
}

describeVectors('passive client', () => {
  test('passive-client-welcome.json: joining from each Welcome gives the expected epoch authenticator', async () => {
    const cs = await mlsCiphersuite();
    for (const v of suite1('passive-client-welcome.json')) await passiveClient(v, cs);
  });

  test('passive-client-handling-commit.suite1.json: following each commit gives the expected epoch authenticators', async () => {
    const cs = await mlsCiphersuite();
    for (const v of suite1('passive-client-handling-commit.suite1.json')) await passiveClient(v, cs);
  });
});
