/**
 * The key-transparency prefix tree (docs/spec/directory.md §7.3–§7.4; draft-ietf-keytrans-protocol §3.3, §11.9,
 * §12.2): a binary trie over 256-bit indices (VRF outputs), each leaf `SHA-256(0x02 ‖ index ‖ commitment)`, each
 * parent `SHA-256(0x03 ‖ left ‖ right)` with 32 zero bytes for an absent child, the empty tree's root all zeros.
 *
 * Two halves:
 * - the **verifier** ({@link decodePrefixProof}, {@link prefixProofRoot}, {@link verifyPrefixInclusion},
 *   {@link verifyPrefixAbsence}): pure functions over bytes, what clients run;
 * - the **builder** ({@link PrefixTree}): the operator's in-memory tree with every published epoch retained
 *   (persistent, copy-on-write per epoch), so it can prove a lookup at any epoch and an owner's history. Nodes live
 *   in typed-array arenas (40 bytes per node plus 64 per leaf), not objects, so 10^6–10^7 labels fit in memory.
 *   No I/O: the map is derived from the log, and an operator rebuilds it by replaying the log at start.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { equalBytes } from '../bytes.js';
import { Reader } from '../codec.js';
import { InternalError, isOvertError, OvertError } from '../errors.js';

/** Bytes of an index (a truncated VRF output) and of a commitment / node value. */
export const MAP_INDEX_LENGTH = 32;
export const MAP_HASH_LENGTH = 32;
/** The deepest a leaf can sit: two indices sharing 255 bits differ at bit 255, so their leaves are at 256. */
export const MAP_MAX_DEPTH = 256;

/** A prefix search's outcome (KT §12.2 `PrefixSearchResultType`). */
export const PREFIX_RESULT = { inclusion: 1, nonInclusionLeaf: 2, nonInclusionParent: 3 } as const;
export type PrefixResult = (typeof PREFIX_RESULT)[keyof typeof PREFIX_RESULT];

const ZERO = new Uint8Array(MAP_HASH_LENGTH);

/** One search's proof (directory.md §7.4). `siblings[k − 1]` is the sibling at depth k, root first. */
export interface PrefixProof {
  readonly result: PrefixResult;
  /** For {@link PREFIX_RESULT.nonInclusionLeaf}: the leaf found on the path, for another index. */
  readonly leaf?: { readonly index: Uint8Array; readonly commitment: Uint8Array };
  readonly depth: number;
  readonly siblings: readonly Uint8Array[];
}

/** Bit `i` of an index, most significant first (directory.md §7.2). */
export function indexBit(index: Uint8Array, i: number): number {
  return (index[i >> 3]! >> (7 - (i & 7))) & 1;
}

/** `SHA-256(0x02 ‖ index ‖ commitment)` (KT §11.9). */
export function prefixLeafHash(index: Uint8Array, commitment: Uint8Array, hash = sha256): Uint8Array {
  const b = new Uint8Array(1 + 64);
  b[0] = 0x02;
  b.set(index, 1);
  b.set(commitment, 33);
  return hash(b);
}

/** `SHA-256(0x03 ‖ left ‖ right)` (KT §11.9). */
export function prefixParentHash(left: Uint8Array, right: Uint8Array, hash = sha256): Uint8Array {
  const b = new Uint8Array(1 + 64);
  b[0] = 0x03;
  b.set(left, 1);
  b.set(right, 33);
  return hash(b);
}

function malformed(message: string, cause?: unknown): OvertError {
  return new OvertError('MAP_PROOF_MALFORMED', message, { check: 'MAP-2', cause });
}

function invalid(message: string): OvertError {
  return new OvertError('MAP_PROOF_INVALID', message, { check: 'MAP-3' });
}

/** Runs a decoder and turns the codec's errors (truncation, range) into MAP_PROOF_MALFORMED. */
export function asMalformed<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (isOvertError(e) && e.code.startsWith('CODEC_')) throw malformed(`${what}: ${e.message}`, e);
    throw e;
  }
}

/** Reads one prefix proof from `r` (directory.md §7.4). Throws MAP_PROOF_MALFORMED (MAP-2). */
export function readPrefixProof(r: Reader): PrefixProof {
  return asMalformed('prefix proof', () => {
    const result = r.u8('prefix proof result');
    if (result !== 1 && result !== 2 && result !== 3) throw malformed('unknown prefix proof result');
    let leaf: PrefixProof['leaf'];
    if (result === PREFIX_RESULT.nonInclusionLeaf) {
      leaf = {
        index: r.bytes(MAP_INDEX_LENGTH, 'leaf index'),
        commitment: r.bytes(MAP_HASH_LENGTH, 'commitment'),
      };
    }
    const depth = r.u16('prefix proof depth');
    if (depth > MAP_MAX_DEPTH || (depth === 0 && result !== PREFIX_RESULT.nonInclusionParent)) {
      throw malformed('prefix proof depth out of range');
    }
    if (r.remaining < depth * MAP_HASH_LENGTH) throw malformed('prefix proof ends inside its siblings');
    const siblings: Uint8Array[] = [];
    for (let k = 0; k < depth; k++) siblings.push(r.bytes(MAP_HASH_LENGTH, 'sibling'));
    return leaf === undefined ? { result, depth, siblings } : { result, leaf, depth, siblings };
  });
}

/** Decodes a whole prefix proof (no trailing byte). Throws MAP_PROOF_MALFORMED (MAP-2). */
export function decodePrefixProof(bytes: Uint8Array): PrefixProof {
  if (!(bytes instanceof Uint8Array)) throw malformed('prefix proof must be bytes');
  const r = new Reader(bytes);
  const p = readPrefixProof(r);
  asMalformed('prefix proof', () => r.finish('prefix proof'));
  return p;
}

/** The encoding of a prefix proof (directory.md §7.4). */
export function encodePrefixProof(p: PrefixProof): Uint8Array {
  const hasLeaf = p.result === PREFIX_RESULT.nonInclusionLeaf;
  if (p.siblings.length !== p.depth) throw new InternalError('prefix proof: depth and siblings disagree');
  const out = new Uint8Array(1 + (hasLeaf ? 64 : 0) + 2 + 32 * p.depth);
  out[0] = p.result;
  let o = 1;
  if (hasLeaf) {
    if (!p.leaf) throw new InternalError('prefix proof: non-inclusion leaf without its leaf');
    out.set(p.leaf.index, o);
    out.set(p.leaf.commitment, o + 32);
    o += 64;
  }
  out[o] = p.depth >> 8;
  out[o + 1] = p.depth & 0xff;
  o += 2;
  for (const s of p.siblings) {
    out.set(s, o);
    o += 32;
  }
  return out;
}

/** Folds a terminal value at `depth` up the path of `index` with `siblings` (root first): the root. */
export function foldPrefixPath(
  index: Uint8Array,
  terminal: Uint8Array,
  depth: number,
  siblings: readonly Uint8Array[],
  hash = sha256,
): Uint8Array {
  let v = terminal;
  for (let k = depth; k >= 1; k--) {
    const s = siblings[k - 1]!;
    v = indexBit(index, k - 1) === 0 ? prefixParentHash(v, s, hash) : prefixParentHash(s, v, hash);
  }
  return v;
}

function checkIndex(index: Uint8Array): void {
  if (!(index instanceof Uint8Array) || index.length !== MAP_INDEX_LENGTH) {
    throw new InternalError('map index must be 32 bytes');
  }
}

/**
 * The root a decoded proof yields for a search of `index` (directory.md §7.4 steps 1–2). `commitment` is the
 * searched leaf's commitment, required for an inclusion proof. Throws MAP_PROOF_INVALID for a non-inclusion leaf
 * that is the searched index or is not on its path (MAP-3).
 */
export function prefixProofRoot(p: PrefixProof, index: Uint8Array, commitment?: Uint8Array): Uint8Array {
  checkIndex(index);
  let terminal: Uint8Array;
  if (p.result === PREFIX_RESULT.inclusion) {
    if (!(commitment instanceof Uint8Array) || commitment.length !== MAP_HASH_LENGTH) {
      throw new InternalError('an inclusion proof is checked with the leaf commitment');
    }
    terminal = prefixLeafHash(index, commitment);
  } else if (p.result === PREFIX_RESULT.nonInclusionLeaf) {
    const leaf = p.leaf!;
    if (equalBytes(leaf.index, index)) throw invalid('non-inclusion leaf is the searched index');
    for (let i = 0; i < p.depth; i++) {
      if (indexBit(leaf.index, i) !== indexBit(index, i)) throw invalid('non-inclusion leaf is off the path');
    }
    terminal = prefixLeafHash(leaf.index, leaf.commitment);
  } else {
    terminal = ZERO;
  }
  return foldPrefixPath(index, terminal, p.depth, p.siblings);
}

/**
 * Checks that `proof` shows the leaf `(index, commitment)` in the tree with root `root` (MAP-2, MAP-3).
 * Throws MAP_PROOF_MALFORMED or MAP_PROOF_INVALID.
 */
export function verifyPrefixInclusion(
  root: Uint8Array,
  index: Uint8Array,
  commitment: Uint8Array,
  proof: Uint8Array | PrefixProof,
): void {
  const p = proof instanceof Uint8Array ? decodePrefixProof(proof) : proof;
  if (p.result !== PREFIX_RESULT.inclusion) throw invalid('not an inclusion proof');
  if (!equalBytes(prefixProofRoot(p, index, commitment), root))
    throw invalid('inclusion proof does not reach the root');
}

/**
 * Checks that `proof` shows that no leaf for `index` is in the tree with root `root` (MAP-2, MAP-3).
 * Throws MAP_PROOF_MALFORMED or MAP_PROOF_INVALID.
 */
export function verifyPrefixAbsence(
  root: Uint8Array,
  index: Uint8Array,
  proof: Uint8Array | PrefixProof,
): void {
  const p = proof instanceof Uint8Array ? decodePrefixProof(proof) : proof;
  if (p.result === PREFIX_RESULT.inclusion) throw invalid('not a non-inclusion proof');
  if (!equalBytes(prefixProofRoot(p, index), root))
    throw invalid('non-inclusion proof does not reach the root');
}

// ---------------------------------------------------------------------------------------------------------------
// The builder.

const PARENT = 0;
const LEAF = 1;
const NONE = -1;

export interface PrefixTreeOptions {
  /**
   * SHA-256 to hash nodes with. Defaults to @noble/hashes' (runs anywhere); an operator may pass a faster one (e.g.
   * node:crypto's) — the bytes are the same.
   */
  readonly sha256?: (data: Uint8Array) => Uint8Array;
}

/**
 * The operator's prefix tree, with every committed epoch retained. Usage per epoch: {@link set} each changed
 * (index, commitment), then {@link commit} to seal the epoch and get its root; {@link prove} proves a search at
 * any committed epoch. Nodes of committed epochs are immutable (a change copies its path into the new epoch), so
 * an old epoch's proofs stay valid. Setting an index twice in one epoch keeps the last commitment.
 */
export class PrefixTree {
  private readonly hash: (data: Uint8Array) => Uint8Array;
  // Node arena (struct of arrays). For a parent, left/right are child node ids (NONE if absent); for a leaf, left is
  // its slot in the leaf arena.
  private kind = new Uint8Array(1024);
  private left = new Int32Array(1024);
  private right = new Int32Array(1024);
  private born = new Int32Array(1024);
  private hashes = new Uint8Array(1024 * 32);
  private nodes = 0;
  // Leaf arena: index ‖ commitment, 64 bytes per slot.
  private leafData = new Uint8Array(1024 * 64);
  private leaves = 0;
  /** Committed epochs' root node ids (NONE for an empty tree). */
  private readonly roots: number[] = [];
  private readonly rootHashes: Uint8Array[] = [];
  /** The root of the epoch being built. */
  private working = NONE;
  private readonly buf = new Uint8Array(65);

  constructor(options: PrefixTreeOptions = {}) {
    this.hash = options.sha256 ?? sha256;
  }

  /** The number of committed epochs; the next {@link commit} seals epoch `epochs`. */
  get epochs(): number {
    return this.roots.length;
  }

  /** Nodes and leaves allocated (all epochs), for measuring memory. */
  get size(): { nodes: number; leaves: number } {
    return { nodes: this.nodes, leaves: this.leaves };
  }

  private grow(): void {
    const cap = this.kind.length * 2;
    const k = new Uint8Array(cap);
    k.set(this.kind);
    this.kind = k;
    const l = new Int32Array(cap);
    l.set(this.left);
    this.left = l;
    const r = new Int32Array(cap);
    r.set(this.right);
    this.right = r;
    const b = new Int32Array(cap);
    b.set(this.born);
    this.born = b;
    const h = new Uint8Array(cap * 32);
    h.set(this.hashes);
    this.hashes = h;
  }

  private newNode(kind: number, left: number, right: number): number {
    if (this.nodes === this.kind.length) this.grow();
    const id = this.nodes++;
    this.kind[id] = kind;
    this.left[id] = left;
    this.right[id] = right;
    this.born[id] = this.roots.length;
    return id;
  }

  private newLeaf(index: Uint8Array, commitment: Uint8Array): number {
    if (this.leaves * 64 === this.leafData.length) {
      const d = new Uint8Array(this.leafData.length * 2);
      d.set(this.leafData);
      this.leafData = d;
    }
    const slot = this.leaves++;
    this.leafData.set(index, slot * 64);
    this.leafData.set(commitment, slot * 64 + 32);
    return this.newNode(LEAF, slot, NONE);
  }

  /** A node of the working epoch standing for `id`: `id` itself if born in it, else a copy. */
  private own(id: number): number {
    if (this.born[id] === this.roots.length) return id;
    return this.newNode(this.kind[id]!, this.left[id]!, this.right[id]!);
  }

  private leafIndex(id: number): Uint8Array {
    const o = this.left[id]! * 64;
    return this.leafData.subarray(o, o + 32);
  }

  private leafCommitment(id: number): Uint8Array {
    const o = this.left[id]! * 64 + 32;
    return this.leafData.subarray(o, o + 32);
  }

  private child(id: number, bit: number): number {
    return bit === 0 ? this.left[id]! : this.right[id]!;
  }

  private setChild(id: number, bit: number, c: number): void {
    if (bit === 0) this.left[id] = c;
    else this.right[id] = c;
  }

  private sameIndex(id: number, index: Uint8Array): boolean {
    const o = this.left[id]! * 64;
    for (let i = 0; i < 32; i++) if (this.leafData[o + i] !== index[i]) return false;
    return true;
  }

  /** Inserts or replaces the leaf of `index` in the epoch being built. */
  set(index: Uint8Array, commitment: Uint8Array): void {
    checkIndex(index);
    if (!(commitment instanceof Uint8Array) || commitment.length !== MAP_HASH_LENGTH) {
      throw new InternalError('map commitment must be 32 bytes');
    }
    if (this.working === NONE) this.working = this.newNode(PARENT, NONE, NONE);
    else this.working = this.own(this.working);
    let node = this.working;
    for (let depth = 0; depth < MAP_MAX_DEPTH; depth++) {
      const bit = indexBit(index, depth);
      const c = this.child(node, bit);
      if (c === NONE) {
        this.setChild(node, bit, this.newLeaf(index, commitment));
        return;
      }
      if (this.kind[c] === PARENT) {
        const mine = this.own(c);
        this.setChild(node, bit, mine);
        node = mine;
        continue;
      }
      if (this.sameIndex(c, index)) {
        this.setChild(node, bit, this.newLeaf(index, commitment));
        return;
      }
      // Another leaf sits here: push both down to the first bit where they differ (KT §3.3).
      const other = this.leafIndex(c);
      let p = this.newNode(PARENT, NONE, NONE);
      this.setChild(node, bit, p);
      for (let d = depth + 1; d < MAP_MAX_DEPTH; d++) {
        const a = indexBit(index, d);
        const b = indexBit(other, d);
        if (a === b) {
          const q = this.newNode(PARENT, NONE, NONE);
          this.setChild(p, a, q);
          p = q;
          continue;
        }
        this.setChild(p, a, this.newLeaf(index, commitment));
        this.setChild(p, b, c);
        return;
      }
      throw new InternalError('two different indices share 256 bits');
    }
    throw new InternalError('prefix tree deeper than 256');
  }

  private nodeHash(id: number): Uint8Array {
    return id === NONE ? ZERO : this.hashes.subarray(id * 32, id * 32 + 32);
  }

  private computeHash(id: number): void {
    const b = this.buf;
    if (this.kind[id] === LEAF) {
      b[0] = 0x02;
      b.set(this.leafData.subarray(this.left[id]! * 64, this.left[id]! * 64 + 64), 1);
    } else {
      b[0] = 0x03;
      b.set(this.nodeHash(this.left[id]!), 1);
      b.set(this.nodeHash(this.right[id]!), 33);
    }
    this.hashes.set(this.hash(b), id * 32);
  }

  /** Hashes the working epoch's new nodes bottom-up (iterative post-order: no recursion limit). */
  private hashWorking(root: number): void {
    const epoch = this.roots.length;
    const stack: number[] = [root];
    const done: number[] = [];
    while (stack.length > 0) {
      const id = stack.pop()!;
      done.push(id);
      if (this.kind[id] === PARENT) {
        const l = this.left[id]!;
        const r = this.right[id]!;
        if (l !== NONE && this.born[l] === epoch) stack.push(l);
        if (r !== NONE && this.born[r] === epoch) stack.push(r);
      }
    }
    // `done` lists every parent before its children; hashing in reverse hashes children first.
    for (let i = done.length - 1; i >= 0; i--) this.computeHash(done[i]!);
  }

  /** Seals the epoch being built and returns its root (32 zero bytes for an empty tree). */
  commit(): Uint8Array {
    let root = this.working;
    if (root !== NONE && this.born[root] === this.roots.length) this.hashWorking(root);
    if (
      root !== NONE &&
      this.kind[root] === PARENT &&
      this.left[root] === NONE &&
      this.right[root] === NONE
    ) {
      root = NONE;
    }
    this.roots.push(root);
    const h = this.nodeHash(root).slice();
    this.rootHashes.push(h);
    return h.slice();
  }

  /** The root of committed epoch `epoch`. */
  root(epoch = this.roots.length - 1): Uint8Array {
    const h = this.rootHashes[epoch];
    if (h === undefined) throw new InternalError(`no committed epoch ${epoch}`);
    return h.slice();
  }

  /** The commitment of `index`'s leaf at `epoch`, or undefined when absent. */
  get(index: Uint8Array, epoch = this.roots.length - 1): Uint8Array | undefined {
    return this.search(index, epoch).commitment?.slice();
  }

  /** The proof of a search for `index` at committed epoch `epoch` (default: the last). */
  proof(index: Uint8Array, epoch = this.roots.length - 1): PrefixProof {
    return this.search(index, epoch).proof;
  }

  private search(index: Uint8Array, epoch: number): { proof: PrefixProof; commitment?: Uint8Array } {
    checkIndex(index);
    const root = this.roots[epoch];
    if (root === undefined) throw new InternalError(`no committed epoch ${epoch}`);
    if (root === NONE) return { proof: { result: PREFIX_RESULT.nonInclusionParent, depth: 0, siblings: [] } };
    const siblings: Uint8Array[] = [];
    let node = root;
    for (let depth = 0; depth < MAP_MAX_DEPTH; depth++) {
      const bit = indexBit(index, depth);
      const c = this.child(node, bit);
      siblings.push(this.nodeHash(this.child(node, 1 - bit)).slice());
      if (c === NONE)
        return { proof: { result: PREFIX_RESULT.nonInclusionParent, depth: depth + 1, siblings } };
      if (this.kind[c] === LEAF) {
        if (this.sameIndex(c, index)) {
          return {
            proof: { result: PREFIX_RESULT.inclusion, depth: depth + 1, siblings },
            commitment: this.leafCommitment(c),
          };
        }
        const leaf = { index: this.leafIndex(c).slice(), commitment: this.leafCommitment(c).slice() };
        return { proof: { result: PREFIX_RESULT.nonInclusionLeaf, leaf, depth: depth + 1, siblings } };
      }
      node = c;
    }
    throw new InternalError('prefix tree deeper than 256');
  }

  /** {@link proof}, encoded. */
  prove(index: Uint8Array, epoch = this.roots.length - 1): Uint8Array {
    return encodePrefixProof(this.proof(index, epoch));
  }
}
