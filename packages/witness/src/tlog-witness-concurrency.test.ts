// C2SP tlog-witness, "add-checkpoint": checking the old size and persisting the new checkpoint must be atomic,
// or two requests from one state could both be cosigned and the second roll the witness back. These tests stall
// a request between its checks and its commit (the exact window of the spec's race) while another commits.
import { generateSignerKey, SIGNATURE_TYPE_COSIGNATURE } from '@overt/log';
import { afterAll, expect, it } from 'vitest';
import {
  describeTessera,
  proofFor,
  TESSERA,
  tempDirs,
  tesseraCheckpoint,
  tesseraLeaves,
  tesseraVerifier,
} from '../test/fixtures.js';
import { WitnessError } from './errors.js';
import { encodeAddCheckpointRequest } from './request.js';
import { SqliteWitnessStore } from './store.js';
import { Witness } from './witness.js';

const leaves = tesseraLeaves();
const key = generateSignerKey('witness.test/cas', SIGNATURE_TYPE_COSIGNATURE);
const logs = [{ origin: TESSERA.origin, keys: [tesseraVerifier()] }];
const dirs = tempDirs();
afterAll(() => dirs.cleanup());

async function body(old: number, size: number): Promise<Uint8Array> {
  return encodeAddCheckpointRequest(old, await proofFor(leaves, old, size), tesseraCheckpoint(size));
}

/** A gate the stalled request waits on. */
function gate(): { wait: () => Promise<void>; open: () => void } {
  let open!: () => void;
  const p = new Promise<void>((r) => {
    open = r;
  });
  return { wait: () => p, open };
}

describeTessera('tlog-witness compare-and-swap', () => {
  it('WIT-10: of two requests from the same state in one witness, the one that commits second gets 409', async () => {
    const store = SqliteWitnessStore.openDir(dirs.make());
    const g = gate();
    let armed = false;
    const witness = new Witness({
      key,
      logs,
      store,
      // Once armed, only the first request stalls; the second runs straight through while the first waits.
      beforeCommit: async () => {
        if (!armed) return;
        armed = false;
        await g.wait();
      },
    });
    await witness.addCheckpoint(await body(0, 4));
    armed = true;
    const a = witness.addCheckpoint(await body(4, 9)); // passes every check, then waits
    const b = await witness.addCheckpoint(await body(4, 12)); // commits 12
    expect(b).toMatch(/^— witness\.test\/cas /);
    g.open();
    const err = await a.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WitnessError);
    expect((err as WitnessError).code).toBe('WITNESS_CONFLICT');
    expect((err as WitnessError).check).toBe('WIT-10');
    expect((err as WitnessError).status).toBe(409);
    expect((err as WitnessError).knownSize).toBe(12);
    // No rollback: the witness stays at 12.
    expect(store.latest(TESSERA.origin)?.size).toBe(12);
    store.close();
  });

  it('WIT-10: the same race between two witness processes sharing one database file (two connections)', async () => {
    const dir = dirs.make();
    const storeA = SqliteWitnessStore.openDir(dir);
    const storeB = SqliteWitnessStore.openDir(dir);
    const g = gate();
    const witnessA = new Witness({ key, logs, store: storeA, beforeCommit: () => g.wait() });
    const witnessB = new Witness({ key, logs, store: storeB });
    // First contact races too: both see "never cosigned".
    const a = witnessA.addCheckpoint(await body(0, 3));
    await witnessB.addCheckpoint(await body(0, 7));
    g.open();
    await expect(a).rejects.toMatchObject({ code: 'WITNESS_CONFLICT', check: 'WIT-10', knownSize: 7 });
    expect(storeA.latest(TESSERA.origin)?.size).toBe(7);
    storeA.close();
    storeB.close();
  });

  it('many concurrent requests from one state: exactly one is cosigned, all others get 409 with its size', async () => {
    const store = SqliteWitnessStore.openDir(dirs.make());
    // Every request yields to the event loop between its checks and its commit, so they all interleave.
    const witness = new Witness({
      key,
      logs,
      store,
      beforeCommit: () => new Promise((r) => setImmediate(r)),
    });
    await witness.addCheckpoint(await body(0, 2));
    const sizes = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
    const bodies = await Promise.all(sizes.map((s) => body(2, s)));
    const results = await Promise.allSettled(bodies.map((b) => witness.addCheckpoint(b)));
    const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [sizes[i]!] : []));
    expect(won).toHaveLength(1);
    for (const r of results) {
      if (r.status === 'rejected')
        expect(r.reason).toMatchObject({ code: 'WITNESS_CONFLICT', knownSize: won[0] });
    }
    expect(store.latest(TESSERA.origin)?.size).toBe(won[0]);
    store.close();
  });
});
