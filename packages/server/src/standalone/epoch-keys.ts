/**
 * Epoch keys ahead of time (docs/spec/start.md §4.2): for each wanted epoch, the local trustees run core's DKG
 * (the policy's threshold, 2 of 3), keep their shares in encrypted share files, and every trustee signs the
 * epoch-key statement (directory.md §1.2: org, epoch, policy hash, Y, every Y_i, transcript hash, session id)
 * that the relay verifies under the policy in force and appends to the log. The admin key signs nothing here. On a restart an epoch already published, or already
 * generated but not yet published (a crash between the two), is reused; only missing epochs are generated.
 */
import { randomBytes as nodeRandomBytes } from 'node:crypto';
import {
  createDkgSession,
  DkgParticipant,
  decodeScalar,
  equalBytes,
  group,
  isOvertError,
  runDkgLocally,
  signEpochKeyStatement,
  type VerifiedDkgTranscript,
  type VerifiedPolicy,
  verifyTranscript,
} from '@overt/core';
import type { RelayService } from '../service.js';
import type { EpochKeyRecord, RelayStorage } from '../storage/storage.js';
import { StandaloneError } from './errors.js';
import type { LocalTrustee } from './trustee.js';

export { TRUSTEE_THRESHOLD } from './policy.js';

export interface EpochKeyOutcome {
  readonly epoch: number;
  /** `reused`: already on the log; `published`: shares existed, now on the log; `generated`: new DKG run. */
  readonly status: 'reused' | 'published' | 'generated';
  readonly record: EpochKeyRecord;
}

function stateError(message: string, cause?: unknown): StandaloneError {
  return new StandaloneError('START_STATE', message, { check: 'START-4', cause });
}

/** The verified transcript every trustee holds for `epoch`, or undefined when none holds a share. START-4. */
function storedTranscript(trustees: readonly LocalTrustee[], orgId: string, epoch: number) {
  const records = trustees.map((t) => t.readShare(epoch));
  if (records.every((r) => r === undefined)) return undefined;
  if (records.some((r) => r === undefined))
    throw stateError(`only some trustees hold a share of epoch ${epoch}`);
  const first = records[0]!;
  let verified: VerifiedDkgTranscript;
  try {
    verified = verifyTranscript(first.transcript);
  } catch (e) {
    if (isOvertError(e)) throw stateError(`the stored transcript of epoch ${epoch} does not verify`, e);
    throw e;
  }
  if (verified.session.org !== orgId || verified.session.epoch !== epoch)
    throw stateError(`the stored transcript of epoch ${epoch} is of another org or epoch`);
  for (const [i, r] of records.entries()) {
    if (!equalBytes(r!.transcript, first.transcript))
      throw stateError(`trustees hold shares of different sessions for epoch ${epoch}`);
    // A share that does not match its public verification key would make the trustee's partial decryptions fail.
    const vk = verified.publicKey.verificationKeys[i];
    let matches = false;
    try {
      matches = vk !== undefined && equalBytes(group.baseMul(decodeScalar(r!.secret, 'share')), vk);
    } catch (e) {
      if (!isOvertError(e)) throw e;
    }
    if (!matches) throw stateError(`trustee ${i + 1}'s share of epoch ${epoch} does not match its key`);
  }
  for (const r of records) r!.secret.fill(0);
  return verified;
}

async function runDkg(trustees: readonly LocalTrustee[], orgId: string, epoch: number, threshold: number) {
  const session = createDkgSession({
    org: orgId,
    epoch,
    // A fresh attempt number per run, so that no trustee ever takes part twice in one session (dkg.md §2).
    attempt: new DataView(nodeRandomBytes(4).buffer).getUint32(0),
    threshold,
    participants: trustees.map((t) => t.info()),
  });
  const participants = trustees.map((t) =>
    DkgParticipant.forDkg(session, {
      index: t.index,
      signingKey: t.signingKey,
      encryptionSecretKey: t.encryption.secretKey,
    }),
  );
  const run = await runDkgLocally(participants);
  const outputs = run.outputs.map((o) => {
    if (isOvertError(o)) throw stateError(`the DKG of epoch ${epoch} failed`, o);
    return o;
  });
  const first = outputs[0]!;
  for (const o of outputs) {
    if (!equalBytes(o.transcriptHash, first.transcriptHash) || o.keyShare === null)
      throw stateError(`the DKG of epoch ${epoch} did not agree`);
  }
  for (const [i, t] of trustees.entries()) t.writeShare(outputs[i]!);
  return verifyTranscript(first.transcript);
}

/**
 * Makes sure `epochs` (ascending) have published epoch keys, reusing what exists. Throws START_STATE (START-4)
 * when the stored shares and the relay's record disagree, or when the relay already holds a later epoch.
 */
export async function ensureEpochKeys(options: {
  readonly trustees: readonly LocalTrustee[];
  /** The policy in force on the relay's log, whose trustees these are. */
  readonly policy: VerifiedPolicy;
  readonly orgId: string;
  readonly storage: RelayStorage;
  readonly service: RelayService;
  readonly epochs: readonly number[];
  readonly now: () => number;
}): Promise<EpochKeyOutcome[]> {
  const out: EpochKeyOutcome[] = [];
  for (const epoch of options.epochs) {
    const existing = await options.storage.getEpochKey(epoch);
    const stored = storedTranscript(options.trustees, options.orgId, epoch);
    if (existing !== undefined) {
      if (stored === undefined || !equalBytes(stored.transcriptHash, existing.transcriptHash))
        throw stateError(`the published key of epoch ${epoch} is not the one the trustees hold`);
      out.push({ epoch, status: 'reused', record: existing });
      continue;
    }
    const current = await options.storage.currentEpochKey();
    if (current !== undefined && current.epoch > epoch) {
      // The relay accepts epoch keys in increasing order only (STORE-R-2); a later one means this epoch is past.
      throw stateError(`epoch ${epoch} is missing but a later epoch is already published`);
    }
    const transcript =
      stored ?? (await runDkg(options.trustees, options.orgId, epoch, options.policy.policy.threshold));
    // Every trustee signs (k would do): the content names the policy, the DKG's output and its session.
    const statement = signEpochKeyStatement(
      {
        orgId: options.orgId,
        epoch,
        policyHash: options.policy.hash,
        threshold: transcript.publicKey.threshold,
        groupKey: transcript.publicKey.groupKey,
        verificationKeys: transcript.publicKey.verificationKeys,
        transcriptHash: transcript.transcriptHash,
        sessionId: transcript.session.id,
        time: options.now(),
      },
      options.trustees.map((t) => ({ index: t.index, key: t.signingKey })),
    );
    const record = await options.service.publishEpochKey(statement);
    out.push({ epoch, status: stored ? 'published' : 'generated', record });
  }
  return out;
}
