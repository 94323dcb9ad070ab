/**
 * Shared material for the witness's tests: the public 15-entry tessera test log (shared vectors, tessera-log),
 * its published key pair, consistency proofs computed from its leaves, and temporary directories.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { utf8Encode } from '@overt/core';
import {
  consistencyProof,
  type HashReader,
  leafHash,
  type NodeId,
  parseSignerKey,
  parseVerifierKey,
  rootOfLeafHashes,
  type SignerKey,
  signCheckpoint,
} from '@overt/log';
import { sharedVectors } from '../../../test/shared-vectors.js';

/**
 * The tessera log's published checkpoints come from the shared vectors ($OVERT_VECTORS or ../shared/vectors,
 * test/shared-vectors.ts); the suites that submit them run as `describeTessera`, skipped loudly without them.
 */
export const tesseraVectors = sharedVectors('tessera-log', 'checkpoint.15');
export const describeTessera = tesseraVectors.describe;

/** The tessera test log (vectors README): origin, key pair and the 15 entries, appended one at a time. */
export const TESSERA = {
  origin: 'example.com/log/testdata',
  vkey: 'example.com/log/testdata+33d7b496+AeHTu4Q3hEIMHNqc6fASMsq3rKNx280NI+oO5xCFkkSx',
  skey: 'PRIVATE+KEY+example.com/log/testdata+33d7b496+AeymY/SZAX0jZcJ8enZ5FY1Dz+wTML2yWSkK+9DSF3eg',
  entries: 'one two three four five six seven eit nain ten ileven twelf threeten fourten fivten'.split(' '),
};

export const tesseraKey = (): SignerKey => parseSignerKey(TESSERA.skey);
export const tesseraVerifier = () => parseVerifierKey(TESSERA.vkey);
export const tesseraLeaves = (): Uint8Array[] => TESSERA.entries.map((e) => leafHash(utf8Encode(e)));

/** The signed checkpoint the tessera log published at `size` (0..15). */
export function tesseraCheckpoint(size: number): Uint8Array {
  return new Uint8Array(readFileSync(tesseraVectors.path(`checkpoint.${size}`)));
}

/** A HashReader over an in-memory list of leaf hashes: each node is recomputed from its leaves. */
export function leavesReader(leaves: readonly Uint8Array[]): HashReader {
  return {
    readHashes: (nodes: readonly NodeId[]) =>
      nodes.map((n) => {
        const width = 2 ** n.level;
        return rootOfLeafHashes(leaves.slice(n.index * width, (n.index + 1) * width));
      }),
  };
}

/** The RFC 6962 consistency proof from size1 to size2 over `leaves`. */
export function proofFor(leaves: readonly Uint8Array[], size1: number, size2: number): Promise<Uint8Array[]> {
  return consistencyProof(size1, size2, leavesReader(leaves));
}

/** A checkpoint of the first `size` leaves of `leaves`, signed by `key` for `origin`. */
export function signTree(
  key: SignerKey,
  origin: string,
  leaves: readonly Uint8Array[],
  size: number,
): Uint8Array {
  return utf8Encode(
    signCheckpoint({ origin, size, rootHash: rootOfLeafHashes(leaves.slice(0, size)), extensions: [] }, key),
  );
}

/** Temporary directories, removed by `cleanup`. */
export function tempDirs(): { make(): string; cleanup(): void } {
  const dirs: string[] = [];
  return {
    make: () => {
      const d = mkdtempSync(join(tmpdir(), 'overt-witness-'));
      dirs.push(d);
      return d;
    },
    cleanup: () => {
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    },
  };
}
