// The prefix tree (directory.md §7.3–§7.4): the builder's roots agree with an independent from-scratch computation
// over random sets across epochs; every member's inclusion and non-members' absence verify at every retained epoch;
// leaves as deep as 256; and the proof decoder refuses truncated, padded, mis-depthed and mutated proofs with
// MAP_PROOF_MALFORMED / MAP_PROOF_INVALID only (MAP-2, MAP-3).
import { sha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toHex } from '../bytes.js';
import { OvertError } from '../errors.js';
import {
  decodePrefixProof,
  encodePrefixProof,
  indexBit,
  MAP_MAX_DEPTH,
  PREFIX_RESULT,
  PrefixTree,
  prefixLeafHash,
  prefixParentHash,
  verifyPrefixAbsence,
  verifyPrefixInclusion,
} from './prefix-tree.js';

const Z = new Uint8Array(32);

function code(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    if (!(e instanceof OvertError)) throw e;
    return e.code;
  }
}

/** Independent reference: the root of a set, computed from scratch by splitting on bits (KT §3.3, §11.9). */
function referenceRoot(entries: Map<string, Uint8Array>, indexOf: Map<string, Uint8Array>): Uint8Array {
  const all = [...entries.keys()].map((k) => indexOf.get(k)!);
  if (all.length === 0) return Z;
  const sub = (set: Uint8Array[], d: number): Uint8Array => {
    if (set.length === 0) return Z;
    if (set.length === 1 && d >= 1) return prefixLeafHash(set[0]!, entries.get(toHex(set[0]!))!);
    return prefixParentHash(
      sub(
        set.filter((i) => indexBit(i, d) === 0),
        d + 1,
      ),
      sub(
        set.filter((i) => indexBit(i, d) === 1),
        d + 1,
      ),
    );
  };
  return sub(all, 0);
}

function idx(n: number): Uint8Array {
  return sha256(new Uint8Array([n >> 24, n >> 16, n >> 8, n]));
}

describe('prefix tree builder', () => {
  it('an empty tree has the zero root and proves every absence', () => {
    const t = new PrefixTree();
    expect(t.commit()).toEqual(Z);
    const p = t.prove(idx(1));
    expect(toHex(p)).toBe('030000');
    verifyPrefixAbsence(Z, idx(1), p);
  });

  it('agrees with the from-scratch root over random epochs; all epochs stay provable', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.array(fc.tuple(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 3 })), {
            maxLength: 12,
          }),
          {
            minLength: 1,
            maxLength: 5,
          },
        ),
        (epochs) => {
          const t = new PrefixTree();
          const state = new Map<string, Uint8Array>();
          const indexOf = new Map<string, Uint8Array>();
          const snapshots: Map<string, Uint8Array>[] = [];
          for (const changes of epochs) {
            for (const [k, v] of changes) {
              const i = idx(k);
              const c = sha256(new Uint8Array([k, v]));
              t.set(i, c);
              state.set(toHex(i), c);
              indexOf.set(toHex(i), i);
            }
            const root = t.commit();
            expect(toHex(root)).toBe(toHex(referenceRoot(state, indexOf)));
            snapshots.push(new Map(state));
          }
          snapshots.forEach((snap, e) => {
            const root = t.root(e);
            for (let k = 0; k <= 60; k += 7) {
              const i = idx(k);
              const c = snap.get(toHex(i));
              const p = t.prove(i, e);
              if (c !== undefined) {
                verifyPrefixInclusion(root, i, c, p);
                expect(t.get(i, e)).toEqual(c);
                expect(code(() => verifyPrefixInclusion(root, i, sha256(c), p))).toBe('MAP_PROOF_INVALID');
                expect(code(() => verifyPrefixAbsence(root, i, p))).toBe('MAP_PROOF_INVALID');
              } else {
                verifyPrefixAbsence(root, i, p);
                expect(t.get(i, e)).toBeUndefined();
                expect(code(() => verifyPrefixInclusion(root, i, Z, p))).toBe('MAP_PROOF_INVALID');
              }
            }
          });
        },
      ),
      { numRuns: 40 },
    );
  });

  it('places two indices that share 255 bits at depth 256, and proves both', () => {
    const a = new Uint8Array(32).fill(0xa5);
    const b = a.slice();
    b[31]! ^= 1;
    const c = new Uint8Array(32).fill(0x11);
    const t = new PrefixTree();
    t.set(a, sha256(a));
    t.set(b, sha256(b));
    t.set(c, sha256(c));
    const root = t.commit();
    const p = t.proof(a);
    expect(p.depth).toBe(MAP_MAX_DEPTH);
    verifyPrefixInclusion(root, a, sha256(a), encodePrefixProof(p));
    verifyPrefixInclusion(root, b, sha256(b), t.prove(b));
    // Diverging from a and b at bit 254: the search ends at the absent child at depth 255.
    const e = a.slice();
    e[31]! ^= 2;
    const pe = t.proof(e);
    expect([pe.result, pe.depth]).toEqual([PREFIX_RESULT.nonInclusionParent, 255]);
    verifyPrefixAbsence(root, e, encodePrefixProof(pe));
    // Sharing c's path: the search ends at c's leaf, for another index.
    const d = c.slice();
    d[31]! ^= 1;
    const pd = t.proof(d);
    expect(pd.result).toBe(PREFIX_RESULT.nonInclusionLeaf);
    verifyPrefixAbsence(root, d, t.prove(d));
    // That leaf shown for an index off its path is refused, and it is no absence of itself.
    expect(code(() => verifyPrefixAbsence(root, a, encodePrefixProof(pd)))).toBe('MAP_PROOF_INVALID');
    expect(code(() => verifyPrefixAbsence(root, c, encodePrefixProof(pd)))).toBe('MAP_PROOF_INVALID');
  });

  it('lays out result ‖ [leaf] ‖ u16 depth ‖ siblings, root first', () => {
    const t = new PrefixTree();
    const i0 = new Uint8Array(32); // bits 000…
    const i1 = new Uint8Array(32).fill(0xff); // bits 111…
    t.set(i0, Z);
    t.set(i1, Z);
    const root = t.commit();
    const l0 = prefixLeafHash(i0, Z);
    const l1 = prefixLeafHash(i1, Z);
    expect(root).toEqual(prefixParentHash(l0, l1));
    expect(toHex(t.prove(i0))).toBe(`010001${toHex(l1)}`);
    const other = new Uint8Array(32);
    other[0] = 0x40; // 010…: shares bit 0 with i0, so the search ends at i0's leaf at depth 1
    expect(toHex(t.prove(other))).toBe(`02${toHex(i0)}${toHex(Z)}0001${toHex(l1)}`);
  });
});

describe('prefix proof decoder (MAP-2)', () => {
  const t = new PrefixTree();
  for (let k = 0; k < 200; k++) t.set(idx(k), sha256(idx(k)));
  const root = t.commit();
  const member = idx(5);
  const inc = t.prove(member);
  const absentLeaf = (() => {
    for (let k = 1000; ; k++) if (t.proof(idx(k)).result === PREFIX_RESULT.nonInclusionLeaf) return idx(k);
  })();
  const absentParent = (() => {
    for (let k = 1000; ; k++) if (t.proof(idx(k)).result === PREFIX_RESULT.nonInclusionParent) return idx(k);
  })();
  const cases: [Uint8Array, Uint8Array, Uint8Array | undefined][] = [
    [inc, member, sha256(member)],
    [t.prove(absentLeaf), absentLeaf, undefined],
    [t.prove(absentParent), absentParent, undefined],
  ];
  const check = (proof: Uint8Array, index: Uint8Array, c: Uint8Array | undefined) =>
    c ? verifyPrefixInclusion(root, index, c, proof) : verifyPrefixAbsence(root, index, proof);

  it('the three kinds of proof verify', () => {
    for (const [p, i, c] of cases) check(p, i, c);
  });

  it('truncated at every length and with any trailing byte: MAP_PROOF_MALFORMED', () => {
    for (const [p, i, c] of cases) {
      for (let n = 0; n < p.length; n++)
        expect(code(() => check(p.subarray(0, n), i, c))).toBe('MAP_PROOF_MALFORMED');
      const longer = new Uint8Array(p.length + 1);
      longer.set(p);
      expect(code(() => check(longer, i, c))).toBe('MAP_PROOF_MALFORMED');
    }
  });

  it('bad result codes and depths: MAP_PROOF_MALFORMED', () => {
    for (const r of [0, 4, 255])
      expect(code(() => decodePrefixProof(new Uint8Array([r, 0, 0])))).toBe('MAP_PROOF_MALFORMED');
    // depth 0 is only an empty tree's absence; depth 257 never.
    expect(code(() => decodePrefixProof(new Uint8Array([1, 0, 0])))).toBe('MAP_PROOF_MALFORMED');
    const deep = new Uint8Array(3 + 257 * 32);
    deep[0] = 3;
    deep[1] = 0x01;
    deep[2] = 0x01;
    expect(code(() => decodePrefixProof(deep))).toBe('MAP_PROOF_MALFORMED');
    // A depth that claims more siblings than are present, or fewer.
    const p = inc.slice();
    p[2]! += 1;
    expect(code(() => decodePrefixProof(p))).toBe('MAP_PROOF_MALFORMED');
    p[2]! -= 2;
    expect(code(() => decodePrefixProof(p))).toBe('MAP_PROOF_MALFORMED');
  });

  it('fuzz: any mutated byte of a valid proof is refused; random bytes give only MAP_PROOF_* errors', () => {
    for (const [p, i, c] of cases) {
      for (let k = 0; k < p.length; k++) {
        const bad = p.slice();
        bad[k]! ^= 1 << (k & 7);
        expect(['MAP_PROOF_MALFORMED', 'MAP_PROOF_INVALID']).toContain(code(() => check(bad, i, c)));
      }
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        const got = code(() => check(bytes, member, sha256(member)));
        expect(['MAP_PROOF_MALFORMED', 'MAP_PROOF_INVALID']).toContain(got);
        const got2 = code(() => verifyPrefixAbsence(root, absentParent, bytes));
        expect(['MAP_PROOF_MALFORMED', 'MAP_PROOF_INVALID']).toContain(got2);
      }),
      { numRuns: 300 },
    );
  });
});
