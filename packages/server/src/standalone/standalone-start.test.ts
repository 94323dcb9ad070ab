/**
 * `npm start` end to end (docs/spec/start.md): runs the real scripts/start.mjs as a child process (from the
 * sources, OVERT_START_SOURCE=1, on free ports and a temporary data directory) and checks what a client would:
 * the well-known document names the keys really in use (the checkpoint verifies under the advertised log key and
 * carries the quorum of cosignatures by the advertised witnesses), the log opens with the admin-signed policy
 * naming the three trustees (k = 2), the two witnesses and a requester, followed by the epoch-key statements (read
 * through the tiles, the tree recomputed from them), which verify under that policy with the trustees'
 * signatures (A14), a restart reuses everything, and SIGTERM and SIGINT leave no process behind.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { deriveDkgEncryptionKey, equalBytes, toBase64, utf8Decode, verifyPolicyEntry } from '@overt/core';
import {
  decodeEntry,
  decodeEntryBundle,
  ENTRY_TYPES,
  leafHash,
  makeWitnessPolicy,
  nodeHash,
  parseSignerKey,
  parseVerifierKey,
  verifyCheckpoint,
} from '@overt/log';
import { afterAll, describe, expect, it } from 'vitest';
import { pidAlive, spawnChild, stopChildrenAfterAll } from '../../../../test/children.js';
import { calendarMonthEpoch } from '../epochs.js';
import { verifyEpochKeyStatement } from '../statements.js';
import { isStandaloneError } from './errors.js';
import { startSystem } from './system.js';
import type { WellKnownDocument } from './well-known.js';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const dataDir = mkdtempSync(join(tmpdir(), 'overt-start-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
// Each start runs in its own process group (test/children.ts): a test that fails or times out before it stops the
// system still leaves no relay or witness behind.
stopChildrenAfterAll();

interface Started {
  readonly child: ChildProcess;
  readonly url: string;
  readonly witnessPids: number[];
  /** The trustee daemons' pids (start.md §4: child processes). */
  readonly trusteePids: number[];
  readonly output: () => string;
}

function start(): Promise<Started> {
  const child = spawnChild(process.execPath, ['scripts/start.mjs', '--port', '0', '--data', dataDir], {
    cwd: root,
    env: { ...process.env, OVERT_START_SOURCE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => {
    out += String(d);
  });
  child.stderr?.on('data', (d) => {
    out += String(d);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`start timed out:\n${out}`)), 120_000);
    const early = (code: number | null) => reject(new Error(`start exited with ${code}:\n${out}`));
    child.once('exit', early);
    child.stdout?.on('data', () => {
      if (!out.includes('Ctrl-C stops everything.')) return;
      clearTimeout(timer);
      child.off('exit', early);
      const url = /relay\s+(http:\/\/\S+)/.exec(out)?.[1];
      const witnessPids = [...out.matchAll(/\(process (\d+)\)/g)].map((m) => Number(m[1]));
      const trusteePids = [...out.matchAll(/trustee \d+ .*, pid (\d+)/g)].map((m) => Number(m[1]));
      if (!url || witnessPids.length !== 2 || trusteePids.length !== 3)
        reject(new Error(`unexpected output:\n${out}`));
      else resolve({ child, url, witnessPids, trusteePids, output: () => out });
    });
  });
}

async function stop(s: Started, signal: NodeJS.Signals): Promise<number | null> {
  const exited = new Promise<number | null>((r) => s.child.once('exit', (code) => r(code)));
  s.child.kill(signal);
  return exited;
}

async function get(url: string): Promise<Response> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status} ${await res.text()}`);
  return res;
}

/** RFC 6962 §2.1 MTH over the leaf hashes. */
function treeRoot(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 1) return leaves[0]!;
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(treeRoot(leaves.slice(0, k)), treeRoot(leaves.slice(k)));
}

/** The checkpoint, verified under the well-known keys with the advertised quorum (polled until witnessed). */
async function witnessedCheckpoint(doc: WellKnownDocument) {
  const policy = {
    origin: doc.log.origin,
    logKeys: [parseVerifierKey(doc.log.vkey)],
    witnesses: makeWitnessPolicy(doc.log.witness_vkeys, doc.log.witness_quorum),
  };
  for (let i = 0; ; i++) {
    const text = await (await get(`${doc.log.url}checkpoint`)).text();
    try {
      return verifyCheckpoint(text, policy);
    } catch (e) {
      if (i >= 50) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

describe('npm start (scripts/start.mjs)', () => {
  let first:
    | {
        vkey: string;
        witnesses: readonly string[];
        size: number;
        org: string;
        franking: string;
        access: string;
        unseal: string;
      }
    | undefined;

  it('serves the well-known keys really in use, a witnessed checkpoint and verifiable epoch keys; SIGTERM stops every process', async () => {
    const s = await start();
    try {
      const doc = (await (await get(`${s.url}/.well-known/overt`)).json()) as WellKnownDocument;
      expect(doc.log.url).toBe(`${s.url}/log/`);
      expect(doc.log.witness_quorum).toBe(2);
      expect(doc.log.witness_vkeys).toHaveLength(2);
      const cp = await witnessedCheckpoint(doc);
      expect(cp.cosignatures).toHaveLength(2);

      // The entries through the tiles: the recomputed tree is the checkpoint's; the first entry is the policy the
      // admin signed, then come the epoch-key statements the trustees signed, for this month and the next.
      const bundle = new Uint8Array(
        await (await get(`${doc.log.url}tile/entries/000.p/${cp.size}`)).arrayBuffer(),
      );
      const entries = decodeEntryBundle(bundle, cp.size);
      expect(equalBytes(treeRoot(entries.map(leafHash)), cp.rootHash)).toBe(true);
      const admin = parseSignerKey(readFileSync(join(dataDir, 'admin.key'), 'utf8').trim());
      // The admin key clients pin (trust on first use) is the one that signs the directory statements.
      expect(doc.admin_key).toBe(toBase64(admin.publicKey));
      // The franking key published is the relay's own, kept in relay/franking.key (relay.md §10).
      const franking = parseSignerKey(readFileSync(join(dataDir, 'relay', 'franking.key'), 'utf8').trim());
      expect(doc.franking_key).toBe(toBase64(franking.publicKey));
      // The execution key published is the relay's own, kept in relay/access.key (access.md §4.1).
      const access = parseSignerKey(readFileSync(join(dataDir, 'relay', 'access.key'), 'utf8').trim());
      expect(doc.accessKey).toBe(toBase64(access.publicKey));
      // The unseal key published is the relay's own, derived from relay/unseal.key (mode 0600, after-release.md §1).
      const unsealFile = join(dataDir, 'relay', 'unseal.key');
      expect(statSync(unsealFile).mode & 0o077).toBe(0);
      const unseal = await deriveDkgEncryptionKey(new Uint8Array(readFileSync(unsealFile)));
      expect(doc.unsealKey).toBe(toBase64(unseal.publicKey));
      expect(decodeEntry(entries[0]!).type).toBe(ENTRY_TYPES.policy);
      const policy = verifyPolicyEntry(admin.publicKey, entries[0]!);
      expect(policy.policy.threshold).toBe(2);
      expect(policy.policy.trustees.map((t) => t.index)).toEqual([1, 2, 3]);
      expect(policy.policy.witnesses.map((w) => w.name).sort()).toEqual(
        doc.log.witness_vkeys.map((v) => parseVerifierKey(v).name).sort(),
      );
      expect(policy.policy.witnessQuorum).toBe(2);
      expect(policy.policy.requesters.length).toBeGreaterThanOrEqual(1);
      expect(policy.policy.epochLength).toEqual({ kind: 'calendar-month' });
      const statements = entries.slice(1).map((e) => {
        const entry = decodeEntry(e);
        expect(entry.type).toBe(ENTRY_TYPES.epoch_key);
        return verifyEpochKeyStatement(policy, entry.body);
      });
      const current = calendarMonthEpoch(Date.now());
      expect(statements.map((st) => st.epoch)).toEqual([current, current + 1]);
      for (const st of statements) {
        expect(st.orgId).toBe(doc.org);
        expect(st.threshold).toBe(2);
        expect(st.verificationKeys).toHaveLength(3);
        expect(st.signatures.map((x) => x.index)).toEqual([1, 2, 3]);
      }
      // No one but the relay appends: the log's add endpoint is not served.
      expect((await fetch(`${doc.log.url}add`, { method: 'POST', body: 'x' })).status).toBe(405);
      first = {
        vkey: doc.log.vkey,
        witnesses: doc.log.witness_vkeys,
        size: cp.size,
        org: doc.org,
        franking: doc.franking_key,
        access: doc.accessKey,
        unseal: doc.unsealKey,
      };
      expect(s.output()).not.toMatch(/PRIVATE\+KEY/);
    } finally {
      expect(await stop(s, 'SIGTERM')).toBe(0);
    }
    for (const pid of [...s.witnessPids, ...s.trusteePids]) expect(pidAlive(pid)).toBe(false);
  }, 180_000);

  it('a second start reuses the data directory (same keys, same log, same org, epochs reused); SIGINT stops it', async () => {
    expect(first).toBeDefined();
    const s = await start();
    try {
      const doc = (await (await get(`${s.url}/.well-known/overt`)).json()) as WellKnownDocument;
      expect(doc.org).toBe(first!.org);
      expect(doc.log.vkey).toBe(first!.vkey);
      expect(doc.log.witness_vkeys).toEqual(first!.witnesses);
      // The franking key persists (relay/franking.key), so stamps served before the restart stay reportable.
      expect(doc.franking_key).toBe(first!.franking);
      // So does the execution key (relay/access.key): trustees keep verifying executions after a restart.
      expect(doc.accessKey).toBe(first!.access);
      // And the unseal key (relay/unseal.key): parts sealed to it before the restart still open.
      expect(doc.unsealKey).toBe(first!.unseal);
      const cp = await witnessedCheckpoint(doc);
      expect(cp.size).toBe(first!.size);
      expect(s.output()).toMatch(/policy\s+serial 1, reused, log index 0;/);
      expect(s.output()).toMatch(/, reused, log index 1,/);
      expect(s.output()).toMatch(/, reused, log index 2,/);
      expect(s.output()).not.toMatch(/generated/);
      expect(utf8Decode(new Uint8Array(readFileSync(join(dataDir, 'overt.json'))))).toContain(doc.org);
    } finally {
      expect(await stop(s, 'SIGINT')).toBe(0);
    }
    for (const pid of s.witnessPids) expect(pidAlive(pid)).toBe(false);
  }, 180_000);

  it('START-1: refuses a data directory of another org before starting anything', async () => {
    expect(first).toBeDefined();
    await expect(startSystem({ dataDir, port: 0, org: `other-${first!.org}` })).rejects.toSatisfy(
      (e: unknown) => isStandaloneError(e, 'START_CONFIG') && e.check === 'START-1',
    );
  });
});
