// Monitors following a tiled log (C2SP tlog-tiles) over a fetch-like transport, and checkpoint gossip between
// monitors: growth, persistence, every failure kind, and the A7 split view with self-verifying evidence.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCheckpoint, verifyCheckpointSignature } from './checkpoint.js';
import { makeWitnessPolicy } from './cosignature.js';
import { LogError } from './errors.js';
import {
  compareCheckpoints,
  decodeSplitViewEvidence,
  encodeSplitViewEvidence,
  exchangeCheckpoints,
  verifySplitViewEvidence,
} from './gossip.js';
import { MemoryTiledLog } from './memory-log.js';
import { consistencyProof } from './merkle.js';
import { MemoryMonitorStore, Monitor, type MonitorResult } from './monitor.js';
import {
  SIGNATURE_TYPE_COSIGNATURE,
  SIGNATURE_TYPE_ED25519,
  signerKeyFromSeed,
  verifierKeyOf,
} from './note.js';

const ORIGIN = 'log.example/overt';
const URL_PREFIX = 'https://log.example/overt/';
const logKey = signerKeyFromSeed(ORIGIN, SIGNATURE_TYPE_ED25519, new Uint8Array(32).fill(11));
const witnesses = [1, 2, 3].map((i) =>
  signerKeyFromSeed(`w${i}.example`, SIGNATURE_TYPE_COSIGNATURE, new Uint8Array(32).fill(80 + i)),
);
const policy = {
  origin: ORIGIN,
  logKeys: [verifierKeyOf(logKey)],
  witnesses: makeWitnessPolicy(witnesses.map(verifierKeyOf), 2),
};
const enc = (s: string) => new TextEncoder().encode(s);
const batch = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => enc(`${prefix}-${i}`));

function newLog(): MemoryTiledLog {
  return new MemoryTiledLog(ORIGIN, logKey, witnesses, () => 1700000000);
}

function monitorOf(log: MemoryTiledLog, extra: Partial<ConstructorParameters<typeof Monitor>[0]> = {}) {
  const seen: string[] = [];
  const store = new MemoryMonitorStore();
  const monitor = new Monitor({
    policy,
    url: URL_PREFIX,
    fetch: log.fetcher(URL_PREFIX),
    store,
    onEntry: (i, e) => {
      seen[i] = new TextDecoder().decode(e);
    },
    ...extra,
  });
  return { monitor, seen, store };
}

function expectKind<K extends MonitorResult['kind']>(
  r: MonitorResult,
  kind: K,
): Extract<MonitorResult, { kind: K }> {
  expect(
    r.kind,
    JSON.stringify(r, (_, v) => (v instanceof Uint8Array ? undefined : v)),
  ).toBe(kind);
  return r as Extract<MonitorResult, { kind: K }>;
}

describe('a monitor following one log', () => {
  it('follows growth, hands over every entry once, and persists its state', async () => {
    const log = newLog();
    const { monitor, seen, store } = monitorOf(log);
    expectKind(await monitor.update(), 'ok');
    for (const n of [1, 255, 2, 300]) {
      log.append(...batch(`b${n}`, n));
      const r = expectKind(await monitor.update(), 'ok');
      expect(r.advanced).toBe(true);
      expect(r.newEntries).toBe(n);
      expect(r.checkpoint.size).toBe(log.size);
    }
    expect(seen.filter((x) => x !== undefined)).toHaveLength(log.size);
    expect(seen[0]).toBe('b1-0');
    expect(expectKind(await monitor.update(), 'ok').advanced).toBe(false);
    // A new monitor over the same store continues from the stored frontier.
    log.append(...batch('later', 3));
    const fresh = new Monitor({ policy, url: URL_PREFIX, fetch: log.fetcher(URL_PREFIX), store });
    const r = expectKind(await fresh.update(), 'ok');
    expect([r.previousSize, r.newEntries]).toEqual([558, 3]);
  });

  it('in tiles-only mode checks consistency without downloading entries', async () => {
    const log = newLog();
    log.append(...batch('x', 700));
    const fetched: string[] = [];
    const base = log.fetcher(URL_PREFIX);
    const { monitor } = monitorOf(log, {
      entries: false,
      fetch: (u) => {
        fetched.push(u);
        return base(u);
      },
    });
    expectKind(await monitor.update(), 'ok');
    log.append(...batch('y', 10));
    expect(expectKind(await monitor.update(), 'ok').newEntries).toBe(10);
    expect(fetched.some((u) => u.includes('/entries/'))).toBe(false);
  });

  it('rejects a checkpoint without the witness quorum', async () => {
    const lonely = new MemoryTiledLog(ORIGIN, logKey, witnesses.slice(0, 1));
    const { monitor } = monitorOf(lonely);
    expect(expectKind(await monitor.update(), 'invalid_checkpoint').error.code).toBe('COSIG_QUORUM');
  });

  it('reports entries that do not hash to the signed tree', async () => {
    const log = newLog();
    log.append(...batch('e', 5));
    log.files.set(
      'tile/entries/000.p/5',
      log.files.get('tile/entries/000.p/5')!.map((b, i) => (i === 3 ? b ^ 1 : b)),
    );
    const { monitor } = monitorOf(log);
    expect(expectKind(await monitor.update(), 'entries_mismatch').error.code).toBe(
      'MONITOR_ENTRIES_MISMATCH',
    );
  });

  it('reports an unreachable log or missing tiles as unavailable, concluding nothing', async () => {
    const log = newLog();
    log.append(...batch('e', 5));
    const { monitor, store } = monitorOf(log, { fetch: async () => Promise.reject(new Error('offline')) });
    expect(expectKind(await monitor.update(), 'unavailable').error.code).toBe('MONITOR_TRANSPORT');
    expect(await store.load(ORIGIN)).toBeUndefined();
    log.files.delete('tile/entries/000.p/5');
    const second = monitorOf(log);
    expect(expectKind(await second.monitor.update(), 'unavailable').error.code).toBe('TILE_UNAVAILABLE');
  });

  it('refuses corrupt stored state', async () => {
    const log = newLog();
    log.append(...batch('e', 5));
    const { monitor, store } = monitorOf(log);
    expectKind(await monitor.update(), 'ok');
    const snap = (await store.load(ORIGIN))!;
    await store.save(ORIGIN, { ...snap, frontier: snap.frontier.slice(1) });
    await expect(monitor.update()).rejects.toMatchObject({ code: 'MONITOR_STATE' });
  });

  it('keeps the most recently cosigned note of its tree: a heartbeat replaces it, an older or future-dated one does not', async () => {
    let t = 1_000;
    const log = new MemoryTiledLog(ORIGIN, logKey, witnesses, () => t);
    log.append(...batch('h', 3));
    const first = log.checkpoint;
    let serve: string | undefined;
    const base = log.fetcher(URL_PREFIX);
    let now = 1_000;
    const { monitor } = monitorOf(log, {
      now: () => now,
      fetch: async (u) =>
        serve !== undefined && u.endsWith('/checkpoint')
          ? { status: 200, arrayBuffer: async () => enc(serve!).slice().buffer }
          : base(u),
    });
    const stamps = async () => (await monitor.latestVerified())!.cosignatures.map((c) => c.timestamp);
    expectKind(await monitor.update(), 'ok');
    expect(await stamps()).toEqual([1_000, 1_000, 1_000]);
    // A heartbeat (log.md §4.1): the same tree, cosigned later. Nothing new to read, but the view is fresher.
    t = now = 2_000;
    log.append();
    const r = expectKind(await monitor.update(), 'ok');
    expect([r.advanced, r.newEntries, r.checkpoint.size]).toEqual([false, 0, 3]);
    expect(await stamps()).toEqual([2_000, 2_000, 2_000]);
    // Shown the older note again (a relay replaying it): the view keeps the newer one.
    serve = first;
    expectKind(await monitor.update(), 'ok');
    expect(await stamps()).toEqual([2_000, 2_000, 2_000]);
    // Cosignatures dated beyond the skew of the monitor's clock do not make a note fresher.
    t = 9_000;
    log.append();
    serve = log.checkpoint;
    expectKind(await monitor.update(), 'ok');
    expect(await stamps()).toEqual([2_000, 2_000, 2_000]);
    now = 9_000;
    expectKind(await monitor.update(), 'ok');
    expect(await stamps()).toEqual([9_000, 9_000, 9_000]);
  });

  it('detects a log that rewrites its history, with proven evidence', async () => {
    const honest = newLog();
    honest.append(...batch('a', 10));
    const forked = honest.fork();
    honest.append(...batch('b', 3));
    forked.append(...batch('evil', 2), ...batch('c', 10));
    const { monitor } = monitorOf(honest);
    expectKind(await monitor.update(), 'ok');
    const viaFork = new Monitor({
      policy,
      url: URL_PREFIX,
      fetch: forked.fetcher(URL_PREFIX),
      store: monitorStore(monitor),
    });
    const r = expectKind(await viaFork.update(), 'split_view');
    expect(verifySplitViewEvidence(r.evidence, ORIGIN, policy.logKeys)).toBe('proven_inconsistent');
  });
});

/** The store behind a monitor, to run a second monitor over the same state. */
function monitorStore(m: Monitor): MemoryMonitorStore {
  return (m as unknown as { config: { store: MemoryMonitorStore } }).config.store;
}

describe('gossip between monitors (A7)', () => {
  it('monitors of one honest log agree, and a lagging one catches up from its peer', async () => {
    const log = newLog();
    const a = monitorOf(log);
    const b = monitorOf(log);
    log.append(...batch('x', 20));
    expectKind(await a.monitor.update(), 'ok');
    log.append(...batch('y', 7));
    expectKind(await b.monitor.update(), 'ok');
    expect(await exchangeCheckpoints(a.monitor, b.monitor)).toEqual([]);
    expect((await a.monitor.latest())!.size).toBe(27);
    expect(a.seen.filter((s) => s !== undefined)).toHaveLength(27);
  });

  it('two gossiping monitors shown different histories detect the split view', async () => {
    const viewA = newLog();
    viewA.append(...batch('common', 40));
    const viewB = viewA.fork();
    viewA.append(...batch('a', 3));
    viewB.append(...batch('b', 4));
    const m1 = monitorOf(viewA);
    const m2 = monitorOf(viewB);
    expectKind(await m1.monitor.update(), 'ok');
    expectKind(await m2.monitor.update(), 'ok');

    const found = await exchangeCheckpoints(m1.monitor, m2.monitor);
    expect(found).toHaveLength(2);
    const kinds = found.map((e) => verifySplitViewEvidence(e, ORIGIN, policy.logKeys)).sort();
    // m2 holds the larger tree: its tiles prove the smaller checkpoint is not its prefix. m1's log cannot serve a
    // proof to m2's checkpoint at all.
    expect(kinds).toEqual(['proven_inconsistent', 'unproven']);
    // The proven evidence travels as JSON and still verifies with no network.
    const proven = found.find((e) => e.proof !== undefined)!;
    const json = encodeSplitViewEvidence(proven);
    expect(verifySplitViewEvidence(decodeSplitViewEvidence(json), ORIGIN, policy.logKeys)).toBe(
      'proven_inconsistent',
    );
  });

  it('same size, different roots: the two signed checkpoints are the evidence', async () => {
    const viewA = newLog();
    viewA.append(...batch('common', 5));
    const viewB = viewA.fork();
    viewA.append(enc('left'));
    viewB.append(enc('right'));
    const m1 = monitorOf(viewA);
    expectKind(await m1.monitor.update(), 'ok');
    const r = expectKind(await m1.monitor.observe(viewB.checkpoint, 'peer'), 'split_view');
    expect(verifySplitViewEvidence(r.evidence, ORIGIN, policy.logKeys)).toBe('conflicting_roots');
    const a = verifyCheckpointSignature(viewA.checkpoint, ORIGIN, policy.logKeys);
    const b = verifyCheckpointSignature(viewB.checkpoint, ORIGIN, policy.logKeys);
    expect(compareCheckpoints(a, b)).toBeDefined();
    expect(compareCheckpoints(a, a)).toBeUndefined();
  });

  it('rejects forged or non-evidence', async () => {
    const log = newLog();
    log.append(...batch('x', 4));
    const first = log.checkpoint;
    log.append(...batch('y', 4));
    const second = log.checkpoint;
    expect(() => verifySplitViewEvidence({ smaller: first, larger: first }, ORIGIN, policy.logKeys)).toThrow(
      /EVIDENCE_INVALID/,
    );
    expect(() => verifySplitViewEvidence({ smaller: second, larger: first }, ORIGIN, policy.logKeys)).toThrow(
      /EVIDENCE_INVALID/,
    );
    const other = signerKeyFromSeed(ORIGIN, SIGNATURE_TYPE_ED25519, new Uint8Array(32).fill(12));
    const forgedLog = new MemoryTiledLog(ORIGIN, other, witnesses);
    forgedLog.append(enc('z'));
    expect(() =>
      verifySplitViewEvidence({ smaller: forgedLog.checkpoint, larger: second }, ORIGIN, policy.logKeys),
    ).toThrow(/EVIDENCE_INVALID/);
    // A proof that shows consistency is not evidence; nor is one that does not verify.
    const hashes = await consistencyProof(4, 8, log.reader);
    const root4 = parseCheckpoint(first).rootHash;
    expect(() =>
      verifySplitViewEvidence(
        { smaller: first, larger: second, proof: { root: root4, hashes } },
        ORIGIN,
        policy.logKeys,
      ),
    ).toThrow(/EVIDENCE_INVALID/);
    const wrong = root4.map((b) => b ^ 1);
    expect(() =>
      verifySplitViewEvidence(
        { smaller: first, larger: second, proof: { root: wrong, hashes } },
        ORIGIN,
        policy.logKeys,
      ),
    ).toThrow(/EVIDENCE_INVALID/);
  });

  it('fuzz: decoding evidence yields only EVIDENCE_INVALID', () => {
    const log = newLog();
    log.append(enc('a'));
    const seed = encodeSplitViewEvidence({ smaller: log.checkpoint, larger: log.checkpoint });
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.json(), fc.constant(seed)),
        fc.nat(),
        fc.string({ minLength: 1, maxLength: 1 }),
        (s, at, c) => {
          const input =
            s === seed ? seed.slice(0, at % seed.length) + c + seed.slice((at % seed.length) + 1) : s;
          try {
            decodeSplitViewEvidence(input);
          } catch (e) {
            expect(e).toBeInstanceOf(LogError);
            expect((e as LogError).code).toBe('EVIDENCE_INVALID');
          }
        },
      ),
      { numRuns: 1500 },
    );
  });
});
