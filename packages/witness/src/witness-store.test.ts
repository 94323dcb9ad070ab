// The witness's SQLite state: compare-and-swap semantics (one winner from one state, also across two
// connections to the same file), durability across reopening, the evidence cap, and file-backed WAL mode.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { WitnessError } from './errors.js';
import { MAX_EVIDENCE_PER_ORIGIN, SqliteWitnessStore, type StoredCheckpoint } from './store.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'overt-witness-store-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function cp(size: number, fill: number): StoredCheckpoint {
  return {
    size,
    root: new Uint8Array(32).fill(fill),
    note: new Uint8Array([size, fill]),
    cosignedAt: 1000 + size,
  };
}

describe('SqliteWitnessStore', () => {
  it('starts empty and stores the first checkpoint only once', () => {
    const s = new SqliteWitnessStore(':memory:');
    expect(s.latest('o')).toBeUndefined();
    expect(s.compareAndSwap('o', undefined, cp(3, 1))).toBe(true);
    expect(s.compareAndSwap('o', undefined, cp(4, 2))).toBe(false);
    expect(s.latest('o')).toEqual(cp(3, 1));
    s.close();
  });

  it('advances only from the exact (size, root) expected', () => {
    const s = new SqliteWitnessStore(':memory:');
    s.compareAndSwap('o', undefined, cp(3, 1));
    expect(s.compareAndSwap('o', { size: 3, root: new Uint8Array(32).fill(9) }, cp(5, 2))).toBe(false);
    expect(s.compareAndSwap('o', { size: 2, root: new Uint8Array(32).fill(1) }, cp(5, 2))).toBe(false);
    expect(s.compareAndSwap('o', { size: 3, root: new Uint8Array(32).fill(1) }, cp(5, 2))).toBe(true);
    expect(s.latest('o')?.size).toBe(5);
    // Origins are independent.
    expect(s.latest('other')).toBeUndefined();
    s.close();
  });

  it('gives one winner when two connections to one file race from the same state', () => {
    const dir = tempDir();
    const a = SqliteWitnessStore.openDir(dir);
    const b = SqliteWitnessStore.openDir(dir);
    a.compareAndSwap('o', undefined, cp(3, 1));
    const seenByA = a.latest('o')!;
    const seenByB = b.latest('o')!;
    // Both read size 3; B writes first; A's swap from the state it read must fail.
    expect(b.compareAndSwap('o', seenByB, cp(8, 2))).toBe(true);
    expect(a.compareAndSwap('o', seenByA, cp(5, 3))).toBe(false);
    expect(a.latest('o')?.size).toBe(8);
    a.close();
    b.close();
  });

  it('keeps its state across close and reopen, in WAL mode with synchronous FULL', () => {
    const dir = tempDir();
    const s = SqliteWitnessStore.openDir(dir);
    s.compareAndSwap('o', undefined, cp(7, 4));
    s.recordEvidence('o', 'WIT-9', new Uint8Array([1, 2]), 55);
    s.close();
    const raw = new Database(join(dir, 'witness.db'));
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    raw.close();
    const t = SqliteWitnessStore.openDir(dir);
    expect(t.latest('o')).toEqual(cp(7, 4));
    expect(t.evidence('o')).toEqual([
      { id: 1, origin: 'o', receivedAt: 55, check: 'WIT-9', request: new Uint8Array([1, 2]) },
    ]);
    t.close();
  });

  it('caps evidence per origin so a misbehaving log cannot fill the disk', () => {
    const s = new SqliteWitnessStore(':memory:');
    for (let i = 0; i < MAX_EVIDENCE_PER_ORIGIN + 5; i++)
      s.recordEvidence('o', 'WIT-8', new Uint8Array([i & 255]), i);
    s.recordEvidence('p', 'WIT-8', new Uint8Array([1]), 1);
    expect(s.evidence('o')).toHaveLength(MAX_EVIDENCE_PER_ORIGIN);
    expect(s.evidence()).toHaveLength(MAX_EVIDENCE_PER_ORIGIN + 1);
    s.close();
  });

  it('refuses a database with another schema version', () => {
    const dir = tempDir();
    SqliteWitnessStore.openDir(dir).close();
    const raw = new Database(join(dir, 'witness.db'));
    raw.prepare("UPDATE meta SET value = '99' WHERE key = 'schema_version'").run();
    raw.close();
    expect(() => SqliteWitnessStore.openDir(dir)).toThrow(WitnessError);
  });
});
