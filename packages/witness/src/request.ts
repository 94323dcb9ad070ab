/**
 * The add-checkpoint request body of C2SP tlog-witness, "add-checkpoint":
 *
 *     old <N>\n
 *     <base64 hash>\n          (zero to 63 consistency proof lines)
 *     \n
 *     <signed checkpoint note>
 *
 * This module only frames the body; the checkpoint note is handed on as bytes to the note parser of
 * @overt/log. Proof lines are never empty, so the first blank line of the body ends the proof; the note itself
 * may contain blank lines and is split at its last one by the note parser.
 */
import { concatBytes, fromBase64, isOvertError, toBase64, utf8Decode, utf8Encode } from '@overt/core';
import { WitnessError } from './errors.js';

/** tlog-witness: "The client MUST NOT send more than 63 consistency proof lines." */
export const MAX_PROOF_LINES = 63;

/** A bound on the whole body: 63 proof lines and a note with many (even post-quantum) signatures fit easily. */
export const MAX_REQUEST_BYTES = 256 * 1024;

const HASH_BYTES = 32;
const NEWLINE = 0x0a;
const OLD_LINE = /^old (0|[1-9][0-9]*)$/;

/** A framed add-checkpoint request; nothing in it is verified yet. */
export interface AddCheckpointRequest {
  /** The size the client believes the witness last cosigned. */
  readonly oldSize: number;
  /** RFC 6962 §2.1.2 consistency proof from `oldSize` to the checkpoint's size. */
  readonly proof: readonly Uint8Array[];
  /** The signed checkpoint note, byte for byte as sent. */
  readonly note: Uint8Array;
}

/**
 * Parses a tree size written as ASCII decimal with no leading zeroes (tlog-witness, tlog-checkpoint).
 * Returns undefined when the text is not such a number or exceeds 2^53 − 1: sizes beyond that cannot be
 * represented exactly here, and no log will reach them.
 */
export function parseSize(text: string): number | undefined {
  if (!/^(0|[1-9][0-9]*)$/.test(text) || text.length > 16) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * Frames an add-checkpoint body.
 * @throws WitnessError WITNESS_TOO_LARGE (WIT-1) over {@link MAX_REQUEST_BYTES};
 *   WITNESS_MALFORMED (WIT-2) for any other framing error.
 */
export function parseAddCheckpointRequest(body: Uint8Array): AddCheckpointRequest {
  if (body.length > MAX_REQUEST_BYTES)
    throw new WitnessError('WITNESS_TOO_LARGE', 'request body too large', { check: 'WIT-1' });
  let split = -1;
  for (let i = 0; i + 1 < body.length; i++) {
    if (body[i] === NEWLINE && body[i + 1] === NEWLINE) {
      split = i;
      break;
    }
  }
  if (split < 0) throw malformed('no blank line before the checkpoint');
  const head = body.subarray(0, split);
  // The head is ASCII by construction (a decimal and base64 lines); anything else is malformed.
  for (const b of head)
    if (b > 0x7e || (b < 0x20 && b !== NEWLINE)) throw malformed('non-ASCII proof section');
  const lines = utf8Decode(head).split('\n');
  const old = OLD_LINE.exec(lines[0] ?? '');
  if (old === null) throw malformed('first line must be "old <size>"');
  const oldSize = parseSize(old[1]!);
  if (oldSize === undefined) throw malformed('old size out of range');
  const proofLines = lines.slice(1);
  if (proofLines.length > MAX_PROOF_LINES) throw malformed('more than 63 consistency proof lines');
  const proof = proofLines.map((line) => {
    let hash: Uint8Array;
    try {
      hash = fromBase64(line);
    } catch (e) {
      if (isOvertError(e)) throw malformed('proof line is not canonical base64', e);
      throw e;
    }
    if (hash.length !== HASH_BYTES) throw malformed('proof line is not a 32-byte hash');
    return hash;
  });
  return { oldSize, proof, note: body.slice(split + 2) };
}

/** Encodes an add-checkpoint body; the inverse of {@link parseAddCheckpointRequest}. */
export function encodeAddCheckpointRequest(
  oldSize: number,
  proof: readonly Uint8Array[],
  note: Uint8Array,
): Uint8Array {
  const head = [`old ${oldSize}`, ...proof.map((h) => toBase64(h))].join('\n');
  return concatBytes(utf8Encode(`${head}\n\n`), note);
}

function malformed(message: string, cause?: unknown): WitnessError {
  return new WitnessError('WITNESS_MALFORMED', message, { check: 'WIT-2', cause });
}
