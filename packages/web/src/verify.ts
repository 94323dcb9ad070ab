/**
 * The transparency dashboard's checks, all in the page (docs/spec/web.md): the deployment's anchors from
 * `/.well-known/overt` (pinned in the browser on first sight, WEB-1/WEB-2), the latest checkpoint verified by
 * @overt/log's Monitor (log signature, witness quorum, consistency with the checkpoint this browser saw last time),
 * its freshness (FRESH-1), every entry read from the entry bundles and hashed to the root (MON-3), the access
 * statistics computed from those entries (@overt/client computeAccessStats, the numbers `overt log stats` prints),
 * and an entry by index with its inclusion proof verified against the verified root (MERKLE-4).
 *
 * Pure: no DOM. `fetch` and the key-value store are passed in, so a Node test can run the same code.
 */
import {
  type AccessAnchors,
  type AccessStats,
  computeAccessStats,
  readAccessLog,
  sealUntilInForce,
} from '@overt/client';
import { equalBytes, fromBase64, toBase64, toBase64Url, toHex } from '@overt/core';
import {
  DEFAULT_MAX_AGE_SECONDS,
  decodeEntryBundle,
  entryBundlePath,
  entryBundlesForSize,
  entryTypeName,
  inclusionProof,
  isEntryType,
  LogError,
  type LogPolicy,
  leafHash,
  Monitor,
  type MonitorSnapshot,
  type MonitorStore,
  makeWitnessPolicy,
  merkleTreeHash,
  parseVerifierKey,
  requireFresh,
  SIGNATURE_TYPE_ED25519,
  TILE_WIDTH,
  TileHashReader,
  type VerifiedCheckpoint,
  verifyInclusion,
} from '@overt/log';

/** A failed check as the page shows it: the check ID, the error code and what went wrong. */
export class WebCheckError extends Error {
  constructor(
    readonly code: string,
    readonly check: string,
    /** What went wrong, without the code and check (the page shows those on their own). */
    readonly detail: string,
  ) {
    super(`${code} [${check}]: ${detail}`);
    this.name = 'WebCheckError';
  }
}

/** A LogError (or a client ClientError/OvertError carrying a check) as a WebCheckError; anything else rethrown. */
export function asCheckError(e: unknown): WebCheckError {
  if (e instanceof WebCheckError) return e;
  const x = e as { code?: unknown; check?: unknown; message?: unknown; name?: unknown };
  if (e instanceof Error && typeof x.code === 'string' && typeof x.check === 'string')
    return new WebCheckError(x.code, x.check, e.message.replace(/^[A-Z_]+ \[[^\]]+\]: /, ''));
  if (e instanceof LogError) return new WebCheckError(e.code, e.check ?? 'LOG', e.message);
  throw e;
}

/** The few string keys the page keeps (localStorage in the browser). */
export interface KeyValue {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

/** The trust material of `/.well-known/overt` (start.md §2) the dashboard uses. */
export interface Anchors {
  readonly org: string;
  readonly adminKey: string;
  readonly accessKey: string;
  readonly logUrl: string;
  readonly policy: LogPolicy;
  readonly access: AccessAnchors;
  /** The document's trust fields, as pinned (WEB-2). */
  readonly pin: string;
}

const PIN_KEY = 'overt.dashboard.anchors';
const MONITOR_KEY = 'overt.dashboard.monitor.';

function bad(what: string): never {
  throw new WebCheckError('WEB_ANCHORS_MALFORMED', 'WEB-1', `/.well-known/overt: ${what}`);
}

function key32(text: unknown, what: string): Uint8Array {
  if (typeof text !== 'string') bad(`${what} is not a string`);
  let k: Uint8Array;
  try {
    k = fromBase64(text);
  } catch {
    bad(`${what} is not base64`);
  }
  if (k.length !== 32) bad(`${what} is not a 32-byte key`);
  return k;
}

/**
 * Parses `/.well-known/overt` (WEB-1) and compares its trust fields with the ones this browser pinned on its first
 * visit (WEB-2: a relay that swaps the log key or the witnesses is flagged, never silently followed).
 */
export function parseAnchors(body: unknown, base: string, store: KeyValue): Anchors {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) bad('not a JSON object');
  const doc = body as Record<string, unknown>;
  const log = doc.log as Record<string, unknown> | undefined;
  if (typeof doc.org !== 'string') bad('org is missing');
  if (typeof log !== 'object' || log === null) bad('log is missing');
  if (typeof log.origin !== 'string' || typeof log.vkey !== 'string' || typeof log.url !== 'string')
    bad('log.origin, log.vkey and log.url must be strings');
  const witnesses = log.witness_vkeys;
  if (!Array.isArray(witnesses) || witnesses.some((w) => typeof w !== 'string'))
    bad('log.witness_vkeys must be a list of keys');
  if (!Number.isSafeInteger(log.witness_quorum)) bad('log.witness_quorum must be an integer');
  const orgKey = key32(doc.admin_key, 'admin_key');
  const relayKey = key32(doc.accessKey, 'accessKey');
  let policy: LogPolicy;
  try {
    const logKey = parseVerifierKey(log.vkey);
    if (logKey.type !== SIGNATURE_TYPE_ED25519) bad('the log key is not an Ed25519 key');
    policy = {
      origin: log.origin,
      logKeys: [logKey],
      witnesses: makeWitnessPolicy(
        (witnesses as string[]).map((w) => parseVerifierKey(w)),
        log.witness_quorum as number,
      ),
    };
  } catch (e) {
    if (e instanceof WebCheckError) throw e;
    bad(`a key does not parse (${(e as Error).message})`);
  }
  // The page reads the log from the relay that served it: the well-known URL names a listening address, which a
  // proxy may rewrite; the tiles are read below this page's own origin.
  const logUrl = new URL('/log/', base).href;
  const pin = JSON.stringify({
    org: doc.org,
    admin_key: doc.admin_key,
    accessKey: doc.accessKey,
    origin: log.origin,
    vkey: log.vkey,
    witness_vkeys: witnesses,
    witness_quorum: log.witness_quorum,
  });
  const pinned = store.getItem(PIN_KEY);
  if (pinned !== null && pinned !== pin)
    throw new WebCheckError(
      'WEB_ANCHORS_CHANGED',
      'WEB-2',
      'the keys in /.well-known/overt differ from the ones this browser pinned on its first visit',
    );
  return {
    org: doc.org,
    adminKey: doc.admin_key as string,
    accessKey: doc.accessKey as string,
    logUrl,
    policy,
    access: { orgKey, relayKey, orgId: doc.org },
    pin,
  };
}

/** The Monitor's state in the key-value store (the checkpoint this browser saw last, with the tree's frontier). */
export class KeyValueMonitorStore implements MonitorStore {
  constructor(private readonly kv: KeyValue) {}
  async load(origin: string): Promise<MonitorSnapshot | undefined> {
    const text = this.kv.getItem(MONITOR_KEY + origin);
    if (text === null) return undefined;
    try {
      const o = JSON.parse(text) as { checkpoint: string; frontier: string[] };
      return { checkpoint: o.checkpoint, frontier: o.frontier.map((h) => fromBase64(h)) };
    } catch {
      // Handled like a corrupt state by the Monitor (MON-6): the snapshot does not verify.
      return { checkpoint: '', frontier: [] };
    }
  }
  async save(origin: string, s: MonitorSnapshot): Promise<void> {
    this.kv.setItem(
      MONITOR_KEY + origin,
      JSON.stringify({ checkpoint: s.checkpoint, frontier: s.frontier.map((h) => toBase64(h)) }),
    );
  }
}

/** One unsealed request's public details, read from the verified log (after-release.md §1). */
export interface UnsealedDetails {
  readonly requestId: string;
  readonly index: number;
  readonly requester: string;
  readonly legalBasis: string;
  readonly justification: string;
  readonly caseReference: string;
  readonly documentHash: string;
  readonly filedAt: number;
  readonly sealUntil: number;
  readonly unsealedAt: number;
  readonly publisher: string;
  readonly approvals: number;
  readonly denials: number;
  readonly executed: boolean;
}

export interface Dashboard {
  readonly anchors: Anchors;
  readonly checkpoint: VerifiedCheckpoint;
  /** The size of the checkpoint this browser saw last time (0 on a first visit). */
  readonly previousSize: number;
  readonly firstVisit: boolean;
  readonly ageSeconds: number | undefined;
  readonly entries: readonly Uint8Array[];
  readonly stats: AccessStats;
  readonly unsealed: readonly UnsealedDetails[];
  /** Request ids the relay lists as unsealed that are not unsealed on the verified log (should be empty). */
  readonly unsealedNotOnLog: readonly string[];
  /** Milliseconds spent verifying (signature, consistency, entries, statistics). */
  readonly verifyMs: number;
}

export type FetchFn = (url: string) => Promise<Response>;

/**
 * The page's fetch: the checkpoint and partial tiles and bundles change as the log grows (the log serves them with a
 * short max-age), so the browser revalidates them; full tiles and bundles are immutable and come from its cache.
 */
export function logFetch(url: string): Promise<Response> {
  return /\/checkpoint$|\.p\/\d+$/.test(url) ? fetch(url, { cache: 'no-cache' }) : fetch(url);
}

async function getBytes(fetchFn: FetchFn, url: string): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetchFn(url);
  } catch (cause) {
    throw new LogError('MONITOR_TRANSPORT', 'the log could not be reached', { check: 'MON-4', cause });
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new LogError('TILE_UNAVAILABLE', `the log answered ${res.status}`, { check: 'TILE-4' });
  }
  return new Uint8Array(await res.arrayBuffer());
}

/** Every entry of `cp` from the entry bundles, hashed to its root (MON-3), as `overt log stats` reads them. */
export async function readEntries(
  fetchFn: FetchFn,
  logUrl: string,
  cp: VerifiedCheckpoint,
): Promise<Uint8Array[]> {
  const bundles = entryBundlesForSize(cp.size);
  const entries: Uint8Array[] = [];
  for (let i = 0; i < bundles.length; i += 16) {
    const batch = bundles.slice(i, i + 16);
    const got = await Promise.all(batch.map((b) => getBytes(fetchFn, logUrl + entryBundlePath(b))));
    for (const [j, b] of batch.entries()) entries.push(...decodeEntryBundle(got[j]!, b.width));
  }
  if (entries.length !== cp.size || !equalBytes(merkleTreeHash(entries), cp.rootHash))
    throw new LogError('MONITOR_ENTRIES_MISMATCH', 'the entry bundles do not hash to the checkpoint root', {
      check: 'MON-3',
    });
  return entries;
}

/**
 * Loads and verifies everything the dashboard shows. Throws WebCheckError naming the failed check; the monitor's
 * state and the pinned anchors are saved only when every check passed.
 */
export async function loadDashboard(o: {
  readonly base: string;
  readonly fetch: FetchFn;
  readonly store: KeyValue;
  readonly now?: () => number;
}): Promise<Dashboard> {
  const now = o.now ?? Date.now;
  let wk: unknown;
  try {
    const res = await o.fetch(new URL('/.well-known/overt', o.base).href);
    if (!res.ok) throw new Error(`status ${res.status}`);
    wk = await res.json();
  } catch (e) {
    if (e instanceof WebCheckError) throw e;
    bad(`not readable (${(e as Error).message})`);
  }
  const anchors = parseAnchors(wk, o.base, o.store);
  const started = performance.now();
  const hadState = o.store.getItem(MONITOR_KEY + anchors.policy.origin) !== null;
  // The monitor writes its store only on success; it writes a scratch copy, committed after the other checks.
  const pending = new Map<string, string>();
  const scratch: KeyValue = {
    getItem: (k) => pending.get(k) ?? o.store.getItem(k),
    setItem: (k, v) => void pending.set(k, v),
  };
  const monitor = new Monitor({
    policy: anchors.policy,
    url: anchors.logUrl,
    fetch: (u) => o.fetch(u),
    store: new KeyValueMonitorStore(scratch),
    entries: false,
    now: () => Math.floor(now() / 1000),
  });
  try {
    const result = await monitor.update();
    if (result.kind !== 'ok') throw result.error;
    const cp = result.checkpoint;
    const { ageSeconds } = requireFresh(cp, anchors.policy.witnesses.quorum, Math.floor(now() / 1000), {
      maxAgeSeconds: DEFAULT_MAX_AGE_SECONDS,
    });
    const entries = await readEntries(o.fetch, anchors.logUrl, cp);
    const stats = computeAccessStats({ checkpoint: cp, entries }, anchors.access, now());
    const log = readAccessLog(entries, anchors.access);
    const unsealed: UnsealedDetails[] = [];
    for (const c of log.cases) {
      const u = c.unseal;
      if (u === undefined) continue;
      const q = c.request.request;
      const verdict = (v: 'approve' | 'deny') =>
        new Set(
          c.decisions.filter((d) => d.value.decision.verdict === v).map((d) => d.value.decision.trusteeIndex),
        ).size;
      unsealed.push({
        requestId: toBase64Url(q.requestId),
        index: c.index,
        requester: q.requesterId,
        legalBasis: q.legalBasis,
        justification: u.value.unseal.opening.confidential.justification,
        caseReference: u.value.unseal.opening.confidential.caseReference,
        documentHash: toHex(q.documentHash),
        filedAt: q.createdAt,
        sealUntil: sealUntilInForce(c),
        unsealedAt: u.value.unseal.unsealedAt,
        publisher: u.value.unseal.publisher === 0 ? 'relay' : `trustee ${u.value.unseal.publisher}`,
        approvals: verdict('approve'),
        denials: verdict('deny'),
        executed: c.execution !== undefined,
      });
    }
    const verifyMs = performance.now() - started;
    // The relay's own list of unsealed requests, compared with the log (the log is what counts).
    const unsealedNotOnLog: string[] = [];
    try {
      const res = await o.fetch(new URL('/v1/access/unsealed?limit=100', o.base).href);
      if (res.ok) {
        const body = (await res.json()) as { unsealed?: { requestId?: unknown }[] };
        const onLog = new Set(unsealed.map((u) => u.requestId));
        for (const item of body.unsealed ?? [])
          if (typeof item.requestId === 'string' && !onLog.has(item.requestId))
            unsealedNotOnLog.push(item.requestId);
      }
    } catch {
      // The relay's list is a convenience; the details above come from the verified log.
    }
    for (const [k, v] of pending) o.store.setItem(k, v);
    // WEB-2: pinned on the first visit that verified (a relay cannot pin keys its log does not verify under).
    o.store.setItem(PIN_KEY, anchors.pin);
    return {
      anchors,
      checkpoint: cp,
      previousSize: result.previousSize,
      firstVisit: !hadState,
      ageSeconds,
      entries,
      stats,
      unsealed,
      unsealedNotOnLog,
      verifyMs,
    };
  } catch (e) {
    throw asCheckError(e);
  }
}

/** An entry looked up by index, with its inclusion proof verified against the dashboard's verified root. */
export interface EntryLookup {
  readonly index: number;
  readonly type: string;
  readonly bytes: number;
  readonly leafHash: string;
  readonly proofHashes: number;
  readonly hex: string;
}

/**
 * Reads entry `index` from its entry bundle, and its inclusion proof from the hash tiles, and verifies the proof
 * against the verified checkpoint's root (MERKLE-4). WEB-3 when the index is not in the checkpoint.
 */
export async function lookupEntry(
  fetchFn: FetchFn,
  logUrl: string,
  cp: VerifiedCheckpoint,
  index: number,
): Promise<EntryLookup> {
  try {
    if (!Number.isSafeInteger(index) || index < 0 || index >= cp.size)
      throw new WebCheckError('WEB_INDEX_RANGE', 'WEB-3', `no entry ${index} in a log of size ${cp.size}`);
    const bundle = entryBundlesForSize(cp.size)[Math.floor(index / TILE_WIDTH)]!;
    const entries = decodeEntryBundle(
      await getBytes(fetchFn, logUrl + entryBundlePath(bundle)),
      bundle.width,
    );
    const entry = entries[index % TILE_WIDTH];
    if (entry === undefined)
      throw new LogError('TILE_MALFORMED', 'the entry bundle is too short', { check: 'TILE-2' });
    const reader = new TileHashReader(cp.size, (p) => getBytes(fetchFn, logUrl + p));
    const proof = await inclusionProof(index, cp.size, reader);
    const leaf = leafHash(entry);
    verifyInclusion(index, cp.size, leaf, proof, cp.rootHash);
    const code: number = entry[0] ?? -1;
    return {
      index,
      type: entry.length > 0 && isEntryType(code) ? `${entryTypeName(code)} (${code})` : `unknown (${code})`,
      bytes: entry.length,
      leafHash: toHex(leaf),
      proofHashes: proof.length,
      hex: toHex(entry.subarray(0, 96)),
    };
  } catch (e) {
    throw asCheckError(e);
  }
}
