/**
 * `GET /.well-known/overt` (docs/spec/start.md §2): what a client needs to trust this deployment's log — the
 * organisation id, the log's origin, URL and checkpoint key, and the witness keys with the quorum a checkpoint
 * must carry. The keys are the ones the running services use, never configured copies.
 */

export interface WellKnownDocument {
  readonly org: string;
  readonly log: {
    readonly origin: string;
    /** The tile prefix (c2sp.org/tlog-tiles), ending in '/'. */
    readonly url: string;
    /** The log's note verifier key (c2sp.org/signed-note vkey, type 0x01). */
    readonly vkey: string;
    /** The witnesses' cosignature verifier keys (type 0x04), in configuration order. */
    readonly witness_vkeys: readonly string[];
    readonly witness_quorum: number;
  };
}

export function buildWellKnown(o: {
  readonly org: string;
  readonly origin: string;
  readonly logUrl: string;
  readonly logVkey: string;
  readonly witnessVkeys: readonly string[];
  readonly witnessQuorum: number;
}): WellKnownDocument {
  return {
    org: o.org,
    log: {
      origin: o.origin,
      url: o.logUrl,
      vkey: o.logVkey,
      witness_vkeys: [...o.witnessVkeys],
      witness_quorum: o.witnessQuorum,
    },
  };
}
