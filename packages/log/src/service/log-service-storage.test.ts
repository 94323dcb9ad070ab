// docs/spec/log-service.md "Storage": one contract suite for every LogStorage driver (SQLite, PostgreSQL).
// Without DATABASE_URL the PostgreSQL run is skipped loudly: a warning and a visibly skipped test.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { equalBytes } from '@overt/core';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { isLogError, type LogErrorCode } from '../errors.js';
import { CompactRange, leafHash } from '../merkle.js';
import { openPostgresStorage } from './postgres-storage.js';
import { openSqliteStorage } from './sqlite-storage.js';
import {
  type AppendBatch,
  concatHashes,
  decodeCompactRange,
  encodeCompactRange,
  type LogStorage,
  MAX_ENTRY_SIZE,
  type StoredCheckpoint,
  type TileWrite,
} from './storage.js';
import { dropSchema, randomSchemaName, testDatabaseUrl } from './testing.js';

interface Driver {
  name: string;
  /** Marks the newest database opened by `fresh` as migrated by a future version of this software. */
  futureSchema(): Promise<void>;
  /** Opens a storage on a fresh database; `reopen` opens another handle on the same database. */
  fresh(): Promise<{ storage: LogStorage; reopen(): Promise<LogStorage> }>;
  cleanup(): Promise<void>;
}

function sqliteDriver(): Driver {
  const dir = mkdtempSync(join(tmpdir(), 'overt-store-'));
  let n = 0;
  return {
    name: 'SQLite',
    async futureSchema() {
      const db = new Database(join(dir, `log-${n - 1}.db`));
      db.prepare(
        "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 'now')",
      ).run();
      db.close();
    },
    async fresh() {
      const path = join(dir, `log-${n++}.db`);
      return { storage: openSqliteStorage({ path }), reopen: async () => openSqliteStorage({ path }) };
    },
    async cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function postgresDriver(url: string): Driver {
  const schemas: string[] = [];
  return {
    name: 'PostgreSQL',
    async futureSchema() {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(
        `INSERT INTO ${schemas[schemas.length - 1]}.schema_migrations (version, name) VALUES (99, 'future')`,
      );
      await client.end();
    },
    async fresh() {
      const schema = randomSchemaName();
      schemas.push(schema);
      const open = () => openPostgresStorage({ connectionString: url, schema });
      return { storage: await open(), reopen: open };
    },
    async cleanup() {
      for (const s of schemas) await dropSchema(url, s);
    },
  };
}

const enc = new TextEncoder();

/** A well-formed batch extending `range` (mutated) by `entries`, with a level-0 tile write of their hashes. */
function batchFor(range: CompactRange, entries: Uint8Array[], tiles?: TileWrite[]): AppendBatch {
  const expectedSize = range.size;
  const hashes = entries.map(leafHash);
  for (const h of hashes) range.append(h);
  const tileBytes = concatHashes(hashes);
  return {
    expectedSize,
    entries,
    tiles: tiles ?? [
      { level: 0, index: expectedSize, hashes: tileBytes.slice(0, Math.min(256, hashes.length) * 32) },
    ],
    state: { size: range.size, compactRange: range.hashes },
  };
}

function checkpoint(size: number, rootByte: number, note = `note ${size}`): StoredCheckpoint {
  return { size, root: new Uint8Array(32).fill(rootByte), note: enc.encode(note) };
}

async function expectCode(p: Promise<unknown>, code: LogErrorCode, check?: string): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(isLogError(e, code), `expected ${code}, got ${String(e)}`).toBe(true);
  if (check !== undefined) expect((e as { check?: string }).check).toBe(check);
}

const url = testDatabaseUrl();
const drivers: Driver[] = [sqliteDriver()];
if (url !== undefined) drivers.push(postgresDriver(url));
else {
  console.warn('DATABASE_URL is not set: the PostgreSQL storage contract suite is SKIPPED');
  describe('LogStorage contract: PostgreSQL', () => {
    it.skip('SKIPPED: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run it', () => {});
  });
}

afterAll(async () => {
  for (const d of drivers) await d.cleanup();
});

for (const driver of drivers) {
  describe(`LogStorage contract: ${driver.name}`, () => {
    let storage: LogStorage;
    let reopen: () => Promise<LogStorage>;
    const opened: LogStorage[] = [];

    beforeEach(async () => {
      for (const s of opened.splice(0)) await s.close().catch(() => {});
      const f = await driver.fresh();
      storage = f.storage;
      reopen = async () => {
        const s = await f.reopen();
        opened.push(s);
        return s;
      };
      opened.push(storage);
    });

    afterAll(async () => {
      for (const s of opened.splice(0)) await s.close().catch(() => {});
    });

    it('starts empty', async () => {
      expect(await storage.readTreeState()).toEqual({ size: 0, compactRange: [] });
      expect(await storage.readEntries(0, 10)).toEqual([]);
      expect(await storage.readTile(0, 0)).toBeUndefined();
      expect(await storage.readCheckpoint('signed')).toBeUndefined();
      expect(await storage.readCheckpoint('published')).toBeUndefined();
    });

    it('appends a batch atomically and returns its indices; entries come back byte-identical', async () => {
      const range = CompactRange.empty();
      const first = [enc.encode('one'), new Uint8Array(0), new Uint8Array(MAX_ENTRY_SIZE).fill(7)];
      expect(await storage.appendBatch(batchFor(range, first))).toEqual({ first: 0, count: 3 });
      const second = [enc.encode('four'), enc.encode('five')];
      expect(await storage.appendBatch(batchFor(range, second))).toEqual({ first: 3, count: 2 });
      const all = await storage.readEntries(0, 5);
      expect(all.length).toBe(5);
      // equalBytes, not toEqual: deep equality of a 64 KiB array element by element is slow.
      for (const [i, e] of [...first, ...second].entries())
        expect(equalBytes(all[i]!, e), `entry ${i}`).toBe(true);
      const two = await storage.readEntries(2, 2);
      expect(equalBytes(two[0]!, first[2]!) && equalBytes(two[1]!, second[0]!)).toBe(true);
      // A range past the end returns what exists.
      expect(await storage.readEntries(4, 100)).toEqual([second[1]]);
      expect(await storage.readEntries(5, 1)).toEqual([]);
      // A batch larger than the drivers' multi-row statements, with a remainder.
      const third = Array.from({ length: 150 }, (_, i) => enc.encode(`third ${i}`));
      expect(await storage.appendBatch(batchFor(range, third))).toEqual({ first: 5, count: 150 });
      expect(await storage.readEntries(5, 150)).toEqual(third);
      const state = await storage.readTreeState();
      expect(state.size).toBe(155);
      expect(state.compactRange).toEqual(range.hashes);
    });

    it('STORE-1: refuses a batch that does not extend the stored size, writing nothing', async () => {
      const range = CompactRange.empty();
      await storage.appendBatch(batchFor(range, [enc.encode('a')]));
      const stale = CompactRange.empty();
      await expectCode(
        storage.appendBatch(batchFor(stale, [enc.encode('fork')])),
        'STORE_CONFLICT',
        'STORE-1',
      );
      const five = CompactRange.empty();
      for (let i = 0; i < 5; i++) five.append(leafHash(enc.encode(`e${i}`)));
      await expectCode(storage.appendBatch(batchFor(five, [enc.encode('x')])), 'STORE_CONFLICT', 'STORE-1');
      expect(await storage.readEntries(0, 10)).toEqual([enc.encode('a')]);
      expect((await storage.readTreeState()).size).toBe(1);
    });

    it('STORE-1: two handles racing to extend the same size: exactly one wins', async () => {
      const other = await reopen();
      const results = await Promise.allSettled([
        storage.appendBatch(batchFor(CompactRange.empty(), [enc.encode('left')])),
        other.appendBatch(batchFor(CompactRange.empty(), [enc.encode('right'), enc.encode('right2')])),
      ]);
      const won = results.filter((r) => r.status === 'fulfilled');
      expect(won).toHaveLength(1);
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      expect(isLogError(lost.reason, 'STORE_CONFLICT')).toBe(true);
      const state = await storage.readTreeState();
      expect((await storage.readEntries(0, 10)).length).toBe(state.size);
    });

    it('STORE-5: refuses malformed batches before writing anything', async () => {
      const good = batchFor(CompactRange.empty(), [enc.encode('a'), enc.encode('b')]);
      const h = new Uint8Array(32);
      const bad: AppendBatch[] = [
        { ...good, entries: [], state: { size: 0, compactRange: [] } },
        { ...good, expectedSize: -1 },
        { ...good, state: { size: 3, compactRange: [h, h] } },
        { ...good, state: { size: 2, compactRange: [h, h] } },
        { ...good, state: { size: 2, compactRange: [new Uint8Array(31)] } },
        {
          ...batchFor(CompactRange.empty(), [new Uint8Array(MAX_ENTRY_SIZE + 1)]),
        },
        { ...good, tiles: [{ level: 0, index: 0, hashes: new Uint8Array(33) }] },
        { ...good, tiles: [{ level: 0, index: 0, hashes: new Uint8Array(0) }] },
        { ...good, tiles: [{ level: 0, index: 0, hashes: new Uint8Array(257 * 32) }] },
        { ...good, tiles: [{ level: 64, index: 0, hashes: h }] },
        { ...good, tiles: [{ level: 0, index: -1, hashes: h }] },
        {
          ...good,
          tiles: [
            { level: 0, index: 0, hashes: h },
            { level: 0, index: 0, hashes: h },
          ],
        },
      ];
      for (const b of bad) await expectCode(storage.appendBatch(b), 'STORE_INVALID', 'STORE-5');
      expect(await storage.readTreeState()).toEqual({ size: 0, compactRange: [] });
      expect(await storage.readTile(0, 0)).toBeUndefined();
    });

    it('stores tiles; a wider write replaces the partial form; levels are separate', async () => {
      const range = CompactRange.empty();
      const t = (level: number, index: number, w: number, fill: number): TileWrite => ({
        level,
        index,
        hashes: new Uint8Array(w * 32).fill(fill),
      });
      await storage.appendBatch(
        batchFor(range, [enc.encode('a')], [t(0, 0, 1, 1), t(1, 0, 1, 2), t(0, 9, 256, 3)]),
      );
      await storage.appendBatch(batchFor(range, [enc.encode('b')], [t(0, 0, 2, 4)]));
      expect(await storage.readTile(0, 0)).toEqual(new Uint8Array(64).fill(4));
      expect(await storage.readTile(1, 0)).toEqual(new Uint8Array(32).fill(2));
      expect(await storage.readTile(0, 9)).toEqual(new Uint8Array(8192).fill(3));
      expect(await storage.readTile(2, 0)).toBeUndefined();
    });

    it('stores checkpoints per slot; STORE-3 one size, one root; STORE-6 never ahead of the tree', async () => {
      const range = CompactRange.empty();
      await storage.appendBatch(batchFor(range, [enc.encode('a'), enc.encode('b'), enc.encode('c')]));
      await storage.writeCheckpoints({ signed: checkpoint(2, 1), published: checkpoint(1, 9) });
      expect(await storage.readCheckpoint('signed')).toEqual(checkpoint(2, 1));
      expect(await storage.readCheckpoint('published')).toEqual(checkpoint(1, 9));
      // Same size and root: the note may be replaced (cosignatures added).
      await storage.writeCheckpoints({ published: checkpoint(1, 9, 'note 1 + cosignatures') });
      expect(await storage.readCheckpoint('published')).toEqual(checkpoint(1, 9, 'note 1 + cosignatures'));
      await expectCode(storage.writeCheckpoints({ signed: checkpoint(2, 2) }), 'STORE_CONFLICT', 'STORE-3');
      await expectCode(storage.writeCheckpoints({ signed: checkpoint(1, 1) }), 'STORE_CONFLICT', 'STORE-3');
      await expectCode(storage.writeCheckpoints({ signed: checkpoint(4, 1) }), 'STORE_CONFLICT', 'STORE-6');
      // Both slots in one transaction: when one is refused, neither is written.
      await expectCode(
        storage.writeCheckpoints({ signed: checkpoint(3, 5), published: checkpoint(0, 5) }),
        'STORE_CONFLICT',
        'STORE-3',
      );
      expect(await storage.readCheckpoint('signed')).toEqual(checkpoint(2, 1));
      await expectCode(
        storage.writeCheckpoints({ signed: { size: 3, root: new Uint8Array(31), note: enc.encode('x') } }),
        'STORE_INVALID',
        'STORE-5',
      );
      await storage.writeCheckpoints({ signed: checkpoint(3, 5), published: checkpoint(3, 5) });
      expect((await storage.readCheckpoint('published'))?.size).toBe(3);
    });

    it('STORE-2: refuses a database whose schema is newer than this software', async () => {
      await driver.futureSchema();
      await expectCode(reopen(), 'STORE_CORRUPT', 'STORE-2');
    });

    it('STORE-4: binds the origin once and refuses another', async () => {
      await storage.claimOrigin('example.com/log');
      await storage.claimOrigin('example.com/log');
      await expectCode(storage.claimOrigin('example.com/other'), 'STORE_ORIGIN', 'STORE-4');
      const again = await reopen();
      await expectCode(again.claimOrigin('example.com/other'), 'STORE_ORIGIN', 'STORE-4');
      await again.claimOrigin('example.com/log');
    });

    it('migrations are idempotent and everything survives reopening', async () => {
      const range = CompactRange.empty();
      await storage.claimOrigin('example.com/log');
      await storage.appendBatch(batchFor(range, [enc.encode('kept')]));
      await storage.writeCheckpoints({ signed: checkpoint(1, 3) });
      await storage.close();
      const a = await reopen();
      const b = await reopen();
      for (const s of [a, b]) {
        expect(await s.readEntries(0, 1)).toEqual([enc.encode('kept')]);
        expect((await s.readTreeState()).compactRange).toEqual(range.hashes);
        expect(await s.readCheckpoint('signed')).toEqual(checkpoint(1, 3));
      }
    });

    it('matches an in-memory model over random batch sequences (property)', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 1, maxLength: 6 }), {
            minLength: 1,
            maxLength: 5,
          }),
          async (batches) => {
            const s = (await driver.fresh()).storage;
            try {
              const range = CompactRange.empty();
              const model: Uint8Array[] = [];
              for (const b of batches) {
                const got = await s.appendBatch(batchFor(range, b));
                expect(got).toEqual({ first: model.length, count: b.length });
                model.push(...b);
              }
              expect(await s.readEntries(0, model.length + 1)).toEqual(model);
              expect(await s.readTreeState()).toEqual({ size: model.length, compactRange: range.hashes });
            } finally {
              await s.close();
            }
          },
        ),
        { numRuns: driver.name === 'SQLite' ? 25 : 8 },
      );
    });
  });
}

describe('compact range encoding (STORE-2)', () => {
  it('round-trips for every size (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 20 }), (leaves) => {
        const r = CompactRange.empty();
        for (const l of leaves) r.append(l);
        expect(decodeCompactRange(r.size, encodeCompactRange(r.hashes))).toEqual(r.hashes);
      }),
    );
  });

  it('rejects stored bytes that do not fit the size with STORE_CORRUPT only (fuzz)', () => {
    fc.assert(
      fc.property(fc.nat({ max: 2 ** 40 }), fc.uint8Array({ maxLength: 400 }), (size, bytes) => {
        try {
          const out = decodeCompactRange(size, bytes);
          expect(out.length * 32).toBe(bytes.length);
        } catch (e) {
          expect(isLogError(e, 'STORE_CORRUPT')).toBe(true);
        }
      }),
    );
  });
});
