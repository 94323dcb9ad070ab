/**
 * The organisation's trust anchors (docs/spec/client.md §8.1): what a client must know before it can believe
 * anything the relay says about devices and epoch keys — the log's origin and checkpoint key, the witnesses'
 * cosignature keys with the quorum a checkpoint must carry, and the org-admin's public key that signs every
 * directory statement. They come from the application (the CLI reads them from `/.well-known/overt` on first
 * contact and pins them in its profile: trust on first use). Browser-safe.
 */
import { fromBase64 } from '@overt/core';
import { type LogPolicy, makeWitnessPolicy, parseVerifierKey, SIGNATURE_TYPE_ED25519 } from '@overt/log';
import { ClientError } from '../errors.js';

export interface TrustAnchors {
  readonly log: {
    /** The checkpoint origin line, e.g. `example.org/log`. */
    readonly origin: string;
    /** The tile prefix (c2sp.org/tlog-tiles), e.g. `https://relay.example.org/log/`. */
    readonly url: string;
    /** The log's note verifier key (type 0x01). */
    readonly vkey: string;
    /** The witnesses' cosignature verifier keys (type 0x04). */
    readonly witnessVkeys: readonly string[];
    /**
     * How many distinct witnesses must cosign a checkpoint: at least 1 (KT-FRESH-2), since the witnesses'
     * timestamps are what show the client its view of the log is current (§8.6).
     */
    readonly witnessQuorum: number;
  };
  /** The org-admin's Ed25519 public key (32 bytes). */
  readonly adminKey: Uint8Array;
  /**
   * The relay's access execution key (`accessKey`, 32 bytes; access.md §4.1), when the relay runs accountable
   * access: it signs executions and the relay's unseals, which the client checks for overdue seals (OVD-1) and
   * notices (after-release.md §3, §4).
   */
  readonly accessKey?: Uint8Array;
}

function invalid(message: string, cause?: unknown): never {
  throw new ClientError('KT_ANCHORS_INVALID', message, { check: 'KT-1', cause });
}

/**
 * The log policy of the anchors. KT_ANCHORS_INVALID (KT-1) for malformed keys, a bad quorum or origin;
 * KT_ANCHORS_INVALID (KT-FRESH-2) for a witness quorum of 0: without witnesses nothing vouches for the time of a
 * checkpoint, so a relay could freeze the client's view unnoticed (A16).
 */
export function logPolicyOf(anchors: TrustAnchors): LogPolicy {
  const { log } = anchors;
  if (typeof log?.origin !== 'string' || log.origin.length === 0 || /\n/.test(log.origin))
    invalid('log origin is malformed');
  if (!(anchors.adminKey instanceof Uint8Array) || anchors.adminKey.length !== 32)
    invalid('admin key is not 32 bytes');
  if (
    anchors.accessKey !== undefined &&
    (!(anchors.accessKey instanceof Uint8Array) || anchors.accessKey.length !== 32)
  )
    invalid('access key is not 32 bytes');
  let policy: LogPolicy;
  try {
    const logKey = parseVerifierKey(log.vkey);
    if (logKey.type !== SIGNATURE_TYPE_ED25519) invalid('log key is not an Ed25519 note key');
    policy = {
      origin: log.origin,
      logKeys: [logKey],
      witnesses: makeWitnessPolicy([...log.witnessVkeys], log.witnessQuorum),
    };
  } catch (cause) {
    if (cause instanceof ClientError) throw cause;
    return invalid('log or witness keys are malformed', cause);
  }
  if (policy.witnesses.quorum < 1)
    throw new ClientError('KT_ANCHORS_INVALID', 'the witness quorum must be at least 1', {
      check: 'KT-FRESH-2',
    });
  return policy;
}

/**
 * Reads the anchors from a `/.well-known/overt` document (docs/spec/start.md §2): `{ org, admin_key, log: {
 * origin, url, vkey, witness_vkeys, witness_quorum }, accessKey? }`. The document is fetched over the network, so every
 * field is checked; KT_ANCHORS_INVALID (KT-1) otherwise. Returns the org id with the anchors.
 */
export function trustAnchorsFromWellKnown(doc: unknown): { orgId: string; anchors: TrustAnchors } {
  // biome-ignore lint/suspicious/noExplicitAny: the shape is checked field by field below
  const d = doc as any;
  const str = (v: unknown, what: string): string => {
    if (typeof v !== 'string' || v.length === 0) invalid(`${what} is missing`);
    return v;
  };
  const orgId = str(d?.org, 'org');
  let adminKey: Uint8Array;
  try {
    adminKey = fromBase64(str(d?.admin_key, 'admin_key'));
  } catch (cause) {
    if (cause instanceof ClientError) throw cause;
    return invalid('admin_key is not base64', cause);
  }
  const vkeys = d?.log?.witness_vkeys;
  if (!Array.isArray(vkeys) || vkeys.some((v) => typeof v !== 'string'))
    invalid('witness_vkeys is malformed');
  let accessKey: Uint8Array | undefined;
  if (d?.accessKey !== undefined) {
    try {
      accessKey = fromBase64(str(d.accessKey, 'accessKey'));
    } catch (cause) {
      if (cause instanceof ClientError) throw cause;
      return invalid('accessKey is not base64', cause);
    }
  }
  const quorum = d?.log?.witness_quorum;
  if (!Number.isSafeInteger(quorum)) invalid('witness_quorum is malformed');
  const anchors: TrustAnchors = {
    log: {
      origin: str(d?.log?.origin, 'log.origin'),
      url: str(d?.log?.url, 'log.url'),
      vkey: str(d?.log?.vkey, 'log.vkey'),
      witnessVkeys: vkeys as string[],
      witnessQuorum: quorum as number,
    },
    adminKey,
    ...(accessKey !== undefined ? { accessKey } : {}),
  };
  logPolicyOf(anchors);
  return { orgId, anchors };
}
