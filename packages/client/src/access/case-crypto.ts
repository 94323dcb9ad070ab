/**
 * The per-envelope cryptography of a case (docs/spec/access.md §8, ACC-Q9, ACC-A9, ACC-Q10): verify the capsule
 * under the epoch key for its label, verify every trustee's share for it, combine k good shares and open the
 * envelope with the key. {@link openCaseEnvelopes} keeps every decision (which shares, the order of the checks,
 * strict mode, the verdicts and their check IDs); a {@link CaseCrypto} only computes, so the work can run where
 * it is fastest: {@link inProcessCaseCrypto} here (browser-safe), or the worker-thread pool of
 * @overt/client/node (`PooledCaseCrypto`).
 */
import {
  combineShares,
  type DecryptionShare,
  decodeCapsule,
  isOvertError,
  openRecoveredEnvelope,
  type ThresholdPublicKey,
  type UnverifiedEnvelope,
  type VerifiedCapsule,
  type VerifiedShare,
  verifyCapsule,
  verifySharesBatch,
} from '@overt/core';

/** An error of a check, as code and check ID: never a key, a share or plaintext. */
export interface CaseFailure {
  readonly code: string;
  readonly check?: string;
}

export interface CaseCryptoItem {
  /** The decoded envelope (its label is the one the capsule and the shares are bound to). */
  readonly envelope: UnverifiedEnvelope;
  /** The envelope's bytes: head ‖ ciphertext. */
  readonly bytes: Uint8Array;
  /** The logged key set of the envelope's epoch. */
  readonly keySet: ThresholdPublicKey;
  /** The shares released for it whose bundle label is the envelope's, ascending by trustee. */
  readonly shares: readonly { readonly trustee: number; readonly share: DecryptionShare }[];
}

export type CaseCryptoResult =
  /** The capsule does not verify under the epoch key for the label (ACC-Q9); nothing else was done. */
  | { readonly capsule: CaseFailure }
  | {
      readonly capsule?: undefined;
      /** Shares that do not verify, by trustee (ACC-A9). */
      readonly bad: readonly { readonly trustee: number; readonly code: string; readonly check: string }[];
      /** The trustees whose shares verified, ascending. */
      readonly good: readonly number[];
      /** With ≥ k good shares: the plaintext payload, or why the envelope did not open with the combined key. */
      readonly payload?: Uint8Array;
      readonly openFailure?: CaseFailure;
    };

export interface CaseCrypto {
  /** One result per item, in order. */
  open(items: readonly CaseCryptoItem[]): Promise<CaseCryptoResult[]>;
}

function failureOf(e: unknown): CaseFailure {
  if (!isOvertError(e)) throw e;
  return { code: e.code, ...(e.check ? { check: e.check } : {}) };
}

/** On the caller's thread (browser-safe): verifyCapsule, verifySharesBatch, combineShares, openRecoveredEnvelope. */
export const inProcessCaseCrypto: CaseCrypto = {
  async open(items) {
    const out: CaseCryptoResult[] = [];
    for (const item of items) {
      let capsule: VerifiedCapsule;
      try {
        capsule = verifyCapsule(
          item.keySet.groupKey,
          decodeCapsule(item.envelope.capsule),
          item.envelope.label,
        );
      } catch (e) {
        out.push({ capsule: failureOf(e) });
        continue;
      }
      const result = verifySharesBatch(
        item.shares.map((s) => ({ capsule, publicKey: item.keySet, share: s.share })),
      );
      const good: VerifiedShare[] = [];
      const trustees: number[] = [];
      result.verified.forEach((v, j) => {
        if (v === undefined) return;
        good.push(v);
        trustees.push(item.shares[j]!.trustee);
      });
      const bad = result.failures.map((f) => ({
        trustee: item.shares[f.position]!.trustee,
        code: f.error.code,
        check: f.error.check ?? 'ACC-A9',
      }));
      const k = item.keySet.threshold;
      if (good.length < k) {
        out.push({ bad, good: trustees });
        continue;
      }
      try {
        const key = combineShares(capsule, good.slice(0, k), item.keySet);
        const opened = await openRecoveredEnvelope(item.envelope, capsule, key);
        key.fill(0);
        out.push({ bad, good: trustees, payload: opened.payload });
      } catch (e) {
        out.push({ bad, good: trustees, openFailure: failureOf(e) });
      }
    }
    return out;
  },
};
