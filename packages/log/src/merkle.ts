/**
 * RFC 6962 / RFC 9162 Merkle trees: leaf and node hashes, tree roots, inclusion and consistency proofs
 * (generation and verification), the subtree proofs of draft-ietf-plants-merkle-tree-certs §4.3–4.4, and a
 * compact range (the "frontier") that a sequencer appends to without rereading the tree.
 *
 * API STABLE: the log service, the witness daemon and the client build on these signatures.
 *
 * Tree sizes and indices are JavaScript numbers limited to 0..2^53−1 (a log of 9·10^15 entries); larger values
 * are rejected with MERKLE_RANGE rather than silently rounded. Bit arithmetic is done with division, never with
 * 32-bit bitwise operators, for the same reason.
 *
 * One verification routine serves every proof kind: the subtree consistency procedure of the MTC draft
 * (§4.4.3), which reduces to RFC 9162 §2.1.4.2 for start = 0 and to RFC 9162 §2.1.3.2 for a one-leaf subtree.
 */

import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes } from '@overt/core';
import { LogError } from './errors.js';

/** SHA-256 output size: every leaf, node and root hash is this long. */
export const HASH_SIZE = 32;

/** MTH({}) = SHA-256() (RFC 6962 §2.1): the root of the empty tree. */
export const EMPTY_ROOT: Uint8Array = sha256(new Uint8Array(0));

const LEAF_PREFIX = new Uint8Array([0x00]);
const NODE_PREFIX = new Uint8Array([0x01]);

/** RFC 6962 §2.1: MTH({d}) = SHA-256(0x00 ‖ d). The 0x00/0x01 prefixes keep leaves and nodes apart. */
export function leafHash(data: Uint8Array): Uint8Array {
  return sha256.create().update(LEAF_PREFIX).update(data).digest();
}

/** RFC 6962 §2.1: the interior node hash SHA-256(0x01 ‖ left ‖ right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256.create().update(NODE_PREFIX).update(left).update(right).digest();
}

/** A complete subtree: the 2^level leaves [index·2^level, (index+1)·2^level). Leaves are level 0. */
export interface NodeId {
  readonly level: number;
  readonly index: number;
}

/** A complete subtree together with its hash, as produced by {@link CompactRange.append}. */
export interface TreeNode extends NodeId {
  readonly hash: Uint8Array;
}

/**
 * Reads stored hashes of complete subtrees. Contract: return exactly one 32-byte hash per requested node, in
 * request order; every requested node is complete in the tree the caller is proving against. A reader may be
 * synchronous (an in-memory or SQLite store) or asynchronous (PostgreSQL, tiles fetched over HTTP).
 * Failures should be thrown as LogError; anything else is wrapped as MERKLE_READER.
 */
export interface HashReader {
  readHashes(nodes: readonly NodeId[]): Promise<readonly Uint8Array[]> | readonly Uint8Array[];
}

// ---- safe-integer bit helpers (no 32-bit bitwise operators) ----

const half = (x: number): number => Math.floor(x / 2);
const isOdd = (x: number): boolean => x % 2 === 1;

/** Throws MERKLE_RANGE unless n is an integer in 0..2^53−1. */
function checkCount(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new LogError('MERKLE_RANGE', `${what} must be an integer in 0..2^53-1`, { check: 'MERKLE-1' });
  }
}

function checkHash(h: Uint8Array, what: string): void {
  if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
    throw new LogError('MERKLE_HASH_SIZE', `${what} must be ${HASH_SIZE} bytes`, { check: 'MERKLE-2' });
  }
}

function checkProofHashes(proof: readonly Uint8Array[]): void {
  if (!Array.isArray(proof)) {
    throw new LogError('MERKLE_PROOF_SIZE', 'proof must be a list of hashes', { check: 'MERKLE-3' });
  }
  for (const h of proof) checkHash(h, 'proof hash');
}

/** The largest power of two strictly below n (n ≥ 2): the split point k of RFC 6962 §2.1. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** The smallest power of two ≥ n (n ≥ 1). */
function bitCeil(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/**
 * draft-ietf-plants-merkle-tree-certs §4.1: [start, end) is a subtree iff start < end and start is a multiple
 * of BIT_CEIL(end − start). Every complete subtree, and every prefix [0, n) with n > 0, is one.
 */
export function isValidSubtree(start: number, end: number): boolean {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || start >= end) return false;
  return start % bitCeil(end - start) === 0;
}

// ---- verification ----

/**
 * The one chaining routine (MTC draft §4.4.3 "Verifying a Subtree Consistency Proof"). Given the subtree
 * [start, end) of a tree of `size` leaves, its hash `node` and a proof, returns (fr, sr): the subtree hash and
 * the tree root the proof implies. The caller compares them with what it trusts. Preconditions (checked by the
 * callers): valid subtree, end ≤ size, all hashes 32 bytes.
 */
function chainSubtreeProof(
  start: number,
  end: number,
  size: number,
  proof: readonly Uint8Array[],
  node: Uint8Array,
): { fr: Uint8Array; sr: Uint8Array } {
  let fn = start;
  let sn = end - 1;
  let tn = size - 1;
  // Steps 3–4: climb the levels that need no proof hash.
  if (sn === tn) {
    while (fn !== sn) {
      fn = half(fn);
      sn = half(sn);
      tn = half(tn);
    }
  } else {
    while (fn !== sn && isOdd(sn)) {
      fn = half(fn);
      sn = half(sn);
      tn = half(tn);
    }
  }
  // Steps 5–6: the seed is the subtree itself when it is a single node of the tree, else the first proof hash.
  let fr: Uint8Array;
  let sr: Uint8Array;
  let i = 0;
  if (fn === sn) {
    fr = node;
    sr = node;
  } else {
    if (proof.length === 0) throw proofSizeError();
    fr = proof[0]!;
    sr = proof[0]!;
    i = 1;
  }
  // Step 7.
  for (; i < proof.length; i++) {
    const c = proof[i]!;
    if (tn === 0) throw proofSizeError();
    if (isOdd(sn) || sn === tn) {
      if (fn < sn) fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while (!isOdd(sn) && sn > 0) {
        fn = half(fn);
        sn = half(sn);
        tn = half(tn);
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
    tn = half(tn);
  }
  // Step 8: the proof must have climbed exactly to the root.
  if (tn !== 0) throw proofSizeError();
  return { fr, sr };
}

function proofSizeError(): LogError {
  return new LogError('MERKLE_PROOF_SIZE', 'proof has the wrong number of hashes for these sizes', {
    check: 'MERKLE-3',
  });
}

function mismatch(what: string, check: string): LogError {
  return new LogError('MERKLE_ROOT_MISMATCH', `${what} does not match the proof`, { check });
}

/**
 * RFC 9162 §2.1.3.2: the root that an inclusion proof implies for the leaf `leaf` at `index` in a tree of
 * `size` leaves. Throws MERKLE_RANGE (index ≥ size, so also for size 0), MERKLE_HASH_SIZE, MERKLE_PROOF_SIZE.
 */
export function rootFromInclusionProof(
  index: number,
  size: number,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
): Uint8Array {
  checkCount(index, 'leaf index');
  checkCount(size, 'tree size');
  if (index >= size) {
    throw new LogError('MERKLE_RANGE', 'leaf index is not below the tree size', { check: 'MERKLE-1' });
  }
  checkHash(leaf, 'leaf hash');
  checkProofHashes(proof);
  return chainSubtreeProof(index, index + 1, size, proof, leaf).sr;
}

/** RFC 9162 §2.1.3.2: verifies that `leaf` is at `index` in the tree (size, root). Throws LogError otherwise. */
export function verifyInclusion(
  index: number,
  size: number,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  const computed = rootFromInclusionProof(index, size, leaf, proof);
  if (!equalBytes(computed, root)) throw mismatch('tree root', 'MERKLE-4');
}

/**
 * RFC 9162 §2.1.4.2: verifies that the tree (size2, root2) extends the tree (size1, root1).
 *
 * Special cases, as in the reference (transparency-dev/merkle): size1 > size2 and size1 = 0 are MERKLE_RANGE
 * (a proof from the empty tree is meaningless — callers that accept "old size 0", like tlog-witness, handle it
 * before calling); size1 = size2 requires an empty proof and byte-equal roots.
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): void {
  checkCount(size1, 'first tree size');
  checkCount(size2, 'second tree size');
  if (size1 > size2) {
    throw new LogError('MERKLE_RANGE', 'first tree is larger than the second', { check: 'MERKLE-1' });
  }
  if (size1 === 0) {
    throw new LogError('MERKLE_RANGE', 'a consistency proof from the empty tree is meaningless', {
      check: 'MERKLE-1',
    });
  }
  checkProofHashes(proof);
  if (size1 === size2) {
    if (proof.length !== 0) throw proofSizeError();
    if (!equalBytes(root1, root2)) throw mismatch('second root', 'MERKLE-5');
    return;
  }
  if (proof.length === 0) throw proofSizeError();
  checkHash(root1, 'first root');
  const { fr, sr } = chainSubtreeProof(0, size1, size2, proof, root1);
  if (!equalBytes(fr, root1)) throw mismatch('first root', 'MERKLE-5');
  if (!equalBytes(sr, root2)) throw mismatch('second root', 'MERKLE-5');
}

/**
 * MTC draft §4.3.3: verifies that `leaf` at `index` is in the subtree [start, end) whose hash is `subtreeRoot`.
 * An inclusion proof within the subtree, i.e. RFC 9162 §2.1.3.2 on index − start in a tree of end − start.
 */
export function verifySubtreeInclusion(
  index: number,
  start: number,
  end: number,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
  subtreeRoot: Uint8Array,
): void {
  if (!isValidSubtree(start, end)) {
    throw new LogError('MERKLE_SUBTREE', 'not a valid subtree', { check: 'MERKLE-6' });
  }
  checkCount(index, 'leaf index');
  if (index < start || index >= end) {
    throw new LogError('MERKLE_RANGE', 'leaf index is outside the subtree', { check: 'MERKLE-1' });
  }
  verifyInclusion(index - start, end - start, leaf, proof, subtreeRoot);
}

/** MTC draft §4.4.3: verifies that the subtree [start, end) with hash `subtreeRoot` is in the tree (size, root). */
export function verifySubtreeConsistency(
  start: number,
  end: number,
  size: number,
  proof: readonly Uint8Array[],
  subtreeRoot: Uint8Array,
  root: Uint8Array,
): void {
  checkCount(start, 'subtree start');
  checkCount(end, 'subtree end');
  checkCount(size, 'tree size');
  if (end > size) throw new LogError('MERKLE_RANGE', 'subtree ends past the tree', { check: 'MERKLE-1' });
  checkProofHashes(proof);
  // As in the reference (transparency-dev/merkle): the empty subtree [i, i) is in every tree, with an empty
  // proof, provided its claimed hash is MTH({}).
  if (start === end) {
    if (proof.length !== 0) throw proofSizeError();
    if (!equalBytes(subtreeRoot, EMPTY_ROOT)) throw mismatch('empty subtree root', 'MERKLE-5');
    return;
  }
  if (!isValidSubtree(start, end)) {
    throw new LogError('MERKLE_SUBTREE', 'not a valid subtree', { check: 'MERKLE-6' });
  }
  // The whole tree: the same byte-equality special case as verifyConsistency with equal sizes.
  if (start === 0 && end === size) {
    if (proof.length !== 0) throw proofSizeError();
    if (!equalBytes(subtreeRoot, root)) throw mismatch('tree root', 'MERKLE-5');
    return;
  }
  checkHash(subtreeRoot, 'subtree root');
  const { fr, sr } = chainSubtreeProof(start, end, size, proof, subtreeRoot);
  if (!equalBytes(fr, subtreeRoot)) throw mismatch('subtree root', 'MERKLE-5');
  if (!equalBytes(sr, root)) throw mismatch('tree root', 'MERKLE-5');
}

// ---- generation ----

/**
 * The complete subtrees whose right fold is MTH(D[lo:hi]) (RFC 6962 §2.1), left to right, largest first.
 * Valid for every range the RFC's recursions produce: lo is aligned to a power of two ≥ hi − lo.
 */
export function rangeNodes(lo: number, hi: number): NodeId[] {
  const out: NodeId[] = [];
  let at = lo;
  while (at < hi) {
    let level = 0;
    let width = 1;
    while (at % (width * 2) === 0 && at + width * 2 <= hi) {
      level++;
      width *= 2;
    }
    out.push({ level, index: at / width });
    at += width;
  }
  return out;
}

/** Folds the hashes of {@link rangeNodes} into the range's Merkle tree hash: H(n1, H(n2, … H(nk−1, nk))). */
export function foldRange(hashes: readonly Uint8Array[]): Uint8Array {
  if (hashes.length === 0) return EMPTY_ROOT;
  let acc = hashes[hashes.length - 1]!;
  for (let i = hashes.length - 2; i >= 0; i--) acc = nodeHash(hashes[i]!, acc);
  return acc;
}

/** RFC 6962 §2.1.1 PATH(m, D[lo:hi]), as the ranges whose hashes form the proof, leaf side first. */
function inclusionRanges(m: number, lo: number, hi: number, out: [number, number][]): void {
  const n = hi - lo;
  if (n <= 1) return;
  const k = splitPoint(n);
  if (m < k) {
    inclusionRanges(m, lo, lo + k, out);
    out.push([lo + k, hi]);
  } else {
    inclusionRanges(m - k, lo + k, hi, out);
    out.push([lo, lo + k]);
  }
}

/** RFC 6962 §2.1.2 SUBPROOF(m, D[lo:hi], b), as ranges. */
function consistencyRanges(m: number, lo: number, hi: number, b: boolean, out: [number, number][]): void {
  const n = hi - lo;
  if (m === n) {
    if (!b) out.push([lo, hi]);
    return;
  }
  const k = splitPoint(n);
  if (m <= k) {
    consistencyRanges(m, lo, lo + k, b, out);
    out.push([lo + k, hi]);
  } else {
    consistencyRanges(m - k, lo + k, hi, false, out);
    out.push([lo, lo + k]);
  }
}

/** The stored nodes an inclusion proof for `index` in a tree of `size` needs: one group per proof hash. */
export function inclusionProofNodes(index: number, size: number): NodeId[][] {
  checkCount(index, 'leaf index');
  checkCount(size, 'tree size');
  if (index >= size) {
    throw new LogError('MERKLE_RANGE', 'leaf index is not below the tree size', { check: 'MERKLE-1' });
  }
  const ranges: [number, number][] = [];
  inclusionRanges(index, 0, size, ranges);
  return ranges.map(([lo, hi]) => rangeNodes(lo, hi));
}

/**
 * The stored nodes a consistency proof from size1 to size2 needs, one group per proof hash. Empty when
 * size1 = 0 or size1 = size2 (tlog-witness §add-checkpoint: the proof from old size 0 is empty).
 */
export function consistencyProofNodes(size1: number, size2: number): NodeId[][] {
  checkCount(size1, 'first tree size');
  checkCount(size2, 'second tree size');
  if (size1 > size2) {
    throw new LogError('MERKLE_RANGE', 'first tree is larger than the second', { check: 'MERKLE-1' });
  }
  if (size1 === 0 || size1 === size2) return [];
  const ranges: [number, number][] = [];
  consistencyRanges(size1, 0, size2, true, ranges);
  return ranges.map(([lo, hi]) => rangeNodes(lo, hi));
}

/** The complete subtrees whose fold is the root of a tree of `size`: one per set bit, largest first. */
export function rootNodes(size: number): NodeId[] {
  checkCount(size, 'tree size');
  return rangeNodes(0, size);
}

async function readGroups(reader: HashReader, groups: readonly NodeId[][]): Promise<Uint8Array[]> {
  const flat = groups.flat();
  let hashes: readonly Uint8Array[];
  try {
    hashes = flat.length === 0 ? [] : await reader.readHashes(flat);
  } catch (cause) {
    if (cause instanceof LogError) throw cause;
    throw new LogError('MERKLE_READER', 'the hash reader failed', { cause });
  }
  if (!Array.isArray(hashes) || hashes.length !== flat.length) {
    throw new LogError('MERKLE_READER', 'the hash reader returned the wrong number of hashes');
  }
  for (const h of hashes) {
    if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
      throw new LogError('MERKLE_READER', 'the hash reader returned a hash of the wrong size');
    }
  }
  const out: Uint8Array[] = [];
  let at = 0;
  for (const g of groups) {
    out.push(foldRange(hashes.slice(at, at + g.length)));
    at += g.length;
  }
  return out;
}

/** RFC 6962 §2.1.1: the inclusion proof for the leaf at `index` in the tree of `size`, read through `reader`. */
export async function inclusionProof(index: number, size: number, reader: HashReader): Promise<Uint8Array[]> {
  return readGroups(reader, inclusionProofNodes(index, size));
}

/** RFC 6962 §2.1.2: the consistency proof from size1 to size2 (empty for size1 ∈ {0, size2}). */
export async function consistencyProof(
  size1: number,
  size2: number,
  reader: HashReader,
): Promise<Uint8Array[]> {
  return readGroups(reader, consistencyProofNodes(size1, size2));
}

/** MTH(D[0:size]) from stored complete subtrees. */
export async function treeRoot(size: number, reader: HashReader): Promise<Uint8Array> {
  const nodes = rootNodes(size);
  if (nodes.length === 0) return EMPTY_ROOT;
  const [root] = await readGroups(reader, [nodes]);
  return root!;
}

// ---- compact range ----

/**
 * The frontier of a tree: the hashes of its maximal complete subtrees (one per set bit of the size, largest
 * first). Appending a leaf hash merges equal-sized neighbours and returns every subtree it completed, so a
 * sequencer can integrate a batch, store the new node hashes and compute the new root without reading any
 * other part of the tree.
 */
export class CompactRange {
  private readonly nodes: TreeNode[];
  private count: number;

  private constructor(size: number, nodes: TreeNode[]) {
    this.count = size;
    this.nodes = nodes;
  }

  static empty(): CompactRange {
    return new CompactRange(0, []);
  }

  /**
   * Restores the frontier of a tree of `size` from the hashes of {@link rootNodes}(size), in that order.
   * Throws MERKLE_RANGE / MERKLE_HASH_SIZE / MERKLE_PROOF_SIZE when they do not fit the size.
   */
  static fromHashes(size: number, hashes: readonly Uint8Array[]): CompactRange {
    const ids = rootNodes(size);
    if (!Array.isArray(hashes) || hashes.length !== ids.length) {
      throw new LogError('MERKLE_PROOF_SIZE', 'frontier has the wrong number of hashes for its size', {
        check: 'MERKLE-3',
      });
    }
    for (const h of hashes) checkHash(h, 'frontier hash');
    return new CompactRange(
      size,
      ids.map((id, i) => ({ level: id.level, index: id.index, hash: hashes[i]!.slice() })),
    );
  }

  get size(): number {
    return this.count;
  }

  /** The frontier's hashes, largest subtree first (what {@link fromHashes} takes back). */
  get hashes(): Uint8Array[] {
    return this.nodes.map((n) => n.hash.slice());
  }

  /** The frontier's complete subtrees with their hashes. */
  get frontier(): TreeNode[] {
    return this.nodes.map((n) => ({ level: n.level, index: n.index, hash: n.hash.slice() }));
  }

  /** Appends one leaf hash; returns the leaf node and every interior node it completed, lowest first. */
  append(leaf: Uint8Array): TreeNode[] {
    checkHash(leaf, 'leaf hash');
    if (this.count >= Number.MAX_SAFE_INTEGER) {
      throw new LogError('MERKLE_RANGE', 'tree is full', { check: 'MERKLE-1' });
    }
    let node: TreeNode = { level: 0, index: this.count, hash: leaf.slice() };
    const created: TreeNode[] = [node];
    this.count++;
    while (this.nodes.length > 0 && this.nodes[this.nodes.length - 1]!.level === node.level) {
      const left = this.nodes.pop()!;
      node = { level: node.level + 1, index: left.index / 2, hash: nodeHash(left.hash, node.hash) };
      created.push(node);
    }
    this.nodes.push(node);
    return created;
  }

  /** Appends leaf hashes in order; returns all nodes created, in creation order. */
  appendAll(leaves: readonly Uint8Array[]): TreeNode[] {
    const out: TreeNode[] = [];
    for (const l of leaves) for (const n of this.append(l)) out.push(n);
    return out;
  }

  /** MTH of the whole tree (RFC 6962 §2.1); EMPTY_ROOT for size 0. */
  root(): Uint8Array {
    return foldRange(this.nodes.map((n) => n.hash));
  }

  clone(): CompactRange {
    return new CompactRange(this.count, this.frontier);
  }
}

/** MTH of a list of leaf hashes. */
export function rootOfLeafHashes(leaves: readonly Uint8Array[]): Uint8Array {
  const r = CompactRange.empty();
  for (const l of leaves) r.append(l);
  return r.root();
}

/** MTH(D[n]) of a list of entries (RFC 6962 §2.1), hashing each with {@link leafHash}. */
export function merkleTreeHash(entries: readonly Uint8Array[]): Uint8Array {
  return rootOfLeafHashes(entries.map(leafHash));
}
