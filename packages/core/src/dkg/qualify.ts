/**
 * Complaint resolution and the public output of a session (docs/spec/dkg.md §6): which dealers qualify, the
 * group key and every verification key. One function, used both by a participant finishing a session and by
 * {@link verifyTranscript}, so the two cannot disagree.
 *
 * The rules follow Gennaro–Jarecki–Krawczyk–Rabin 1999 §3 (Fig. 2, steps 1(c)–(d)) with Feldman commitments: a
 * dealer against whom a complaint stands must reveal that share publicly; the share is checked against the
 * dealer's commitments; an unanswered complaint or a wrong revealed share disqualifies the dealer.
 */
import { equalBytes } from '../bytes.js';
import { InternalError, OvertError } from '../errors.js';
import { type Element, group, type Scalar, scalarFromInt } from '../group.js';
import { evaluateCommitment, lagrangeAtZero, type ThresholdPublicKey } from '../threshold.js';
import type { DkgComplaintMessage, DkgJustificationMessage, DkgRound1Message } from './messages.js';
import { type DkgSession, minimumQualified } from './session.js';

export type DkgDisqualificationReason = 'unanswered-complaint' | 'bad-justification';

/** A dealer with an accepted round 1 that lost a complaint (check DKG-16). */
export interface DkgDisqualification {
  readonly index: number;
  readonly reason: DkgDisqualificationReason;
}

/** The accepted broadcast messages of a session, keyed by sender. */
export interface DkgBroadcastView {
  readonly round1: ReadonlyMap<number, DkgRound1Message>;
  readonly complaints: ReadonlyMap<number, DkgComplaintMessage>;
  readonly justifications: ReadonlyMap<number, DkgJustificationMessage>;
}

export interface DkgResolution {
  /** QUAL, ascending. */
  readonly qualified: readonly number[];
  readonly disqualified: readonly DkgDisqualification[];
  /** The weight of each qualified dealer's polynomial: 1 in a DKG, λ_i over QUAL in a resharing. */
  readonly weights: ReadonlyMap<number, Scalar>;
  /** Shares revealed by qualified dealers in their justifications, keyed by dealer then complainer. */
  readonly revealed: ReadonlyMap<number, ReadonlyMap<number, Scalar>>;
  readonly publicKey: ThresholdPublicKey;
}

/** Who complained against each dealer. */
export function complainersByDealer(
  complaints: ReadonlyMap<number, DkgComplaintMessage>,
): Map<number, Set<number>> {
  const out = new Map<number, Set<number>>();
  for (const c of complaints.values()) {
    for (const a of c.accusations) {
      const set = out.get(a.accused) ?? new Set<number>();
      set.add(c.sender);
      out.set(a.accused, set);
    }
  }
  return out;
}

/** The Feldman check (DKG-13, DKG-16): s·G = Σ_l j^l·C_l. */
export function shareMatchesCommitments(share: Scalar, commitments: readonly Element[], j: number): boolean {
  return equalBytes(group.baseMul(share), evaluateCommitment(commitments, j));
}

/**
 * Resolves complaints and computes the public output. Throws DKG_TOO_FEW_QUALIFIED (DKG-17) when fewer than
 * the session's minimum dealers qualify. The messages in `view` must already have passed their checks.
 */
export function resolveDkg(session: DkgSession, view: DkgBroadcastView): DkgResolution {
  const against = complainersByDealer(view.complaints);
  const qualified: number[] = [];
  const disqualified: DkgDisqualification[] = [];
  const revealed = new Map<number, Map<number, Scalar>>();
  const dealers = [...view.round1.keys()].sort((a, b) => a - b);
  for (const i of dealers) {
    const commitments = view.round1.get(i)!.commitments;
    const complainers = [...(against.get(i) ?? [])].sort((a, b) => a - b);
    const answers = new Map<number, Scalar>();
    for (const s of view.justifications.get(i)?.shares ?? []) answers.set(s.complainer, s.share);
    let reason: DkgDisqualificationReason | undefined;
    for (const j of complainers) {
      const s = answers.get(j);
      if (!s) {
        reason = 'unanswered-complaint';
        break;
      }
      if (!shareMatchesCommitments(s, commitments, j)) {
        reason = 'bad-justification';
        break;
      }
    }
    if (reason) {
      disqualified.push({ index: i, reason });
    } else {
      qualified.push(i);
      revealed.set(i, answers);
    }
  }
  if (qualified.length < minimumQualified(session)) {
    throw new OvertError('DKG_TOO_FEW_QUALIFIED', 'fewer qualified dealers than the session requires', {
      check: 'DKG-17',
    });
  }
  const weights = new Map<number, Scalar>();
  for (const i of qualified) {
    weights.set(i, session.previous ? lagrangeAtZero(qualified, i) : scalarFromInt(1));
  }
  // The aggregate commitment A_l = Σ_{i∈QUAL} w_i·C_il commits to the shared polynomial F = Σ w_i·f_i, so
  // Y = A_0 and Y_j = Σ_l j^l·A_l (one evaluation per participant instead of one per dealer and participant).
  const aggregate: Element[] = [];
  for (let l = 0; l < session.threshold; l++) {
    let acc = group.identity;
    for (const i of qualified) {
      const c = view.round1.get(i)!.commitments[l]!;
      acc = group.add(acc, session.previous ? group.mul(weights.get(i)!, c) : c);
    }
    aggregate.push(acc);
  }
  const groupKey = aggregate[0]!;
  if (session.previous && !equalBytes(groupKey, session.previous.groupKey)) {
    // DKG-2 (previous keys consistent) and DKG-9 (C_i0 = Y_i) make Σ λ_i·Y_i = Y for every QUAL.
    throw new InternalError('resharing changed the group key despite checked constant terms');
  }
  const verificationKeys = session.participants.map((p) => evaluateCommitment(aggregate, p.index));
  return {
    qualified,
    disqualified,
    weights,
    revealed,
    publicKey: { threshold: session.threshold, groupKey, verificationKeys },
  };
}
