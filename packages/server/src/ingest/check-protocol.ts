/** Messages between the relay and its capsule-check workers (capsule-pool.ts ↔ capsule-worker.ts). */

/** One envelope and the context of core's ingest check, in structured-clone form. */
export interface CheckRequest {
  /** The whole envelope: u32 length ‖ header ‖ capsule ‖ signature ‖ ciphertext. */
  readonly envelope: Uint8Array;
  readonly orgId: string;
  readonly epoch: number;
  /** Y_e, 32 bytes. */
  readonly epochKey: Uint8Array;
  readonly senderUserId: string;
  readonly senderDeviceId: Uint8Array;
  /** The authenticated device's Ed25519 identity key: the sender signature must verify under it (ENV-20). */
  readonly senderKey: Uint8Array;
  readonly now: number;
  readonly maxClockSkewMs: number;
  readonly maxPayloadBytes: number;
  readonly members: readonly string[];
}

export interface CheckBatch {
  readonly id: number;
  readonly items: readonly CheckRequest[];
}

/** Core's verdict on one envelope: its OvertError code and check ID when refused. */
export type CheckResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: string; readonly check?: string };

export interface CheckBatchResult {
  readonly id: number;
  readonly results: readonly CheckResult[];
  /** Wall time the batch kept the worker busy, ms. */
  readonly busyMs: number;
}
