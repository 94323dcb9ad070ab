/**
 * What every `overt request` command shares (docs/spec/cli.md §9, access.md §8): the requester's key file, the
 * org's anchors (pinned from a saved `/.well-known/overt`, or fetched on first use), the relay client signed as the
 * requester, a verified view of the whole log (checkpoint under the log key and the witness quorum, every entry
 * re-hashed to its root), the policy in force read from that view, and the check of what the relay says about a
 * request against the log (REQ-2). The relay is never believed: status, collect and open decide from the log.
 */
import { readFileSync, statSync } from 'node:fs';
import {
  AccessRelayClient,
  ClientError,
  type EvidenceAnchors,
  type LogView,
  logPolicyOf,
  type RequestView,
  type TrustAnchors,
  trustAnchorsFromWellKnown,
} from '@overt/client';
import { PooledCaseCrypto, verifyEvidenceAt } from '@overt/client/node';
import {
  DECISION_ENTRY_TYPE,
  decisionsOnLog,
  decodeRequest,
  decodeSigned,
  equalBytes,
  fromBase64,
  fromBase64Url,
  isOvertError,
  type SigningKeyPair,
  toHex,
  type VerifiedDecision,
  type VerifiedExecution,
  type VerifiedPolicy,
  type VerifiedRefusal,
  type VerifiedRelease,
  type VerifiedRequest,
  verifyDecision,
  verifyExecution,
  verifyPolicyEntry,
  verifyRefusal,
  verifyRelease,
  verifyRequest,
} from '@overt/core';
import { MemoryMonitorStore, Monitor } from '@overt/log';
import {
  type CommandContext,
  fileReason,
  networkReason,
  optionalString,
  stringList,
  UnavailableError,
  UsageError,
} from './command.js';
import { fetchWellKnownDoc } from './profile.js';

export const DEFAULT_RELAY = 'http://127.0.0.1:8420';
export const DEFAULT_REQUESTER_KEY = './data/requester/secret.key';

/** The options every `overt request` command takes. */
export const requesterOptions = {
  relay: {
    type: 'string',
    value: 'URL',
    description: `the relay (default: the one serving --org-anchors' log, else ${DEFAULT_RELAY})`,
  },
  'requester-key': {
    type: 'string',
    value: 'FILE',
    description: `the requester's secret key file, mode 0600 (default ${DEFAULT_REQUESTER_KEY}, npm start's)`,
  },
  'org-anchors': {
    type: 'string',
    value: 'FILE',
    description:
      "a saved copy of the org's /.well-known/overt that pins the org, log, witness and relay keys\n" +
      '                         (default: fetched from the relay: trust on first use)',
  },
} as const;

const REQUEST_ENTRY = 5;
const EXECUTION_ENTRY = 7;
const RELEASE_ENTRY = 8;
const REFUSAL_ENTRY = 12;
const POLICY_ENTRY = 1;

export function relayOption(ctx: CommandContext): string {
  const relay = optionalString(ctx, 'relay') ?? relayOfAnchors(ctx) ?? DEFAULT_RELAY;
  try {
    const u = new URL(relay);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
  } catch {
    throw new UsageError(`--relay ${JSON.stringify(relay)} is not a URL (e.g. ${DEFAULT_RELAY})`);
  }
  return relay.replace(/\/+$/, '');
}

/**
 * Without --relay, the relay that serves the log named in --org-anchors (its `log.url` is `<relay>/log/`, start.md),
 * so that a requester who pinned the org's anchors need not repeat the relay's address. Undefined when there is
 * no such file or it names no log URL of that shape; loadOrg reports a bad file.
 */
function relayOfAnchors(ctx: CommandContext): string | undefined {
  const file = optionalString(ctx, 'org-anchors');
  if (file === undefined) return undefined;
  try {
    const url = (JSON.parse(readFileSync(file, 'utf8')) as { log?: { url?: unknown } }).log?.url;
    if (typeof url !== 'string') return undefined;
    const m = /^(https?:\/\/.+)\/log\/?$/.exec(url);
    return m?.[1];
  } catch {
    return undefined;
  }
}

/** A request id given on the command line: base64url of 16 bytes. @throws UsageError. */
export function requestIdArg(text: string): Uint8Array {
  try {
    const id = fromBase64Url(text);
    if (id.length === 16) return id;
  } catch {
    // Reported below.
  }
  throw new UsageError(`${JSON.stringify(text)} is not a request id (what 'overt request file' printed)`);
}

export interface RequesterKeys {
  readonly signingKey: SigningKeyPair;
  readonly encryption: { readonly publicKey: Uint8Array; readonly secretKey: Uint8Array };
}

/**
 * Reads `--requester-key` (32 secret bytes, mode 0600) and derives the signing and HPKE keys with the server's
 * one derivation of the stand-in's keys (requesterKeysFromSecret, start.md §4.3). @throws UsageError.
 */
export async function readRequesterKeys(ctx: CommandContext): Promise<RequesterKeys> {
  return readRequesterKeyFile(optionalString(ctx, 'requester-key') ?? DEFAULT_REQUESTER_KEY);
}

/** {@link readRequesterKeys} of the key file at `path` (errors name it as `--requester-key`). @throws UsageError. */
export async function readRequesterKeyFile(path: string): Promise<RequesterKeys> {
  let secret: Uint8Array;
  try {
    if ((statSync(path).mode & 0o077) !== 0)
      throw new UsageError(`--requester-key ${path} is readable by others; make it mode 0600 (chmod 600)`);
    secret = new Uint8Array(readFileSync(path));
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read --requester-key ${path}: ${fileReason(e)}`);
  }
  // Loaded only here: the all-in-one start's package is large, and only these commands need its derivation.
  const { requesterKeysFromSecret, REQUESTER_SECRET_BYTES } = await import('@overt/up');
  try {
    if (secret.length !== REQUESTER_SECRET_BYTES)
      throw new UsageError(
        `--requester-key ${path} is not a requester key (${REQUESTER_SECRET_BYTES} bytes; npm start writes one to ${DEFAULT_REQUESTER_KEY})`,
      );
    return await requesterKeysFromSecret(secret);
  } finally {
    secret.fill(0);
  }
}

/** The org as the requester trusts it. */
export interface Org {
  readonly orgId: string;
  readonly anchors: TrustAnchors;
  /** The relay's execution key (`accessKey`, access.md §4.1). */
  readonly accessKey: Uint8Array;
  /** The relay's X25519 unseal key (`unsealKey`, after-release.md §1), when it publishes one. */
  readonly unsealKey?: Uint8Array;
  /** Where the anchors came from: a pinned file, or the relay itself (trust on first use). */
  readonly from: 'file' | 'relay';
}

/** The anchors of `--org-anchors FILE`, or of the relay's `/.well-known/overt`. @throws UsageError, UnavailableError. */
export async function loadOrg(ctx: CommandContext, relay: string, online = true): Promise<Org> {
  const file = optionalString(ctx, 'org-anchors');
  let doc: unknown;
  if (file === undefined && !online)
    throw new UsageError('offline, the org keys must be pinned: give --org-anchors FILE');
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new UsageError(`cannot read --org-anchors ${file}: ${fileReason(e)}`);
    }
    try {
      doc = JSON.parse(text);
    } catch {
      throw new UsageError(`--org-anchors ${file} is not JSON (save the relay's /.well-known/overt)`);
    }
  } else {
    doc = await fetchWellKnownDoc(relay);
  }
  return orgFromWellKnown(
    doc,
    file !== undefined ? `--org-anchors ${file}` : `${relay}/.well-known/overt`,
    file !== undefined ? 'file' : 'relay',
  );
}

/**
 * The org of a `/.well-known/overt` document (start.md §2): its anchors, the relay's execution key and its unseal key.
 * `where` names the document in errors. @throws UsageError when it holds no usable anchors or no execution key.
 */
export function orgFromWellKnown(doc: unknown, where: string, from: Org['from']): Org {
  let orgId: string;
  let anchors: TrustAnchors;
  try {
    ({ orgId, anchors } = trustAnchorsFromWellKnown(doc));
  } catch (e) {
    if (e instanceof ClientError)
      throw new UsageError(`${where} does not hold usable anchors (${e.message})`);
    throw e;
  }
  const k = (doc as { accessKey?: unknown }).accessKey;
  let accessKey: Uint8Array | undefined;
  try {
    accessKey = typeof k === 'string' ? fromBase64(k) : undefined;
  } catch {
    accessKey = undefined;
  }
  if (accessKey?.length !== 32)
    throw new UsageError(`${where} names no relay execution key (accessKey): the relay does not run access`);
  const u = (doc as { unsealKey?: unknown }).unsealKey;
  let unsealKey: Uint8Array | undefined;
  try {
    unsealKey = typeof u === 'string' ? fromBase64(u) : undefined;
  } catch {
    unsealKey = undefined;
  }
  if (unsealKey !== undefined && unsealKey.length !== 32)
    throw new UsageError(`${where} names a malformed relay unseal key (unsealKey)`);
  return {
    orgId,
    anchors,
    accessKey,
    ...(unsealKey !== undefined ? { unsealKey } : {}),
    from,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A verified view of the whole log: the latest checkpoint verified under the pinned log key and witness quorum,
 * and every entry below its size, re-hashed to its root (the monitor of @overt/log). When `atLeast` is given,
 * waits up to `waitMs` for a checkpoint of more than `atLeast` entries (a new entry is witnessed in seconds).
 * KT_LOG_INVALID when the log does not verify; the log unreachable is UnavailableError (exit 4).
 */
export async function logView(org: Org, atLeast = 0, waitMs = 15_000): Promise<LogView> {
  const policy = logPolicyOf(org.anchors);
  const deadline = Date.now() + waitMs;
  for (;;) {
    const entries: Uint8Array[] = [];
    const monitor = new Monitor({
      policy,
      url: org.anchors.log.url,
      fetch: (url) => fetch(url),
      store: new MemoryMonitorStore(),
      onEntry: (index, entry) => {
        entries[index] = entry;
      },
    });
    const r = await monitor.update();
    if (r.kind === 'unavailable') {
      const net = networkReason(r.error);
      if (net !== undefined || r.error.code === 'MONITOR_TRANSPORT')
        throw new UnavailableError(`cannot read the log at ${org.anchors.log.url} (${net ?? 'no answer'})`);
      throw new ClientError('KT_LOG_UNAVAILABLE', `the log could not be read (${r.error.message})`, {
        check: r.error.check ?? 'KT-2',
        cause: r.error,
      });
    }
    if (r.kind !== 'ok')
      throw new ClientError('KT_LOG_INVALID', `the log does not verify (${r.kind}: ${r.error.message})`, {
        check: 'KT-2',
        cause: r.error,
      });
    if (r.checkpoint.size > atLeast || Date.now() >= deadline) return { checkpoint: r.checkpoint, entries };
    await sleep(500);
  }
}

/** Every policy entry of the view that verifies under the org key and names the org, by hash, with its index. */
export function loggedPolicies(
  view: LogView,
  org: Org,
): Map<string, { policy: VerifiedPolicy; index: number }> {
  const out = new Map<string, { policy: VerifiedPolicy; index: number }>();
  view.entries.forEach((e, index) => {
    if (e[0] !== POLICY_ENTRY) return;
    try {
      const policy = verifyPolicyEntry(org.anchors.adminKey, e);
      if (policy.policy.orgId === org.orgId) out.set(toHex(policy.hash), { policy, index });
    } catch (err) {
      if (!isOvertError(err)) throw err;
    }
  });
  return out;
}

/** The policy in force at the end of the view: the logged policy with the greatest serial (workflow.md §2). */
export function policyInForce(view: LogView, org: Org): VerifiedPolicy {
  let best: VerifiedPolicy | undefined;
  for (const { policy } of loggedPolicies(view, org).values())
    if (best === undefined || policy.policy.serial > best.policy.serial) best = policy;
  if (best === undefined)
    throw new ClientError('ACCESS_INVALID', 'the log holds no access policy of the org', { check: 'REQ-1' });
  return best;
}

/** The requester id the policy gives the key (REQ-1). */
export function requesterIdOf(policy: VerifiedPolicy, keys: RequesterKeys): string {
  const r = policy.policy.requesters.find((x) => equalBytes(x.signingKey, keys.signingKey.publicKey));
  if (r === undefined)
    throw new ClientError(
      'ACCESS_INVALID',
      `the requester key is not a requester of the policy in force (serial ${policy.policy.serial})`,
      { check: 'REQ-1' },
    );
  if (!equalBytes(r.encryptionKey, keys.encryption.publicKey))
    throw new ClientError(
      'ACCESS_INVALID',
      "the policy names this requester with another HPKE key: the trustees' bundles would not open",
      { check: 'REQ-1' },
    );
  return r.id;
}

export function accessClient(relay: string, id: string, keys: RequesterKeys): AccessRelayClient {
  return new AccessRelayClient({ url: relay, signer: { kind: 'requester', id, key: keys.signingKey } });
}

/** The request's state, decided from the log; each object the relay listed found there byte for byte (REQ-2). */
export interface CheckedStatus {
  readonly policy: VerifiedPolicy;
  readonly policySerial: number;
  readonly request: VerifiedRequest;
  readonly requestIndex: number;
  readonly decisions: readonly { readonly decision: VerifiedDecision; readonly index: number }[];
  readonly execution?: { readonly execution: VerifiedExecution; readonly index: number };
  readonly releases: readonly {
    readonly release: VerifiedRelease;
    readonly batch: number;
    readonly index: number;
  }[];
  readonly refusals: readonly { readonly refusal: VerifiedRefusal; readonly index: number }[];
  /** pending, executed, or denied (more denials than the policy's n − k): from the log. */
  readonly status: 'pending' | 'executed' | 'denied';
  /** What the relay says (it alone knows `over-limit`: an execution it did not sign is not logged). */
  readonly relayStatus: string;
  /** Entries about the request on the log that the relay's answer left out. */
  readonly unlisted: number;
}

function notOnLog(what: string, index: number): never {
  throw new ClientError(
    'ACCESS_INVALID',
    `the relay lists ${what} at log index ${index}, but the verified log holds other bytes there`,
    { check: 'REQ-2' },
  );
}

function onLog(view: LogView, index: number, type: number, body: Uint8Array, what: string): void {
  const e = view.entries[index];
  if (e === undefined) notOnLog(what, index);
  if (e[0] !== type || !equalBytes(e.subarray(1), body)) notOnLog(what, index);
}

function verified<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (isOvertError(e))
      throw new ClientError('ACCESS_INVALID', `${what} does not verify (${e.code} ${e.check ?? ''})`.trim(), {
        check: 'REQ-2',
        cause: e,
      });
    throw e;
  }
}

/** The request id inside a signed request, execution, release or refusal entry (u8 type ‖ u32 len ‖ u8 ver ‖ vec8 org ‖ id). */
function requestIdIn(entry: Uint8Array): Uint8Array | undefined {
  if (entry.length < 7) return undefined;
  const at = 7 + entry[6]!;
  return entry.length >= at + 16 ? entry.subarray(at, at + 16) : undefined;
}

/**
 * Checks the relay's view of a request against the verified log (REQ-2): the request, each decision, the
 * execution, each release and each refusal the relay lists must be the entry at the index it gives, byte for byte,
 * and verify (request under its logged policy, decisions and refusals bound to it, the execution under the relay's
 * execution key over every logged decision, releases under the execution). The status is the log's.
 */
export function checkStatus(view: LogView, org: Org, requestId: Uint8Array, r: RequestView): CheckedStatus {
  onLog(view, r.index, REQUEST_ENTRY, r.request, 'the request');
  const policies = loggedPolicies(view, org);
  const unverified = verified('the request', () =>
    decodeRequest(decodeSigned(r.request, 1 << 24, 'REQUEST_INVALID', 'WF-R1').body),
  );
  if (!equalBytes(unverified.requestId, requestId))
    throw new ClientError('ACCESS_INVALID', 'the relay answered with another request', { check: 'REQ-2' });
  const named = policies.get(toHex(unverified.policyHash));
  if (named === undefined || named.index >= r.index)
    throw new ClientError('ACCESS_INVALID', "the request's policy is not logged before it", {
      check: 'REQ-2',
    });
  const policy = named.policy;
  const request = verified('the request', () => verifyRequest(r.request, policy));

  const decisions = r.decisions.map((d) => {
    onLog(view, d.index, DECISION_ENTRY_TYPE, d.decision, 'a decision');
    if (d.index <= r.index)
      throw new ClientError('ACCESS_INVALID', 'a decision is logged before the request', { check: 'REQ-2' });
    return {
      decision: verified('a decision', () => verifyDecision(d.decision, policy, request)),
      index: d.index,
    };
  });
  let execution: CheckedStatus['execution'];
  if (r.execution !== undefined) {
    const x = r.execution;
    onLog(view, x.index, EXECUTION_ENTRY, x.execution, 'the execution');
    const logged = verified('the decisions', () =>
      decisionsOnLog(policy, request, view.entries.slice(r.index + 1, x.index)),
    );
    execution = {
      execution: verified('the execution', () =>
        verifyExecution(x.execution, org.accessKey, policy, request, logged),
      ),
      index: x.index,
    };
  }
  const releases = r.releases.map((x) => {
    onLog(view, x.index, RELEASE_ENTRY, x.release, 'a release');
    if (execution === undefined || x.index <= execution.index)
      throw new ClientError('ACCESS_INVALID', 'a release is listed without an execution before it', {
        check: 'REQ-2',
      });
    const ex = execution.execution;
    return {
      release: verified('a release', () => verifyRelease(x.release, policy, ex)),
      batch: x.batch,
      index: x.index,
    };
  });
  const refusals = r.refusals.map((x) => {
    const e = view.entries[x.index];
    if (e === undefined || e[0] !== REFUSAL_ENTRY || !equalBytes(e.subarray(1), x.refusal))
      notOnLog('a refusal', x.index);
    return {
      refusal: verified('a refusal', () =>
        verifyRefusal(x.refusal, policy, { requestId, hash: request.hash }),
      ),
      index: x.index,
    };
  });

  // What the log holds about the request that the relay did not list (a relay hiding a denial shows here).
  const listed = new Set<number>([
    r.index,
    ...r.decisions.map((d) => d.index),
    ...(r.execution ? [r.execution.index] : []),
    ...r.releases.map((x) => x.index),
    ...r.refusals.map((x) => x.index),
  ]);
  let unlisted = 0;
  const allDecisions = verified('the decisions', () =>
    decisionsOnLog(policy, request, view.entries.slice(r.index + 1)),
  );
  view.entries.forEach((e, i) => {
    if (i <= r.index || listed.has(i)) return;
    if (e[0] === DECISION_ENTRY_TYPE) {
      if (allDecisions.decisions.some((d) => equalBytes(d.signed, e.subarray(1)))) unlisted++;
      return;
    }
    if (
      e[0] !== EXECUTION_ENTRY &&
      e[0] !== RELEASE_ENTRY &&
      e[0] !== REFUSAL_ENTRY &&
      e[0] !== REQUEST_ENTRY
    )
      return;
    const id = requestIdIn(e);
    if (id !== undefined && equalBytes(id, requestId)) unlisted++;
  });

  const k = policy.policy.threshold;
  const n = policy.policy.trustees.length;
  const denials = new Set(
    allDecisions.decisions.filter((d) => d.decision.verdict === 'deny').map((d) => d.decision.trusteeIndex),
  ).size;
  const status = execution !== undefined ? 'executed' : denials > n - k ? 'denied' : 'pending';
  return {
    policy,
    policySerial: policy.policy.serial,
    request,
    requestIndex: r.index,
    decisions,
    ...(execution !== undefined ? { execution } : {}),
    releases,
    refusals,
    status,
    relayStatus: r.status,
    unlisted,
  };
}

/** The highest log index the relay's view names. */
export function lastIndexOf(r: RequestView): number {
  return Math.max(
    r.index,
    ...r.decisions.map((d) => d.index),
    r.execution?.index ?? 0,
    ...r.releases.map((x) => x.index),
    ...r.refusals.map((x) => x.index),
  );
}

/** The anchors as the evidence bundle records them (evidence.md §3.3). */
export function evidenceAnchorsOf(org: Org): EvidenceAnchors {
  return {
    org: org.orgId,
    orgKey: org.anchors.adminKey,
    relayKey: org.accessKey,
    log: {
      origin: org.anchors.log.origin,
      vkey: org.anchors.log.vkey,
      witnessVkeys: org.anchors.log.witnessVkeys,
      witnessQuorum: org.anchors.log.witnessQuorum,
    },
  };
}

/** verifyEvidenceAt with the per-message cryptography on worker threads (the same checks and verdicts). */
export async function verifyEvidenceWithWorkers(
  path: string,
  options: Parameters<typeof verifyEvidenceAt>[1] = {},
): Promise<Awaited<ReturnType<typeof verifyEvidenceAt>>> {
  const crypto = new PooledCaseCrypto();
  try {
    return await verifyEvidenceAt(path, { ...options, crypto });
  } finally {
    await crypto.close();
  }
}

/** The --subject options of a request or an order: at least one, none twice. @throws UsageError. */
export function subjectsOption(ctx: CommandContext): string[] {
  const subjects = stringList(ctx, 'subject');
  if (subjects.length === 0) throw new UsageError('--subject is required (repeat it for several users)');
  if (new Set(subjects).size !== subjects.length) throw new UsageError('a --subject is given twice');
  return subjects;
}
