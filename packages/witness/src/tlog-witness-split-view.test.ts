// Guarantee A7 (a log shows different histories to different parties), against real witnesses: a malicious
// log signs two conflicting checkpoints (a fork at one size, and a fork that grows) and shows each to a
// different party. Honest witnesses refuse whichever they see second (409 / 422), so with a majority quorum no
// two conflicting checkpoints can both be cosigned — whatever subset of witnesses sees which view — and what the
// witnesses refused is itself verifiable evidence. When the quorum is too weak to prevent it, gossiping
// monitors (@overt/log gossip) detect the split.
import { utf8Decode, utf8Encode } from '@overt/core';
import {
  consistencyProof,
  exchangeCheckpoints,
  generateSignerKey,
  isLogError,
  type LogPolicy,
  MemoryMonitorStore,
  MemoryTiledLog,
  Monitor,
  makeWitnessPolicy,
  parseCheckpoint,
  SIGNATURE_TYPE_COSIGNATURE,
  type SignerKey,
  verifierKeyOf,
  verifyCheckpoint,
  verifySplitViewEvidence,
} from '@overt/log';
import { afterAll, describe, expect, it } from 'vitest';
import { submitToWitness } from './client.js';
import { WitnessError } from './errors.js';
import { type RunningWitnessServer, serveWitness } from './http.js';
import { encodeAddCheckpointRequest, parseAddCheckpointRequest } from './request.js';
import { SqliteWitnessStore } from './store.js';
import { Witness } from './witness.js';

const ORIGIN = 'evil.example/log';
const logKey = generateSignerKey(ORIGIN);
const entry = (s: string) => utf8Encode(s);

/** The honest history the log shows to Alice, and the forked one it shows to Bob (same first four entries). */
function histories(forkExtra = 0): { honest: MemoryTiledLog; fork: MemoryTiledLog } {
  const honest = new MemoryTiledLog(ORIGIN, logKey);
  const fork = new MemoryTiledLog(ORIGIN, logKey);
  const common = ['a', 'b', 'c', 'd'].map(entry);
  honest.append(...common);
  fork.append(...common);
  honest.append(...['e', 'f', 'g', 'h'].map(entry));
  fork.append(...['E', 'F', 'G', 'H'].map(entry));
  if (forkExtra > 0) fork.append(...Array.from({ length: forkExtra }, (_, i) => entry(`x${i}`)));
  return { honest, fork };
}

interface TestWitness {
  key: SignerKey;
  witness: Witness;
  store: SqliteWitnessStore;
  server?: RunningWitnessServer;
}

function makeWitness(i: number): TestWitness {
  const key = generateSignerKey(`witness${i}.example`, SIGNATURE_TYPE_COSIGNATURE);
  const store = new SqliteWitnessStore(':memory:');
  const witness = new Witness({ key, logs: [{ origin: ORIGIN, keys: [verifierKeyOf(logKey)] }], store });
  return { key, witness, store };
}

const open: TestWitness[] = [];
afterAll(async () => {
  for (const w of open) {
    await w.server?.close();
    w.store.close();
  }
});

async function served(n: number): Promise<TestWitness[]> {
  const ws = Array.from({ length: n }, (_, i) => makeWitness(i + 1));
  for (const w of ws) {
    w.server = await serveWitness(w.witness);
    open.push(w);
  }
  return ws;
}

/** The log asks each witness over HTTP; returns its checkpoint with every cosignature it got, and the refusals. */
async function collect(
  log: MemoryTiledLog,
  ws: readonly TestWitness[],
): Promise<{ note: string; refusals: (WitnessError | undefined)[] }> {
  const note = utf8Encode(log.checkpoint);
  const prove = (old: number) => (old === 0 ? [] : consistencyProof(old, log.size, log.reader));
  const results = await Promise.allSettled(
    ws.map((w) => submitToWitness(w.server!.url, note, 0, prove, { witnessKey: verifierKeyOf(w.key) })),
  );
  const lines = results.map((r) => (r.status === 'fulfilled' ? r.value.lines : '')).join('');
  const refusals = results.map((r) => (r.status === 'rejected' ? (r.reason as WitnessError) : undefined));
  return { note: log.checkpoint + lines, refusals };
}

function policy(ws: readonly TestWitness[], quorum: number): LogPolicy {
  return {
    origin: ORIGIN,
    logKeys: [verifierKeyOf(logKey)],
    witnesses: makeWitnessPolicy(
      ws.map((w) => verifierKeyOf(w.key)),
      quorum,
    ),
  };
}

function quorumError(note: string, p: LogPolicy): string | undefined {
  try {
    verifyCheckpoint(note, p);
    return undefined;
  } catch (e) {
    if (isLogError(e)) return e.code;
    throw e;
  }
}

describe('split view against honest witnesses', () => {
  it('same size, two roots: every witness refuses the second view (409, WIT-9), so it gets no cosignature', async () => {
    const ws = await served(3);
    const { honest, fork } = histories();
    const a = await collect(honest, ws);
    expect(a.refusals).toEqual([undefined, undefined, undefined]);
    const b = await collect(fork, ws);
    for (const r of b.refusals) {
      expect(r).toBeInstanceOf(WitnessError);
      expect(r!.code).toBe('WITNESS_CONFLICT');
      expect(r!.knownSize).toBe(8);
    }
    const p = policy(ws, 2);
    expect(quorumError(a.note, p)).toBeUndefined();
    expect(quorumError(b.note, p)).toBe('COSIG_QUORUM');

    // What a witness refused is evidence: its cosigned checkpoint and the refused one, both signed by the log.
    for (const w of ws) {
      const [refused] = w.store.evidence(ORIGIN);
      expect(refused!.check).toBe('WIT-9');
      const evidence = {
        smaller: utf8Decode(w.store.latest(ORIGIN)!.note),
        larger: utf8Decode(parseAddCheckpointRequest(refused!.request).note),
      };
      expect(verifySplitViewEvidence(evidence, ORIGIN, [verifierKeyOf(logKey)])).toBe('conflicting_roots');
    }
  });

  it('a fork that grows: the consistency proof from the cosigned view fails (422, WIT-8)', async () => {
    const ws = await served(3);
    const { honest, fork } = histories(2);
    await collect(honest, ws);
    // The log proves 8 → 10 within its fork; the witnesses hold the honest root at 8.
    const b = await collect(fork, ws);
    for (const r of b.refusals) expect(r?.code).toBe('WITNESS_BAD_PROOF');
    expect(quorumError(b.note, policy(ws, 1))).toBe('COSIG_QUORUM');
    for (const w of ws) expect(w.store.evidence(ORIGIN).map((e) => e.check)).toEqual(['WIT-8']);
  });

  it('whichever witnesses see which view, a majority quorum (2 of 3) is reached by at most one view', async () => {
    for (let mask = 0; mask < 8; mask++) {
      const ws = [1, 2, 3].map(makeWitness);
      const { honest, fork } = histories();
      const views = [honest.checkpoint, fork.checkpoint];
      const cosigned = [views[0]!, views[1]!];
      for (const [i, w] of ws.entries()) {
        // Witness i is shown view (mask bit i) first, then the other view.
        const first = (mask >> i) & 1;
        for (const v of [first, 1 - first]) {
          try {
            cosigned[v] += await w.witness.addCheckpoint(
              encodeAddCheckpointRequest(0, [], utf8Encode(views[v]!)),
            );
          } catch (e) {
            if (!(e instanceof WitnessError)) throw e;
            // Shown second, the other view conflicts with what this witness cosigned.
            expect(e.code).toBe('WITNESS_CONFLICT');
          }
        }
        w.store.close();
      }
      const p = policy(ws, 2);
      const valid = cosigned.filter((note) => quorumError(note, p) === undefined);
      expect(valid, `mask ${mask}`).toHaveLength(1);
    }
  });
});

describe('split view with a quorum too weak to prevent it: gossip detects it', () => {
  /** A monitor reading `log`'s tiles, whose published checkpoint is `note` (the view this party is shown). */
  function monitorOf(log: MemoryTiledLog, note: string, p: LogPolicy): Monitor {
    log.files.set('checkpoint', utf8Encode(note));
    return new Monitor({
      policy: p,
      url: 'https://log.example',
      fetch: log.fetcher('https://log.example'),
      store: new MemoryMonitorStore(),
    });
  }

  it('same size: each view has 1 of 3 cosignatures; the monitors each accept theirs, gossip finds the fork', async () => {
    const ws = await served(3);
    const { honest, fork } = histories();
    // The log shows the honest view to witness 1 only and the fork to witness 3 only.
    const a = await collect(honest, [ws[0]!]);
    const b = await collect(fork, [ws[2]!]);
    const weak = policy(ws, 1);
    const alice = monitorOf(honest, a.note, weak);
    const bob = monitorOf(fork, b.note, weak);
    expect((await alice.update()).kind).toBe('ok');
    expect((await bob.update()).kind).toBe('ok');
    const found = await exchangeCheckpoints(alice, bob);
    expect(found.length).toBeGreaterThan(0);
    for (const ev of found) {
      expect(verifySplitViewEvidence(ev, ORIGIN, [verifierKeyOf(logKey)])).toBe('conflicting_roots');
    }
  });

  it('a fork that grows: the larger view proves the smaller is not its prefix', async () => {
    const ws = await served(3);
    const { honest, fork } = histories(2);
    const a = await collect(honest, [ws[0]!]);
    const b = await collect(fork, [ws[1]!]);
    expect(parseCheckpoint(b.note).size).toBe(10);
    const weak = policy(ws, 1);
    const alice = monitorOf(honest, a.note, weak);
    const bob = monitorOf(fork, b.note, weak);
    expect((await alice.update()).kind).toBe('ok');
    expect((await bob.update()).kind).toBe('ok');
    const kinds = (await exchangeCheckpoints(alice, bob)).map((ev) =>
      verifySplitViewEvidence(ev, ORIGIN, [verifierKeyOf(logKey)]),
    );
    // Bob's tiles prove the honest size-8 root is not a prefix of his tree; Alice's log view cannot prove Bob's.
    expect(kinds).toContain('proven_inconsistent');
  });
});
