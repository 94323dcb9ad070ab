/**
 * The canonical transcript of a DKG or resharing session and its public verification (docs/spec/dkg.md §7).
 *
 * The transcript holds the session context, every accepted broadcast message (round 1, complaints,
 * justifications; never the encrypted shares, which are point to point), the qualified set and the public
 * output. Its tagged hash goes on the log. {@link verifyTranscript} is pure: from the transcript alone it
 * re-checks every signature and proof, re-resolves the complaints, and recomputes Y and every Y_j.
 */
import { equalBytes } from '../bytes.js';
import { decodeAll, Writer } from '../codec.js';
import { isOvertError, OvertError } from '../errors.js';
import { decodeElement, type Element } from '../group.js';
import { taggedHash } from '../hash.js';
import type { ThresholdPublicKey } from '../threshold.js';
import {
  checkComplaint,
  checkJustification,
  checkRound1,
  type DkgComplaintMessage,
  type DkgJustificationMessage,
  type DkgMessage,
  type DkgMessageType,
  type DkgRound1Message,
  decodeDkgMessage,
} from './messages.js';
import { complainersByDealer, type DkgDisqualification, resolveDkg } from './qualify.js';
import { DKG_VERSION, type DkgSession, decodeDkgSession } from './session.js';

export const DKG_TAG_TRANSCRIPT = 'overt/dkg/v1/transcript';

/** The contents of a transcript, as a participant assembles it. Messages are in their encoded form. */
export interface DkgTranscriptContents {
  readonly session: DkgSession;
  readonly round1: readonly DkgRound1Message[];
  readonly complaints: readonly DkgComplaintMessage[];
  readonly justifications: readonly DkgJustificationMessage[];
  readonly qualified: readonly number[];
  readonly publicKey: ThresholdPublicKey;
}

/** A transcript every check of {@link verifyTranscript} passed. */
export interface VerifiedDkgTranscript {
  readonly session: DkgSession;
  /** taggedHash("overt/dkg/v1/transcript", transcript bytes): what goes on the log. */
  readonly transcriptHash: Uint8Array;
  readonly qualified: readonly number[];
  readonly disqualified: readonly DkgDisqualification[];
  readonly publicKey: ThresholdPublicKey;
  /** Each accepted dealer's Feldman commitments C_i0..C_i(k−1), qualified or not, by dealer index. */
  readonly commitments: ReadonlyMap<number, readonly Element[]>;
}

function bySender(list: readonly DkgMessage[]): DkgMessage[] {
  return [...list].sort((a, b) => a.sender - b.sender);
}

/** The canonical encoding: messages sorted by sender, QUAL ascending (docs/spec/dkg.md §7.1). */
export function encodeTranscript(t: DkgTranscriptContents): Uint8Array {
  const lists: readonly (readonly DkgMessage[])[] = [t.round1, t.complaints, t.justifications];
  // Sized exactly, so the Writer never has to grow.
  let size = 1 + 4 + t.session.bytes.length + 3 + 1 + t.qualified.length + 32 + 1;
  for (const list of lists) for (const m of list) size += 2 + m.bytes.length;
  size += 32 * t.publicKey.verificationKeys.length;
  const w = new Writer(size);
  w.u8(DKG_VERSION).vec32(t.session.bytes);
  for (const list of lists) {
    w.u8(list.length);
    for (const m of bySender(list)) w.vec16(m.bytes);
  }
  const qual = [...t.qualified].sort((a, b) => a - b);
  w.u8(qual.length);
  for (const i of qual) w.u8(i);
  w.bytes(t.publicKey.groupKey).u8(t.publicKey.verificationKeys.length);
  for (const y of t.publicKey.verificationKeys) w.bytes(y);
  return w.finish();
}

export function transcriptHash(transcript: Uint8Array): Uint8Array {
  return taggedHash(DKG_TAG_TRANSCRIPT, transcript);
}

interface DecodedTranscript {
  readonly session: DkgSession;
  readonly messages: { readonly [K in 'round1' | 'complaint' | 'justification']: DkgMessage[] };
  readonly qualified: number[];
  readonly groupKey: Element;
  readonly verificationKeys: Element[];
}

function decodeTranscript(bytes: Uint8Array): DecodedTranscript {
  return decodeAll(bytes, 'DKG transcript', (r) => {
    if (r.u8('transcript version') !== DKG_VERSION) {
      throw new OvertError('CODEC_VERSION', 'unsupported DKG transcript version');
    }
    const session = decodeDkgSession(r.vec32('session'));
    const readList = (): DkgMessage[] => {
      const n = r.u8('message count');
      const out: DkgMessage[] = [];
      for (let i = 0; i < n; i++) out.push(decodeDkgMessage(r.vec16('message')));
      return out;
    };
    const round1 = readList();
    const complaint = readList();
    const justification = readList();
    const q = r.u8('qualified count');
    const qualified: number[] = [];
    for (let i = 0; i < q; i++) qualified.push(r.u8('qualified index'));
    const groupKey = decodeElement(r.bytes(32, 'group key'), 'group key');
    const n = r.u8('verification key count');
    const verificationKeys: Element[] = [];
    for (let i = 0; i < n; i++) {
      verificationKeys.push(decodeElement(r.bytes(32, 'verification key'), 'verification key', true));
    }
    return {
      session,
      messages: { round1, complaint, justification },
      qualified,
      groupKey,
      verificationKeys,
    };
  });
}

function transcriptError(message: string, check: string, cause?: unknown): OvertError {
  return new OvertError('DKG_TRANSCRIPT', message, { check, cause });
}

/** Rewraps a failed message check as DKG_TRANSCRIPT, keeping the check ID that failed. */
function asTranscriptError(e: unknown, what: string): unknown {
  if (isOvertError(e)) return transcriptError(`${what}: ${e.message}`, e.check ?? 'DKG-18', e);
  return e;
}

/** DKG-18: each list holds messages of its own type, strictly ordered by sender (one per sender). */
function orderedMap<T extends DkgMessageType>(
  list: readonly DkgMessage[],
  type: T,
): Map<number, Extract<DkgMessage, { type: T }>> {
  const out = new Map<number, Extract<DkgMessage, { type: T }>>();
  let last = 0;
  for (const m of list) {
    if (m.type !== type) throw transcriptError(`a ${m.type} message in the ${type} list`, 'DKG-18');
    if (m.sender <= last)
      throw transcriptError(`${type} messages are not strictly ordered by sender`, 'DKG-18');
    last = m.sender;
    out.set(m.sender, m as Extract<DkgMessage, { type: T }>);
  }
  return out;
}

function sameList(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  return a.length === b.length && a.every((x, i) => equalBytes(x, b[i]!));
}

/**
 * Verifies a transcript from its bytes alone (docs/spec/dkg.md §7.2): decodes it; checks every message's session,
 * signature and semantics exactly as a participant does; resolves complaints; recomputes QUAL, Y and every Y_j
 * and compares them with the transcript's. For a resharing the recomputed Y is the previous group key by
 * construction (DKG-2, DKG-9), so a transcript claiming another Y fails DKG-19.
 *
 * Throws CODEC_* / GROUP_* / DKG_PARAMS on malformed bytes, and DKG_TRANSCRIPT (carrying the ID of the check
 * that failed) on anything else. With `expectedSessionId`, also requires the transcript to be of that session.
 */
export function verifyTranscript(
  bytes: Uint8Array,
  options: { expectedSessionId?: Uint8Array } = {},
): VerifiedDkgTranscript {
  const t = decodeTranscript(bytes);
  const { session } = t;
  if (options.expectedSessionId && !equalBytes(options.expectedSessionId, session.id)) {
    throw transcriptError('transcript is of another session', 'DKG-3');
  }
  const round1 = orderedMap(t.messages.round1, 'round1');
  const complaints = orderedMap(t.messages.complaint, 'complaint');
  const justifications = orderedMap(t.messages.justification, 'justification');
  for (const m of round1.values()) {
    try {
      checkRound1(session, m);
    } catch (e) {
      throw asTranscriptError(e, `round-1 message of dealer ${m.sender}`);
    }
  }
  const dealers = new Set(round1.keys());
  for (const m of complaints.values()) {
    try {
      checkComplaint(session, m, dealers);
    } catch (e) {
      throw asTranscriptError(e, `complaint of participant ${m.sender}`);
    }
  }
  const against = complainersByDealer(complaints);
  for (const m of justifications.values()) {
    try {
      checkJustification(session, m, dealers, against.get(m.sender) ?? new Set());
    } catch (e) {
      throw asTranscriptError(e, `justification of dealer ${m.sender}`);
    }
  }
  let resolution: ReturnType<typeof resolveDkg>;
  try {
    resolution = resolveDkg(session, { round1, complaints, justifications });
  } catch (e) {
    throw asTranscriptError(e, 'complaint resolution');
  }
  const { qualified, publicKey } = resolution;
  if (
    qualified.length !== t.qualified.length ||
    qualified.some((q, i) => q !== t.qualified[i]) ||
    !equalBytes(publicKey.groupKey, t.groupKey) ||
    !sameList(publicKey.verificationKeys, t.verificationKeys)
  ) {
    throw transcriptError(
      'recomputed QUAL, group key or verification keys differ from the transcript',
      'DKG-19',
    );
  }
  return {
    session,
    transcriptHash: transcriptHash(bytes),
    qualified,
    disqualified: resolution.disqualified,
    publicKey,
    commitments: new Map([...round1].map(([i, m]) => [i, m.commitments])),
  };
}
