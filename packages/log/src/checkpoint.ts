/**
 * C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint): the signed tree head of a log, as a signed note whose text is
 *
 *     <origin>\n<tree size, decimal, no leading zeros>\n<base64 root hash>\n[<extension line>\n]*
 *
 * API STABLE: the log service, the witness daemon and the CLI build on these signatures.
 *
 * Verification is staged in types so that a step cannot be skipped (openmls style):
 *   {@link Checkpoint}          parsed only; its contents must not be trusted;
 *   {@link SignedCheckpoint}    the log's Ed25519 signature verified for the expected origin;
 *   {@link VerifiedCheckpoint}  additionally cosigned by a quorum of the policy's witnesses.
 * Functions that act on a log's state (monitors, the release rule) take only VerifiedCheckpoint.
 */
import { equalBytes, fromBase64, toBase64 } from '@overt/core';
import {
  checkWitnessQuorum,
  type QuorumOptions,
  type WitnessCosignature,
  type WitnessPolicy,
} from './cosignature.js';
import { LogError } from './errors.js';
import { EMPTY_ROOT, HASH_SIZE, verifyConsistency } from './merkle.js';
import {
  ed25519Signer,
  ed25519Verifier,
  formatNote,
  type Note,
  parseNote,
  SIGNATURE_TYPE_ED25519,
  type SignerKey,
  signNote,
  type VerifierKey,
  verifyNote,
} from './note.js';

/** The three mandatory lines and the optional extension lines of a checkpoint. */
export interface CheckpointBody {
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Uint8Array;
  readonly extensions: readonly string[];
}

/** A parsed, UNVERIFIED checkpoint. `note` is the signed note it came in. */
export interface Checkpoint extends CheckpointBody {
  /** The checkpoint text (the note text), exactly the bytes the signatures cover. */
  readonly text: string;
  readonly note: Note;
}

declare const signedBrand: unique symbol;
declare const verifiedBrand: unique symbol;

/** A checkpoint whose log signature verified under a trusted log key for its origin. */
export interface SignedCheckpoint extends Checkpoint {
  readonly [signedBrand]: true;
  readonly logKey: VerifierKey;
}

/** A checkpoint signed by the log and cosigned by at least the policy's quorum of witnesses. */
export interface VerifiedCheckpoint extends SignedCheckpoint {
  readonly [verifiedBrand]: true;
  readonly cosignatures: readonly WitnessCosignature[];
}

/** What a verifier trusts about one log: its origin line, its key(s), and its witness policy. */
export interface LogPolicy {
  readonly origin: string;
  /** Ed25519 (type 0x01) keys of the log; a checkpoint needs a valid signature from at least one. */
  readonly logKeys: readonly VerifierKey[];
  readonly witnesses: WitnessPolicy;
}

function malformed(message: string, cause?: unknown): LogError {
  return new LogError('CHECKPOINT_MALFORMED', message, { check: 'CKPT-1', cause });
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;

/** Parses a non-negative decimal with no leading zeros into a safe integer, or returns undefined. */
export function parseDecimal(s: string): number | undefined {
  if (!DECIMAL.test(s) || s.length > 16) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

/**
 * tlog-checkpoint §Note text: at least three non-empty lines — origin (non-empty), size (ASCII decimal, no
 * leading zeros, here at most 2^53−1), root (base64 of 32 bytes) — then non-empty extension lines; the text ends
 * with a newline. A size-0 checkpoint must carry the empty tree's root (RFC 6962 §2.1: MTH({}) = SHA-256()).
 */
export function parseCheckpointBody(text: string): CheckpointBody {
  if (typeof text !== 'string' || !text.endsWith('\n'))
    throw malformed('checkpoint text must end with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw malformed('checkpoint needs an origin, a size and a root hash');
  const [origin, sizeLine, rootLine, ...extensions] = lines as [string, string, string, ...string[]];
  if (origin.length === 0) throw malformed('origin line is empty');
  const size = parseDecimal(sizeLine);
  if (size === undefined) throw malformed('tree size is not a canonical decimal in 0..2^53-1');
  let rootHash: Uint8Array;
  try {
    rootHash = fromBase64(rootLine);
  } catch (cause) {
    throw malformed('root hash is not canonical base64', cause);
  }
  if (rootHash.length !== HASH_SIZE) throw malformed('root hash must be 32 bytes');
  if (extensions.some((e) => e.length === 0)) throw malformed('extension lines must be non-empty');
  if (size === 0 && !equalBytes(rootHash, EMPTY_ROOT)) {
    throw new LogError('CHECKPOINT_MALFORMED', 'an empty tree must have the empty root', { check: 'CKPT-2' });
  }
  return { origin, size, rootHash, extensions };
}

/** The checkpoint text for a body. Throws CHECKPOINT_MALFORMED for a body that would not parse back. */
export function formatCheckpointBody(body: CheckpointBody): string {
  const text = `${body.origin}\n${body.size}\n${toBase64(body.rootHash)}\n${body.extensions.map((e) => `${e}\n`).join('')}`;
  if (body.origin.includes('\n') || body.extensions.some((e) => e.includes('\n'))) {
    throw malformed('checkpoint lines must not contain newlines');
  }
  parseCheckpointBody(text);
  return text;
}

/** Parses a signed checkpoint note (shape only: nothing is verified). */
export function parseCheckpoint(signed: string | Uint8Array): Checkpoint {
  const note = parseNote(signed);
  return { ...parseCheckpointBody(note.text), text: note.text, note };
}

/** The signed note of a checkpoint, as received (parse and format are inverse for every valid note). */
export function formatCheckpoint(cp: Checkpoint): string {
  return formatNote(cp.note);
}

/** Signs a checkpoint body with the log's Ed25519 key; returns the signed note. */
export function signCheckpoint(body: CheckpointBody, logKey: SignerKey): string {
  return signNote(formatCheckpointBody(body), [ed25519Signer(logKey)]);
}

function toCheckpoint(cp: Checkpoint | string | Uint8Array): Checkpoint {
  return typeof cp === 'string' || cp instanceof Uint8Array ? parseCheckpoint(cp) : cp;
}

/**
 * Verifies the log's signature: the origin must be the expected one (CHECKPOINT_ORIGIN) and a signature by one of
 * `logKeys` (type 0x01) must verify; signatures of other keys are ignored (signed-note §Signatures), a bad one by
 * a log key rejects the checkpoint (NOTE_BAD_SIGNATURE), none at all is NOTE_UNVERIFIED.
 */
export function verifyCheckpointSignature(
  cp: Checkpoint | string | Uint8Array,
  origin: string,
  logKeys: readonly VerifierKey[],
): SignedCheckpoint {
  const c = toCheckpoint(cp);
  if (c.origin !== origin) {
    throw new LogError('CHECKPOINT_ORIGIN', 'checkpoint is for another log', { check: 'CKPT-3' });
  }
  for (const k of logKeys) {
    if (k.type !== SIGNATURE_TYPE_ED25519) {
      throw new LogError('NOTE_KEY_TYPE', 'log keys must be Ed25519 (type 0x01) keys', { check: 'NOTE-5' });
    }
  }
  const v = verifyNote(c.note, logKeys.map(ed25519Verifier));
  return { ...c, logKey: v.verified[0]!.key } as unknown as SignedCheckpoint;
}

/**
 * Full verification against a {@link LogPolicy}: origin, log signature, then the witness quorum
 * (tlog-cosignature; COSIG_BAD_SIGNATURE for a bad cosignature by a policy witness, COSIG_QUORUM when too few).
 */
export function verifyCheckpoint(
  cp: Checkpoint | string | Uint8Array,
  policy: LogPolicy,
  options: QuorumOptions = {},
): VerifiedCheckpoint {
  const signed = verifyCheckpointSignature(cp, policy.origin, policy.logKeys);
  const cosignatures = checkWitnessQuorum(signed.note, policy.witnesses, options);
  return { ...signed, cosignatures } as unknown as VerifiedCheckpoint;
}

/**
 * Whether the tree (size2, root2) extends the tree (size1, root1), with the special cases a log client needs:
 * from size 0 the proof must be empty (tlog-witness §add-checkpoint) and root1 the empty root; equal sizes need
 * equal roots and an empty proof; otherwise RFC 9162 §2.1.4.2. Throws CHECKPOINT_INCONSISTENT (cause: the merkle
 * error) or MERKLE_RANGE when size1 > size2.
 */
export function checkConsistent(
  size1: number,
  root1: Uint8Array,
  size2: number,
  root2: Uint8Array,
  proof: readonly Uint8Array[],
): void {
  if (size1 > size2)
    throw new LogError('MERKLE_RANGE', 'first tree is larger than the second', { check: 'MERKLE-1' });
  if (size1 === 0) {
    if (proof.length !== 0 || !equalBytes(root1, EMPTY_ROOT)) {
      throw new LogError('CHECKPOINT_INCONSISTENT', 'a proof from the empty tree must be empty', {
        check: 'CKPT-4',
      });
    }
    return;
  }
  try {
    verifyConsistency(size1, size2, proof, root1, root2);
  } catch (cause) {
    if (cause instanceof LogError && cause.code === 'MERKLE_RANGE') throw cause;
    throw new LogError('CHECKPOINT_INCONSISTENT', 'the trees are not consistent', { check: 'CKPT-4', cause });
  }
}

/** {@link checkConsistent} for two checkpoints of the same origin, in either order. */
export function checkCheckpointsConsistent(
  a: CheckpointBody,
  b: CheckpointBody,
  proof: readonly Uint8Array[],
): void {
  if (a.origin !== b.origin) {
    throw new LogError('CHECKPOINT_ORIGIN', 'checkpoints are for different logs', { check: 'CKPT-3' });
  }
  const [older, newer] = a.size <= b.size ? [a, b] : [b, a];
  checkConsistent(older.size, older.rootHash, newer.size, newer.rootHash, proof);
}
