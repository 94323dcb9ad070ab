/**
 * C2SP tlog-proof (c2sp.org/tlog-proof@v1): an offline receipt that an entry is in a log, checkable with no
 * network against a policy (the log's origin and key, the witness keys and quorum):
 *
 *     c2sp.org/tlog-proof@v1
 *     [extra <base64 opaque data>]
 *     index <zero-based leaf index, decimal, no leading zeros>
 *     <base64 inclusion-proof hash>          (0..63 lines, RFC 6962 §2.1.1 order: leaf's sibling first)
 *     <empty line>
 *     <the signed checkpoint, verbatim, with the witnesses' cosignatures>
 *
 * The extra data is not authenticated (tlog-proof §Format): nothing here interprets it.
 */
import { fromBase64, toBase64, utf8Decode } from '@overt/core';
import {
  type Checkpoint,
  formatCheckpoint,
  type LogPolicy,
  parseCheckpoint,
  parseDecimal,
  type SignedCheckpoint,
  type VerifiedCheckpoint,
  verifyCheckpoint,
} from './checkpoint.js';
import type { QuorumOptions } from './cosignature.js';
import { LogError } from './errors.js';
import { HASH_SIZE, type HashReader, inclusionProof, leafHash, verifyInclusion } from './merkle.js';

export const TLOG_PROOF_HEADER = 'c2sp.org/tlog-proof@v1';
/** tlog-proof / tlog-witness: at most 63 proof hashes (a tree of up to 2^63 leaves). */
export const MAX_PROOF_HASHES = 63;

/** A parsed, UNVERIFIED receipt. */
export interface Receipt {
  readonly index: number;
  readonly proof: readonly Uint8Array[];
  readonly checkpoint: Checkpoint;
  readonly extra?: Uint8Array;
}

/** A receipt whose checkpoint verified against the policy and whose inclusion proof verified for the entry. */
export interface VerifiedReceipt {
  readonly index: number;
  readonly leafHash: Uint8Array;
  readonly checkpoint: VerifiedCheckpoint;
  readonly extra?: Uint8Array;
}

function malformed(message: string, cause?: unknown): LogError {
  return new LogError('PROOF_MALFORMED', message, { check: 'PROOF-1', cause });
}

/** Parses a receipt's shape; verifies nothing. Throws PROOF_MALFORMED, or the checkpoint's parse errors. */
export function parseReceipt(input: string | Uint8Array): Receipt {
  let s: string;
  if (typeof input === 'string') s = input;
  else if (input instanceof Uint8Array) {
    try {
      s = utf8Decode(input);
    } catch (cause) {
      throw malformed('receipt is not valid UTF-8', cause);
    }
  } else throw malformed('receipt must be a string or bytes');
  const end = s.indexOf('\n\n');
  if (end < 0) throw malformed('receipt has no empty line before its checkpoint');
  const lines = s.slice(0, end).split('\n');
  if (lines[0] !== TLOG_PROOF_HEADER) throw malformed('receipt does not start with c2sp.org/tlog-proof@v1');
  let at = 1;
  let extra: Uint8Array | undefined;
  if (lines[at]?.startsWith('extra ')) {
    try {
      extra = fromBase64(lines[at]!.slice('extra '.length));
    } catch (cause) {
      throw malformed('extra data is not canonical base64', cause);
    }
    if (extra.length === 0) throw malformed('empty extra data must be omitted');
    at++;
  }
  const indexLine = lines[at];
  if (indexLine === undefined || !indexLine.startsWith('index '))
    throw malformed('receipt has no index line');
  const index = parseDecimal(indexLine.slice('index '.length));
  if (index === undefined) throw malformed('index is not a canonical decimal in 0..2^53-1');
  at++;
  const hashLines = lines.slice(at);
  if (hashLines.length > MAX_PROOF_HASHES) throw malformed('inclusion proof has more than 63 hashes');
  const proof = hashLines.map((l) => {
    let h: Uint8Array;
    try {
      h = fromBase64(l);
    } catch (cause) {
      throw malformed('proof hash is not canonical base64', cause);
    }
    if (h.length !== HASH_SIZE) throw malformed('proof hash is not 32 bytes');
    return h;
  });
  const checkpoint = parseCheckpoint(s.slice(end + 2));
  return extra === undefined ? { index, proof, checkpoint } : { index, proof, checkpoint, extra };
}

/** Serialises a receipt. The checkpoint may be given as its signed note. */
export function formatReceipt(r: {
  readonly index: number;
  readonly proof: readonly Uint8Array[];
  readonly checkpoint: Checkpoint | string;
  readonly extra?: Uint8Array;
}): string {
  const cp = typeof r.checkpoint === 'string' ? parseCheckpoint(r.checkpoint) : r.checkpoint;
  if (!Number.isSafeInteger(r.index) || r.index < 0) throw malformed('index must be an integer in 0..2^53-1');
  if (r.proof.length > MAX_PROOF_HASHES || r.proof.some((h) => h.length !== HASH_SIZE)) {
    throw malformed('proof must be at most 63 hashes of 32 bytes');
  }
  const extra = r.extra !== undefined && r.extra.length > 0 ? `extra ${toBase64(r.extra)}\n` : '';
  const hashes = r.proof.map((h) => `${toBase64(h)}\n`).join('');
  return `${TLOG_PROOF_HEADER}\n${extra}index ${r.index}\n${hashes}\n${formatCheckpoint(cp)}`;
}

/**
 * Builds the receipt for the entry at `index` under a checkpoint the log signed, reading the proof's hashes
 * through `reader` (the log's store, or tiles). The checkpoint should carry the witnesses' cosignatures already.
 */
export async function createReceipt(
  index: number,
  checkpoint: SignedCheckpoint | Checkpoint | string,
  reader: HashReader,
  extra?: Uint8Array,
): Promise<string> {
  const cp = typeof checkpoint === 'string' ? parseCheckpoint(checkpoint) : checkpoint;
  const proof = await inclusionProof(index, cp.size, reader);
  return formatReceipt(
    extra === undefined ? { index, proof, checkpoint: cp } : { index, proof, checkpoint: cp, extra },
  );
}

/** The entry a receipt is about: its bytes, or its RFC 6962 leaf hash. */
export type ReceiptSubject = { readonly entry: Uint8Array } | { readonly leafHash: Uint8Array };

/**
 * Verifies a receipt offline: the checkpoint against `policy` (origin, log signature, witness quorum), then the
 * inclusion proof of the entry at the receipt's index against the checkpoint's root (PROOF_INVALID).
 */
export function verifyReceipt(
  receipt: Receipt | string | Uint8Array,
  subject: ReceiptSubject,
  policy: LogPolicy,
  options: QuorumOptions = {},
): VerifiedReceipt {
  const r = typeof receipt === 'string' || receipt instanceof Uint8Array ? parseReceipt(receipt) : receipt;
  const checkpoint = verifyCheckpoint(r.checkpoint, policy, options);
  const leaf = 'entry' in subject ? leafHash(subject.entry) : subject.leafHash;
  try {
    verifyInclusion(r.index, checkpoint.size, leaf, r.proof, checkpoint.rootHash);
  } catch (cause) {
    throw new LogError('PROOF_INVALID', 'the entry is not at this index under this checkpoint', {
      check: 'PROOF-2',
      cause,
    });
  }
  const out = { index: r.index, leafHash: leaf, checkpoint };
  return r.extra === undefined ? out : { ...out, extra: r.extra };
}
