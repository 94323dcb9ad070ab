/**
 * The requester's half of accountable access (DESIGN §4, docs/spec/access.md §2, §4, §8): build and sign a
 * request with its confidential part committed and sealed to every trustee of the policy; after execution,
 * collect — check everything the log holds about the request, open each trustee's sealed share bundle, verify
 * every share against the epoch's key set (naming the trustee whose share fails), combine k shares per envelope
 * and open the envelopes to text and files. Browser-safe: the relay is reached through {@link AccessRelay}, the
 * log through the caller's verified view.
 */
import {
  commitConfidential,
  compareBytes,
  type DeviceStatement,
  DIRECTORY_ENTRY_TYPES,
  decodeEnvelopeHead,
  equalBytes,
  isOvertError,
  ORDER_VERSION,
  openShareBundle,
  type RandomSource,
  RELAY_PART_INDEX,
  REQUEST_ID_BYTES,
  REQUEST_VERSION,
  type Request,
  type RequestConfidential,
  type RequestOpening,
  randomBytes,
  type SigningKeyPair,
  sealConfidential,
  sealConfidentialToAll,
  signRequest,
  type TimeWindow,
  toHex,
  utf8Decode,
  type VerifiedPolicy,
  type VerifiedRequest,
  verifyDeviceStatement,
  verifyPolicyEntry,
  verifyRequest,
} from '@overt/core';
import { merkleTreeHash, type VerifiedCheckpoint } from '@overt/log';
import { ClientError } from '../errors.js';
import {
  ACCESS_ENTRY_TYPES,
  type CaseBundle,
  type CaseEntries,
  type CaseEnvelope,
  type CaseLog,
  type CaseRelease,
  type LoggedEntry,
  type MessageVerdict,
  openCaseEnvelopes,
  verifyCaseLog,
} from './case.js';
import type { CaseCrypto } from './case-crypto.js';
import type { AccessRelayClient } from './relay-client.js';

/**
 * The relay calls the requester makes (access.md §4): those of {@link AccessRelayClient}, which implements them over
 * HTTP with the requester's signed-request credentials. Nothing the relay answers is trusted: collect re-derives
 * everything from the log and the bytes.
 */
export type AccessRelay = Pick<
  AccessRelayClient,
  'fileRequest' | 'getRequest' | 'envelopes' | 'ciphertext' | 'releaseBundle'
>;

export interface NewRequest {
  readonly policy: VerifiedPolicy;
  readonly requesterId: string;
  readonly signingKey: SigningKeyPair;
  readonly legalBasis: string;
  /** SHA-256 of the warrant or order document. */
  readonly documentHash: Uint8Array;
  readonly subjects: readonly string[];
  readonly window: TimeWindow;
  readonly conversations?: readonly Uint8Array[];
  readonly maxEnvelopes: number;
  readonly sealUntil: number;
  readonly createdAt: number;
  readonly confidential: RequestConfidential;
  /**
   * The relay's X25519 unseal key (`unsealKey` of /.well-known/overt, after-release.md §1). When given the opening
   * is sealed to it too (index 0), so the relay can publish the unseal at the seal date; without it only the
   * trustees can (their deadline watcher).
   */
  readonly relayUnsealKey?: Uint8Array;
  /**
   * A standing order (after-release.md §8.2): request body version 2; `sealUntil` must then be `createdAt` (an order
   * is never sealed). `previous` names the order it renews.
   */
  readonly order?: { readonly previous?: { readonly requestId: Uint8Array; readonly hash: Uint8Array } };
  readonly rng?: RandomSource;
}

export interface BuiltRequest {
  readonly signed: Uint8Array;
  readonly verified: VerifiedRequest;
  /** Secret until unseal: the salt and the confidential part. */
  readonly opening: RequestOpening;
  /** One sealed part per trustee of the policy (access.md §2), the body of POST /v1/access/requests. */
  readonly sealed: readonly { readonly trustee: number; readonly sealed: Uint8Array }[];
  /** The opening sealed to the relay's unseal key, when one was given. */
  readonly relaySealed?: Uint8Array;
}

/**
 * Builds, signs and checks a request under `policy` (a fresh random 16-byte id and 32-byte salt), and seals its
 * opening to every trustee. Throws core's REQUEST_INVALID / REQUEST_LIMIT when it breaks a rule of the policy.
 */
export async function buildRequest(p: NewRequest): Promise<BuiltRequest> {
  const rng = p.rng ?? randomBytes;
  const { commitment, opening } = commitConfidential(p.confidential, rng);
  const sortedSubjects = [...p.subjects].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const conversations = [...(p.conversations ?? [])].sort(compareBytes);
  const q: Request = {
    version: p.order !== undefined ? ORDER_VERSION : REQUEST_VERSION,
    orgId: p.policy.policy.orgId,
    requestId: rng(REQUEST_ID_BYTES),
    policyHash: p.policy.hash,
    requesterId: p.requesterId,
    createdAt: p.createdAt,
    legalBasis: p.legalBasis,
    documentHash: p.documentHash,
    subjects: sortedSubjects,
    window: p.window,
    conversations,
    maxEnvelopes: p.maxEnvelopes,
    sealUntil: p.sealUntil,
    confidentialCommitment: commitment,
    ...(p.order !== undefined ? { order: p.order } : {}),
  };
  const signed = signRequest(q, p.signingKey);
  const verified = verifyRequest(signed, p.policy);
  const sealed = await sealConfidentialToAll(p.policy, verified, opening, rng);
  const relaySealed =
    p.relayUnsealKey === undefined
      ? undefined
      : await sealConfidential(p.relayUnsealKey, RELAY_PART_INDEX, verified, opening, rng);
  return { signed, verified, opening, sealed, ...(relaySealed !== undefined ? { relaySealed } : {}) };
}

/** Files a built request with the relay (with its relay part when it has one). */
export function fileRequest(
  relay: AccessRelay,
  built: BuiltRequest,
): Promise<{ readonly requestId: Uint8Array; readonly index: number }> {
  return relay.fileRequest(built.signed, built.sealed, built.relaySealed);
}

/** A verified view of the log: a checkpoint that verified (signature, witnesses) and every entry below its size. */
export interface LogView {
  readonly checkpoint: VerifiedCheckpoint;
  readonly entries: readonly Uint8Array[];
}

/** The sealed bundles to collect: the index of each release entry, its batch, the bytes the relay served. */
export interface SealedRelease {
  readonly index: number;
  readonly batch: number;
  readonly sealed: Uint8Array;
}

export interface CollectInput {
  /** The pinned org (admin) key. */
  readonly orgKey: Uint8Array;
  /** The relay's execution key (`accessKey`). */
  readonly relayKey: Uint8Array;
  readonly requestId: Uint8Array;
  readonly log: LogView;
  readonly releases: readonly SealedRelease[];
  readonly envelopes: readonly CaseEnvelope[];
  /** The requester's HPKE secret key (its public half is in the policy). Secret. */
  readonly secretKey: Uint8Array;
  /**
   * A standing order's batch (after-release.md §8.4): the log index of the batch execution to collect; default the
   * first execution of the request on the log.
   */
  readonly executionIndex?: number;
  /** Strict: any bad share fails its message (default false: reported, and k good ones still open it). */
  readonly strict?: boolean;
  /**
   * Where the per-envelope cryptography runs: default this thread; in node, a PooledCaseCrypto (worker threads,
   * started once per command and closed by the caller).
   */
  readonly crypto?: CaseCrypto;
}

/** What collect found: the verified log objects, the opened bundles, and one verdict per envelope. */
export interface Collected {
  readonly entries: CaseEntries;
  readonly log: CaseLog;
  readonly bundles: readonly CaseBundle[];
  readonly envelopes: readonly CaseEnvelope[];
  readonly verdicts: readonly MessageVerdict[];
}

function fail(check: string, message: string, cause?: unknown): never {
  throw new ClientError('ACCESS_INVALID', message, { check, cause });
}

function requestIdOf(type: number, entry: Uint8Array): Uint8Array | undefined {
  // Request, decision, execution, release and refusal bodies: u32 len ‖ (u8 version ‖ vec8 org ‖ request_id ‖ …)
  // ‖ signature. Only a pre-filter: each entry picked is verified in full (verifyCaseLog).
  if (entry[0] !== type || entry.length < 1 + 4 + 2) return undefined;
  const orgLen = entry[6]!;
  const at = 7 + orgLen;
  if (entry.length < at + REQUEST_ID_BYTES) return undefined;
  return entry.subarray(at, at + REQUEST_ID_BYTES);
}

function sameId(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && compareBytes(a, b) === 0;
}

/**
 * Picks out of a verified log view everything about `requestId` (access.md §8, ACC-Q1): the entries must hash to
 * the checkpoint's root; the policies are every policy entry; the request, its decisions, the first execution
 * for it and the releases named by `releases`; the epoch keys of `epochs` and the device_added entries of
 * `senders` (user id and device id).
 */
export function caseFromLog(
  input: Pick<CollectInput, 'orgKey' | 'relayKey' | 'requestId' | 'log' | 'releases' | 'executionIndex'>,
  epochs: ReadonlySet<number>,
  senders: ReadonlySet<string>,
): CaseEntries {
  const { log } = input;
  if (log.entries.length !== log.checkpoint.size)
    fail('ACC-Q1', 'the log view does not hold every entry of its checkpoint');
  const root = merkleTreeHash(log.entries as Uint8Array[]);
  if (compareBytes(root, log.checkpoint.rootHash) !== 0)
    fail('ACC-Q1', "the log view's entries do not hash to its checkpoint's root");
  const at = (index: number): LoggedEntry => ({ index, entry: log.entries[index]! });
  const policies: LoggedEntry[] = [];
  const decisions: LoggedEntry[] = [];
  const epochKeys: LoggedEntry[] = [];
  const devices: LoggedEntry[] = [];
  let request: LoggedEntry | undefined;
  let execution: LoggedEntry | undefined;
  log.entries.forEach((e, index) => {
    switch (e[0]) {
      case 1:
        policies.push(at(index));
        break;
      case ACCESS_ENTRY_TYPES.request:
        if (request === undefined && sameId(requestIdOf(e[0], e), input.requestId)) request = at(index);
        break;
      case ACCESS_ENTRY_TYPES.decision:
        if (sameId(requestIdOf(e[0], e), input.requestId)) decisions.push(at(index));
        break;
      case ACCESS_ENTRY_TYPES.execution:
        if (
          execution === undefined &&
          (input.executionIndex === undefined || input.executionIndex === index) &&
          sameId(requestIdOf(e[0], e), input.requestId)
        )
          execution = at(index);
        break;
      case 2: {
        // vec8 org ‖ u32 epoch: only the epochs asked for.
        const orgLen = e[1];
        if (orgLen === undefined || e.length < 2 + orgLen + 4) break;
        const epoch = new DataView(e.buffer, e.byteOffset + 2 + orgLen, 4).getUint32(0);
        if (epochs.has(epoch)) epochKeys.push(at(index));
        break;
      }
      case 3: {
        // vec8 org ‖ vec8 user ‖ vec8 device.
        try {
          let p = 1;
          p += 1 + e[p]!;
          const user = utf8Decode(e.subarray(p + 1, p + 1 + e[p]!));
          p += 1 + e[p]!;
          const device = utf8Decode(e.subarray(p + 1, p + 1 + e[p]!));
          if (senders.has(`${user}\n${device}`)) devices.push(at(index));
        } catch {
          // A malformed statement names no sender.
        }
        break;
      }
    }
  });
  if (request === undefined) fail('ACC-Q3', 'the request is not on the log');
  if (execution === undefined) fail('ACC-Q4', 'no execution of the request is on the log');
  const releases: CaseRelease[] = input.releases.map((r) => {
    const e = log.entries[r.index];
    if (e === undefined || !sameId(requestIdOf(ACCESS_ENTRY_TYPES.release, e), input.requestId))
      fail('ACC-Q5', 'a release the relay named is not a release of the request on the log');
    return { entry: at(r.index), batch: r.batch, sealed: r.sealed };
  });
  return {
    orgKey: input.orgKey,
    relayKey: input.relayKey,
    requestId: input.requestId,
    policies,
    request,
    decisions: decisions.filter((d) => d.index > request!.index && d.index < execution!.index),
    execution,
    releases,
    epochKeys,
    devices,
  };
}

/** The policy in force at `index`: the latest policy entry before it verifying under the org key with a greater serial. */
function policyInForce(log: LogView, orgKey: Uint8Array, index: number, orgId: string): string | undefined {
  let serial = -1;
  let hash: string | undefined;
  for (let i = 0; i < index; i++) {
    const e = log.entries[i]!;
    if (e[0] !== 1) continue;
    try {
      const p = verifyPolicyEntry(orgKey, e);
      if (p.policy.orgId === orgId && p.policy.serial > serial) {
        serial = p.policy.serial;
        hash = toHex(p.hash);
      }
    } catch (err) {
      if (!isOvertError(err)) throw err;
    }
  }
  return hash;
}

/**
 * Collects an executed request (access.md §8): ACC-Q1 the log view, then {@link verifyCaseLog}; ACC-Q2 also
 * requires the request's policy to be the policy in force at the request's index (a full log view shows it);
 * each sealed bundle is opened with the requester's key (openShareBundle, ACC-2: hash, binding, batch); then
 * {@link openCaseEnvelopes}. Case-level failures throw ClientError ACCESS_INVALID (or core's ACC-2 error wrapped
 * in it); per-envelope outcomes are the verdicts, a bad share naming its trustee (ACCESS_BAD_SHARE, ACC-A9).
 */
export async function collect(input: CollectInput): Promise<Collected> {
  const epochs = new Set<number>();
  const senders = new Set<string>();
  for (const e of input.envelopes) {
    try {
      const h = decodeEnvelopeHead(e.head).header;
      epochs.add(h.epoch);
      senders.add(`${h.senderUserId}\n${utf8Decode(h.senderDeviceId)}`);
    } catch (err) {
      if (!isOvertError(err)) throw err;
    }
  }
  const entries = caseFromLog(input, epochs, senders);
  const log = verifyCaseLog(entries);
  const inForce = policyInForce(input.log, input.orgKey, log.requestIndex, log.policy.policy.orgId);
  if (inForce !== toHex(log.policy.hash))
    fail('ACC-Q2', "the request's policy is not the policy in force at the request's index");
  const bundles: CaseBundle[] = [];
  for (const r of log.releases) {
    try {
      const bundle = await openShareBundle(
        input.secretKey,
        log.policy,
        log.execution,
        r.release,
        r.batch,
        r.sealed,
      );
      bundles.push({ release: r.release, batch: r.batch, bundle });
    } catch (e) {
      if (!isOvertError(e)) throw e;
      fail(
        'ACC-Q5',
        `trustee ${r.release.release.trusteeIndex}'s bundle for batch ${r.batch} does not open (${e.check})`,
        e,
      );
    }
  }
  const opened = await openCaseEnvelopes(log, bundles, input.envelopes, {
    strict: input.strict ?? false,
    ...(input.crypto ? { crypto: input.crypto } : {}),
  });
  const verdicts = opened.map((v) => removedBeforeSend(input.log, input.orgKey, log, v));
  return { entries, log, bundles, envelopes: input.envelopes, verdicts };
}

/**
 * ACC-Q11 (a full log view only): an opened message whose sending device key has a device_removed entry on the
 * log, verified under the org key, dated at or before the message's send time, is not accepted as sent by that
 * device (release rule 5; a removed device's key may be in other hands).
 */
function removedBeforeSend(
  view: LogView,
  orgKey: Uint8Array,
  log: CaseLog,
  v: MessageVerdict,
): MessageVerdict {
  if (!v.ok) return v;
  const device = log.devices.find((d) => d.index === v.deviceIndex)!.statement;
  for (const e of view.entries) {
    if (e[0] !== DIRECTORY_ENTRY_TYPES.device_removed) continue;
    let removal: DeviceStatement;
    try {
      removal = verifyDeviceStatement(orgKey, 'removed', e.subarray(1));
    } catch (err) {
      if (!isOvertError(err)) throw err;
      continue;
    }
    if (
      removal.orgId === device.orgId &&
      removal.userId === device.userId &&
      removal.deviceId === device.deviceId &&
      equalBytes(removal.identityKey, device.identityKey) &&
      removal.time <= v.header.sendTime
    )
      return {
        ok: false,
        position: v.position,
        label: v.label,
        messageId: v.messageId,
        header: v.header,
        code: 'ACCESS_ENVELOPE_INVALID',
        check: 'ACC-Q11',
        reason: 'the sending device was removed before the send time',
        badShares: v.badShares,
      };
  }
  return v;
}

/**
 * Collects one batch of a standing order (after-release.md §8.4): the releases of that batch, its envelopes
 * (positions batch·1024 …), and {@link collect} with the batch execution in place of the execution.
 */
export async function collectOrderBatch(
  relay: AccessRelay,
  input: Omit<CollectInput, 'releases' | 'envelopes' | 'executionIndex'>,
  batch: { readonly batch: number; readonly index: number; readonly envelopeCount: number },
  releases: readonly { readonly trustee: number; readonly batch: number; readonly index: number }[],
): Promise<Collected> {
  const sealed: SealedRelease[] = [];
  for (const r of releases)
    if (r.batch === batch.batch)
      sealed.push({
        index: r.index,
        batch: r.batch,
        sealed: await relay.releaseBundle(input.requestId, r.trustee, r.batch),
      });
  const envelopes: CaseEnvelope[] = [];
  let from: number | null = batch.batch * 1024;
  while (from !== null && envelopes.length < batch.envelopeCount) {
    const page = await relay.envelopes(input.requestId, from, batch.envelopeCount - envelopes.length);
    for (const e of page.items)
      if (envelopes.length < batch.envelopeCount)
        envelopes.push({
          position: e.position,
          head: e.head,
          ciphertext: await relay.ciphertext(input.requestId, e.position),
        });
    if (page.items.length === 0 || (page.next !== null && page.next <= from)) break;
    from = page.next;
  }
  return collect({ ...input, releases: sealed, envelopes, executionIndex: batch.index });
}

/**
 * Downloads from the relay what {@link collect} needs — the release list, every sealed bundle, every envelope head
 * and ciphertext — and collects. The log view is the caller's (verified against its pinned anchors).
 */
export async function collectFromRelay(
  relay: AccessRelay,
  input: Omit<CollectInput, 'releases' | 'envelopes'>,
  pageSize = 1024,
): Promise<Collected> {
  const status = await relay.getRequest(input.requestId);
  const releases: SealedRelease[] = [];
  for (const r of status.releases)
    releases.push({
      index: r.index,
      batch: r.batch,
      sealed: await relay.releaseBundle(input.requestId, r.trustee, r.batch),
    });
  const envelopes: CaseEnvelope[] = [];
  let from: number | null = 0;
  while (from !== null) {
    const page = await relay.envelopes(input.requestId, from, pageSize);
    for (const e of page.items)
      envelopes.push({
        position: e.position,
        head: e.head,
        ciphertext: await relay.ciphertext(input.requestId, e.position),
      });
    if (page.items.length === 0 || (page.next !== null && page.next <= from)) break;
    from = page.next;
  }
  return collect({ ...input, releases, envelopes });
}
