// RFC 6962 / RFC 9162 Merkle trees: the 518 transparency-dev/merkle proof vectors, the RFC 6962 roots for sizes
// 0–8, and property tests over random trees (generated proofs verify, mutated ones fail).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fromBase64, fromHex, toHex } from '@overt/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sharedVectors } from '../../../test/shared-vectors.js';
import { LogError } from './errors.js';
import {
  CompactRange,
  consistencyProof,
  consistencyProofNodes,
  EMPTY_ROOT,
  type HashReader,
  inclusionProof,
  isValidSubtree,
  leafHash,
  merkleTreeHash,
  type NodeId,
  nodeHash,
  rootFromInclusionProof,
  rootNodes,
  treeRoot,
  verifyConsistency,
  verifyInclusion,
  verifySubtreeConsistency,
  verifySubtreeInclusion,
} from './merkle.js';

// The public vectors live in shared/ beside the repository ($OVERT_VECTORS overrides); skipped loudly if absent.
const merkle = sharedVectors('merkle', 'inclusion');
const signedNote = sharedVectors('signed-note', 'vectors.json');

function jsonFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...jsonFiles(p));
    else if (name.endsWith('.json')) out.push(p);
  }
  return out;
}

// biome-ignore lint/suspicious/noExplicitAny: vector files are untyped JSON
type Vector = Record<string, any>;
function load(kind: string): { file: string; v: Vector }[] {
  if (!merkle.present) return [];
  return jsonFiles(merkle.path(kind)).map((file) => ({
    file: file.slice(file.indexOf('merkle/')),
    v: JSON.parse(readFileSync(file, 'utf8')) as Vector,
  }));
}

const b64 = (s: string): Uint8Array => fromBase64(s);
const proofOf = (p: string[] | null): Uint8Array[] => (p ?? []).map(b64);

/** Runs `f` and reports whether it threw; anything but a LogError is a bug and fails the test. */
function fails(f: () => void): boolean {
  try {
    f();
    return false;
  } catch (e) {
    if (!(e instanceof LogError)) throw e;
    return true;
  }
}

const inclusion = load('inclusion');
const consistency = load('consistency');
const subInclusion = load('subtreeinclusion');
const subConsistency = load('subtreeconsistency');

merkle.describe(
  'transparency-dev/merkle proof vectors (RFC 9162 §2.1.3.2, §2.1.4.2; MTC draft §4.3.3, §4.4.3)',
  () => {
    it('has all 518 cases', () => {
      expect([inclusion.length, consistency.length, subInclusion.length, subConsistency.length]).toEqual([
        98, 98, 204, 118,
      ]);
      expect(inclusion.length + consistency.length + subInclusion.length + subConsistency.length).toBe(518);
    });

    it.each(inclusion)('inclusion $file', ({ v }) => {
      const got = fails(() =>
        verifyInclusion(v.leafIdx, v.treeSize, b64(v.leafHash), proofOf(v.proof), b64(v.root)),
      );
      expect(got).toBe(v.wantErr);
    });

    it.each(consistency)('consistency $file', ({ v }) => {
      const got = fails(() =>
        verifyConsistency(v.size1, v.size2, proofOf(v.proof), b64(v.root1), b64(v.root2)),
      );
      expect(got).toBe(v.wantErr);
    });

    it.each(subInclusion)('subtree inclusion $file', ({ v }) => {
      const got = fails(() =>
        verifySubtreeInclusion(v.leafIdx, v.start, v.end, b64(v.leafHash), proofOf(v.proof), b64(v.root)),
      );
      expect(got).toBe(v.wantErr);
    });

    it.each(subConsistency)('subtree consistency $file', ({ v }) => {
      const got = fails(() =>
        verifySubtreeConsistency(v.start, v.end, v.size, proofOf(v.proof), b64(v.root1), b64(v.root2)),
      );
      expect(got).toBe(v.wantErr);
    });
  },
);

signedNote.describe('RFC 6962 §2.1 tree hashes', () => {
  const vectors = signedNote.present
    ? JSON.parse(readFileSync(signedNote.path('vectors.json'), 'utf8')).rfc6962_roots
    : { leaf_inputs_hex: [], roots_hex: [] };
  const leaves = (vectors.leaf_inputs_hex as string[]).map(fromHex);

  it.each((vectors.roots_hex as string[]).map((root, n) => ({ n, root })))(
    'root of the first $n leaves',
    ({ n, root }) => {
      expect(toHex(merkleTreeHash(leaves.slice(0, n)))).toBe(root);
    },
  );

  it('hashes leaves and nodes with the 0x00 / 0x01 prefixes', () => {
    expect(toHex(leafHash(new TextEncoder().encode('L123456')))).toBe(vectors.leaf_hash_of_ascii_L123456);
    const enc = new TextEncoder();
    expect(toHex(nodeHash(enc.encode('N123'), enc.encode('N456')))).toBe(
      vectors.node_hash_of_ascii_N123_N456,
    );
    expect(EMPTY_ROOT).toEqual(merkleTreeHash([]));
  });
});

// ---- property tests over random trees ----

/** An in-memory store of every complete subtree of a tree, built by a compact range. */
function buildTree(n: number): { reader: HashReader; roots: Uint8Array[]; leaves: Uint8Array[] } {
  const nodes = new Map<string, Uint8Array>();
  const leaves: Uint8Array[] = [];
  const roots: Uint8Array[] = [EMPTY_ROOT];
  const range = CompactRange.empty();
  for (let i = 0; i < n; i++) {
    const leaf = leafHash(new Uint8Array([i & 0xff, i >> 8, 7]));
    leaves.push(leaf);
    for (const node of range.append(leaf)) nodes.set(`${node.level}/${node.index}`, node.hash);
    roots.push(range.root());
  }
  const reader: HashReader = {
    readHashes: (ids: readonly NodeId[]) =>
      ids.map((id) => {
        const h = nodes.get(`${id.level}/${id.index}`);
        if (!h) throw new Error(`missing node ${id.level}/${id.index}`);
        return h;
      }),
  };
  return { reader, roots, leaves };
}

function flip(proof: Uint8Array[], i: number, bit: number): Uint8Array[] {
  return proof.map((h, j) => {
    if (j !== i) return h;
    const c = h.slice();
    c[bit >> 3]! ^= 1 << (bit & 7);
    return c;
  });
}

describe('proof generation (RFC 6962 §2.1.1, §2.1.2) against verification', () => {
  it('a compact range agrees with the recursive definition for every size up to 70', () => {
    for (let n = 0; n <= 70; n++) {
      const { roots, leaves } = buildTree(n);
      const recursive = (lo: number, hi: number): Uint8Array => {
        if (hi - lo === 1) return leaves[lo]!;
        let k = 1;
        while (k * 2 < hi - lo) k *= 2;
        return nodeHash(recursive(lo, lo + k), recursive(lo + k, hi));
      };
      expect(roots[n]).toEqual(n === 0 ? EMPTY_ROOT : recursive(0, n));
    }
  });

  it('every generated inclusion proof verifies and every mutated one fails', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 300 }), fc.nat(), fc.nat(), async (n, i0, bit) => {
        const { reader, roots, leaves } = buildTree(n);
        const index = i0 % n;
        const proof = await inclusionProof(index, n, reader);
        verifyInclusion(index, n, leaves[index]!, proof, roots[n]!);
        expect(await treeRoot(n, reader)).toEqual(roots[n]);
        if (proof.length > 0) {
          expect(
            fails(() =>
              verifyInclusion(
                index,
                n,
                leaves[index]!,
                flip(proof, bit % proof.length, bit % 256),
                roots[n]!,
              ),
            ),
          ).toBe(true);
          expect(fails(() => verifyInclusion(index, n, leaves[index]!, proof.slice(1), roots[n]!))).toBe(
            true,
          );
          expect(
            fails(() => verifyInclusion(index, n, leaves[index]!, [...proof, proof[0]!], roots[n]!)),
          ).toBe(true);
        }
        if (n > 1) {
          const other = (index + 1 + (bit % (n - 1))) % n;
          expect(fails(() => verifyInclusion(other, n, leaves[index]!, proof, roots[n]!))).toBe(true);
          expect(fails(() => verifyInclusion(index, n, leaves[other]!, proof, roots[n]!))).toBe(true);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('every generated consistency proof verifies and every mutated one fails', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 300 }), fc.nat(), fc.nat(), async (n, m0, bit) => {
        const { reader, roots } = buildTree(n);
        const m = 1 + (m0 % n);
        const proof = await consistencyProof(m, n, reader);
        verifyConsistency(m, n, proof, roots[m]!, roots[n]!);
        if (proof.length > 0) {
          expect(
            fails(() =>
              verifyConsistency(m, n, flip(proof, bit % proof.length, bit % 256), roots[m]!, roots[n]!),
            ),
          ).toBe(true);
          expect(fails(() => verifyConsistency(m, n, proof.slice(0, -1), roots[m]!, roots[n]!))).toBe(true);
          expect(fails(() => verifyConsistency(m, n, [...proof, proof[0]!], roots[m]!, roots[n]!))).toBe(
            true,
          );
        }
        if (m < n) {
          expect(fails(() => verifyConsistency(m, n, proof, roots[m - 1]!, roots[n]!))).toBe(true);
          expect(fails(() => verifyConsistency(m, n, proof, roots[m]!, roots[n - 1]!))).toBe(true);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('a prefix subtree consistency proof is a consistency proof', async () => {
    const { reader, roots } = buildTree(37);
    for (let m = 1; m <= 37; m++) {
      expect(isValidSubtree(0, m)).toBe(true);
      verifySubtreeConsistency(0, m, 37, await consistencyProof(m, 37, reader), roots[m]!, roots[37]!);
    }
  });

  it('restores a compact range from its frontier and keeps appending', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 50 }), (m, extra) => {
        const { leaves, roots } = buildTree(m + extra);
        const a = CompactRange.empty();
        a.appendAll(leaves.slice(0, m));
        expect(rootNodes(m).length).toBe(a.hashes.length);
        const b = CompactRange.fromHashes(m, a.hashes);
        b.appendAll(leaves.slice(m));
        expect(b.size).toBe(m + extra);
        expect(b.root()).toEqual(roots[m + extra]);
      }),
    );
  });

  it('rejects sizes beyond 2^53-1 and proofs from the empty tree with MERKLE_RANGE', () => {
    expect(() => verifyInclusion(0, 2 ** 53, EMPTY_ROOT, [], EMPTY_ROOT)).toThrow(/MERKLE_RANGE/);
    expect(() => verifyConsistency(0, 5, [], EMPTY_ROOT, EMPTY_ROOT)).toThrow(/MERKLE_RANGE/);
    expect(() => rootFromInclusionProof(-1, 5, EMPTY_ROOT, [])).toThrow(/MERKLE_RANGE/);
    expect(consistencyProofNodes(0, 9)).toEqual([]);
    expect(consistencyProofNodes(9, 9)).toEqual([]);
  });
});
