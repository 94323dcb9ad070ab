/**
 * C2SP tlog-cosignature (c2sp.org/tlog-cosignature), Ed25519 flavour (signature type 0x04), and the witness
 * policy Overt checks checkpoints against: a list of witness keys and a quorum.
 *
 * API STABLE: the log service, the witness daemon and the CLI build on these signatures.
 *
 * A cosignature is a note signature line whose bytes are key ID ‖ u64 big-endian timestamp ‖ Ed25519 signature,
 * the signature being over "cosignature/v1\ntime <timestamp>\n" followed by the checkpoint text (tlog-cosignature
 * §Ed25519 signed message). The key ID is SHA-256(name ‖ 0x0A ‖ 0x04 ‖ public key)[:4].
 */
import { equalBytes, Reader, sign, utf8Decode, utf8Encode, verifySignature, Writer } from '@overt/core';
import { LogError } from './errors.js';
import {
  type Note,
  type NoteSignature,
  type NoteSigner,
  type NoteVerifier,
  parseVerifierKey,
  SIGNATURE_TYPE_COSIGNATURE,
  type SignerKey,
  type VerifierKey,
} from './note.js';

/** tlog-cosignature §Ed25519 signed message: the domain-separating header line. */
export const COSIGNATURE_HEADER = 'cosignature/v1\n';
/** u64 timestamp ‖ 64-byte Ed25519 signature. */
export const COSIGNATURE_VALUE_BYTES = 8 + 64;

function checkTimestamp(timestamp: number): void {
  // The spec allows up to 2^63 − 1; numbers here stop at 2^53 − 1 (year 285,000,000), which no honest clock reaches.
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) {
    throw new LogError('COSIG_TIMESTAMP', 'timestamp must be an integer in 0..2^53-1', { check: 'COSIG-2' });
  }
}

/** The exact bytes an Ed25519 cosignature signs: header, "time <T>\n", then the whole checkpoint text. */
export function cosignedMessage(checkpointText: string, timestamp: number): Uint8Array {
  checkTimestamp(timestamp);
  return utf8Encode(`${COSIGNATURE_HEADER}time ${timestamp}\n${checkpointText}`);
}

export interface CosignatureValue {
  readonly timestamp: number;
  readonly signature: Uint8Array;
}

/** Decodes the `timestamped_signature` after the key ID: exactly 8 + 64 bytes. */
export function decodeCosignatureValue(bytes: Uint8Array): CosignatureValue {
  if (!(bytes instanceof Uint8Array) || bytes.length !== COSIGNATURE_VALUE_BYTES) {
    throw new LogError('COSIG_MALFORMED', 'cosignature must be an 8-byte timestamp and a 64-byte signature', {
      check: 'COSIG-1',
    });
  }
  const r = new Reader(bytes);
  let timestamp: number;
  try {
    timestamp = r.u64('cosignature timestamp');
  } catch (cause) {
    throw new LogError('COSIG_TIMESTAMP', 'cosignature timestamp is out of range', {
      check: 'COSIG-2',
      cause,
    });
  }
  return { timestamp, signature: r.bytes(64) };
}

export function encodeCosignatureValue(v: CosignatureValue): Uint8Array {
  checkTimestamp(v.timestamp);
  return new Writer(COSIGNATURE_VALUE_BYTES).u64(v.timestamp).bytes(v.signature).finish();
}

function checkCosignerKey(key: VerifierKey): void {
  if (key.type !== SIGNATURE_TYPE_COSIGNATURE) {
    throw new LogError('NOTE_KEY_TYPE', 'not a cosignature (type 0x04) key', { check: 'NOTE-5' });
  }
}

/** Cosigns checkpoint text at `timestamp` (POSIX seconds): returns the signature line's content. */
export function cosign(checkpointText: string, key: SignerKey, timestamp: number): NoteSignature {
  checkCosignerKey(key);
  const signature = sign(key.keyPair, cosignedMessage(checkpointText, timestamp));
  return { name: key.name, keyId: key.keyId, signature: encodeCosignatureValue({ timestamp, signature }) };
}

/** A {@link NoteSigner} that cosigns with the time `clock()` returns (POSIX seconds). */
export function cosignatureSigner(key: SignerKey, clock: () => number): NoteSigner {
  checkCosignerKey(key);
  return {
    name: key.name,
    keyId: key.keyId,
    sign: (text) => {
      const timestamp = clock();
      const signature = sign(key.keyPair, cosignedMessage(utf8Decode(text), timestamp));
      return encodeCosignatureValue({ timestamp, signature });
    },
  };
}

/**
 * The timestamp of a valid cosignature by `key` on `checkpointText`. Throws COSIG_MALFORMED, COSIG_TIMESTAMP,
 * or COSIG_BAD_SIGNATURE.
 */
export function verifyCosignature(key: VerifierKey, checkpointText: string, sig: NoteSignature): number {
  checkCosignerKey(key);
  const v = decodeCosignatureValue(sig.signature);
  if (!verifySignature(key.publicKey, cosignedMessage(checkpointText, v.timestamp), v.signature)) {
    throw new LogError('COSIG_BAD_SIGNATURE', 'cosignature does not verify', { check: 'COSIG-3' });
  }
  return v.timestamp;
}

/** A {@link NoteVerifier} for type 0x04, so cosignatures can be checked by the generic note verifier. */
export function cosignatureVerifier(key: VerifierKey): NoteVerifier {
  checkCosignerKey(key);
  return {
    key,
    verify: (text, signature) => {
      try {
        verifyCosignature(key, utf8Decode(text), {
          name: key.name,
          keyId: key.keyId,
          signature,
        });
        return true;
      } catch {
        return false;
      }
    },
  };
}

// ---- witness policy ----

/** Which witnesses a verifier trusts and how many of them must have cosigned a checkpoint. */
export interface WitnessPolicy {
  readonly witnesses: readonly VerifierKey[];
  readonly quorum: number;
}

/**
 * Validates a witness policy: type 0x04 keys, no two with the same (name, key ID) or the same public key (the
 * Ed25519 cosigned message does not commit to the name, so one key under two names would count twice), and
 * 0 ≤ quorum ≤ number of witnesses. Accepts vkey strings or parsed keys.
 */
export function makeWitnessPolicy(
  witnesses: readonly (VerifierKey | string)[],
  quorum: number,
): WitnessPolicy {
  const keys = witnesses.map((w) => (typeof w === 'string' ? parseVerifierKey(w) : w));
  for (const [i, k] of keys.entries()) {
    if (k.type !== SIGNATURE_TYPE_COSIGNATURE) {
      throw new LogError('COSIG_POLICY', 'witness keys must be cosignature (type 0x04) keys', {
        check: 'COSIG-4',
      });
    }
    for (const other of keys.slice(0, i)) {
      const samePub =
        other.publicKey.length === k.publicKey.length &&
        other.publicKey.every((b, j) => b === k.publicKey[j]);
      if ((other.name === k.name && other.keyId === k.keyId) || samePub) {
        throw new LogError('COSIG_POLICY', 'a witness appears twice in the policy', { check: 'COSIG-4' });
      }
    }
  }
  if (!Number.isSafeInteger(quorum) || quorum < 0 || quorum > keys.length) {
    throw new LogError('COSIG_POLICY', 'quorum must be between 0 and the number of witnesses', {
      check: 'COSIG-4',
    });
  }
  return { witnesses: keys, quorum };
}

/** A cosignature that verified under a policy witness. */
export interface WitnessCosignature {
  readonly key: VerifierKey;
  readonly timestamp: number;
  readonly signature: NoteSignature;
}

export interface QuorumOptions {
  /** Current POSIX time in seconds; with `maxFutureSeconds`, rejects cosignatures from the future. */
  readonly now?: number;
  readonly maxFutureSeconds?: number;
}

/**
 * Checks the witness cosignatures on a note (a checkpoint) against a policy. Signature lines of unknown keys
 * are ignored; a line matching a policy witness's (name, key ID) must verify (COSIG_BAD_SIGNATURE — signed-note
 * §Signatures: a known key's bad signature rejects the note); each witness counts once; fewer than `quorum`
 * distinct witnesses is COSIG_QUORUM. Returns the verified cosignatures, one per witness.
 */
export function checkWitnessQuorum(
  note: Note,
  policy: WitnessPolicy,
  options: QuorumOptions = {},
): WitnessCosignature[] {
  const out: WitnessCosignature[] = [];
  for (const sig of note.signatures) {
    const key = policy.witnesses.find((w) => w.name === sig.name && w.keyId === sig.keyId);
    if (!key) continue;
    const timestamp = verifyCosignature(key, note.text, sig);
    if (
      options.now !== undefined &&
      options.maxFutureSeconds !== undefined &&
      timestamp > options.now + options.maxFutureSeconds
    ) {
      throw new LogError('COSIG_TIMESTAMP', 'cosignature is dated in the future', { check: 'COSIG-2' });
    }
    // Count each public key once, however the policy object was built (makeWitnessPolicy refuses duplicates).
    if (!out.some((c) => equalBytes(c.key.publicKey, key.publicKey)))
      out.push({ key, timestamp, signature: sig });
  }
  if (!Number.isSafeInteger(policy.quorum) || policy.quorum < 0) {
    throw new LogError('COSIG_POLICY', 'quorum must be a non-negative integer', { check: 'COSIG-4' });
  }
  if (out.length < policy.quorum) {
    throw new LogError(
      'COSIG_QUORUM',
      `only ${out.length} of the ${policy.quorum} required witnesses cosigned`,
      {
        check: 'COSIG-5',
      },
    );
  }
  return out;
}
