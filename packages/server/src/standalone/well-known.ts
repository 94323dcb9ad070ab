/**
 * `GET /.well-known/overt` (docs/spec/start.md §2): what a client needs to trust this deployment's log — the
 * organisation id, the log's origin, URL and checkpoint key, and the witness keys with the quorum a checkpoint
 * must carry. The keys are the ones the running services use, never configured copies.
 */
import { toBase64 } from '@overt/core';

export interface WellKnownDocument {
  readonly org: string;
  /**
   * The org-admin's Ed25519 public key (standard base64): the key that signs every directory statement
   * (docs/spec/directory.md). Clients pin it on first contact (trust on first use) and accept a device or an
   * epoch key only with a log entry it signed.
   */
  readonly admin_key: string;
  readonly log: {
    readonly origin: string;
    /** The tile prefix (c2sp.org/tlog-tiles), ending in '/'. */
    readonly url: string;
    /** The log's note verifier key (c2sp.org/signed-note vkey, type 0x01). */
    readonly vkey: string;
    /** The witnesses' cosignature verifier keys (type 0x04), in configuration order. */
    readonly witness_vkeys: readonly string[];
    readonly witness_quorum: number;
  } /** The relay's Ed25519 franking public key (relay.md §10), standard base64 of its 32 bytes. */;
  readonly franking_key: string;
  /**
   * The relay's execution key (access.md §4.1), standard base64 of its 32 bytes: trustees and auditors verify
   * every logged execution under it. Named `accessKey` as access.md §4.1 gives it.
   */
  readonly accessKey: string;
  /**
   * The relay's X25519 unseal key (after-release.md §1), standard base64 of its 32 bytes: a requester seals the
   * opening of its request's commitment to it (trustee index 0) so the relay can publish the unseal at the date.
   */
  readonly unsealKey: string;
}

export function buildWellKnown(o: {
  readonly org: string;
  readonly adminKey: Uint8Array;
  readonly origin: string;
  readonly logUrl: string;
  readonly logVkey: string;
  readonly witnessVkeys: readonly string[];
  readonly witnessQuorum: number;
  readonly frankingKey: Uint8Array;
  readonly accessKey: Uint8Array;
  readonly unsealKey: Uint8Array;
}): WellKnownDocument {
  return {
    org: o.org,
    admin_key: toBase64(o.adminKey),
    log: {
      origin: o.origin,
      url: o.logUrl,
      vkey: o.logVkey,
      witness_vkeys: [...o.witnessVkeys],
      witness_quorum: o.witnessQuorum,
    },
    franking_key: toBase64(o.frankingKey),
    accessKey: toBase64(o.accessKey),
    unsealKey: toBase64(o.unsealKey),
  };
}
