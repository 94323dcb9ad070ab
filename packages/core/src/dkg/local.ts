/**
 * An in-process driver that runs a whole session among participants living in one process: for tests,
 * benchmarks, the vector generator and demos. A trustee daemon does not use it; it calls the per-phase methods
 * of {@link DkgParticipant} itself and moves the bytes over the relay and the log.
 *
 * The driver models the transport the protocol assumes (docs/spec/dkg.md §9): a broadcast channel on which
 * every participant sees the same bytes (the log), and private point-to-point delivery of shares. `intercept`
 * sees every message once before delivery and may replace or drop it, which is how tests play a cheating
 * participant; a replaced broadcast message still reaches everybody identically.
 */
import { isOvertError, type OvertError } from '../errors.js';
import type { DkgOutput, DkgParticipant } from './participant.js';

export type DkgLocalPhase = 'round1' | 'share' | 'complaint' | 'justification';

export interface DkgLocalMessage {
  readonly phase: DkgLocalPhase;
  readonly from: DkgParticipant;
  /** The receiving participant's index for a share; undefined for a broadcast. */
  readonly recipient: number | undefined;
  readonly bytes: Uint8Array;
}

export interface DkgLocalOptions {
  /** Sees each message once; returns the bytes to deliver instead, or null to drop the message. */
  readonly intercept?: (m: DkgLocalMessage) => Uint8Array | null | Promise<Uint8Array | null>;
  /** Extra messages delivered at the end of a phase (for example a replayed message), to every participant. */
  readonly inject?: (phase: DkgLocalPhase) => readonly Uint8Array[];
}

/** A message a participant refused, with the error it raised. */
export interface DkgLocalRejection {
  readonly phase: DkgLocalPhase;
  readonly receiver: DkgParticipant;
  readonly error: OvertError;
}

export interface DkgLocalRun {
  /** One per participant, in the order given: its output, or the error its `finish` raised. */
  readonly outputs: readonly (DkgOutput | OvertError)[];
  readonly rejections: readonly DkgLocalRejection[];
}

/** Runs every phase of a session among `participants` (all of one session) and finishes each of them. */
export async function runDkgLocally(
  participants: readonly DkgParticipant[],
  options: DkgLocalOptions = {},
): Promise<DkgLocalRun> {
  const rejections: DkgLocalRejection[] = [];
  const intercept = async (m: DkgLocalMessage) => (options.intercept ? options.intercept(m) : m.bytes);
  const attempt = async (phase: DkgLocalPhase, receiver: DkgParticipant, deliver: () => unknown) => {
    try {
      await deliver();
    } catch (e) {
      if (!isOvertError(e)) throw e;
      rejections.push({ phase, receiver, error: e });
    }
  };
  const broadcast = async (
    phase: DkgLocalPhase,
    outgoing: readonly { from: DkgParticipant; bytes: Uint8Array | null }[],
    receive: (p: DkgParticipant, bytes: Uint8Array) => unknown,
  ) => {
    const sent: { from: DkgParticipant | undefined; bytes: Uint8Array }[] = [];
    for (const { from, bytes } of outgoing) {
      if (!bytes) continue;
      const delivered = await intercept({ phase, from, recipient: undefined, bytes });
      if (delivered) sent.push({ from, bytes: delivered });
    }
    for (const bytes of options.inject?.(phase) ?? []) sent.push({ from: undefined, bytes });
    for (const { from, bytes } of sent) {
      for (const p of participants) {
        // A sender's own message is already in its state; delivering an altered copy would be equivocation.
        if (p !== from) await attempt(phase, p, () => receive(p, bytes));
      }
    }
  };

  await broadcast(
    'round1',
    participants.map((p) => ({ from: p, bytes: p.round1Message })),
    (p, b) => p.receiveRound1(b),
  );

  const shares: { from: DkgParticipant; recipient: number; bytes: Uint8Array }[] = [];
  for (const p of participants) {
    for (const s of await p.endRound1()) shares.push({ from: p, ...s });
  }
  const extraShares = options.inject?.('share') ?? [];
  for (const s of shares) {
    const delivered = await intercept({
      phase: 'share',
      from: s.from,
      recipient: s.recipient,
      bytes: s.bytes,
    });
    const to = participants.find((p) => p.receiverIndex === s.recipient);
    if (delivered && to) await attempt('share', to, () => to.receiveShare(delivered));
  }
  for (const bytes of extraShares) {
    for (const p of participants) {
      if (p.receiverIndex !== undefined) await attempt('share', p, () => p.receiveShare(bytes));
    }
  }

  await broadcast(
    'complaint',
    participants.map((p) => ({ from: p, bytes: p.endShares() })),
    (p, b) => p.receiveComplaint(b),
  );
  await broadcast(
    'justification',
    participants.map((p) => ({ from: p, bytes: p.endComplaints() })),
    (p, b) => p.receiveJustification(b),
  );

  const outputs = participants.map((p) => {
    try {
      return p.finish();
    } catch (e) {
      if (!isOvertError(e)) throw e;
      return e;
    }
  });
  return { outputs, rejections };
}
