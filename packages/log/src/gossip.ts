/**
 * Checkpoint gossip and split-view evidence (Overt guarantee A7: the log shows different histories to different
 * parties). Clients and monitors exchange the checkpoints they hold; two checkpoints of one origin, both validly
 * signed by the log, that are inconsistent are a split view. Pure: no I/O; a peer's monitor does the fetching.
 *
 * Evidence is self-verifying with no network:
 *   - same size, different roots: the two signed checkpoints alone;
 *   - different sizes: the two signed checkpoints plus the larger tree's root at the smaller size and a
 *     consistency proof (RFC 9162 §2.1.4.2) that authenticates that root against the larger checkpoint; the
 *     evidence holds when that authenticated root differs from the smaller checkpoint's root.
 * A monitor that cannot obtain any valid consistency proof between two signed checkpoints reports them as
 * "unproven" evidence: anyone may ask the log for the proof, and a log that cannot produce one is caught.
 */
import { equalBytes, fromBase64, toBase64 } from '@overt/core';
import {
  formatCheckpoint,
  parseCheckpoint,
  type SignedCheckpoint,
  verifyCheckpointSignature,
} from './checkpoint.js';
import { LogError } from './errors.js';
import { HASH_SIZE, verifyConsistency } from './merkle.js';
import type { VerifierKey } from './note.js';

/** Two signed checkpoints of one log that cannot both be honest. */
export interface SplitViewEvidence {
  /** The checkpoint with the smaller (or equal) tree size, as its signed note. */
  readonly smaller: string;
  /** The other checkpoint, as its signed note. */
  readonly larger: string;
  /** For different sizes: the larger tree's root at the smaller size, and the proof authenticating it. */
  readonly proof?: { readonly root: Uint8Array; readonly hashes: readonly Uint8Array[] };
}

/** What verified evidence shows. */
export type SplitViewKind = 'conflicting_roots' | 'proven_inconsistent' | 'unproven';

function invalid(message: string, cause?: unknown): LogError {
  return new LogError('EVIDENCE_INVALID', message, { check: 'MON-5', cause });
}

/**
 * Checks split-view evidence against the log's origin and keys. Returns what it shows; throws EVIDENCE_INVALID
 * when a checkpoint is not signed by the log, the sizes are out of order, or the evidence does not show an
 * inconsistency (equal roots, or a proof that shows consistency or does not verify).
 */
export function verifySplitViewEvidence(
  evidence: SplitViewEvidence,
  origin: string,
  logKeys: readonly VerifierKey[],
): SplitViewKind {
  let small: SignedCheckpoint;
  let large: SignedCheckpoint;
  try {
    small = verifyCheckpointSignature(evidence.smaller, origin, logKeys);
    large = verifyCheckpointSignature(evidence.larger, origin, logKeys);
  } catch (cause) {
    throw invalid('a checkpoint in the evidence is not signed by this log', cause);
  }
  if (small.size > large.size) throw invalid('checkpoints are out of order');
  if (small.size === large.size) {
    if (evidence.proof !== undefined) throw invalid('equal sizes take no proof');
    if (equalBytes(small.rootHash, large.rootHash)) throw invalid('the checkpoints agree');
    return 'conflicting_roots';
  }
  if (evidence.proof === undefined) return 'unproven';
  if (small.size === 0) throw invalid('every tree is consistent with the empty tree');
  try {
    verifyConsistency(small.size, large.size, evidence.proof.hashes, evidence.proof.root, large.rootHash);
  } catch (cause) {
    throw invalid('the proof does not authenticate the claimed root', cause);
  }
  if (equalBytes(evidence.proof.root, small.rootHash)) throw invalid('the checkpoints are consistent');
  return 'proven_inconsistent';
}

/**
 * Compares two log-signed checkpoints without any network: evidence when they have the same size and different
 * roots, undefined otherwise (different sizes need a consistency proof — a monitor's job).
 */
export function compareCheckpoints(a: SignedCheckpoint, b: SignedCheckpoint): SplitViewEvidence | undefined {
  if (a.origin !== b.origin || a.size !== b.size || equalBytes(a.rootHash, b.rootHash)) return undefined;
  return { smaller: formatCheckpoint(a), larger: formatCheckpoint(b) };
}

const EVIDENCE_FORMAT = 'overt/split-view@v1';

/** JSON form of evidence, for publication and for gossip. */
export function encodeSplitViewEvidence(e: SplitViewEvidence): string {
  return JSON.stringify({
    format: EVIDENCE_FORMAT,
    smaller: e.smaller,
    larger: e.larger,
    ...(e.proof ? { root: toBase64(e.proof.root), proof: e.proof.hashes.map(toBase64) } : {}),
  });
}

/** Parses the JSON form strictly (shape only; use {@link verifySplitViewEvidence} to check it). */
export function decodeSplitViewEvidence(json: string): SplitViewEvidence {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (cause) {
    throw invalid('evidence is not JSON', cause);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw invalid('evidence must be an object');
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o).sort().join(',');
  if (keys !== 'format,larger,smaller' && keys !== 'format,larger,proof,root,smaller') {
    throw invalid('evidence has unexpected fields');
  }
  if (o.format !== EVIDENCE_FORMAT) throw invalid('unknown evidence format');
  if (typeof o.smaller !== 'string' || typeof o.larger !== 'string')
    throw invalid('checkpoints must be strings');
  // Both must at least parse as checkpoints.
  try {
    parseCheckpoint(o.smaller);
    parseCheckpoint(o.larger);
  } catch (cause) {
    throw invalid('a checkpoint in the evidence is malformed', cause);
  }
  if (o.root === undefined) return { smaller: o.smaller, larger: o.larger };
  if (typeof o.root !== 'string' || !Array.isArray(o.proof) || o.proof.length > 128) {
    throw invalid('proof must be a root and a list of hashes');
  }
  const hash = (s: unknown): Uint8Array => {
    if (typeof s !== 'string') throw invalid('hashes must be base64 strings');
    let h: Uint8Array;
    try {
      h = fromBase64(s);
    } catch (cause) {
      throw invalid('hash is not canonical base64', cause);
    }
    if (h.length !== HASH_SIZE) throw invalid('hashes are 32 bytes');
    return h;
  };
  return { smaller: o.smaller, larger: o.larger, proof: { root: hash(o.root), hashes: o.proof.map(hash) } };
}

/** What a gossip participant offers and accepts: in practice a {@link Monitor}. */
export interface GossipPeer {
  /** The signed checkpoints this peer holds (at least its latest verified one). */
  heldCheckpoints(): Promise<string[]>;
  /** Checks a checkpoint received from a peer against everything this peer has seen. */
  observe(signedCheckpoint: string | Uint8Array, source: 'peer'): Promise<GossipOutcome>;
}

/** The part of a monitor's result gossip looks at. */
export type GossipOutcome = { readonly kind: string; readonly evidence?: SplitViewEvidence };

/** One round of gossip: each peer hands its checkpoints to the other. Returns every split view either found. */
export async function exchangeCheckpoints(a: GossipPeer, b: GossipPeer): Promise<SplitViewEvidence[]> {
  const found: SplitViewEvidence[] = [];
  for (const [from, to] of [
    [a, b],
    [b, a],
  ] as const) {
    for (const cp of await from.heldCheckpoints()) {
      const r = await to.observe(cp, 'peer');
      if (r.kind === 'split_view' && r.evidence) found.push(r.evidence);
    }
  }
  return found;
}
