/**
 * Collecting witness cosignatures for the log's checkpoints (c2sp.org/tlog-witness, "add-checkpoint";
 * c2sp.org/tlog-cosignature).
 *
 * The transport is pluggable: a {@link LogWitness} is any function that delivers an add-checkpoint request and
 * returns the response body (the witness package provides the HTTP client). This module keeps, per witness, the
 * size it last cosigned, builds the consistency proof from that size, asks every witness concurrently under a
 * timeout, and keeps only cosignatures that verify (SEQ-4). A slow or down witness costs at most the timeout and
 * never blocks appends: witnessing runs after the checkpoint is durable, on its own schedule.
 */
import { utf8Encode } from '@overt/core';
import { verifyCosignature } from '../cosignature.js';
import { LogError } from '../errors.js';
import type { HashReader } from '../merkle.js';
import { consistencyProof } from '../merkle.js';
import { type NoteSignature, parseSignatureLine, type VerifierKey } from '../note.js';

/** The RFC 6962 §2.1.2 consistency proof from `oldSize` to the checkpoint being submitted (empty from 0). */
export type ConsistencyProver = (oldSize: number) => Promise<readonly Uint8Array[]>;

/**
 * One witness as the sequencer sees it: its cosignature key and a transport for tlog-witness add-checkpoint.
 *
 * `addCheckpoint(note, oldSize, prove, signal)` submits the log-signed checkpoint `note` with the consistency
 * proof `prove(oldSize)`; when the witness answers 409 with another size it may call `prove` again and retry
 * from that size (the witness package's `submitToWitness(url, note, oldSize, prove, { witnessKey })` does this
 * and fits as is). It resolves with the response's note signature lines, as a string or as `{ lines }`. When
 * it gives up on a conflict it should reject with an error carrying the witness's size as a numeric
 * `knownSize` (the witness package's `WitnessError` does), so that the next round starts from there. Any
 * rejection counts as "no cosignature this round". The log stops waiting when `signal` aborts (the timeout).
 */
export interface LogWitness {
  /** The witness's cosignature verifier key (type 0x04); lines by other keys in its response are ignored. */
  readonly key: VerifierKey;
  addCheckpoint(
    note: Uint8Array,
    oldSize: number,
    prove: ConsistencyProver,
    signal: AbortSignal,
  ): Promise<string | { readonly lines: string }>;
}

/** A signed checkpoint as the sequencer holds it. */
export interface LogCheckpoint {
  readonly size: number;
  readonly root: Uint8Array;
  /** The signed note text (log signature, plus cosignature lines once published). */
  readonly note: string;
}

function knownSizeOf(e: unknown): number | undefined {
  if (typeof e !== 'object' || e === null || !('knownSize' in e)) return undefined;
  const k = (e as { knownSize: unknown }).knownSize;
  return typeof k === 'number' && Number.isSafeInteger(k) && k >= 0 ? k : undefined;
}

/** Rejects after `ms` unless `p` settles first; the timer never keeps the process alive. */
function withTimeout<T>(p: Promise<T>, ms: number, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const fail = () => reject(new LogError('SEQ_TIMEOUT', 'witness did not answer in time'));
    const timer = setTimeout(fail, ms);
    timer.unref();
    signal.addEventListener('abort', fail, { once: true });
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/**
 * SEQ-4: the cosignatures in a witness's response that are by its key and verify over this checkpoint's text.
 * Lines by other keys are ignored (tlog-witness: "The client MUST ignore any cosignatures from unknown keys");
 * a malformed body or a line by the witness's key that does not verify rejects the whole response.
 */
export function acceptCosignatures(key: VerifierKey, checkpointText: string, body: string): NoteSignature[] {
  const lines = body.split('\n');
  if (lines.pop() !== '' || lines.length === 0)
    throw new LogError('COSIG_MALFORMED', 'witness response must be signature lines ending in a newline', {
      check: 'SEQ-4',
    });
  const out: NoteSignature[] = [];
  for (const line of lines) {
    const sig = parseSignatureLine(line);
    if (sig.name !== key.name || sig.keyId !== key.keyId) continue;
    verifyCosignature(key, checkpointText, sig);
    if (!out.some((s) => s.keyId === sig.keyId && s.name === sig.name)) out.push(sig);
  }
  if (out.length === 0)
    throw new LogError('COSIG_MALFORMED', 'witness response has no cosignature by its key', {
      check: 'SEQ-4',
    });
  return out;
}

/** Per-witness state across rounds: the size each witness last cosigned, as learned from its answers. */
export class WitnessPool {
  private readonly known: number[];

  constructor(
    readonly witnesses: readonly LogWitness[],
    private readonly reader: HashReader,
    private readonly timeoutMs: number,
  ) {
    this.known = witnesses.map(() => 0);
  }

  /**
   * Asks every witness to cosign `cp` (whose text is `text`), concurrently, each under the timeout. Resolves with
   * the verified cosignatures, witnesses in configuration order; never rejects.
   */
  async round(cp: LogCheckpoint, text: string, signal: AbortSignal): Promise<NoteSignature[]> {
    const results = await Promise.allSettled(this.witnesses.map((w, i) => this.ask(i, w, cp, text, signal)));
    return results.flatMap((r) => (r.status === 'fulfilled' ? r.value : []));
  }

  private async ask(
    i: number,
    w: LogWitness,
    cp: LogCheckpoint,
    text: string,
    signal: AbortSignal,
  ): Promise<NoteSignature[]> {
    const prove: ConsistencyProver = async (old) => {
      // tlog-witness: old ≤ size; the proof from 0 (or from the same size) is empty.
      if (!Number.isSafeInteger(old) || old < 0 || old > cp.size)
        throw new LogError('MERKLE_RANGE', 'the witness knows a larger tree than this checkpoint', {
          check: 'MERKLE-1',
        });
      return old === 0 ? [] : consistencyProof(old, cp.size, this.reader);
    };
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const answer = await withTimeout(
        w.addCheckpoint(utf8Encode(cp.note), this.known[i]!, prove, controller.signal),
        this.timeoutMs,
        controller.signal,
      );
      const body = typeof answer === 'string' ? answer : answer.lines;
      const sigs = acceptCosignatures(w.key, text, body);
      this.known[i] = cp.size;
      return sigs;
    } catch (e) {
      const k = knownSizeOf(e);
      if (k !== undefined) this.known[i] = k;
      throw e;
    } finally {
      controller.abort();
      signal.removeEventListener('abort', onAbort);
    }
  }
}
