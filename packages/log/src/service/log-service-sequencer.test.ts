// docs/spec/log-service.md "Sequencer": group commit, checkpoints, inclusion and consistency proofs checked
// with the pure verifier, tiles served over HTTP checked against the pure tile builder, restart, witnessing
// with real witness daemons (C2SP tlog-witness), back-pressure (SEQ-1), entry limits (SEQ-2), halting on a
// second writer (SEQ-5), refusing a corrupt store (SEQ-3) and recovering from a lost database connection.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { equalBytes } from '@overt/core';
import { type RunningWitness, startWitnessDaemon, submitToWitness, type WitnessEvent } from '@overt/witness';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkConsistent,
  parseCheckpoint,
  verifyCheckpoint,
  verifyCheckpointSignature,
} from '../checkpoint.js';
import { cosign, makeWitnessPolicy } from '../cosignature.js';
import { isLogError } from '../errors.js';
import { leafHash, verifyInclusion } from '../merkle.js';
import {
  formatSignatureLine,
  generateSignerKey,
  parseNote,
  parseVerifierKey,
  SIGNATURE_TYPE_COSIGNATURE,
  type SignerKey,
  type VerifierKey,
  verifierKeyOf,
} from '../note.js';
import { createReceipt, verifyReceipt } from '../proof.js';
import {
  decodeEntryBundle,
  encodeEntryBundle,
  entryBundlePath,
  tilePath,
  tilesForSize,
  tilesFromLeafHashes,
} from '../tiles.js';
import { startLogServer } from './http.js';
import { openPostgresStorage } from './postgres-storage.js';
import { Sequencer, type SequencerEvent, type SequencerOptions } from './sequencer.js';
import { openSqliteStorage } from './sqlite-storage.js';
import type { AppendBatch, LogStorage } from './storage.js';
import { dropSchema, randomSchemaName, testDatabaseUrl } from './testing.js';
import { acceptCosignatures, type LogWitness } from './witnessing.js';

const ORIGIN = 'log.example/overt-test';
const enc = new TextEncoder();
const dir = mkdtempSync(join(tmpdir(), 'overt-seq-'));
const url = testDatabaseUrl();
const schemas: string[] = [];

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  if (url !== undefined) for (const s of schemas) await dropSchema(url, s);
});

let fileCount = 0;
const drivers: { name: string; open(): Promise<{ storage: LogStorage; reopen(): Promise<LogStorage> }> }[] = [
  {
    name: 'SQLite',
    async open() {
      const path = join(dir, `seq-${fileCount++}.db`);
      return { storage: openSqliteStorage({ path }), reopen: async () => openSqliteStorage({ path }) };
    },
  },
];
if (url !== undefined) {
  drivers.push({
    name: 'PostgreSQL',
    async open() {
      const schema = randomSchemaName();
      schemas.push(schema);
      const open = () => openPostgresStorage({ connectionString: url, schema });
      return { storage: await open(), reopen: open };
    },
  });
} else {
  console.warn('DATABASE_URL is not set: the PostgreSQL sequencer integration tests are SKIPPED');
  describe('sequencer on PostgreSQL', () => {
    it.skip('SKIPPED: set DATABASE_URL to run the sequencer integration tests on PostgreSQL', () => {});
  });
}

async function expectCode(p: Promise<unknown>, code: string, check?: string): Promise<unknown> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(isLogError(e), `expected ${code}, got ${String(e)}`).toBe(true);
  expect((e as { code: string }).code).toBe(code);
  if (check !== undefined) expect((e as { check?: string }).check).toBe(check);
  return e;
}

const logKey = generateSignerKey(ORIGIN);
const logVerifier = verifierKeyOf(logKey);

for (const driver of drivers) {
  describe(`sequencer on ${driver.name}`, () => {
    it('group-commits concurrent appends; every result has a durable signed checkpoint and a proof that verifies', async () => {
      const { storage, reopen } = await driver.open();
      const events: SequencerEvent[] = [];
      const seq = await Sequencer.start({
        storage,
        origin: ORIGIN,
        key: logKey,
        maxBatch: 128,
        onStep: (e) => events.push(e),
      });
      events.length = 0; // keep only the batches' steps, not the signing of the empty tree at start
      const n = driver.name === 'SQLite' ? 3000 : 1200;
      const entries = Array.from({ length: n }, (_, i) => enc.encode(`entry ${i} ${'x'.repeat(i % 50)}`));
      const results = await Promise.all(entries.map((e) => seq.append(e)));
      // FIFO: the i-th append got index i; batching: far fewer checkpoints than appends, none over maxBatch.
      expect(results.map((r) => r.index)).toEqual(entries.map((_, i) => i));
      const durable = events.filter((e) => e.step === 'entries-durable').map((e) => e.size);
      expect(durable.length).toBeGreaterThanOrEqual(Math.ceil(n / 128));
      expect(durable.length).toBeLessThan(n);
      durable.reduce((prev, size) => {
        expect(size - prev).toBeGreaterThan(0);
        expect(size - prev).toBeLessThanOrEqual(128);
        return size;
      }, 0);
      // Every step of a batch happens in order, and appends resolve only after the checkpoint is durable.
      const order = events.map((e) => e.step);
      for (let i = 0; i + 4 < order.length; i += 5)
        expect(order.slice(i, i + 5)).toEqual([
          'batch-start',
          'entries-durable',
          'checkpoint-signed',
          'checkpoint-durable',
          'appends-resolved',
        ]);
      for (const [i, r] of results.entries()) {
        expect(r.checkpoint.size).toBeGreaterThan(i);
        if (i % 97 !== 0 && i !== n - 1) continue;
        const cp = verifyCheckpointSignature(r.checkpoint.note, ORIGIN, [logVerifier]);
        const { proof } = await seq.inclusionProof(i, cp.size);
        verifyInclusion(i, cp.size, leafHash(entries[i]!), proof, cp.rootHash);
        // …and against the newest checkpoint too.
        const latest = parseCheckpoint(seq.checkpoint.note);
        verifyInclusion(
          i,
          latest.size,
          leafHash(entries[i]!),
          (await seq.inclusionProof(i)).proof,
          latest.rootHash,
        );
      }
      // Consistency between every pair of successive signed checkpoints.
      const signed = events
        .filter((e) => e.step === 'checkpoint-signed')
        .map((e) => parseCheckpoint(e.note!));
      for (let i = 1; i < signed.length; i++) {
        const a = signed[i - 1]!;
        const b = signed[i]!;
        checkConsistent(a.size, a.rootHash, b.size, b.rootHash, await seq.consistencyProof(a.size, b.size));
      }
      // An offline receipt (c2sp.org/tlog-proof) verifies with the pure verifier.
      const receipt = await createReceipt(7, seq.checkpoint.note, seq.reader);
      verifyReceipt(
        receipt,
        { entry: entries[7]! },
        { origin: ORIGIN, logKeys: [logVerifier], witnesses: makeWitnessPolicy([], 0) },
      );
      // Proofs are only given up to the signed tree.
      await expectCode(seq.inclusionProof(0, n + 1), 'MERKLE_RANGE', 'MERKLE-1');

      // Restart on a fresh handle: same checkpoint, appends continue, old proofs still hold.
      await seq.close();
      const again = await Sequencer.start({ storage: await reopen(), origin: ORIGIN, key: logKey });
      expect(again.checkpoint.note).toBe(seq.checkpoint.note);
      const next = await again.append(enc.encode('after restart'));
      expect(next.index).toBe(n);
      const cp = parseCheckpoint(next.checkpoint.note);
      verifyInclusion(
        n,
        cp.size,
        leafHash(enc.encode('after restart')),
        (await again.inclusionProof(n)).proof,
        cp.rootHash,
      );
      verifyInclusion(5, cp.size, leafHash(entries[5]!), (await again.inclusionProof(5)).proof, cp.rootHash);
      await again.close();
      await storage.close();
    });

    it('serves over HTTP exactly the tiles and bundles the pure tile builder computes', async () => {
      const { storage } = await driver.open();
      const seq = await Sequencer.start({ storage, origin: ORIGIN, key: logKey, maxBatch: 1000 });
      const server = await startLogServer({ storage, sequencer: seq, prefix: '/log/' });
      // Past 65,536 entries there are tiles at three levels; on PostgreSQL two levels keep the test short.
      const n = driver.name === 'SQLite' ? 66_000 : 1_000;
      const entries = Array.from({ length: n }, (_, i) => enc.encode(`e${i}`));
      for (let i = 0; i < n; i += 5000)
        await Promise.all(entries.slice(i, i + 5000).map((e) => seq.append(e)));
      const expected = tilesFromLeafHashes(entries.map(leafHash));
      expect(expected.length).toBe(tilesForSize(n).length);
      for (const { tile, data } of expected) {
        const res = await fetch(`${server.url}${tilePath(tile)}`);
        expect(res.status, tilePath(tile)).toBe(200);
        // equalBytes, not toEqual: deep equality of 8 KiB arrays element by element is slow.
        expect(equalBytes(new Uint8Array(await res.arrayBuffer()), data), tilePath(tile)).toBe(true);
      }
      // Every bundle of the small tree; on the large one the first, one in the middle and the partial last.
      const bundles = Array.from({ length: Math.ceil(n / 256) }, (_, b) => b).filter(
        (b) => n < 10_000 || b === 0 || b === 128 || b === Math.ceil(n / 256) - 1,
      );
      for (const b of bundles) {
        const width = Math.min(256, n - b * 256);
        const res = await fetch(`${server.url}${entryBundlePath({ index: b, width })}`);
        const got = decodeEntryBundle(new Uint8Array(await res.arrayBuffer()), width);
        expect(
          equalBytes(encodeEntryBundle(got), encodeEntryBundle(entries.slice(b * 256, b * 256 + width))),
        ).toBe(true);
      }
      const cp = parseCheckpoint(await (await fetch(`${server.url}checkpoint`)).text());
      expect(cp.size).toBe(n);
      await server.close();
      await seq.close();
      await storage.close();
    });

    it('SEQ-5: a second sequencer on the same storage halts on its first conflicting batch; the tree does not fork', async () => {
      const { storage, reopen } = await driver.open();
      const a = await Sequencer.start({ storage, origin: ORIGIN, key: logKey });
      const other = await reopen();
      const b = await Sequencer.start({ storage: other, origin: ORIGIN, key: logKey });
      await a.append(enc.encode('by a'));
      const e = await expectCode(b.append(enc.encode('by b')), 'SEQ_HALTED', 'SEQ-5');
      expect(isLogError((e as Error).cause, 'STORE_CONFLICT')).toBe(true);
      await expectCode(b.append(enc.encode('again')), 'SEQ_HALTED');
      expect((await a.append(enc.encode('a goes on'))).index).toBe(1);
      expect(await storage.readEntries(0, 10)).toEqual([enc.encode('by a'), enc.encode('a goes on')]);
      await a.close();
      await b.close();
      await other.close();
      await storage.close();
    });
  });
}

/** A storage decorator that holds each append until released: a slow disk, deterministically. */
function gated(inner: LogStorage): { storage: LogStorage; release(): void; waiting(): number } {
  let waiters: (() => void)[] = [];
  const storage: LogStorage = {
    claimOrigin: (o) => inner.claimOrigin(o),
    readTreeState: () => inner.readTreeState(),
    appendBatch: async (b: AppendBatch) => {
      await new Promise<void>((r) => waiters.push(r));
      return inner.appendBatch(b);
    },
    readEntries: (s, c) => inner.readEntries(s, c),
    readTile: (l, i) => inner.readTile(l, i),
    writeCheckpoints: (u) => inner.writeCheckpoints(u),
    readCheckpoint: (s) => inner.readCheckpoint(s),
    close: () => inner.close(),
  };
  return {
    storage,
    release: () => {
      const w = waiters;
      waiters = [];
      for (const r of w) r();
    },
    waiting: () => waiters.length,
  };
}

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
}

describe('back-pressure and limits', () => {
  it('SEQ-1: a full queue rejects appends with SEQ_QUEUE_FULL; HTTP answers 503 with Retry-After', async () => {
    const gate = gated(openSqliteStorage({ path: ':memory:' }));
    const seq = await Sequencer.start({
      storage: gate.storage,
      origin: ORIGIN,
      key: logKey,
      maxQueue: 3,
      maxBatch: 2,
    });
    const server = await startLogServer({ storage: gate.storage, sequencer: seq });
    const first = [seq.append(enc.encode('a')), seq.append(enc.encode('b'))];
    await until(() => gate.waiting() === 1); // the batch of a, b is at the (held) disk
    const queued = [seq.append(enc.encode('c')), seq.append(enc.encode('d')), seq.append(enc.encode('e'))];
    await expectCode(seq.append(enc.encode('f')), 'SEQ_QUEUE_FULL', 'SEQ-1');
    const res = await fetch(`${server.url}add`, { method: 'POST', body: enc.encode('g') });
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await res.json()).toMatchObject({ status: 503, code: 'SEQ_QUEUE_FULL', check: 'SEQ-1' });
    // Releasing the disk drains the queue; every accepted append resolves, in order.
    const drain = setInterval(gate.release, 2);
    const done = await Promise.all([...first, ...queued]);
    clearInterval(drain);
    expect(done.map((r) => r.index)).toEqual([0, 1, 2, 3, 4]);
    const after = seq.append(enc.encode('h'));
    const drain2 = setInterval(gate.release, 2);
    expect((await after).index).toBe(5);
    clearInterval(drain2);
    await server.close();
    await seq.close();
  });

  it('SEQ-1: the queue is also bounded in bytes', async () => {
    const gate = gated(openSqliteStorage({ path: ':memory:' }));
    const seq = await Sequencer.start({
      storage: gate.storage,
      origin: ORIGIN,
      key: logKey,
      maxQueueBytes: 1000,
      maxBatch: 1,
    });
    const held = seq.append(new Uint8Array(10));
    await until(() => gate.waiting() === 1);
    const ok = seq.append(new Uint8Array(1000));
    await expectCode(seq.append(new Uint8Array(1)), 'SEQ_QUEUE_FULL', 'SEQ-1');
    const drain = setInterval(gate.release, 2);
    await Promise.all([held, ok]);
    clearInterval(drain);
    await seq.close();
  });

  it('SEQ-2: entries over 65,535 bytes (or not bytes) are refused; 65,535 bytes and empty entries are fine', async () => {
    const storage = openSqliteStorage({ path: ':memory:' });
    const seq = await Sequencer.start({ storage, origin: ORIGIN, key: logKey });
    await expectCode(seq.append(new Uint8Array(65_536)), 'SEQ_ENTRY_TOO_LARGE', 'SEQ-2');
    await expectCode(seq.append('text' as unknown as Uint8Array), 'SEQ_ENTRY_TOO_LARGE', 'SEQ-2');
    expect((await seq.append(new Uint8Array(65_535).fill(1))).index).toBe(0);
    expect((await seq.append(new Uint8Array(0))).index).toBe(1);
    const [big, empty] = await storage.readEntries(0, 2);
    expect(equalBytes(big!, new Uint8Array(65_535).fill(1))).toBe(true);
    expect(empty).toEqual(new Uint8Array(0));
    await seq.close();
    await expectCode(seq.append(enc.encode('late')), 'SEQ_CLOSED');
    await storage.close();
  });

  it('copies each entry at append time: a caller reusing its buffer cannot change what is logged', async () => {
    const storage = openSqliteStorage({ path: ':memory:' });
    const seq = await Sequencer.start({ storage, origin: ORIGIN, key: logKey });
    const buf = enc.encode('original');
    const p = seq.append(buf);
    buf.fill(0);
    const { index, checkpoint } = await p;
    const cp = parseCheckpoint(checkpoint.note);
    verifyInclusion(
      index,
      cp.size,
      leafHash(enc.encode('original')),
      (await seq.inclusionProof(index)).proof,
      cp.rootHash,
    );
    await seq.close();
  });

  it('rejects nonsensical options with SERVICE_CONFIG', async () => {
    const storage = openSqliteStorage({ path: ':memory:' });
    for (const bad of [
      { maxQueue: 0 },
      { maxBatch: -1 },
      { witnessTimeoutMs: 1.5 },
    ] as Partial<SequencerOptions>[])
      await expectCode(Sequencer.start({ storage, origin: ORIGIN, key: logKey, ...bad }), 'SERVICE_CONFIG');
    await storage.close();
  });
});

describe('integrity of the stored state', () => {
  it('SEQ-3: refuses to start when the stored signed checkpoint does not match the stored tree', async () => {
    const path = join(dir, 'tampered.db');
    const storage = openSqliteStorage({ path });
    const seq = await Sequencer.start({ storage, origin: ORIGIN, key: logKey });
    await Promise.all([1, 2, 3].map((i) => seq.append(enc.encode(`e${i}`))));
    await seq.close();
    await storage.close();
    const db = new Database(path);
    db.prepare("UPDATE entries SET data = X'00' WHERE idx = 1").run();
    db.prepare('UPDATE tree_state SET compact_range = ? WHERE id = 0').run(new Uint8Array(64).fill(9));
    db.close();
    const reopened = openSqliteStorage({ path });
    await expectCode(
      Sequencer.start({ storage: reopened, origin: ORIGIN, key: logKey }),
      'STORE_CORRUPT',
      'SEQ-3',
    );
    await expectCode(
      Sequencer.start({ storage: reopened, origin: 'log.example/other', key: logKey }),
      'STORE_ORIGIN',
      'STORE-4',
    );
    await reopened.close();
  });

  it.skipIf(url === undefined)(
    'recovers from a lost database connection: the failed batch is rejected, the next one lands',
    async () => {
      const schema = randomSchemaName();
      schemas.push(schema);
      const storage = await openPostgresStorage({
        connectionString: url!,
        schema,
        maxConnections: 1,
        applicationName: schema,
      });
      const seq = await Sequencer.start({ storage, origin: ORIGIN, key: logKey });
      await seq.append(enc.encode('before'));
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      const killed = await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
        [schema],
      );
      expect(killed.rowCount).toBeGreaterThan(0);
      await admin.end();
      // The pool's connection was killed: this batch fails with STORE_FAILED, or (if the pool already replaced
      // the connection) succeeds; either way the sequencer must continue with a consistent tree.
      const outcome = await seq.append(enc.encode('during')).then(
        (r) => r.index,
        (e: unknown) => {
          expect(isLogError(e, 'STORE_FAILED')).toBe(true);
          return -1;
        },
      );
      const after = await seq.append(enc.encode('after'));
      expect(after.index).toBe(outcome === -1 ? 1 : 2);
      const cp = parseCheckpoint(after.checkpoint.note);
      verifyInclusion(
        after.index,
        cp.size,
        leafHash(enc.encode('after')),
        (await seq.inclusionProof(after.index)).proof,
        cp.rootHash,
      );
      await seq.close();
      await storage.close();
    },
  );
});

describe('witnessing (C2SP tlog-witness) with real witness daemons', () => {
  const daemons: RunningWitness[] = [];
  let hanging: Server;
  const sockets: Socket[] = [];
  let hangingUrl: string;
  let downUrl: string;

  beforeAll(async () => {
    for (const name of ['w1.example', 'w2.example'])
      daemons.push(
        await startWitnessDaemon({
          dataDir: join(dir, name),
          name,
          logs: [{ origin: ORIGIN, keys: [logVerifier] }],
        }),
      );
    // A witness that accepts connections and never answers, and one that is down.
    hanging = createServer((s) => {
      sockets.push(s);
    });
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', () => r()));
    hangingUrl = `http://127.0.0.1:${(hanging.address() as { port: number }).port}`;
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    downUrl = `http://127.0.0.1:${(closed.address() as { port: number }).port}`;
    await new Promise<void>((r) => closed.close(() => r()));
  });

  afterAll(async () => {
    for (const d of daemons) await d.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => hanging.close(() => r()));
  });

  const viaHttp = (submitUrl: string, key: VerifierKey): LogWitness => ({
    key,
    addCheckpoint: (note, oldSize, prove) =>
      submitToWitness(submitUrl, note, oldSize, prove, { witnessKey: key, timeoutMs: 400 }),
  });

  it('collects cosignatures concurrently, tolerates a slow and a down witness, publishes with the quorum', async () => {
    const path = join(dir, 'witnessed.db');
    const keys = daemons.map((d) => parseVerifierKey(d.vkey));
    const slowKey = verifierKeyOf(generateSignerKey('slow.example', SIGNATURE_TYPE_COSIGNATURE));
    const downKey = verifierKeyOf(generateSignerKey('down.example', SIGNATURE_TYPE_COSIGNATURE));
    const witnesses = [
      viaHttp(daemons[0]!.url, keys[0]!),
      viaHttp(hangingUrl, slowKey),
      viaHttp(daemons[1]!.url, keys[1]!),
      viaHttp(downUrl, downKey),
    ];
    const open = async () => {
      const storage = openSqliteStorage({ path });
      const seq = await Sequencer.start({
        storage,
        origin: ORIGIN,
        key: logKey,
        witnesses,
        witnessQuorum: 2,
        witnessTimeoutMs: 300,
        witnessRetryMs: 50,
      });
      return { storage, seq };
    };
    const policy = { origin: ORIGIN, logKeys: [logVerifier], witnesses: makeWitnessPolicy(keys, 2) };
    let { storage, seq } = await open();
    const server = await startLogServer({ storage, sequencer: seq });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => seq.append(enc.encode(`w${i}`))));
    const witnessed = await seq.awaitWitnessed(20, 10_000);
    expect(witnessed.cosignatures).toBe(2);
    const verified = verifyCheckpoint(witnessed.note, policy);
    expect(verified.size).toBeGreaterThanOrEqual(20);
    // The served checkpoint is the published one, with the cosignatures.
    const served = await (await fetch(`${server.url}checkpoint`)).text();
    expect(verifyCheckpoint(served, policy).size).toBeGreaterThanOrEqual(20);
    // A receipt under the witnessed checkpoint verifies offline against the policy.
    const receipt = await createReceipt(results[3]!.index, witnessed.note, seq.reader);
    verifyReceipt(receipt, { entry: enc.encode('w3') }, policy);
    // The append endpoint can wait for the quorum and answer with a receipt under a witnessed checkpoint.
    const res = await fetch(`${server.url}add?wait=witnessed`, {
      method: 'POST',
      body: enc.encode('via http'),
    });
    expect(res.status).toBe(200);
    verifyReceipt(await res.text(), { entry: enc.encode('via http') }, policy);
    await server.close();
    await seq.close();
    await storage.close();

    // After a restart the log no longer knows what each witness cosigned: the witnesses answer 409 with their
    // size, the client retries from it with a consistency proof, and the quorum is reached again.
    ({ storage, seq } = await open());
    const more = await seq.append(enc.encode('after restart'));
    const again = await seq.awaitWitnessed(more.index + 1, 10_000);
    expect(verifyCheckpoint(again.note, policy).size).toBe(more.index + 1);
    // A checkpoint that does not exist yet cannot be witnessed: the wait times out with SEQ_TIMEOUT.
    await expectCode(seq.awaitWitnessed(more.index + 2, 100), 'SEQ_TIMEOUT');
    await seq.close();
    await storage.close();
  });

  it('heartbeat: with nothing appended both witnesses cosign the same checkpoint again at their current time; the tree, the signed checkpoint and the root of every size stay as they were; a witness that does not answer keeps its earlier cosignature; close stops it', async () => {
    let t = 1_800_000_000;
    const events: WitnessEvent[] = [];
    const beats: RunningWitness[] = [];
    for (const name of ['hb1.example', 'hb2.example'])
      beats.push(
        await startWitnessDaemon({
          dataDir: join(dir, name),
          name,
          logs: [{ origin: ORIGIN, keys: [logVerifier] }],
          clock: () => t,
          onEvent: (e) => events.push(e),
        }),
      );
    const keys = beats.map((d) => parseVerifierKey(d.vkey));
    let secondUp = true;
    const witnesses: LogWitness[] = beats.map((d, i) => ({
      key: keys[i]!,
      addCheckpoint: (note, oldSize, prove, signal) =>
        i === 1 && !secondUp
          ? Promise.reject(new Error('witness down'))
          : submitToWitness(d.url, note, oldSize, prove, { witnessKey: keys[i]!, signal }),
    }));
    const policy = { origin: ORIGIN, logKeys: [logVerifier], witnesses: makeWitnessPolicy(keys, 2) };
    const stamps = (note: string) => verifyCheckpoint(note, policy).cosignatures.map((c) => c.timestamp);
    const published: string[] = [];
    let rounds = 0;
    const storage = openSqliteStorage({ path: join(dir, 'heartbeat.db') });
    const seq = await Sequencer.start({
      storage,
      origin: ORIGIN,
      key: logKey,
      witnesses,
      witnessQuorum: 2,
      heartbeatMs: 20,
      witnessRetryMs: 20,
      onStep: (e) => {
        if (e.step === 'checkpoint-published') published.push(e.note!);
        if (e.step === 'witness-round-start') rounds++;
      },
    });
    /** The published checkpoint once `ok` holds for it (heartbeats keep coming; bounded by 10 s). */
    const until = async (ok: (note: string) => boolean) => {
      for (let i = 0; i < 1000; i++) {
        const p = seq.publishedCheckpoint;
        if (p !== undefined && ok(p.note)) return p;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error('no such published checkpoint');
    };
    const logLine = (note: string) => parseNote(note).signatures.find((s) => s.name === ORIGIN);
    try {
      await Promise.all(['a', 'b', 'c'].map((x) => seq.append(enc.encode(x))));
      const first = await seq.awaitWitnessed(3, 10_000);
      const signed = seq.checkpoint.note;
      expect(stamps(first.note)).toEqual([t, t]);

      t += 100;
      const beat = await until((n) => stamps(n).every((s) => s === t));
      expect([beat.size, beat.cosignatures]).toEqual([3, 2]);
      expect(beat.root).toEqual(first.root);
      expect(parseCheckpoint(beat.note).text).toBe(parseCheckpoint(first.note).text);
      expect(logLine(beat.note)).toEqual(logLine(first.note));
      // Nothing was signed or appended: the signed checkpoint and the tree are the ones of the last append.
      expect(seq.checkpoint.note).toBe(signed);
      expect((await storage.readTreeState()).size).toBe(3);
      expect(new TextDecoder().decode((await storage.readCheckpoint('signed'))!.note)).toBe(signed);
      // Each witness was asked from size 3 to size 3 (tlog-witness: empty proof) and answered 200.
      expect(
        events.filter((e) => e.oldSize === 3 && e.size === 3 && e.status === 200).length,
      ).toBeGreaterThan(0);
      // No size was ever published with two roots.
      const roots = new Map<number, string>();
      for (const n of published) {
        const c = parseCheckpoint(n);
        const root = Buffer.from(c.rootHash).toString('hex');
        expect(roots.get(c.size) ?? root).toBe(root);
        roots.set(c.size, root);
      }

      // The second witness goes down: its earlier cosignature stays, the first one's advances.
      secondUp = false;
      // Rounds run one at a time: once the next one starts, no request to the second witness is in flight.
      const started = rounds;
      await until(() => rounds > started);
      const before = t;
      t += 100;
      const partial = await until((n) => stamps(n)[0] === t);
      expect(stamps(partial.note)).toEqual([t, before]);
      expect(partial.cosignatures).toBe(2);
    } finally {
      await seq.close();
    }
    // Closed: no heartbeat asks a witness again. A request already on the wire when close aborted it may still
    // reach the witness and be counted there: let those land first, then a 20 ms heartbeat would ask ~15 times.
    await new Promise((r) => setTimeout(r, 150));
    const asked = events.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(events.length).toBe(asked);
    await storage.close();
    for (const d of beats) await d.close();
  });

  it('SEQ-4: keeps only cosignatures by the witness key that verify over this checkpoint', () => {
    const wkey: SignerKey = generateSignerKey('w.example', SIGNATURE_TYPE_COSIGNATURE);
    const other = generateSignerKey('other.example', SIGNATURE_TYPE_COSIGNATURE);
    const text = `${ORIGIN}\n1\n${'A'.repeat(43)}=\n`;
    const good = cosign(text, wkey, 1_700_000_000);
    const foreign = cosign(text, other, 1_700_000_000);
    const wk = verifierKeyOf(wkey);
    expect(
      acceptCosignatures(wk, text, formatSignatureLine(foreign) + formatSignatureLine(good)),
    ).toHaveLength(1);
    const tampered = { ...good, signature: good.signature.slice() };
    tampered.signature[20]! ^= 1;
    expect(() => acceptCosignatures(wk, text, formatSignatureLine(tampered))).toThrow(/COSIG_BAD_SIGNATURE/);
    const otherText = `${ORIGIN}\n2\n${'A'.repeat(43)}=\n`;
    expect(() => acceptCosignatures(wk, otherText, formatSignatureLine(good))).toThrow(/COSIG_BAD_SIGNATURE/);
    expect(() => acceptCosignatures(wk, text, formatSignatureLine(foreign))).toThrow(/COSIG_MALFORMED/);
    expect(() => acceptCosignatures(wk, text, 'not a signature line\n')).toThrow();
    expect(() => acceptCosignatures(wk, text, formatSignatureLine(good).slice(0, -1))).toThrow(
      /COSIG_MALFORMED/,
    );
  });
});
