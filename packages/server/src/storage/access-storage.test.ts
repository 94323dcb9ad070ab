// The access storage contract (docs/spec/access.md §4, relay.md §5, migration 7; shreds: after-release.md §6,
// migration 9): one suite, run against the SQLite and the PostgreSQL driver. Without DATABASE_URL the PostgreSQL run is skipped loudly.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareBytes, randomBytes } from '@overt/core';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isRelayError, type RelayErrorCode } from '../errors.js';
import type { AccessRequestRecord, ReleaseRecord } from './access.js';
import { PostgresRelayStorage } from './postgres.js';
import { SqliteRelayStorage } from './sqlite.js';
import type { EnvelopeRecord, RelayStorage } from './storage.js';
import { dropSchema, randomSchemaName, testDatabaseUrl } from './testing.js';

interface Driver {
  fresh(): Promise<RelayStorage>;
  reopen(): Promise<RelayStorage>;
  cleanup(): Promise<void>;
}

async function rejects(p: Promise<unknown>, code: RelayErrorCode): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (isRelayError(e, code)) return;
    throw new Error(`expected ${code}, got ${String(e)}`);
  }
  throw new Error(`expected ${code}, but it resolved`);
}

const T = 1_700_000_000_000;

function request(logIndex: number, extra: Partial<AccessRequestRecord> = {}): AccessRequestRecord {
  return {
    requestId: randomBytes(16),
    requestHash: randomBytes(32),
    requesterId: 'requester',
    signed: randomBytes(300),
    logIndex,
    policySerial: 1,
    status: 'pending',
    receivedAt: T,
    ...extra,
  };
}

function envelope(sendTime: number, orgId = 'org.example'): EnvelopeRecord {
  return {
    messageId: randomBytes(16),
    orgId,
    epoch: 0,
    conversationId: randomBytes(16),
    senderUserId: 'alice',
    senderDeviceId: 'a1',
    sendTime,
    header: randomBytes(120),
    capsule: randomBytes(192),
    signature: randomBytes(64),
    ciphertext: randomBytes(10),
    blobId: null,
    receivedAt: sendTime,
  };
}

function contract(name: string, driver: () => Driver): void {
  describe(`access storage contract: ${name}`, () => {
    let d: Driver;
    let s: RelayStorage;
    beforeEach(async () => {
      d = driver();
      s = await d.fresh();
    });
    afterEach(async () => {
      await s.close();
      await d.cleanup();
    });

    it('trustee mail: to the addressee and to 0, in seq order, paged, kept across a restart', async () => {
      const a = await s.access.putMail(1, 2, Uint8Array.of(1), T);
      const b = await s.access.putMail(1, 0, Uint8Array.of(2), T + 1);
      const c = await s.access.putMail(2, 3, Uint8Array.of(3), T + 2);
      expect(a < b && b < c).toBe(true);
      expect(await s.access.readMail(2, 0, 10)).toEqual([
        { seq: a, from: 1, to: 2, body: Uint8Array.of(1), receivedAt: T },
        { seq: b, from: 1, to: 0, body: Uint8Array.of(2), receivedAt: T + 1 },
      ]);
      expect((await s.access.readMail(3, 0, 10)).map((m) => m.seq)).toEqual([b, c]);
      expect((await s.access.readMail(3, b, 10)).map((m) => m.seq)).toEqual([c]);
      expect((await s.access.readMail(2, 0, 1)).map((m) => m.seq)).toEqual([a]);
      await s.close();
      s = await d.reopen();
      expect((await s.access.readMail(1, 0, 10)).map((m) => m.seq)).toEqual([b]);
    });

    it('ACC-R4: a request is stored once with its sealed parts and its entry; a second one with its id is refused whole', async () => {
      const q = request(7);
      await s.access.putRequest(q, [
        { trustee: 1, sealed: Uint8Array.of(1) },
        { trustee: 2, sealed: Uint8Array.of(2) },
      ]);
      expect(await s.access.getRequest(q.requestId)).toEqual(q);
      expect(await s.access.getSealed(q.requestId, 2)).toEqual(Uint8Array.of(2));
      expect(await s.access.getSealed(q.requestId, 3)).toBeUndefined();
      expect(await s.access.listEntries(q.requestId)).toEqual([
        { logIndex: 7, requestId: q.requestId, type: 5, body: q.signed },
      ]);
      await rejects(
        s.access.putRequest({ ...request(8), requestId: q.requestId }, [
          { trustee: 3, sealed: Uint8Array.of(3) },
        ]),
        'ACCESS_REQUEST_EXISTS',
      );
      expect(await s.access.getSealed(q.requestId, 3)).toBeUndefined();
      const other = request(9, { requesterId: 'other' });
      await s.access.putRequest(other, []);
      expect((await s.access.listRequests(-1, 10)).map((r) => r.logIndex)).toEqual([7, 9]);
      expect((await s.access.listRequests(7, 10)).map((r) => r.logIndex)).toEqual([9]);
      expect((await s.access.listRequests(-1, 10, 'requester')).map((r) => r.logIndex)).toEqual([7]);
      await s.access.setRequestStatus(q.requestId, 'denied');
      expect((await s.access.getRequest(q.requestId))?.status).toBe('denied');
    });

    it('entries in log order; a log index recorded twice is refused', async () => {
      const q = request(1);
      await s.access.putRequest(q, []);
      await s.access.putEntry({ logIndex: 5, requestId: q.requestId, type: 6, body: Uint8Array.of(5) });
      await s.access.putEntry({ logIndex: 3, requestId: q.requestId, type: 6, body: Uint8Array.of(3) });
      await rejects(
        s.access.putEntry({ logIndex: 3, requestId: q.requestId, type: 12, body: Uint8Array.of(9) }),
        'STORE_R_INVALID',
      );
      expect((await s.access.listEntries(q.requestId)).map((e) => [e.logIndex, e.type])).toEqual([
        [1, 5],
        [3, 6],
        [5, 6],
      ]);
      expect(await s.access.listEntries(randomBytes(16))).toEqual([]);
    });

    it('ACC-X1/ACC-L4: one execution per request with its selection; one release per (request, trustee, batch)', async () => {
      const q = request(1);
      await s.access.putRequest(q, []);
      const selection = Array.from({ length: 5000 }, (_, position) => ({
        position,
        label: randomBytes(32),
        messageId: randomBytes(16),
      }));
      const x = {
        requestId: q.requestId,
        logIndex: 4,
        signed: randomBytes(200),
        envelopeCount: 5000,
        executedAt: T,
      };
      await s.access.putExecution(x, selection);
      await rejects(s.access.putExecution({ ...x, logIndex: 6 }, []), 'ACCESS_REQUEST_EXISTS');
      expect(await s.access.getExecution(q.requestId)).toEqual(x);
      expect((await s.access.getRequest(q.requestId))?.status).toBe('executed');
      expect(await s.access.listSelection(q.requestId, 4998, 10)).toEqual(selection.slice(4998));
      expect(await s.access.getSelected(q.requestId, 17)).toEqual(selection[17]);
      expect(await s.access.getSelected(q.requestId, 5000)).toBeUndefined();
      const r: ReleaseRecord = {
        requestId: q.requestId,
        trusteeIndex: 2,
        batch: 1,
        signed: randomBytes(150),
        bundle: randomBytes(1000),
        bundleHash: randomBytes(32),
        logIndex: 9,
        receivedAt: T,
      };
      await s.access.putRelease(r);
      await rejects(s.access.putRelease({ ...r, logIndex: 10 }), 'ACCESS_RELEASE_CONFLICT');
      expect(await s.access.getRelease(q.requestId, 2, 1)).toEqual(r);
      expect(await s.access.getRelease(q.requestId, 2, 0)).toBeUndefined();
      expect(await s.access.listReleases(q.requestId)).toEqual([{ ...r, bundle: new Uint8Array(0) }]);
      expect((await s.access.listEntries(q.requestId)).map((e) => e.type)).toEqual([5, 7, 8]);
    });

    it('ACC-S2: one shred per (epoch, trustee), listed by trustee, kept across a restart; another is refused', async () => {
      const a = { epoch: 683, trusteeIndex: 2, signed: randomBytes(120), logIndex: 40, receivedAt: T };
      const b = { epoch: 683, trusteeIndex: 1, signed: randomBytes(120), logIndex: 41, receivedAt: T + 1 };
      const c = {
        epoch: 4294967295,
        trusteeIndex: 255,
        signed: randomBytes(120),
        logIndex: 42,
        receivedAt: T,
      };
      for (const x of [a, b, c]) await s.access.putShred(x);
      expect(await s.access.getShred(683, 2)).toEqual(a);
      expect(await s.access.getShred(683, 3)).toBeUndefined();
      await rejects(
        s.access.putShred({ ...a, signed: randomBytes(120), logIndex: 43 }),
        'ACCESS_SHRED_EXISTS',
      );
      await s.close();
      s = await d.reopen();
      expect(await s.access.listShreds(683)).toEqual([b, a]);
      expect(await s.access.listShreds(4294967295)).toEqual([c]);
      expect(await s.access.listShreds(684)).toEqual([]);
    });

    it('ACC-U3 (migration 8): relay parts, one unseal per request, unseal candidates, kept across a restart', async () => {
      const a = request(1);
      const b = request(2);
      const c = request(3);
      await s.access.putRequest(a, [], Uint8Array.of(0xa));
      await s.access.putRequest(b, []);
      await s.access.putRequest(c, [], Uint8Array.of(0xc));
      expect(await s.access.getRelayPart(a.requestId)).toEqual(Uint8Array.of(0xa));
      expect(await s.access.getRelayPart(b.requestId)).toBeUndefined();
      expect((await s.access.listUnsealCandidates(-1, 10)).map((r) => r.logIndex)).toEqual([1, 3]);
      expect((await s.access.listUnsealCandidates(1, 10)).map((r) => r.logIndex)).toEqual([3]);
      const u = {
        requestId: a.requestId,
        logIndex: 10,
        signed: randomBytes(90),
        publisher: 0,
        receivedAt: T,
      };
      await s.access.putUnseal(u);
      await rejects(s.access.putUnseal({ ...u, logIndex: 11, publisher: 2 }), 'ACCESS_UNSEAL_EXISTS');
      await s.access.putUnseal({ ...u, requestId: b.requestId, logIndex: 12, publisher: 2 });
      expect(await s.access.getUnseal(a.requestId)).toEqual(u);
      expect((await s.access.listUnsealCandidates(-1, 10)).map((r) => r.logIndex)).toEqual([3]);
      expect((await s.access.listUnseals(-1, 10)).map((x) => [x.logIndex, x.publisher])).toEqual([
        [10, 0],
        [12, 2],
      ]);
      expect((await s.access.listUnseals(10, 10)).map((x) => x.logIndex)).toEqual([12]);
      expect((await s.access.listEntries(a.requestId)).map((e) => [e.logIndex, e.type])).toEqual([
        [1, 5],
        [10, 10],
      ]);
      await s.close();
      s = await d.reopen();
      expect(await s.access.getUnseal(a.requestId)).toEqual(u);
      expect(await s.access.getUnseal(c.requestId)).toBeUndefined();
    });

    it('ACC-E1..E3 (migration 8): one proposal per (request, number), signatures once per trustee, logged', async () => {
      const a = request(1);
      const b = request(2, { requesterId: 'other' });
      await s.access.putRequest(a, []);
      await s.access.putRequest(b, []);
      const p = {
        requestId: a.requestId,
        number: 1,
        statement: randomBytes(100),
        reason: 'r',
        proposedAt: T,
      };
      const seq = await s.access.putExtensionProposal(p);
      await rejects(s.access.putExtensionProposal({ ...p, reason: 'again' }), 'ACCESS_EXTENSION_EXISTS');
      const seqB = await s.access.putExtensionProposal({ ...p, requestId: b.requestId });
      expect(seqB).toBeGreaterThan(seq);
      const sig = (n: number) => new Uint8Array(64).fill(n);
      await s.access.putExtensionSignature(a.requestId, 1, 3, sig(3));
      await s.access.putExtensionSignature(a.requestId, 1, 1, sig(1));
      await s.access.putExtensionSignature(a.requestId, 1, 1, sig(9));
      expect(await s.access.getExtensionProposal(a.requestId, 1)).toEqual({
        ...p,
        seq,
        signatures: [
          { trustee: 1, signature: sig(1) },
          { trustee: 3, signature: sig(3) },
        ],
        logIndex: null,
      });
      expect(await s.access.getExtensionProposal(a.requestId, 2)).toBeUndefined();
      await s.access.markExtensionLogged(a.requestId, 1, 20, Uint8Array.of(9));
      expect((await s.access.getExtensionProposal(a.requestId, 1))?.logIndex).toBe(20);
      expect((await s.access.listEntries(a.requestId)).map((e) => [e.logIndex, e.type])).toEqual([
        [1, 5],
        [20, 9],
      ]);
      expect((await s.access.listExtensionProposals(0, 10)).map((x) => x.seq)).toEqual([seq, seqB]);
      expect((await s.access.listExtensionProposals(seq, 10)).map((x) => x.seq)).toEqual([seqB]);
      expect((await s.access.listExtensionProposals(0, 10, 'other')).map((x) => x.seq)).toEqual([seqB]);
      await s.close();
      s = await d.reopen();
      expect((await s.access.getExtensionProposal(a.requestId, 1))?.signatures).toHaveLength(2);
    });

    it('ORD-R2 (migration 11): order batches numbered once, the first one the anchor; selection by message; envelopes by receive time', async () => {
      const q = request(1);
      await s.access.putRequest(q, []);
      const b0 = {
        requestId: q.requestId,
        batch: 0,
        logIndex: 5,
        signed: randomBytes(200),
        envelopeCount: 2,
        executedAt: T,
        scannedUntil: T + 100,
      };
      const sel0 = [0, 1].map((position) => ({
        position,
        label: randomBytes(32),
        messageId: randomBytes(16),
      }));
      await s.access.putOrderBatch(b0, sel0);
      expect((await s.access.getRequest(q.requestId))?.status).toBe('executed');
      expect((await s.access.getExecution(q.requestId))?.logIndex).toBe(5);
      await rejects(s.access.putOrderBatch({ ...b0, logIndex: 6 }, []), 'ACCESS_REQUEST_EXISTS');
      const b1 = {
        ...b0,
        batch: 1,
        logIndex: 7,
        signed: randomBytes(200),
        envelopeCount: 1,
        scannedUntil: T + 200,
      };
      const sel1 = [{ position: 1024, label: randomBytes(32), messageId: randomBytes(16) }];
      await s.access.putOrderBatch(b1, sel1);
      expect(await s.access.listOrderBatches(q.requestId)).toEqual([b0, b1]);
      // The anchor stays the first batch; positions continue at batch·1024.
      expect((await s.access.getExecution(q.requestId))?.logIndex).toBe(5);
      expect(await s.access.listSelection(q.requestId, 1024, 10)).toEqual(sel1);
      expect(await s.access.isSelected(q.requestId, sel0[1]!.messageId)).toBe(true);
      expect(await s.access.isSelected(q.requestId, randomBytes(16))).toBe(false);
      expect((await s.access.listEntries(q.requestId)).map((e) => [e.type, e.logIndex])).toEqual([
        [5, 1],
        [7, 5],
        [7, 7],
      ]);
      // Envelopes by receive time, resumable, of the org only.
      const es = [T + 3, T + 1, T + 2].map((t) => ({ ...envelope(t), receivedAt: t }));
      for (const e of [...es, { ...envelope(T + 1, 'other.org'), receivedAt: T + 1 }])
        expect(await s.putEnvelope(e)).toBe('stored');
      const all = await s.access.scanEnvelopesReceived('org.example', T + 2, undefined, 10);
      expect(all.map((e) => e.receivedAt)).toEqual([T + 2, T + 3]);
      const first = await s.access.scanEnvelopesReceived('org.example', T, undefined, 1);
      const rest = await s.access.scanEnvelopesReceived('org.example', T, first[0], 10);
      expect([...first, ...rest].map((e) => e.receivedAt)).toEqual([T + 1, T + 2, T + 3]);
      // Policies by serial.
      expect(await s.access.policyBySerial(1)).toBeUndefined();
    });

    it('scans envelope heads of the org in [from, until) by (send time, message id), resumable', async () => {
      const inside = [T, T, T + 1, T + 5].map((t) => envelope(t));
      for (const e of [...inside, envelope(T - 1), envelope(T + 10), envelope(T + 2, 'other.org')])
        expect(await s.putEnvelope(e)).toBe('stored');
      const want = [...inside].sort(
        (a, b) => a.sendTime - b.sendTime || compareBytes(a.messageId, b.messageId),
      );
      const all = await s.access.scanEnvelopeHeads('org.example', T, T + 10, undefined, 100);
      expect(all.map((e) => e.messageId)).toEqual(want.map((e) => e.messageId));
      expect(all[0]).toEqual({
        messageId: want[0]!.messageId,
        sendTime: want[0]!.sendTime,
        header: want[0]!.header,
        capsule: want[0]!.capsule,
        signature: want[0]!.signature,
      });
      const first = await s.access.scanEnvelopeHeads('org.example', T, T + 10, undefined, 1);
      const rest = await s.access.scanEnvelopeHeads('org.example', T, T + 10, first[0], 100);
      expect([...first, ...rest].map((e) => e.messageId)).toEqual(want.map((e) => e.messageId));
    });
  });
}

const tmpDirs: string[] = [];
afterAll(() => {
  for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });
});

let opened = 0;
contract('sqlite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'overt-access-store-'));
  tmpDirs.push(dir);
  const path = join(dir, 'relay.sqlite');
  return {
    fresh: async () => SqliteRelayStorage.open({ path: `${path}.${++opened}` }),
    reopen: async () => SqliteRelayStorage.open({ path: `${path}.${opened}` }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

const url = testDatabaseUrl();
if (url === undefined) {
  console.warn('DATABASE_URL is not set: the PostgreSQL run of the access storage contract is SKIPPED');
  describe('access storage contract: postgres', () => {
    it.skip('SKIPPED: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run it', () => {});
  });
} else {
  contract('postgres', () => {
    const schema = randomSchemaName();
    return {
      fresh: () => PostgresRelayStorage.open({ connectionString: url, schema }),
      reopen: () => PostgresRelayStorage.open({ connectionString: url, schema }),
      cleanup: () => dropSchema(url, schema),
    };
  });
}
