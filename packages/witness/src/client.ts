/**
 * The log's side of C2SP tlog-witness: submit a signed checkpoint with a consistency proof to a witness and get
 * its cosignature back.
 *
 * A witness answers 409 with the size it last cosigned when the log's idea of it is stale (after a restart of
 * the log, a lost response, or a first contact). The client then asks the caller for a consistency proof from
 * that size and retries once, as the spec suggests ("a client … MAY initially make a request with an old size
 * of zero to obtain it"). Responses are read with a size limit; with the witness's key, cosignature lines are
 * verified before they are returned, and lines of other keys are ignored (tlog-witness: "The client MUST
 * ignore any cosignatures from unknown keys").
 */
import { utf8Decode } from '@overt/core';
import {
  formatSignatureLine,
  isLogError,
  type NoteSignature,
  parseCheckpoint,
  parseSignatureLine,
  parseVerifierKey,
  type VerifierKey,
  verifyCosignature,
} from '@overt/log';
import { WitnessError, type WitnessErrorCode } from './errors.js';
import { SIZE_CONTENT_TYPE } from './http.js';
import { encodeAddCheckpointRequest, parseSize } from './request.js';

/** Returns the RFC 6962 consistency proof from `oldSize` to the submitted checkpoint's size. */
export type ConsistencyProver = (oldSize: number) => Promise<readonly Uint8Array[]> | readonly Uint8Array[];

export interface SubmitOptions {
  /** The witness's vkey (type 0x04): returned cosignatures are verified and filtered to this key. */
  readonly witnessKey?: VerifierKey | string;
  /** Per-attempt timeout; 10 s by default. */
  readonly timeoutMs?: number;
  /** Aborts the submission (e.g. the log service's own deadline). */
  readonly signal?: AbortSignal;
  readonly fetch?: typeof fetch;
}

export interface WitnessSubmission {
  /** The cosignatures returned (only the witness key's, when it was given). */
  readonly cosignatures: readonly NoteSignature[];
  /** The same, as note signature lines ready to append to the checkpoint note. */
  readonly lines: string;
  /** The old size the accepted request was made from. */
  readonly oldSize: number;
}

/** Bound on a witness's answer: a few signature lines. */
const MAX_RESPONSE_BYTES = 64 * 1024;

const STATUS_CODES: Readonly<Record<number, WitnessErrorCode>> = {
  400: 'WITNESS_MALFORMED',
  403: 'WITNESS_BAD_SIGNATURE',
  404: 'WITNESS_UNKNOWN_LOG',
  409: 'WITNESS_CONFLICT',
  413: 'WITNESS_TOO_LARGE',
  422: 'WITNESS_BAD_PROOF',
};

/**
 * Submits `checkpointNote` (the log-signed checkpoint) to the witness at `url` (its submission prefix), with a
 * consistency proof from `oldSize`; on 409 retries once from the size the witness reports.
 * @throws WitnessError with the code of the witness's refusal (WITNESS_CONFLICT carries `knownSize`), or
 *   WITNESS_RESPONSE when the witness is unreachable or answers outside the protocol.
 */
export async function submitToWitness(
  url: string,
  checkpointNote: Uint8Array,
  oldSize: number,
  proof: ConsistencyProver,
  options: SubmitOptions = {},
): Promise<WitnessSubmission> {
  let cp: ReturnType<typeof parseCheckpoint>;
  try {
    cp = parseCheckpoint(checkpointNote);
  } catch (e) {
    if (isLogError(e)) throw new WitnessError('WITNESS_MALFORMED', 'not a checkpoint note', { cause: e });
    throw e;
  }
  const key =
    typeof options.witnessKey === 'string' ? parseVerifierKey(options.witnessKey) : options.witnessKey;
  const endpoint = `${url.replace(/\/$/, '')}/add-checkpoint`;
  let old = oldSize;
  for (let attempt = 0; ; attempt++) {
    const body = encodeAddCheckpointRequest(old, await proof(old), checkpointNote);
    const res = await post(endpoint, body, options);
    if (res.status === 200) {
      const cosignatures = parseCosignatures(res.body, cp.text, key);
      return { cosignatures, lines: cosignatures.map(formatSignatureLine).join(''), oldSize: old };
    }
    if (res.status === 409) {
      const known = parseConflict(res);
      // Retry only when the witness knows a different size that can precede ours; the same size back means the
      // roots differ (a fork), a larger one that the witness has seen more of the log than this checkpoint.
      if (attempt === 0 && known !== old && known <= cp.size) {
        old = known;
        continue;
      }
      throw new WitnessError('WITNESS_CONFLICT', 'the witness refused the checkpoint as conflicting', {
        knownSize: known,
      });
    }
    const code = STATUS_CODES[res.status] ?? 'WITNESS_RESPONSE';
    throw new WitnessError(code, `the witness answered ${res.status}`);
  }
}

interface RawResponse {
  readonly status: number;
  readonly contentType: string;
  readonly body: Uint8Array;
}

async function post(endpoint: string, body: Uint8Array, options: SubmitOptions): Promise<RawResponse> {
  const doFetch = options.fetch ?? fetch;
  try {
    const res = await doFetch(endpoint, {
      method: 'POST',
      // A copy typed as ArrayBuffer-backed, which is what fetch's BodyInit accepts.
      body: new Uint8Array(body),
      headers: { 'content-type': 'text/plain; charset=utf-8' },
      signal: AbortSignal.any([
        AbortSignal.timeout(options.timeoutMs ?? 10_000),
        ...(options.signal ? [options.signal] : []),
      ]),
    });
    return {
      status: res.status,
      contentType: res.headers.get('content-type') ?? '',
      body: await readLimited(res),
    };
  } catch (e) {
    if (e instanceof WitnessError) throw e;
    throw new WitnessError('WITNESS_RESPONSE', 'the witness could not be reached', { cause: e });
  }
}

async function readLimited(res: Response): Promise<Uint8Array> {
  if (res.body === null) return new Uint8Array();
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > MAX_RESPONSE_BYTES) {
      await reader.cancel();
      throw new WitnessError('WITNESS_RESPONSE', 'the witness answer is too large');
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/** tlog-witness: 409 carries `text/x.tlog.size`, the latest cosigned size in decimal and a newline. */
function parseConflict(res: RawResponse): number {
  const type = res.contentType.split(';')[0]!.trim().toLowerCase();
  let text: string;
  try {
    text = utf8Decode(res.body);
  } catch {
    text = '';
  }
  const size = text.endsWith('\n') ? parseSize(text.slice(0, -1)) : undefined;
  if (type !== SIZE_CONTENT_TYPE || size === undefined)
    throw new WitnessError('WITNESS_RESPONSE', 'a 409 answer must carry a text/x.tlog.size body', {
      check: 'WIT-11',
    });
  return size;
}

/** tlog-witness: "one or more note signature lines, each starting with — and ending with a newline". */
function parseCosignatures(
  body: Uint8Array,
  checkpointText: string,
  key: VerifierKey | undefined,
): NoteSignature[] {
  let lines: string[];
  try {
    const text = utf8Decode(body);
    if (text.length === 0 || !text.endsWith('\n')) throw new Error('unterminated');
    lines = text.slice(0, -1).split('\n');
  } catch (e) {
    throw new WitnessError('WITNESS_RESPONSE', 'the witness answer is not signature lines', {
      check: 'WIT-12',
      cause: e,
    });
  }
  const out: NoteSignature[] = [];
  for (const line of lines) {
    let sig: NoteSignature;
    try {
      sig = parseSignatureLine(line);
    } catch (e) {
      throw new WitnessError('WITNESS_RESPONSE', 'the witness answer is not signature lines', {
        check: 'WIT-12',
        cause: e,
      });
    }
    if (key === undefined) {
      out.push(sig);
      continue;
    }
    if (sig.name !== key.name || sig.keyId !== key.keyId) continue;
    try {
      verifyCosignature(key, checkpointText, sig);
    } catch (e) {
      throw new WitnessError('WITNESS_RESPONSE', 'the witness returned a cosignature that does not verify', {
        check: 'WIT-12',
        cause: e,
      });
    }
    out.push(sig);
  }
  if (out.length === 0)
    throw new WitnessError('WITNESS_RESPONSE', 'the witness returned no cosignature of its key', {
      check: 'WIT-12',
    });
  return out;
}
