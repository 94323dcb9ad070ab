/**
 * What the access half of the trustee (src/access/, the release rule) needs from the vault that holds the
 * trustee's secrets (src/vault.ts). The two halves meet only here.
 */
import type { KeyShare, SigningKeyPair, ThresholdPublicKey } from '@overt/core';

/** One epoch's share with the public key set it belongs to (from the verified DKG transcript). */
export interface EpochShare {
  readonly epoch: number;
  /** x_i with this trustee's index. Secret: never log it, never return it from an API. */
  readonly share: KeyShare;
  readonly publicKey: ThresholdPublicKey;
  /** The DKG transcript hash on the log's epoch-key statement. */
  readonly transcriptHash: Uint8Array;
}

export interface ShareVault {
  /** This trustee's index in the policy in force. */
  readonly index: number;
  /** The trustee's Ed25519 key: signs decisions, releases, refusals, ceremony messages. Secret half inside. */
  signingKey(): SigningKeyPair;
  /** The trustee's HPKE key pair (X25519, raw 32 bytes each): opens the sealed confidential parts (access.md §2). */
  hpkeKeyPair(): { readonly publicKey: Uint8Array; readonly secretKey: Uint8Array };
  /**
   * The share of `epoch`, or undefined when this trustee never held one (not a participant). Throws
   * TRUSTEE_SHARE_SHREDDED (TRU-S1) when the share was shredded (after-release.md §6).
   */
  share(epoch: number): Promise<EpochShare | undefined>;
  /**
   * Records an alert (GET /v1/alerts) once per `dedup` key when given; true when it is new. `detail` is public
   * (hex ids, indices): never a secret or a user id. The daemon has one alerts table, in the vault database.
   */
  addAlert(kind: string, detail: string, at: number, dedup?: string): boolean;
}
