/**
 * The witness: C2SP tlog-witness "add-checkpoint" processing and C2SP tlog-cosignature (Ed25519, type 0x04).
 *
 * For each configured log (origin → trusted log keys) the witness keeps the latest checkpoint it cosigned and
 * cosigns a new one only if it is signed by the log, submitted against exactly that size, and proven to extend
 * it. The checks run in the order of docs/spec/witness.md (WIT-1 … WIT-10); each refusal is a WitnessError whose
 * status is the one the spec prescribes. The state update is a compare-and-swap, so of two requests that
 * started from the same state at most one advances it (the rollback race described in the spec).
 */
import { equalBytes } from '@overt/core';
import {
  type Checkpoint,
  cosign,
  formatSignatureLine,
  formatVerifierKey,
  isLogError,
  type LogError,
  parseCheckpoint,
  SIGNATURE_TYPE_COSIGNATURE,
  SIGNATURE_TYPE_ED25519,
  type SignerKey,
  type VerifierKey,
  verifierKeyOf,
  verifyCheckpointSignature,
  verifyConsistency,
} from '@overt/log';
import { WitnessError } from './errors.js';
import type { AddCheckpointHandler } from './http.js';
import { parseAddCheckpointRequest } from './request.js';
import type { TreeHead, WitnessStore } from './store.js';

/** A log the witness follows: its origin line and the Ed25519 (type 0x01) keys it signs checkpoints with. */
export interface WitnessedLog {
  readonly origin: string;
  readonly keys: readonly VerifierKey[];
}

/** One processed request, for operators' logs. Carries no request bytes. */
export interface WitnessEvent {
  readonly status: number;
  readonly origin?: string;
  readonly oldSize?: number;
  readonly size?: number;
  readonly code?: string;
  readonly check?: string;
}

export interface WitnessOptions {
  /** The cosigning key (type 0x04); its name is the cosigner name in every cosignature line. */
  readonly key: SignerKey;
  readonly logs: readonly WitnessedLog[];
  readonly store: WitnessStore;
  /** POSIX seconds for cosignature timestamps; the system clock by default. */
  readonly clock?: () => number;
  /** Called once per request with its outcome. */
  readonly onEvent?: (event: WitnessEvent) => void;
  /**
   * Runs after every check has passed and before the state is swapped. Only tests use it, to interleave two
   * requests at exactly the point where the spec's rollback race would strike.
   */
  readonly beforeCommit?: (origin: string) => Promise<void>;
}

const systemClock = (): number => Math.floor(Date.now() / 1000);

export class Witness implements AddCheckpointHandler {
  readonly #key: SignerKey;
  readonly #logs: ReadonlyMap<string, readonly VerifierKey[]>;
  readonly #store: WitnessStore;
  readonly #clock: () => number;
  readonly #onEvent: ((event: WitnessEvent) => void) | undefined;
  readonly #beforeCommit: ((origin: string) => Promise<void>) | undefined;

  /** @throws WitnessError WITNESS_CONFIG for a key of the wrong type or a log without valid keys. */
  constructor(options: WitnessOptions) {
    if (options.key.type !== SIGNATURE_TYPE_COSIGNATURE)
      throw new WitnessError('WITNESS_CONFIG', 'the witness key must be a cosignature (type 0x04) key');
    const logs = new Map<string, VerifierKey[]>();
    for (const log of options.logs) {
      if (log.origin.length === 0 || log.origin.includes('\n'))
        throw new WitnessError('WITNESS_CONFIG', 'a log origin must be one non-empty line');
      if (log.keys.length === 0) throw new WitnessError('WITNESS_CONFIG', 'a log needs at least one key');
      for (const k of log.keys) {
        if (k.type !== SIGNATURE_TYPE_ED25519)
          throw new WitnessError('WITNESS_CONFIG', 'log keys must be Ed25519 (type 0x01) note keys');
      }
      logs.set(log.origin, [...(logs.get(log.origin) ?? []), ...log.keys]);
    }
    this.#key = options.key;
    this.#logs = logs;
    this.#store = options.store;
    this.#clock = options.clock ?? systemClock;
    this.#onEvent = options.onEvent;
    this.#beforeCommit = options.beforeCommit;
  }

  /** The witness's public key (type 0x04), for the policies of log clients. */
  get verifierKey(): VerifierKey {
    return verifierKeyOf(this.#key);
  }

  /** The vkey string `<name>+<key ID>+base64(0x04 ‖ public key)`. */
  get vkey(): string {
    return formatVerifierKey(this.verifierKey);
  }

  /** The origins this witness follows. */
  get origins(): string[] {
    return [...this.#logs.keys()];
  }

  /**
   * Processes an add-checkpoint body and returns the cosignature line(s) (tlog-witness, "add-checkpoint").
   * @throws WitnessError for every refusal, with the status of the spec (see docs/spec/witness.md).
   */
  async addCheckpoint(body: Uint8Array): Promise<string> {
    let origin: string | undefined;
    let oldSize: number | undefined;
    let size: number | undefined;
    try {
      // WIT-1, WIT-2: framing.
      const request = parseAddCheckpointRequest(body);
      oldSize = request.oldSize;
      // WIT-3: the checkpoint note and its body parse (shape only; nothing is trusted yet).
      const cp = parseCheckpointOrThrow(request.note);
      origin = cp.origin;
      size = cp.size;
      // WIT-4: a log we follow.
      const keys = this.#logs.get(cp.origin);
      if (keys === undefined)
        throw new WitnessError('WITNESS_UNKNOWN_LOG', 'unknown log origin', { check: 'WIT-4' });
      // WIT-5: signed by one of its keys; other keys' signatures are ignored, a bad one by its key refuses.
      verifySignatureOrThrow(cp, keys);
      // WIT-6: old ≤ size.
      if (request.oldSize > cp.size)
        throw new WitnessError('WITNESS_OLD_TOO_LARGE', 'old size is larger than the checkpoint size', {
          check: 'WIT-6',
        });
      // WIT-7: old is exactly the size we last cosigned (0 if never).
      const stored = this.#store.latest(cp.origin);
      const knownSize = stored?.size ?? 0;
      if (request.oldSize !== knownSize)
        throw new WitnessError('WITNESS_CONFLICT', 'old size is not the latest cosigned size', {
          check: 'WIT-7',
          knownSize,
        });
      // WIT-8, WIT-9: the checkpoint extends what we cosigned.
      this.#checkExtends(stored, cp, request.proof, body);
      await this.#beforeCommit?.(cp.origin);
      // WIT-10: persist before answering, atomically with the comparison (compare-and-swap).
      const timestamp = this.#clock();
      const line = formatSignatureLine(cosign(cp.text, this.#key, timestamp));
      const swapped = this.#store.compareAndSwap(cp.origin, stored, {
        size: cp.size,
        root: cp.rootHash,
        note: request.note,
        cosignedAt: timestamp,
      });
      if (!swapped) {
        throw new WitnessError('WITNESS_CONFLICT', 'another request advanced the state first', {
          check: 'WIT-10',
          knownSize: this.#store.latest(cp.origin)?.size ?? 0,
        });
      }
      this.#onEvent?.({ status: 200, origin, oldSize, size });
      return line;
    } catch (e) {
      if (e instanceof WitnessError) {
        this.#onEvent?.({ status: e.status, origin, oldSize, size, code: e.code, check: e.check });
      }
      throw e;
    }
  }

  /** `stored` undefined: never cosigned, i.e. size 0 (whose only valid root, MTH({}), the parser enforces). */
  #checkExtends(
    stored: TreeHead | undefined,
    cp: Checkpoint,
    proof: readonly Uint8Array[],
    body: Uint8Array,
  ): void {
    const badProof = (message: string, cause?: unknown): WitnessError => {
      // tlog-witness: a validly signed checkpoint that fails to verify "might be proof of log misbehavior".
      this.#store.recordEvidence(cp.origin, 'WIT-8', body, this.#clock());
      return new WitnessError('WITNESS_BAD_PROOF', message, { check: 'WIT-8', cause });
    };
    const oldSize = stored?.size ?? 0;
    if (oldSize === 0 || oldSize === cp.size) {
      // "The proof MUST be empty if the old size is zero"; from a size to itself RFC 9162 has no proof either.
      if (proof.length !== 0) throw badProof('the consistency proof must be empty');
    } else {
      try {
        verifyConsistency(oldSize, cp.size, proof, stored!.root, cp.rootHash);
      } catch (e) {
        if (isLogError(e)) throw badProof('the consistency proof does not verify', e);
        throw e;
      }
    }
    // "If the old size matches the checkpoint size, the witness MUST check that the root hashes are also
    // identical." Size 0 needs no comparison: the checkpoint parser admits only MTH({}) there (CKPT-2).
    if (stored !== undefined && stored.size === cp.size && !equalBytes(stored.root, cp.rootHash)) {
      this.#store.recordEvidence(cp.origin, 'WIT-9', body, this.#clock());
      throw new WitnessError(
        'WITNESS_ROOT_MISMATCH',
        'same size as the cosigned checkpoint, different root',
        {
          check: 'WIT-9',
          knownSize: stored.size,
        },
      );
    }
  }
}

function parseCheckpointOrThrow(note: Uint8Array): Checkpoint {
  try {
    return parseCheckpoint(note);
  } catch (e) {
    if (isLogError(e))
      throw new WitnessError('WITNESS_MALFORMED', 'the checkpoint is not a well-formed signed note', {
        check: 'WIT-3',
        cause: e,
      });
    throw e;
  }
}

function verifySignatureOrThrow(cp: Checkpoint, keys: readonly VerifierKey[]): void {
  try {
    verifyCheckpointSignature(cp, cp.origin, keys);
  } catch (e) {
    if (isLogError(e))
      throw new WitnessError('WITNESS_BAD_SIGNATURE', 'no valid signature by the log', {
        check: 'WIT-5',
        cause: e as LogError,
      });
    throw e;
  }
}
