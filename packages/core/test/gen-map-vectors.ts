/**
 * Generates packages/core/test/vectors/map.json (docs/spec/directory.md §7.9): a map operator with a VRF key and a
 * commitment secret from fixed seeds; three users' VRF proofs and indices; a prefix tree over them with inclusion,
 * leaf non-inclusion and empty-child non-inclusion proofs; two map epochs (alice gains a device in epoch 1) with
 * their map root entries, lookup proofs and the owner's monitoring proof between them. ECVRF proving and every
 * hash are deterministic, so the file is reproduced byte for byte.
 *
 *   npx tsx packages/core/test/gen-map-vectors.ts          # rewrites the file
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { toHex } from '../src/bytes.js';
import { MapBuilder, type MapValue, mapLabel } from '../src/map/map.js';
import { PrefixTree } from '../src/map/prefix-tree.js';
import { vrfProve, vrfPublicKey, vrfVerify } from '../src/vrf/ecvrf.js';

export const MAP_VECTORS_PATH = fileURLToPath(new URL('./vectors/map.json', import.meta.url));

const seed = (b: number): Uint8Array => new Uint8Array(32).fill(b);
const VRF_SK = seed(0x5e);
const COMMIT_SECRET = seed(0xc0);
const USERS = ['alice@example.org', 'bob@example.org', 'carol@example.org'];

const device = (deviceId: string, n: number, addedIndex: number) => ({
  deviceId,
  identityKey: seed(n),
  addedIndex,
});

export function buildMapVectors() {
  const vrf = USERS.map((userId) => {
    const alpha = mapLabel(userId);
    const pi = vrfProve(VRF_SK, alpha);
    const beta = vrfVerify(vrfPublicKey(VRF_SK), alpha, pi);
    return {
      userId,
      alpha: toHex(alpha),
      proof: toHex(pi),
      beta: toHex(beta),
      index: toHex(beta.subarray(0, 32)),
    };
  });

  // A bare prefix tree over fixed indices: three leaves whose first bits are 000…, 001…, 1…, so that a search for
  // 0001… ends at a leaf for another index and one for 01… at an absent child.
  const idx = (first: number) => {
    const i = new Uint8Array(32).fill(0x5a);
    i[0] = first;
    return i;
  };
  const leaves = [idx(0x00), idx(0x20), idx(0x80)];
  const tree = new PrefixTree();
  for (const [n, i] of leaves.entries()) tree.set(i, seed(n + 1));
  const root = tree.commit();
  const prefixTree = {
    leaves: leaves.map((i, n) => ({ index: toHex(i), commitment: toHex(seed(n + 1)) })),
    root: toHex(root),
    inclusion: { index: toHex(leaves[1]!), proof: toHex(tree.prove(leaves[1]!)) },
    nonInclusionLeaf: { index: toHex(idx(0x10)), proof: toHex(tree.prove(idx(0x10))) },
    nonInclusionParent: { index: toHex(idx(0x40)), proof: toHex(tree.prove(idx(0x40))) },
  };

  const b = new MapBuilder({ orgId: 'example.org', vrfSecretKey: VRF_SK, commitSecret: COMMIT_SECRET });
  const alice0: MapValue = { statementIndex: 3, devices: [device('alice-phone', 0xa1, 3)] };
  const bob0: MapValue = { statementIndex: 4, devices: [device('bob-laptop', 0xb1, 4)] };
  const alice1: MapValue = {
    statementIndex: 9,
    devices: [device('alice-phone', 0xa1, 3), device('alice-tablet', 0xa2, 9)],
  };
  b.publish(
    [
      { userId: USERS[0]!, value: alice0 },
      { userId: USERS[1]!, value: bob0 },
    ],
    1_767_225_600_000,
    5,
  );
  b.publish([{ userId: USERS[0]!, value: alice1 }], 1_767_226_200_000, 10);
  return {
    description:
      'Key-transparency map vectors (docs/spec/directory.md §7). VRF: ECVRF-EDWARDS25519-SHA512-TAI, index = beta[0:32].',
    vrfSecretKey: toHex(VRF_SK),
    vrfPublicKey: toHex(vrfPublicKey(VRF_SK)),
    commitSecret: toHex(COMMIT_SECRET),
    vrf,
    prefixTree,
    epochs: [0, 1].map((e) => ({
      entry: toHex(b.entry(e)),
      root: toHex(b.tree.root(e)),
      lookups: {
        alice: toHex(b.lookup(USERS[0]!, e)),
        bob: toHex(b.lookup(USERS[1]!, e)),
        carol: toHex(b.lookup(USERS[2]!, e)),
      },
    })),
    monitorAlice0to1: toHex(b.monitor(USERS[0]!, 0, 1)),
  };
}

export function renderMapVectors(): string {
  return `${JSON.stringify(buildMapVectors(), null, 2)}\n`;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(MAP_VECTORS_PATH, renderMapVectors());
  console.log(`wrote ${MAP_VECTORS_PATH}`);
}
