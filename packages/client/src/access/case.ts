/**
 * The requester's verification of an executed access request (docs/spec/access.md §8), shared by `collect`
 * (requester.ts, which opens the sealed share bundles with the requester's key) and the offline evidence verifier
 * (evidence-verify.ts, which holds the opened bundles): from logged entries that the caller has already proven
 * included in a verified checkpoint, it checks the policy, the request, the decisions and the execution, each
 * release, the epoch keys and the sending devices, and then, envelope by envelope, the label set, the scope, the
 * sender signature, the capsule, every trustee's share (naming the trustee whose share fails), the combination of k
 * shares and the envelope's decryption. Pure and browser-safe: no I/O, no clock.
 *
 * Stages: {@link verifyCaseLog} (the logged objects, ACC-Q2..Q6) → {@link CaseLog}; then
 * {@link openCaseEnvelopes} (per envelope, ACC-Q7..Q10, ACC-A9) → one {@link MessageVerdict} per position.
 */
import {
  type BundleShare,
  batchRangeOf,
  checkExecutionLabels,
  checkShareBundle,
  compareBytes,
  concatBytes,
  type DecodedEpochKeyStatement,
  type DecryptionShare,
  type DeviceStatement,
  DIRECTORY_ENTRY_TYPES,
  decisionsOnLog,
  decodeElement,
  decodeEnvelope,
  decodeEpochKeyStatement,
  decodeRequest,
  decodeSigned,
  equalBytes,
  executionRange,
  type Header,
  inScope,
  isOvertError,
  MAX_REQUEST_BYTES,
  POLICY_ENTRY_TYPE,
  type ShareBundle,
  scopeOf,
  type ThresholdPublicKey,
  toHex,
  utf8Encode,
  type VerifiedExecution,
  type VerifiedPolicy,
  type VerifiedRelease,
  type VerifiedRequest,
  verifyDeviceStatement,
  verifyEpochKeyStatement,
  verifyExecution,
  verifyPolicyEntry,
  verifyRelease,
  verifyRequest,
  verifySenderSignature,
} from '@overt/core';
import { ClientError } from '../errors.js';
import { decodeMessageContent, type MessageContent } from '../sdk/content.js';
import {
  type CaseCrypto,
  type CaseCryptoItem,
  type CaseCryptoResult,
  type CaseFailure,
  inProcessCaseCrypto,
} from './case-crypto.js';

/** Log entry types of the access workflow (log.md §7 registry; entry.ts ENTRY_TYPES). */
export const ACCESS_ENTRY_TYPES = { request: 5, decision: 6, execution: 7, release: 8, refusal: 12 } as const;

/** An entry at a log index. The caller has proven it included in a verified checkpoint (ACC-Q1). */
export interface LoggedEntry {
  readonly index: number;
  /** u8 type ‖ body, as the log holds it. */
  readonly entry: Uint8Array;
}

/** A logged release and its batch, with the sealed bundle it names by hash. */
export interface CaseRelease {
  readonly entry: LoggedEntry;
  readonly batch: number;
  /** The sealed bundle; its SHA-256 must be the release's bundle_hash. */
  readonly sealed: Uint8Array;
}

/** An executed envelope as served: its position, its head (u32 len ‖ header ‖ capsule ‖ signature), its ciphertext. */
export interface CaseEnvelope {
  readonly position: number;
  readonly head: Uint8Array;
  readonly ciphertext: Uint8Array;
}

/** Everything about one executed request that the log holds, plus the relay's execution key. */
export interface CaseEntries {
  /** The org (admin) key pinned by the verifier: it signs policies and device statements. */
  readonly orgKey: Uint8Array;
  /** The relay's execution key (`accessKey` of `/.well-known/overt`). */
  readonly relayKey: Uint8Array;
  /** The request asked about. */
  readonly requestId: Uint8Array;
  /** Policy entries (u8 1): the request's, and the one each epoch key names. */
  readonly policies: readonly LoggedEntry[];
  readonly request: LoggedEntry;
  /** Decision entries (u8 6) about the request, in log order. */
  readonly decisions: readonly LoggedEntry[];
  readonly execution: LoggedEntry;
  readonly releases: readonly CaseRelease[];
  /** Epoch-key entries (u8 2): one for each epoch the envelopes name. */
  readonly epochKeys: readonly LoggedEntry[];
  /** device_added entries (u8 3): one for each sending device. */
  readonly devices: readonly LoggedEntry[];
}

/** The logged objects, verified. */
export interface CaseLog {
  readonly policy: VerifiedPolicy;
  readonly policyIndex: number;
  readonly request: VerifiedRequest;
  readonly requestIndex: number;
  readonly execution: VerifiedExecution;
  readonly executionIndex: number;
  readonly releases: readonly {
    readonly release: VerifiedRelease;
    readonly batch: number;
    readonly index: number;
    readonly sealed: Uint8Array;
  }[];
  /** Epoch → its first verified key set and the index of its statement (the group key of every resharing too). */
  readonly epochKeys: ReadonlyMap<number, CaseEpochKey>;
  /**
   * Epoch → every verified statement of it in log order: its first key, then each resharing (the same group key
   * under a policy of greater serial, dkg.md §8). A share is checked against the one in force at its release.
   */
  readonly epochKeySets: ReadonlyMap<number, readonly CaseEpochKey[]>;
  readonly devices: readonly { readonly statement: DeviceStatement; readonly index: number }[];
}

/** A verified epoch-key statement of the case: its key set, its log index and the statement. */
export interface CaseEpochKey {
  readonly keySet: ThresholdPublicKey;
  readonly index: number;
  readonly statement: DecodedEpochKeyStatement;
  /** The serial of the policy it verified under. */
  readonly serial: number;
}

/** The statement of `epoch` in force at log position `index`: the latest one logged before it. */
export function epochKeyInForceAt(log: CaseLog, epoch: number, index: number): CaseEpochKey | undefined {
  let found: CaseEpochKey | undefined;
  for (const k of log.epochKeySets.get(epoch) ?? []) if (k.index < index) found = k;
  return found;
}

/** Where in the case a check failed: a log entry, a trustee's bundle, an envelope position. None is secret. */
export interface CaseWhere {
  readonly entry?: number;
  readonly trustee?: number;
  readonly batch?: number;
  readonly position?: number;
}

/** ACCESS_INVALID with the place of the failure, so an evidence verifier can name the file. */
export class AccessCaseError extends ClientError {
  readonly where: CaseWhere;
  constructor(check: string, message: string, where: CaseWhere = {}, cause?: unknown) {
    super('ACCESS_INVALID', message, { check, cause });
    this.where = where;
  }
}

function fail(check: string, message: string, cause?: unknown, where: CaseWhere = {}): never {
  throw new AccessCaseError(check, message, where, cause);
}

function body(e: LoggedEntry, type: number, check: string, what: string): Uint8Array {
  if (
    !(e.entry instanceof Uint8Array) ||
    e.entry[0] !== type ||
    !Number.isSafeInteger(e.index) ||
    e.index < 0
  )
    fail(check, `${what} entry has the wrong type or index`, undefined, { entry: e.index });
  return e.entry.subarray(1);
}

function wrap<T>(check: string, what: string, f: () => T, where: CaseWhere = {}): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ClientError) throw e;
    if (isOvertError(e))
      fail(check, `${what} does not verify (${e.code}${e.check ? ` ${e.check}` : ''})`, e, where);
    throw e;
  }
}

/**
 * Verifies the logged objects of one executed request, in order (access.md §8):
 * ACC-Q2 the request's policy is a policy entry under the org key, logged before the request;
 * ACC-Q3 the request verifies under it (verifyRequest, WF-R*) and is the request asked for;
 * ACC-Q4 the decisions and the execution verify (verifyExecution under the relay key and the logged decisions,
 *        WF-E*), logged after the request;
 * ACC-Q5 each release verifies (verifyRelease, WF-L*), is logged after the execution, and no (trustee, batch)
 *        is released twice;
 * ACC-Q6 each epoch key verifies under the policy it names (DIR-2..6), logged after that policy; a later one of
 *        an epoch only as a resharing (the same group key under a policy of greater serial, access.md §7.5);
 *        each device statement verifies under the org key (DIR-1) and names the org.
 * ClientError ACCESS_INVALID with the check ID; the cause is core's error.
 */
export function verifyCaseLog(c: CaseEntries): CaseLog {
  const policies = new Map<string, { policy: VerifiedPolicy; index: number }>();
  for (const p of c.policies) {
    body(p, POLICY_ENTRY_TYPE, 'ACC-Q2', 'policy');
    const policy = wrap('ACC-Q2', 'a policy', () => verifyPolicyEntry(c.orgKey, p.entry), { entry: p.index });
    policies.set(toHex(policy.hash), { policy, index: p.index });
  }
  const reqBody = body(c.request, ACCESS_ENTRY_TYPES.request, 'ACC-Q3', 'request');
  const atRequest = { entry: c.request.index };
  const unverified = wrap(
    'ACC-Q3',
    'the request',
    () => decodeRequest(decodeSigned(reqBody, MAX_REQUEST_BYTES, 'REQUEST_INVALID', 'WF-R1').body),
    atRequest,
  );
  if (!equalBytes(unverified.requestId, c.requestId))
    fail('ACC-Q3', 'the request entry is another request', undefined, atRequest);
  const named = policies.get(toHex(unverified.policyHash));
  if (named === undefined)
    fail('ACC-Q2', "the request's policy is not among the logged policies", undefined, atRequest);
  if (named.index >= c.request.index)
    fail('ACC-Q2', "the request's policy is logged after the request", undefined, { entry: named.index });
  const policy = named.policy;
  const request = wrap('ACC-Q3', 'the request', () => verifyRequest(reqBody, policy), atRequest);

  for (const d of c.decisions) {
    body(d, ACCESS_ENTRY_TYPES.decision, 'ACC-Q4', 'decision');
    if (d.index <= c.request.index || d.index >= c.execution.index)
      fail('ACC-Q4', 'a decision is not logged between the request and the execution', undefined, {
        entry: d.index,
      });
  }
  const logged = wrap('ACC-Q4', 'the decisions', () =>
    decisionsOnLog(
      policy,
      request,
      [...c.decisions].sort((a, b) => a.index - b.index).map((d) => d.entry),
    ),
  );
  const exBody = body(c.execution, ACCESS_ENTRY_TYPES.execution, 'ACC-Q4', 'execution');
  const atExecution = { entry: c.execution.index };
  if (c.execution.index <= c.request.index)
    fail('ACC-Q4', 'the execution is logged before the request', undefined, atExecution);
  const execution = wrap(
    'ACC-Q4',
    'the execution',
    () => verifyExecution(exBody, c.relayKey, policy, request, logged),
    atExecution,
  );

  const releases: CaseLog['releases'][number][] = [];
  const released = new Set<string>();
  for (const r of c.releases) {
    const b = body(r.entry, ACCESS_ENTRY_TYPES.release, 'ACC-Q5', 'release');
    const at: CaseWhere = { entry: r.entry.index, batch: r.batch };
    if (r.entry.index <= c.execution.index)
      fail('ACC-Q5', 'a release is logged before the execution', undefined, at);
    const release = wrap('ACC-Q5', 'a release', () => verifyRelease(b, policy, execution), at);
    const t = release.release.trusteeIndex;
    const range = batchRangeOf(execution.execution, r.batch);
    if (range.start === range.end)
      fail('ACC-Q5', `trustee ${t}'s release names a batch past the execution`, undefined, {
        ...at,
        trustee: t,
      });
    const key = `${t}/${r.batch}`;
    if (released.has(key))
      fail('ACC-Q5', `trustee ${t} released batch ${r.batch} twice`, undefined, { ...at, trustee: t });
    released.add(key);
    releases.push({ release, batch: r.batch, index: r.entry.index, sealed: r.sealed });
  }

  const epochKeySets = new Map<number, CaseEpochKey[]>();
  for (const k of [...c.epochKeys].sort((a, b) => a.index - b.index)) {
    const b = body(k, DIRECTORY_ENTRY_TYPES.epoch_key, 'ACC-Q6', 'epoch-key');
    const at = { entry: k.index };
    const decoded = wrap('ACC-Q6', 'an epoch key', () => decodeEpochKeyStatement(b), at);
    const under = policies.get(toHex(decoded.policyHash));
    if (under === undefined || under.index >= k.index)
      fail(
        'ACC-Q6',
        `the policy the key of epoch ${decoded.epoch} names is not logged before it`,
        undefined,
        at,
      );
    const statement = wrap('ACC-Q6', 'an epoch key', () => verifyEpochKeyStatement(under.policy, b), at);
    if (statement.orgId !== policy.policy.orgId)
      fail('ACC-Q6', 'an epoch key names another organisation', undefined, at);
    const list = epochKeySets.get(statement.epoch) ?? [];
    const seen = list[list.length - 1];
    if (seen !== undefined && equalBytes(seen.statement.content, statement.content)) continue;
    // A later statement is a resharing only with the same group key under a newer policy (ACC-Q6).
    if (
      seen !== undefined &&
      (!equalBytes(seen.statement.groupKey, statement.groupKey) || under.policy.policy.serial <= seen.serial)
    )
      fail('ACC-Q6', `two different keys for epoch ${statement.epoch}`, undefined, at);
    const keySet = wrap(
      'ACC-Q6',
      'an epoch key',
      () => ({
        threshold: statement.threshold,
        groupKey: decodeElement(statement.groupKey, 'group key'),
        verificationKeys: statement.verificationKeys.map((y) => decodeElement(y, 'verification key')),
      }),
      at,
    );
    list.push({ keySet, index: k.index, statement, serial: under.policy.policy.serial });
    epochKeySets.set(statement.epoch, list);
  }
  const epochKeys = new Map<number, CaseEpochKey>();
  for (const [epoch, list] of epochKeySets) epochKeys.set(epoch, list[0]!);

  const devices: { statement: DeviceStatement; index: number }[] = [];
  for (const d of c.devices) {
    const b = body(d, DIRECTORY_ENTRY_TYPES.device_added, 'ACC-Q6', 'device');
    const at = { entry: d.index };
    const statement = wrap(
      'ACC-Q6',
      'a device statement',
      () => verifyDeviceStatement(c.orgKey, 'added', b),
      at,
    );
    if (statement.orgId !== policy.policy.orgId)
      fail('ACC-Q6', 'a device statement names another organisation', undefined, at);
    devices.push({ statement, index: d.index });
  }
  return {
    policy,
    policyIndex: named.index,
    request,
    requestIndex: c.request.index,
    execution,
    executionIndex: c.execution.index,
    releases,
    epochKeys,
    epochKeySets,
    devices,
  };
}

/** A trustee's share the verifier could not use, and why (ACC-A9). Indices and positions are not secret. */
export interface BadShare {
  readonly trustee: number;
  readonly position: number;
  readonly code: string;
  readonly check: string;
}

/** A trustee's bundle for one batch as the verifier holds it: opened, and the release it came with. */
export interface CaseBundle {
  readonly release: VerifiedRelease;
  readonly batch: number;
  readonly bundle: ShareBundle;
}

/** What the verifier concluded about one envelope. */
export type MessageVerdict =
  | {
      readonly ok: true;
      readonly position: number;
      readonly label: Uint8Array;
      readonly messageId: Uint8Array;
      readonly header: Header;
      /** The log index of the device_added entry whose key verified the sender signature. */
      readonly deviceIndex: number;
      /** The epoch-key entry's index. */
      readonly epochKeyIndex: number;
      /** The trustees whose verified shares were combined (the first k, in bundle order). */
      readonly trustees: readonly number[];
      /** Shares that failed; the message still opened from k others. */
      readonly badShares: readonly BadShare[];
      readonly content: MessageContent;
    }
  | {
      readonly ok: false;
      readonly position: number;
      readonly label?: Uint8Array;
      readonly messageId?: Uint8Array;
      /** The decoded header, when the envelope decoded. */
      readonly header?: Header;
      /** ACCESS_WITHHELD (ACC-Q10) when fewer than k shares were released; otherwise the failing rule's code. */
      readonly code: string;
      readonly check: string;
      /** Names the rule and, for a bad share, the trustee; never a key, a share or plaintext. */
      readonly reason: string;
      readonly badShares: readonly BadShare[];
    };

export interface OpenCaseOptions {
  /**
   * Evidence mode: any share that fails fails its message (a court's bundle holds only good shares). Otherwise a
   * bad share is reported and the message opens from k good ones when it can.
   */
  readonly strict?: boolean;
  /** Where the per-envelope cryptography runs (default: this thread; node: PooledCaseCrypto's workers). */
  readonly crypto?: CaseCrypto;
}

interface Decoded {
  readonly envelope: ReturnType<typeof decodeEnvelope>;
  readonly position: number;
}

type FailedVerdict = Extract<MessageVerdict, { ok: false }>;

/** A {@link CaseFailure} from a {@link CaseCrypto} (a plain record, not an Error). */
function isCaseFailure(e: unknown): e is CaseFailure {
  return (
    e !== null &&
    typeof e === 'object' &&
    !(e instanceof Error) &&
    'code' in e &&
    typeof (e as { code: unknown }).code === 'string'
  );
}

function verdictFail(
  position: number,
  d: Decoded | undefined,
  check: string,
  reason: string,
  e?: unknown,
  badShares: readonly BadShare[] = [],
  code?: string,
): FailedVerdict {
  const named: CaseFailure | undefined =
    isCaseFailure(e) || isOvertError(e) ? e : e instanceof ClientError ? { code: e.code } : undefined;
  const c = code ?? named?.code ?? 'ACCESS_ENVELOPE_INVALID';
  // A ClientError's check is not repeated in the reason (as before); a core error's or a CaseFailure's is.
  const inner =
    named !== undefined && !(e instanceof ClientError) && named.check
      ? ` (${named.code} ${named.check})`
      : '';
  return {
    ok: false,
    position,
    ...(d
      ? { label: d.envelope.label, messageId: d.envelope.header.messageId, header: d.envelope.header }
      : {}),
    code: c,
    check,
    reason: reason + inner,
    badShares,
  };
}

/**
 * The envelope checks (access.md §8), after {@link verifyCaseLog} and with each trustee's opened bundle:
 * ACC-Q7 the served envelopes are exactly positions 0..n−1, each decodes, their labels in position order are
 *        strictly increasing and match the execution's count and root (WF-E6) — a failure here fails the case
 *        (ClientError ACCESS_INVALID), since positions are then meaningless;
 * then per envelope, a failure failing only that message's verdict:
 * ACC-Q8 its header is in the request's scope (SCOPE-1..4) and its sender signature verifies under a logged
 *        device_added key of its sender (ENV-22);
 * ACC-Q9 its epoch has a logged key and its capsule verifies under it for its label (CAP-*);
 * ACC-A9 every share for it verifies against the epoch's key set (SHR-*), its bundle label is the envelope's;
 * ACC-A10 that key set is the epoch's statement in force at the share's release; shares of another key set are
 *        reported as SHARE_WRONG_KEY_SET (they never combine, SHR-10);
 *        a failing share is reported with its trustee, and fails the message in strict mode or when fewer than
 *        k good shares remain;
 * ACC-Q10 k shares combine and the envelope opens with the key (ENV-11, AEAD-2, ENV-12..14), its content decodes
 *        (CLI-11).
 * Each bundle must first pass checkShareBundle against its release (ACC-2), else the case fails.
 */
export async function openCaseEnvelopes(
  log: CaseLog,
  bundles: readonly CaseBundle[],
  envelopes: readonly CaseEnvelope[],
  options: OpenCaseOptions = {},
): Promise<MessageVerdict[]> {
  // Shares by position, with the trustee each came from and the log index of its release (its key set's position).
  const releaseIndex = new Map<string, number>();
  for (const r of log.releases) releaseIndex.set(`${r.release.release.trusteeIndex}/${r.batch}`, r.index);
  const byPosition = new Map<number, { trustee: number; at: number; share: BundleShare }[]>();
  for (const b of bundles) {
    wrap(
      'ACC-Q5',
      `trustee ${b.release.release.trusteeIndex}'s bundle`,
      () => checkShareBundle(log.execution, b.release, b.batch, b.bundle),
      { trustee: b.release.release.trusteeIndex, batch: b.batch },
    );
    const at = releaseIndex.get(`${b.release.release.trusteeIndex}/${b.batch}`) ?? log.executionIndex;
    for (const s of b.bundle.shares) {
      const list = byPosition.get(s.position) ?? [];
      list.push({ trustee: b.bundle.trusteeIndex, at, share: s });
      byPosition.set(s.position, list);
    }
  }
  for (const list of byPosition.values()) list.sort((a, b) => a.trustee - b.trustee);

  const count = log.execution.execution.envelopeCount;
  // A standing order's batch b holds positions b·1024 + i (after-release.md §8.3); a request's 0 … count − 1.
  const first = executionRange(log.execution.execution).start;
  const sorted = [...envelopes].sort((a, b) => a.position - b.position);
  if (sorted.length !== count || sorted.some((e, i) => e.position !== first + i))
    fail('ACC-Q7', "the served envelopes are not exactly the execution's positions");
  const bytesOf = new Map<number, Uint8Array>();
  const decoded: Decoded[] = sorted.map((e) => {
    const bytes = concatBytes(e.head, e.ciphertext);
    bytesOf.set(e.position, bytes);
    return {
      position: e.position,
      envelope: wrap('ACC-Q7', `the envelope at position ${e.position}`, () => decodeEnvelope(bytes), {
        position: e.position,
      }),
    };
  });
  // The envelope whose label differs from the one the trustees' bundles carry at its position, if any: the one to
  // name when the set does not match the execution.
  const odd = (): CaseWhere | undefined => {
    const d = decoded.find((x) =>
      bundles.some((b) =>
        b.bundle.shares.some((s) => s.position === x.position && !equalBytes(s.label, x.envelope.label)),
      ),
    );
    return d === undefined ? undefined : { position: d.position };
  };
  for (let i = 1; i < decoded.length; i++)
    if (compareBytes(decoded[i - 1]!.envelope.label, decoded[i]!.envelope.label) >= 0)
      fail('ACC-Q7', 'the envelopes are not in label order', undefined, odd() ?? { position: i });
  try {
    checkExecutionLabels(
      log.execution,
      decoded.map((d) => d.envelope.label),
    );
  } catch (e) {
    if (!isOvertError(e)) throw e;
    fail('ACC-Q7', "the envelopes' labels do not match the execution (WF-E6)", e, odd() ?? {});
  }

  const scope = scopeOf(log.request);
  const out: (MessageVerdict | undefined)[] = [];
  const pending: Pending[] = [];
  for (const d of decoded) {
    const h = d.envelope.header;
    const sc = inScope(h, scope);
    if (!sc.inScope) {
      out.push(
        verdictFail(d.position, d, 'ACC-Q8', `the header is out of the request's scope (${sc.check})`),
      );
      continue;
    }
    const device = log.devices.find(
      (x) =>
        x.statement.userId === h.senderUserId &&
        equalBytes(utf8Encode(x.statement.deviceId), h.senderDeviceId) &&
        (() => {
          try {
            verifySenderSignature(d.envelope, x.statement.identityKey);
            return true;
          } catch (e) {
            if (!isOvertError(e)) throw e;
            return false;
          }
        })(),
    );
    if (device === undefined) {
      out.push(
        verdictFail(
          d.position,
          d,
          'ACC-Q8',
          'no logged device key of the sender verifies the sender signature (ENV-22)',
        ),
      );
      continue;
    }
    const epoch = log.epochKeys.get(h.epoch);
    if (epoch === undefined) {
      out.push(verdictFail(d.position, d, 'ACC-Q9', "no logged key for the envelope's epoch"));
      continue;
    }
    const given = byPosition.get(d.position) ?? [];
    const bad: BadShare[] = [];
    // Each share is checked against the epoch's statement in force at its release (ACC-A10). Shares of two key
    // sets (a release before a resharing and one after it) never combine (SHR-10): the key set most shares were
    // released under is used (on a tie, the later one), the others are reported as SHARE_WRONG_KEY_SET.
    const bySet = new Map<CaseEpochKey, { trustee: number; share: DecryptionShare }[]>();
    for (const g of given) {
      if (!equalBytes(g.share.label, d.envelope.label)) {
        bad.push({ trustee: g.trustee, position: d.position, code: 'ACCESS_BAD_SHARE', check: 'ACC-A9' });
        continue;
      }
      const set = epochKeyInForceAt(log, h.epoch, g.at) ?? epoch;
      const list = bySet.get(set) ?? [];
      list.push({ trustee: g.trustee, share: g.share.share });
      bySet.set(set, list);
    }
    let chosen = epoch;
    let shares: { trustee: number; share: DecryptionShare }[] = [];
    for (const [set, list] of bySet)
      if (list.length > shares.length || (list.length === shares.length && set.index > chosen.index)) {
        chosen = set;
        shares = list;
      }
    for (const [set, list] of bySet)
      if (set !== chosen)
        for (const x of list)
          bad.push({
            trustee: x.trustee,
            position: d.position,
            code: 'SHARE_WRONG_KEY_SET',
            check: 'ACC-A10',
          });
    const at = out.length;
    out.push(undefined);
    pending.push({
      at,
      d,
      deviceIndex: device.index,
      epoch: chosen,
      bad,
      item: { envelope: d.envelope, bytes: bytesOf.get(d.position)!, keySet: chosen.keySet, shares },
    });
  }
  // ACC-Q9, ACC-A9, ACC-Q10: the cryptography of every envelope that passed ACC-Q8, in one call (a worker pool
  // when the caller gave one), then each verdict in the order of the checks.
  const results = await (options.crypto ?? inProcessCaseCrypto).open(pending.map((p) => p.item));
  pending.forEach((p, j) => {
    out[p.at] = verdictOf(p, results[j]!, options.strict ?? false);
  });
  return out.map((v) => v!);
}

interface Pending {
  readonly at: number;
  readonly d: Decoded;
  readonly deviceIndex: number;
  readonly epoch: { readonly keySet: ThresholdPublicKey; readonly index: number };
  /** Shares already failed for a label that is not the envelope's. */
  readonly bad: BadShare[];
  readonly item: CaseCryptoItem;
}

function verdictOf(p: Pending, r: CaseCryptoResult, strict: boolean): MessageVerdict {
  const { d, epoch } = p;
  const h = d.envelope.header;
  if (r.capsule !== undefined)
    return verdictFail(d.position, d, 'ACC-Q9', 'the capsule does not verify under the epoch key', r.capsule);
  const bad = [...p.bad, ...r.bad.map((b) => ({ ...b, position: d.position }))];
  bad.sort((a, b) => a.trustee - b.trustee);
  const k = epoch.keySet.threshold;
  if (bad.length > 0 && (strict || r.good.length < k)) {
    const names = bad.map((b) => `trustee ${b.trustee} (${b.check})`).join(', ');
    return verdictFail(
      d.position,
      d,
      'ACC-A9',
      `a decryption share does not verify: ${names}`,
      undefined,
      bad,
      'ACCESS_BAD_SHARE',
    );
  }
  if (r.good.length < k)
    return verdictFail(
      d.position,
      d,
      'ACC-Q10',
      `only ${r.good.length} of the ${k} shares needed were released`,
      undefined,
      bad,
      'ACCESS_WITHHELD',
    );
  if (r.payload === undefined)
    return verdictFail(
      d.position,
      d,
      'ACC-Q10',
      'the envelope does not open with the combined key',
      r.openFailure,
      bad,
    );
  try {
    const content = decodeMessageContent(h.contentType, r.payload, h.messageId);
    return {
      ok: true,
      position: d.position,
      label: d.envelope.label,
      messageId: h.messageId,
      header: h,
      deviceIndex: p.deviceIndex,
      epochKeyIndex: epoch.index,
      trustees: r.good.slice(0, k),
      badShares: bad,
      content,
    };
  } catch (e) {
    if (!(isOvertError(e) || e instanceof ClientError)) throw e;
    return verdictFail(d.position, d, 'ACC-Q10', 'the envelope does not open with the combined key', e, bad);
  }
}
