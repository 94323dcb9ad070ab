/**
 * The session context of a distributed key generation or a resharing (docs/spec/dkg.md §2): who takes part,
 * with which long-term keys, for which organization, epoch and threshold. Its canonical encoding is hashed into
 * the session id, which every message, proof of knowledge and HPKE context carries, so that nothing produced in
 * one session is accepted in another (check DKG-3).
 */
import sodiumLib from 'libsodium-wrappers-sumo';
import { compareBytes, equalBytes, utf8Encode } from '../bytes.js';
import { decodeAll, type Reader, Writer } from '../codec.js';
import { OvertError } from '../errors.js';
import { decodeElement, type Element } from '../group.js';
import { taggedHash } from '../hash.js';
import { isOrgId, ORG_ID_MAX } from '../ids.js';
import { SIGNING_PUBLIC_KEY_BYTES } from '../sign.js';
import { checkThresholdParams, isConsistentSharing, type ThresholdPublicKey } from '../threshold.js';

/** Version byte of every DKG encoding (session, messages, transcript). */
export const DKG_VERSION = 1;
/** Length of an X25519 public key, the KEM of the HPKE suite that carries shares (RFC 9180 §7.1: Npk = 32). */
export const DKG_ENCRYPTION_KEY_BYTES = 32;
export const DKG_SESSION_ID_BYTES = 32;

export const DKG_TAG_SESSION = 'overt/dkg/v1/session';

/** A member of the new sharing: it receives a share, so it has an encryption key. */
export interface DkgParticipantInfo {
  /** 1..n, equal to its position in the list plus one. */
  readonly index: number;
  /** Ed25519 public key that signs this member's broadcast messages. */
  readonly signingKey: Uint8Array;
  /** X25519 public key (HPKE, RFC 9180 DHKEM(X25519, HKDF-SHA256)) to which shares are encrypted. */
  readonly encryptionKey: Uint8Array;
}

/** A member of the sharing being refreshed: it may deal, so it has a signing key and a public share. */
export interface DkgPreviousMember {
  readonly index: number;
  readonly signingKey: Uint8Array;
  /** Y_i = x_i·G from the previous sharing: a resharing dealer's constant-term commitment must equal it. */
  readonly verificationKey: Element;
}

/** The sharing a resharing session refreshes (docs/spec/dkg.md §8). */
export interface DkgPrevious {
  readonly threshold: number;
  readonly members: readonly DkgPreviousMember[];
  readonly groupKey: Element;
  /** Hash of the previous DKG's or resharing's transcript (as on the log), binding which sharing is refreshed. */
  readonly transcriptHash: Uint8Array;
}

export interface DkgSessionParams {
  /** The organization's id (foundations.md §8: 1..64 characters of 0x21–0x7e). */
  readonly org: string;
  /** The epoch number as the policy defines it (u32). */
  readonly epoch: number;
  /**
   * Distinguishes reruns with otherwise equal parameters (u32). A participant must never take part twice in a
   * session with the same id: its polynomial would be used twice.
   */
  readonly attempt: number;
  /** k: the number of shares that will be needed to decrypt. */
  readonly threshold: number;
  readonly participants: readonly DkgParticipantInfo[];
}

export interface ReshareSessionParams extends DkgSessionParams {
  readonly previous: DkgPrevious;
}

/** A validated session context with its canonical encoding and id. */
export interface DkgSession {
  readonly kind: 'dkg' | 'reshare';
  readonly org: string;
  readonly epoch: number;
  readonly attempt: number;
  readonly threshold: number;
  readonly participants: readonly DkgParticipantInfo[];
  /** Present exactly when kind is 'reshare'. */
  readonly previous: DkgPrevious | undefined;
  /** The canonical encoding (docs/spec/dkg.md §2.1). */
  readonly bytes: Uint8Array;
  /** taggedHash('overt/dkg/v1/session', bytes). */
  readonly id: Uint8Array;
}

const KIND_DKG = 1;
const KIND_RESHARE = 2;

/** The dealers of a session: all participants for a DKG, the previous members for a resharing. */
export function sessionDealers(session: DkgSession): readonly { index: number; signingKey: Uint8Array }[] {
  return session.previous ? session.previous.members : session.participants;
}

/**
 * The least number of qualified dealers (DKG-17): k for a DKG, so that at least one dealer is honest when at
 * most k − 1 are corrupt; the previous threshold for a resharing, the fewest old shares that determine the
 * secret.
 */
export function minimumQualified(session: DkgSession): number {
  return session.previous ? session.previous.threshold : session.threshold;
}

function paramsError(message: string, check = 'DKG-1'): OvertError {
  return new OvertError('DKG_PARAMS', message, { check });
}

function checkCounts(threshold: number, n: number): void {
  try {
    checkThresholdParams(threshold, n);
  } catch (cause) {
    throw new OvertError('DKG_PARAMS', 'need integers 1 <= k <= n <= 255', { check: 'DKG-1', cause });
  }
}

function checkU32(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw paramsError(`${what} must be a u32`);
}

function checkKeyList(keys: readonly Uint8Array[], length: number, what: string): void {
  for (const k of keys) {
    if (!(k instanceof Uint8Array) || k.length !== length)
      throw paramsError(`${what} must be ${length} bytes`);
  }
  // Distinct keys make every signed message attributable to exactly one index.
  const sorted = [...keys].sort(compareBytes);
  for (let i = 1; i < sorted.length; i++) {
    if (equalBytes(sorted[i - 1]!, sorted[i]!)) throw paramsError(`${what}s must be distinct`);
  }
}

await sodiumLib.ready;

/** Any clamped X25519 scalar: a multiple of the cofactor 8, so its product with a small-order point is zero. */
const PROBE_SCALAR = new Uint8Array(32).fill(0x5a);

/**
 * RFC 9180 §7.1.4 requires encapsulation to fail when the X25519 output is all zeros, i.e. for a small-order
 * recipient key. Refusing such a key here makes a session in which some member could never receive a share
 * impossible to create.
 */
function checkEncryptionKey(key: Uint8Array): void {
  try {
    // libsodium's X25519 refuses ("weak public key") exactly when the output is all zeros.
    sodiumLib.crypto_scalarmult(PROBE_SCALAR, key);
  } catch (cause) {
    throw new OvertError('DKG_PARAMS', 'participant encryption key is a small-order X25519 point', {
      check: 'DKG-1',
      cause,
    });
  }
}

function checkIndices(list: readonly { index: number }[], what: string): void {
  list.forEach((p, pos) => {
    if (p.index !== pos + 1) throw paramsError(`${what} indices must be 1..n in order`);
  });
}

/**
 * DKG-2: the previous verification keys must lie on one polynomial of degree k_old − 1 "in the exponent" whose
 * value at 0 is the group key (threshold.ts isConsistentSharing, the check share verification uses too). Then
 * every set of k_old qualified dealers interpolates the same Y, so a resharing cannot change the group key
 * whichever dealers take part.
 */
function checkPreviousConsistent(prev: DkgPrevious): void {
  const publicKey = {
    threshold: prev.threshold,
    groupKey: prev.groupKey,
    verificationKeys: prev.members.map((m) => m.verificationKey),
  };
  if (!isConsistentSharing(publicKey)) {
    throw paramsError(
      'previous verification keys are not of one polynomial of the threshold degree through the group key',
      'DKG-2',
    );
  }
}

function validate(params: DkgSessionParams, previous: DkgPrevious | undefined): void {
  // The org id of envelope headers and every other part (ids.ts, foundations.md §8).
  if (!isOrgId(params.org))
    throw paramsError(`org must be an org id (1..${ORG_ID_MAX} characters of 0x21-0x7e)`);
  checkU32(params.epoch, 'epoch');
  checkU32(params.attempt, 'attempt');
  checkCounts(params.threshold, params.participants.length);
  checkIndices(params.participants, 'participant');
  checkKeyList(
    params.participants.map((p) => p.signingKey),
    SIGNING_PUBLIC_KEY_BYTES,
    'participant signing key',
  );
  checkKeyList(
    params.participants.map((p) => p.encryptionKey),
    DKG_ENCRYPTION_KEY_BYTES,
    'participant encryption key',
  );
  for (const p of params.participants) checkEncryptionKey(p.encryptionKey);
  if (previous) {
    checkCounts(previous.threshold, previous.members.length);
    checkIndices(previous.members, 'previous member');
    checkKeyList(
      previous.members.map((m) => m.signingKey),
      SIGNING_PUBLIC_KEY_BYTES,
      'previous member signing key',
    );
    if (!(previous.transcriptHash instanceof Uint8Array) || previous.transcriptHash.length !== 32) {
      throw paramsError('previous transcript hash must be 32 bytes');
    }
    // Decoding re-checks that caller-supplied elements are canonical and not the identity.
    decodeElement(previous.groupKey, 'previous group key');
    for (const m of previous.members) decodeElement(m.verificationKey, 'previous verification key');
    checkPreviousConsistent(previous);
  }
}

function encode(kind: number, params: DkgSessionParams, previous: DkgPrevious | undefined): Uint8Array {
  // Sized exactly: the encoding's length is known in advance (and a Writer never has to grow).
  const org = utf8Encode(params.org);
  const size =
    13 +
    org.length +
    params.participants.length * (1 + SIGNING_PUBLIC_KEY_BYTES + DKG_ENCRYPTION_KEY_BYTES) +
    (previous ? 2 + previous.members.length * (1 + SIGNING_PUBLIC_KEY_BYTES + 32) + 64 : 0);
  const w = new Writer(size);
  w.u8(DKG_VERSION).u8(kind).str8(params.org).u32(params.epoch).u32(params.attempt).u8(params.threshold);
  w.u8(params.participants.length);
  for (const p of params.participants) w.u8(p.index).bytes(p.signingKey).bytes(p.encryptionKey);
  if (previous) {
    w.u8(previous.threshold).u8(previous.members.length);
    for (const m of previous.members) w.u8(m.index).bytes(m.signingKey).bytes(m.verificationKey);
    w.bytes(previous.groupKey).bytes(previous.transcriptHash);
  }
  return w.finish();
}

function build(kind: number, params: DkgSessionParams, previous: DkgPrevious | undefined): DkgSession {
  validate(params, previous);
  const participants = params.participants.map((p) => ({
    index: p.index,
    signingKey: p.signingKey.slice(),
    encryptionKey: p.encryptionKey.slice(),
  }));
  const prev = previous && {
    threshold: previous.threshold,
    members: previous.members.map((m) => ({
      index: m.index,
      signingKey: m.signingKey.slice(),
      verificationKey: m.verificationKey.slice() as Element,
    })),
    groupKey: previous.groupKey.slice() as Element,
    transcriptHash: previous.transcriptHash.slice(),
  };
  const bytes = encode(kind, params, prev);
  return {
    kind: kind === KIND_DKG ? 'dkg' : 'reshare',
    org: params.org,
    epoch: params.epoch,
    attempt: params.attempt,
    threshold: params.threshold,
    participants,
    previous: prev,
    bytes,
    id: taggedHash(DKG_TAG_SESSION, bytes),
  };
}

/** A DKG session. Throws DKG_PARAMS (DKG-1) on invalid parameters. */
export function createDkgSession(params: DkgSessionParams): DkgSession {
  return build(KIND_DKG, params, undefined);
}

/**
 * A resharing session refreshing `params.previous` into the sharing among `params.participants` with threshold
 * `params.threshold`. Throws DKG_PARAMS (DKG-1, DKG-2).
 */
export function createReshareSession(params: ReshareSessionParams): DkgSession {
  return build(KIND_RESHARE, params, params.previous);
}

/**
 * The previous-sharing description for a resharing, from the public output of the DKG or resharing that made
 * it and the signing keys of its members.
 */
export function previousFromPublicKey(
  publicKey: ThresholdPublicKey,
  signingKeys: readonly Uint8Array[],
  transcriptHash: Uint8Array,
): DkgPrevious {
  if (signingKeys.length !== publicKey.verificationKeys.length) {
    throw paramsError('one signing key per previous member is needed');
  }
  return {
    threshold: publicKey.threshold,
    members: publicKey.verificationKeys.map((verificationKey, i) => ({
      index: i + 1,
      signingKey: signingKeys[i]!,
      verificationKey,
    })),
    groupKey: publicKey.groupKey,
    transcriptHash,
  };
}

function readSession(r: Reader): DkgSession {
  const version = r.u8('session version');
  if (version !== DKG_VERSION) throw new OvertError('CODEC_VERSION', 'unsupported DKG session version');
  const kind = r.u8('session kind');
  if (kind !== KIND_DKG && kind !== KIND_RESHARE) throw new OvertError('CODEC_ENUM', 'unknown session kind');
  const org = r.str8('org');
  const epoch = r.u32('epoch');
  const attempt = r.u32('attempt');
  const threshold = r.u8('threshold');
  const n = r.u8('participant count');
  const participants: DkgParticipantInfo[] = [];
  for (let i = 0; i < n; i++) {
    participants.push({
      index: r.u8('participant index'),
      signingKey: r.bytes(SIGNING_PUBLIC_KEY_BYTES, 'signing key'),
      encryptionKey: r.bytes(DKG_ENCRYPTION_KEY_BYTES, 'encryption key'),
    });
  }
  let previous: DkgPrevious | undefined;
  if (kind === KIND_RESHARE) {
    const oldThreshold = r.u8('previous threshold');
    const m = r.u8('previous member count');
    const members: DkgPreviousMember[] = [];
    for (let i = 0; i < m; i++) {
      members.push({
        index: r.u8('previous member index'),
        signingKey: r.bytes(SIGNING_PUBLIC_KEY_BYTES, 'previous signing key'),
        verificationKey: decodeElement(r.bytes(32, 'previous verification key'), 'previous verification key'),
      });
    }
    const groupKey = decodeElement(r.bytes(32, 'previous group key'), 'previous group key');
    const transcriptHash = r.bytes(32, 'previous transcript hash');
    previous = { threshold: oldThreshold, members, groupKey, transcriptHash };
  }
  return build(kind, { org, epoch, attempt, threshold, participants }, previous);
}

/** Decodes and validates a session encoding: CODEC_* / GROUP_* on malformed bytes, DKG_PARAMS on bad values. */
export function decodeDkgSession(bytes: Uint8Array): DkgSession {
  return decodeAll(bytes, 'DKG session', readSession);
}
