// Committed vectors for the key-transparency map (vectors/map.json, docs/spec/directory.md §7.9): the generator
// reproduces the file byte for byte, and everything verifies from the file's bytes alone — the VRF proofs and
// indices (MAP-1), the bare prefix tree's three kinds of proof (MAP-3), both epochs' entries and lookups (MAP-4,
// MAP-5, MAP-6), and the owner's monitoring proof, which rebuilds epoch 1's entry exactly (MAP-7, MAP-8).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../src/bytes.js';
import {
  decodeMapRootEntry,
  encodeMapRootEntry,
  mapLabel,
  monitorStateFromLookup,
  verifyLookup,
  verifyMonitorProof,
} from '../src/map/map.js';
import { verifyPrefixAbsence, verifyPrefixInclusion } from '../src/map/prefix-tree.js';
import { vrfVerify } from '../src/vrf/ecvrf.js';
import { MAP_VECTORS_PATH, renderMapVectors } from './gen-map-vectors.js';

const file = readFileSync(MAP_VECTORS_PATH, 'utf8');
const V = JSON.parse(file);

describe('map vectors', () => {
  it('the generator reproduces vectors/map.json byte for byte', () => {
    expect(renderMapVectors()).toBe(file);
  });

  it('VRF proofs give the committed outputs and indices', () => {
    for (const v of V.vrf) {
      expect(toHex(mapLabel(v.userId))).toBe(v.alpha);
      const beta = vrfVerify(fromHex(V.vrfPublicKey), fromHex(v.alpha), fromHex(v.proof));
      expect(toHex(beta)).toBe(v.beta);
      expect(toHex(beta.subarray(0, 32))).toBe(v.index);
    }
  });

  it("the bare prefix tree's inclusion, leaf and empty-child proofs verify against its root", () => {
    const t = V.prefixTree;
    const root = fromHex(t.root);
    verifyPrefixInclusion(
      root,
      fromHex(t.inclusion.index),
      fromHex(t.leaves[1].commitment),
      fromHex(t.inclusion.proof),
    );
    verifyPrefixAbsence(root, fromHex(t.nonInclusionLeaf.index), fromHex(t.nonInclusionLeaf.proof));
    verifyPrefixAbsence(root, fromHex(t.nonInclusionParent.index), fromHex(t.nonInclusionParent.proof));
    expect(t.nonInclusionLeaf.proof.slice(0, 2)).toBe('02');
    expect(t.nonInclusionParent.proof.slice(0, 2)).toBe('03');
  });

  it('both epochs: entries decode and chain, lookups verify, monitoring rebuilds epoch 1', () => {
    const [e0, e1] = V.epochs.map((e: { entry: string }) => decodeMapRootEntry(fromHex(e.entry)));
    expect(toHex(e1.prevEntryHash)).not.toBe(toHex(new Uint8Array(32)));
    const users = { alice: 'alice@example.org', bob: 'bob@example.org', carol: 'carol@example.org' };
    V.epochs.forEach((ep: { lookups: Record<string, string>; root: string }, n: number) => {
      const entry = n === 0 ? e0 : e1;
      expect(toHex(entry.prefixRoot)).toBe(ep.root);
      const alice = verifyLookup(entry, users.alice, fromHex(ep.lookups.alice!));
      expect(alice.present && alice.value.devices.length).toBe(n === 0 ? 1 : 2);
      expect(verifyLookup(entry, users.bob, fromHex(ep.lookups.bob!)).present).toBe(true);
      expect(verifyLookup(entry, users.carol, fromHex(ep.lookups.carol!)).present).toBe(false);
    });
    const start = monitorStateFromLookup(
      fromHex(V.epochs[0].entry),
      users.alice,
      verifyLookup(e0, users.alice, fromHex(V.epochs[0].lookups.alice)),
    );
    const { state, changes } = verifyMonitorProof(start, fromHex(V.monitorAlice0to1));
    expect(toHex(encodeMapRootEntry(state.entry))).toBe(V.epochs[1].entry);
    expect(changes.map((c) => c.value.devices.map((d) => d.deviceId))).toEqual([
      ['alice-phone', 'alice-tablet'],
    ]);
  });
});
