// The storage contract (docs/spec/relay.md §5): one suite, run against the SQLite and the PostgreSQL driver.
// Without DATABASE_URL the PostgreSQL run is skipped loudly (a warning and a visibly skipped test).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, sha256 } from '@overt/core';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isRelayError, type RelayErrorCode } from '../errors.js';
import { PostgresRelayStorage } from './postgres.js';
import { SqliteRelayStorage } from './sqlite.js';
import {
  blobCharge,
  type CommitSubmission,
  type EnvelopeRecord,
  MAX_KEY_PACKAGES_PER_DEVICE,
  type NewAbuseReport,
  type RelayStorage,
} from './storage.js';
import { dropSchema, randomSchemaName, testDatabaseUrl } from './testing.js';

interface Driver {
  /** Opens a fresh, empty storage. */
  fresh(): Promise<RelayStorage>;
  /** Records a schema version newer than this software knows, behind the driver's back. */
  bumpSchema(): Promise<void>;
  /** Runs SQL on the (closed) database behind the driver's back, e.g. to step its schema back. */
  exec(sql: string): Promise<void>;
  /** Opens the same database again (a restart). */
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
const key = () => randomBytes(32);

async function enrol(
  s: RelayStorage,
  deviceId: string,
  userId: string,
  logIndex: number,
): Promise<Uint8Array> {
  if ((await s.getUser(userId)) === undefined) await s.createUser(userId, T);
  const identityKey = key();
  expect(await s.beginEnrolment({ deviceId, userId, identityKey, now: T })).toBe('new');
  await s.completeEnrolment(deviceId, logIndex);
  return identityKey;
}

function commit(groupId: Uint8Array, epoch: number, sender: string, extra: Partial<CommitSubmission> = {}) {
  return {
    groupId,
    epoch,
    senderDeviceId: sender,
    commit: randomBytes(40),
    adds: [],
    removes: [],
    welcome: null,
    now: T,
    ...extra,
  } satisfies CommitSubmission;
}

function envelope(messageId: Uint8Array, epoch: number, extra: Partial<EnvelopeRecord> = {}): EnvelopeRecord {
  return {
    messageId,
    orgId: 'org.example',
    epoch,
    conversationId: randomBytes(16),
    senderUserId: 'alice',
    senderDeviceId: 'a1',
    sendTime: T,
    header: randomBytes(200),
    capsule: randomBytes(160),
    signature: randomBytes(64),
    ciphertext: randomBytes(100),
    blobId: null,
    receivedAt: T + 5,
    ...extra,
  };
}

function contract(name: string, driver: () => Driver): void {
  describe(`relay storage contract: ${name}`, () => {
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

    it('STORE-R-1: binds the org-admin key once and refuses another one', async () => {
      const admin = key();
      expect(await s.getOrgAdmin()).toBeUndefined();
      await s.claimOrgAdmin(admin, T);
      await s.claimOrgAdmin(admin, T + 1);
      expect(await s.getOrgAdmin()).toEqual(admin);
      await rejects(s.claimOrgAdmin(key(), T), 'DIR_ADMIN_MISMATCH');
    });

    it('migrations are idempotent and keep the data on restart', async () => {
      await s.createUser('alice', T);
      await s.close();
      s = await d.reopen();
      expect(await s.getUser('alice')).toEqual({ userId: 'alice', createdAt: T });
    });

    it('STORE-R-3: refuses to open a database whose schema is newer than this software', async () => {
      await s.close();
      await d.bumpSchema();
      await rejects(d.reopen(), 'STORE_R_CORRUPT');
      s = await d.fresh();
    });

    it('AUTH-6: a nonce is accepted once until it expires, and once under concurrency', async () => {
      const n = randomBytes(16);
      expect(await s.useNonce('device:a1', n, T + 1000, T)).toBe(true);
      expect(await s.useNonce('device:a1', n, T + 1000, T + 10)).toBe(false);
      expect(await s.useNonce('device:b1', n, T + 1000, T + 10)).toBe(true);
      expect(await s.useNonce('device:a1', n, T + 5000, T + 2000)).toBe(true);
      const m = randomBytes(16);
      const results = await Promise.all(Array.from({ length: 8 }, () => s.useNonce('admin', m, T + 1000, T)));
      expect(results.filter((r) => r)).toHaveLength(1);
    });

    it('STORE-R-4: users and devices are unique, device ids and keys never reused', async () => {
      await s.createUser('alice', T);
      await rejects(s.createUser('alice', T), 'DIR_USER_EXISTS');
      const k = key();
      await rejects(
        s.beginEnrolment({ deviceId: 'x', userId: 'nobody', identityKey: k, now: T }),
        'DIR_USER_UNKNOWN',
      );
      expect(await s.beginEnrolment({ deviceId: 'a1', userId: 'alice', identityKey: k, now: T })).toBe('new');
      expect(await s.beginEnrolment({ deviceId: 'a1', userId: 'alice', identityKey: k, now: T })).toBe(
        'resumed',
      );
      await rejects(
        s.beginEnrolment({ deviceId: 'a1', userId: 'alice', identityKey: key(), now: T }),
        'DIR_DEVICE_EXISTS',
      );
      await rejects(
        s.beginEnrolment({ deviceId: 'a2', userId: 'alice', identityKey: k, now: T }),
        'DIR_KEY_IN_USE',
      );
      expect((await s.getDevice('a1'))?.status).toBe('pending');
      const dev = await s.completeEnrolment('a1', 7);
      expect(dev).toMatchObject({ deviceId: 'a1', userId: 'alice', status: 'active', enrolLogIndex: 7 });
      expect(dev.identityKey).toEqual(k);
      await rejects(s.completeEnrolment('a1', 8), 'DIR_DEVICE_UNKNOWN');
      await rejects(
        s.beginEnrolment({ deviceId: 'a1', userId: 'alice', identityKey: k, now: T }),
        'DIR_DEVICE_EXISTS',
      );

      await s.beginEnrolment({ deviceId: 'a3', userId: 'alice', identityKey: key(), now: T });
      await s.abandonEnrolment('a3');
      expect(await s.getDevice('a3')).toBeUndefined();
      await s.abandonEnrolment('a1');
      expect((await s.getDevice('a1'))?.status).toBe('active');

      const removed = await s.beginRemoval('a1', T + 9);
      expect(removed).toMatchObject({ status: 'removed', removalLogIndex: null, removedAt: T + 9 });
      expect((await s.beginRemoval('a1', T + 10)).status).toBe('removed');
      expect((await s.completeRemoval('a1', 11)).removalLogIndex).toBe(11);
      await rejects(s.beginRemoval('a1', T), 'DIR_DEVICE_REMOVED');
      await rejects(s.completeRemoval('a1', 12), 'DIR_DEVICE_UNKNOWN');
      await rejects(s.beginRemoval('zz', T), 'DIR_DEVICE_UNKNOWN');
      await rejects(
        s.beginEnrolment({ deviceId: 'a1', userId: 'alice', identityKey: key(), now: T }),
        'DIR_DEVICE_EXISTS',
      );
      expect((await s.listUserDevices('alice')).map((x) => x.deviceId)).toEqual(['a1']);
    });

    it('DS-6: key packages are claimed once each, oldest first, even by concurrent claimers', async () => {
      await enrol(s, 'a1', 'alice', 0);
      const pkgs = Array.from({ length: 5 }, () => ({ ref: randomBytes(32), data: randomBytes(300) }));
      expect(await s.addKeyPackages('a1', pkgs.slice(0, 2), T)).toBe(2);
      expect(await s.addKeyPackages('a1', pkgs.slice(2), T)).toBe(5);
      await rejects(s.addKeyPackages('a1', [pkgs[0]!], T), 'DS_KEY_PACKAGE_OWNER');
      expect(await s.countKeyPackages('a1')).toBe(5);
      expect(await s.claimKeyPackage('a1', T)).toEqual({ ...pkgs[0], lastResort: false });
      const claims = await Promise.all(Array.from({ length: 10 }, () => s.claimKeyPackage('a1', T)));
      const won = claims.filter((c) => c !== undefined);
      expect(won).toHaveLength(4);
      expect(new Set(won.map((c) => c!.data.join(','))).size).toBe(4);
      expect(await s.countKeyPackages('a1')).toBe(0);
      expect(await s.claimKeyPackage('a1', T)).toBeUndefined();
      expect(await s.claimedKeyPackageOwner(pkgs[3]!.ref)).toBe('a1');
      expect(await s.claimedKeyPackageOwner(randomBytes(32))).toBeUndefined();
    });

    it('DS-6: the per-device key-package limit refuses the whole batch; removal drops unclaimed ones', async () => {
      await enrol(s, 'a1', 'alice', 0);
      const many = Array.from({ length: MAX_KEY_PACKAGES_PER_DEVICE }, () => ({
        ref: randomBytes(32),
        data: randomBytes(8),
      }));
      expect(await s.addKeyPackages('a1', many, T)).toBe(MAX_KEY_PACKAGES_PER_DEVICE);
      await rejects(
        s.addKeyPackages('a1', [{ ref: randomBytes(32), data: randomBytes(8) }], T),
        'DS_KEY_PACKAGE_LIMIT',
      );
      await s.beginRemoval('a1', T);
      expect(await s.countKeyPackages('a1')).toBe(0);
      await rejects(
        s.addKeyPackages('a1', [{ ref: randomBytes(32), data: randomBytes(8) }], T),
        'DIR_DEVICE_UNKNOWN',
      );
    });

    it('DS-12: the last-resort key package is handed out once one-time ones are gone, never used up, replaceable', async () => {
      await enrol(s, 'a1', 'alice', 0);
      const one = { ref: randomBytes(32), data: randomBytes(300) };
      const last = { ref: randomBytes(32), data: randomBytes(300) };
      expect(await s.hasLastResortKeyPackage('a1')).toBe(false);
      expect(await s.claimKeyPackage('a1', T)).toBeUndefined();
      // The last-resort package is not counted as available and not limited by the one-time cap.
      expect(await s.addKeyPackages('a1', [one], T, last)).toBe(1);
      expect(await s.hasLastResortKeyPackage('a1')).toBe(true);
      expect(await s.addKeyPackages('a1', [], T, last)).toBe(1); // publishing it again is a no-op
      expect(await s.claimKeyPackage('a1', T)).toEqual({ ...one, lastResort: false });
      expect(await s.countKeyPackages('a1')).toBe(0);
      // Concurrent claimers all get it, and it stays.
      const claims = await Promise.all(Array.from({ length: 6 }, () => s.claimKeyPackage('a1', T + 1)));
      for (const c of claims) expect(c).toEqual({ ...last, lastResort: true });
      expect(await s.hasLastResortKeyPackage('a1')).toBe(true);
      expect(await s.claimedKeyPackageOwner(last.ref)).toBe('a1');
      // A one-time package published later is handed out first again.
      const later = { ref: randomBytes(32), data: randomBytes(300) };
      await s.addKeyPackages('a1', [later], T + 2);
      expect(await s.claimKeyPackage('a1', T + 2)).toEqual({ ...later, lastResort: false });
      // Replaced: the new one is handed out; the claimed old one still maps to its device for DS-8.
      const next = { ref: randomBytes(32), data: randomBytes(300) };
      expect(await s.addKeyPackages('a1', [], T + 3, next)).toBe(0);
      expect(await s.claimKeyPackage('a1', T + 3)).toEqual({ ...next, lastResort: true });
      expect(await s.claimedKeyPackageOwner(last.ref)).toBe('a1');
      // A replaced one that was never claimed is gone; a ref is published once, also across kinds.
      const unused = { ref: randomBytes(32), data: randomBytes(30) };
      await s.addKeyPackages('a1', [], T + 4, unused);
      await s.addKeyPackages('a1', [], T + 4, { ref: randomBytes(32), data: randomBytes(30) });
      expect(await s.claimedKeyPackageOwner(unused.ref)).toBeUndefined();
      await rejects(s.addKeyPackages('a1', [], T, last), 'DS_KEY_PACKAGE_OWNER');
      await rejects(s.addKeyPackages('a1', [next], T), 'DS_KEY_PACKAGE_OWNER');
      // A refused call stores nothing, the one-time part included.
      const fresh = { ref: randomBytes(32), data: randomBytes(30) };
      await rejects(s.addKeyPackages('a1', [fresh], T, last), 'DS_KEY_PACKAGE_OWNER');
      expect(await s.countKeyPackages('a1')).toBe(0);
      // Removal: nothing is handed out any more.
      await s.beginRemoval('a1', T + 5);
      expect(await s.hasLastResortKeyPackage('a1')).toBe(false);
      expect(await s.claimKeyPackage('a1', T + 5)).toBeUndefined();
      expect(await s.claimedKeyPackageOwner(next.ref)).toBe('a1');
    });

    it('catch-up pages: items with their linked envelopes, bounded by count and bytes, with `more`', async () => {
      await enrol(s, 'a1', 'alice', 0);
      await enrol(s, 'b1', 'bob', 1);
      const g = randomBytes(8);
      await s.createGroup(g, 'a1', T);
      await s.acceptCommit(commit(g, 0, 'a1', { adds: ['b1'], welcome: randomBytes(30) }));
      expect(await s.fetchCatchUp('b1', 0, 10, 1 << 20)).toMatchObject({ more: false });
      await s.ackMailbox('b1', 1);
      expect(await s.fetchCatchUp('b1', 0, 10, 1 << 20)).toEqual({ deliveries: [], more: false });
      // Envelopes sent over HTTP and linked by postGroupMessage, one blob-backed, one message with no link.
      const linked: EnvelopeRecord[] = [];
      for (let i = 0; i < 5; i++) {
        const e = envelope(randomBytes(16), 3, { ciphertext: randomBytes(1000) });
        await s.putEnvelope(e);
        linked.push(e);
        await s.postGroupMessage({
          groupId: g,
          epoch: 1,
          senderDeviceId: 'a1',
          message: randomBytes(100),
          now: T,
          envelopeId: e.messageId,
        });
      }
      await s.createBlob({
        blobId: 'cu',
        ownerDeviceId: 'a1',
        size: 70_000,
        chunkSize: 65_536,
        sha256: null,
        now: T,
      });
      await s.putBlobChunk('cu', 'a1', 0, randomBytes(65_536));
      await s.putBlobChunk('cu', 'a1', 1, randomBytes(70_000 - 65_536));
      await s.completeBlob('cu', 'a1', randomBytes(32));
      const big = envelope(randomBytes(16), 3, { ciphertext: null, blobId: 'cu' });
      await s.putEnvelope(big);
      await s.postGroupMessage({
        groupId: g,
        epoch: 1,
        senderDeviceId: 'a1',
        message: randomBytes(100),
        now: T,
        envelopeId: big.messageId,
      });
      await s.postGroupMessage({
        groupId: g,
        epoch: 1,
        senderDeviceId: 'a1',
        message: randomBytes(100),
        now: T,
      });
      const all = await s.fetchCatchUp('b1', 1, 100, 1 << 20);
      expect(all.more).toBe(false);
      expect(all.deliveries.map((d) => d.item.seq)).toEqual([2, 3, 4, 5, 6, 7, 8]);
      expect(all.deliveries.slice(0, 5).map((d) => d.envelope)).toEqual(linked);
      // The blob-backed one comes head-only: its size counts header and capsule, not the blob.
      expect(all.deliveries[5]!.envelope).toEqual(big);
      expect(all.deliveries[6]!.envelope).toBeUndefined();
      // The push and GET /v1/mailbox (fetchDeliveries) carry only envelopes sent on the socket: the same items,
      // without these linked ones.
      const pushed = await s.fetchDeliveries('b1', 1, 100);
      expect(pushed.map((d) => d.item)).toEqual(all.deliveries.map((d) => d.item));
      expect(pushed.every((d) => d.envelope === undefined)).toBe(true);
      // Count bound.
      expect(await s.fetchCatchUp('b1', 1, 3, 1 << 20)).toEqual({
        deliveries: all.deliveries.slice(0, 3),
        more: true,
      });
      expect(await s.fetchCatchUp('b1', 4, 3, 1 << 20)).toEqual({
        deliveries: all.deliveries.slice(3, 6),
        more: true,
      });
      expect(await s.fetchCatchUp('b1', 6, 2, 1 << 20)).toEqual({
        deliveries: all.deliveries.slice(5),
        more: false,
      });
      // Byte bound: item data + header + capsule and sender signature + inline ciphertext, in seq order; the
      // first item always.
      const size = (d: (typeof all.deliveries)[number]) =>
        d.item.data.length +
        (d.envelope === undefined
          ? 0
          : d.envelope.header.length +
            d.envelope.capsule.length +
            d.envelope.signature.length +
            (d.envelope.ciphertext?.length ?? 0));
      const two = size(all.deliveries[0]!) + size(all.deliveries[1]!);
      expect(await s.fetchCatchUp('b1', 1, 100, two)).toEqual({
        deliveries: all.deliveries.slice(0, 2),
        more: true,
      });
      expect(await s.fetchCatchUp('b1', 1, 100, two - 1)).toEqual({
        deliveries: all.deliveries.slice(0, 1),
        more: true,
      });
      expect(await s.fetchCatchUp('b1', 1, 100, 1)).toEqual({
        deliveries: all.deliveries.slice(0, 1),
        more: true,
      });
      const rest = all.deliveries.slice(4).reduce((n, d) => n + size(d), 0);
      expect(await s.fetchCatchUp('b1', 5, 100, rest)).toEqual({
        deliveries: all.deliveries.slice(4),
        more: false,
      });
      // Acknowledged items are gone from the pages; retention unlinks envelopes, the items stay.
      await s.ackMailbox('b1', 4);
      expect((await s.fetchCatchUp('b1', 0, 100, 1 << 20)).deliveries.map((d) => d.item.seq)).toEqual([
        5, 6, 7, 8,
      ]);
      await s.deleteEpochEnvelopes('org.example', 3);
      const after = await s.fetchCatchUp('b1', 0, 100, 1 << 20);
      expect(after.deliveries.every((d) => d.envelope === undefined)).toBe(true);
    });

    it('DS-3/DS-4: exactly one commit per (group, epoch), in order; the loser gets a conflict', async () => {
      await enrol(s, 'a1', 'alice', 0);
      await enrol(s, 'b1', 'bob', 1);
      await enrol(s, 'b2', 'bob', 2);
      const g = randomBytes(16);
      expect(await s.createGroup(g, 'a1', T)).toMatchObject({ epoch: 0, members: ['a1'] });
      await rejects(s.createGroup(g, 'b1', T), 'DS_GROUP_EXISTS');
      const welcome = randomBytes(64);
      const out = await s.acceptCommit(commit(g, 0, 'a1', { adds: ['b1', 'b2'], welcome }));
      expect(out).toEqual({ epoch: 1, notified: [], welcomed: ['b1', 'b2'] });
      expect((await s.getGroup(g))?.members).toEqual(['a1', 'b1', 'b2']);

      const c1 = commit(g, 1, 'b1');
      const c2 = commit(g, 1, 'b2');
      const results = await Promise.allSettled([s.acceptCommit(c1), s.acceptCommit(c2)]);
      const ok = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r) => r.status === 'rejected');
      expect(ok).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(isRelayError((lost[0] as PromiseRejectedResult).reason, 'DS_COMMIT_CONFLICT')).toBe(true);
      await rejects(s.acceptCommit(commit(g, 1, 'a1')), 'DS_COMMIT_CONFLICT');
      await rejects(s.acceptCommit(commit(g, 5, 'a1')), 'DS_EPOCH_MISMATCH');
      expect((await s.getGroup(g))?.epoch).toBe(2);
      const list = await s.listCommits(g, 0, 10);
      expect(list.map((c) => c.epoch)).toEqual([0, 1]);
      const winner = (ok[0] as PromiseFulfilledResult<{ notified: readonly string[] }>).value;
      const winnerSender = list[1]!.senderDeviceId;
      expect(winner.notified).toEqual(['a1', 'b1', 'b2'].filter((x) => x !== winnerSender));
      expect(await s.listCommits(g, 1, 1)).toHaveLength(1);
    });

    it('DS-5/DS-7: membership rules are checked and a refused commit changes nothing', async () => {
      await enrol(s, 'a1', 'alice', 0);
      await enrol(s, 'b1', 'bob', 1);
      await enrol(s, 'c1', 'carol', 2);
      const g = randomBytes(8);
      await s.createGroup(g, 'a1', T);
      const w = randomBytes(10);
      await rejects(s.acceptCommit(commit(g, 0, 'b1')), 'DS_NOT_MEMBER');
      await rejects(s.acceptCommit(commit(g, 0, 'a1', { adds: ['b1'] })), 'DS_MEMBERSHIP');
      await rejects(s.acceptCommit(commit(g, 0, 'a1', { welcome: w })), 'DS_MEMBERSHIP');
      await rejects(s.acceptCommit(commit(g, 0, 'a1', { adds: ['a1'], welcome: w })), 'DS_MEMBERSHIP');
      await rejects(s.acceptCommit(commit(g, 0, 'a1', { adds: ['zz'], welcome: w })), 'DS_MEMBERSHIP');
      await rejects(s.acceptCommit(commit(g, 0, 'a1', { adds: ['b1', 'b1'], welcome: w })), 'DS_MEMBERSHIP');
      await rejects(s.acceptCommit(commit(g, 0, 'a1', { removes: ['a1'] })), 'DS_MEMBERSHIP');
      await rejects(s.acceptCommit(commit(g, 0, 'a1', { removes: ['c1'] })), 'DS_MEMBERSHIP');
      await rejects(s.acceptCommit(commit(randomBytes(8), 0, 'a1')), 'DS_GROUP_UNKNOWN');
      expect(await s.getGroup(g)).toMatchObject({ epoch: 0, members: ['a1'] });
      expect(await s.listCommits(g, 0, 10)).toEqual([]);
      expect(await s.lastMailboxSeq('b1')).toBe(0);

      await s.acceptCommit(commit(g, 0, 'a1', { adds: ['b1', 'c1'], welcome: w }));
      await s.beginRemoval('c1', T);
      const out = await s.acceptCommit(commit(g, 1, 'b1', { removes: ['c1'] }));
      // Removed devices get nothing; the removed member is active-filtered too.
      expect(out.notified).toEqual(['a1']);
      expect((await s.getGroup(g))?.members).toEqual(['a1', 'b1']);
      await rejects(s.acceptCommit(commit(g, 2, 'c1')), 'DS_NOT_MEMBER');
    });

    it('DS-10/DS-9: mailboxes get monotonic seqs, deliver until acknowledged, forget acknowledged items; no ack past the last seq', async () => {
      await enrol(s, 'a1', 'alice', 0);
      await enrol(s, 'b1', 'bob', 1);
      const g = randomBytes(8);
      await s.createGroup(g, 'a1', T);
      const welcome = randomBytes(30);
      await s.acceptCommit(commit(g, 0, 'a1', { adds: ['b1'], welcome }));
      const msgs = [randomBytes(20), randomBytes(21), randomBytes(22)];
      for (const m of msgs)
        expect(
          await s.postGroupMessage({ groupId: g, epoch: 1, senderDeviceId: 'a1', message: m, now: T + 1 }),
        ).toEqual(['b1']);
      await rejects(
        s.postGroupMessage({ groupId: g, epoch: 0, senderDeviceId: 'a1', message: msgs[0]!, now: T }),
        'DS_EPOCH_MISMATCH',
      );
      await rejects(
        s.postGroupMessage({ groupId: g, epoch: 1, senderDeviceId: 'zz', message: msgs[0]!, now: T }),
        'DS_NOT_MEMBER',
      );
      const items = await s.fetchMailbox('b1', 0, 100);
      expect(items.map((i) => [i.seq, i.kind, i.epoch])).toEqual([
        [1, 'welcome', 1],
        [2, 'message', 1],
        [3, 'message', 1],
        [4, 'message', 1],
      ]);
      expect(items[0]!.data).toEqual(welcome);
      expect(items[1]!.groupId).toEqual(g);
      expect(items.slice(1).map((i) => i.data)).toEqual(msgs);
      expect((await s.fetchMailbox('b1', 2, 1)).map((i) => i.seq)).toEqual([3]);
      expect(await s.fetchMailbox('a1', 0, 10)).toEqual([]);
      expect(await s.ackMailbox('b1', 2)).toBe(2);
      expect((await s.fetchMailbox('b1', 0, 100)).map((i) => i.seq)).toEqual([3, 4]);
      await rejects(s.ackMailbox('b1', 5), 'DS_ACK_RANGE');
      expect(await s.ackMailbox('b1', 4)).toBe(2);
      expect(await s.ackMailbox('b1', 4)).toBe(0);
      await s.postGroupMessage({ groupId: g, epoch: 1, senderDeviceId: 'a1', message: msgs[0]!, now: T });
      expect((await s.fetchMailbox('b1', 0, 100)).map((i) => i.seq)).toEqual([5]);
      expect(await s.lastMailboxSeq('b1')).toBe(5);
      await s.beginRemoval('b1', T);
      expect(await s.fetchMailbox('b1', 0, 100)).toEqual([]);
      expect(
        await s.postGroupMessage({ groupId: g, epoch: 1, senderDeviceId: 'a1', message: msgs[0]!, now: T }),
      ).toEqual([]);
    });

    it('concurrent fan-outs to overlapping mailboxes keep every device seq gap-free', async () => {
      for (const dv of ['a1', 'b1', 'c1']) await enrol(s, dv, dv, 0);
      const g1 = randomBytes(8);
      const g2 = randomBytes(8);
      await s.createGroup(g1, 'a1', T);
      await s.createGroup(g2, 'b1', T);
      await s.acceptCommit(commit(g1, 0, 'a1', { adds: ['b1', 'c1'], welcome: randomBytes(4) }));
      await s.acceptCommit(commit(g2, 0, 'b1', { adds: ['a1', 'c1'], welcome: randomBytes(4) }));
      const posts = [];
      for (let i = 0; i < 20; i++) {
        posts.push(
          s.postGroupMessage({
            groupId: g1,
            epoch: 1,
            senderDeviceId: 'a1',
            message: randomBytes(8),
            now: T,
          }),
        );
        posts.push(
          s.postGroupMessage({
            groupId: g2,
            epoch: 1,
            senderDeviceId: 'b1',
            message: randomBytes(8),
            now: T,
          }),
        );
      }
      await Promise.all(posts);
      const seqs = (await s.fetchMailbox('c1', 0, 1000)).map((i) => i.seq);
      expect(seqs).toEqual(Array.from({ length: 42 }, (_, i) => i + 1));
    });

    it('STORE-R-5: envelopes are unique by message id; a retried PUT is a duplicate; retention deletes an epoch', async () => {
      await enrol(s, 'a1', 'alice', 0);
      const id = randomBytes(16);
      const e = envelope(id, 3);
      expect(await s.putEnvelope(e)).toBe('stored');
      expect(await s.putEnvelope(e)).toBe('duplicate');
      await rejects(s.putEnvelope({ ...e, capsule: randomBytes(160) }), 'ENV_EXISTS');
      // The sender signature is stored with the capsule (capsule ‖ signature) and part of the identity too.
      await rejects(s.putEnvelope({ ...e, signature: randomBytes(64) }), 'ENV_EXISTS');
      expect(await s.getEnvelope(id)).toEqual(e);
      expect(await s.getEnvelope(randomBytes(16))).toBeUndefined();

      // A large ciphertext lives in a chunked blob.
      const data = randomBytes(3 * 65536 + 17);
      const blobId = 'blob-1';
      await s.createBlob({
        blobId,
        ownerDeviceId: 'a1',
        size: data.length,
        chunkSize: 65536,
        sha256: sha256(data),
        now: T,
      });
      await rejects(
        s.createBlob({
          blobId,
          ownerDeviceId: 'a1',
          size: 1,
          chunkSize: 65536,
          sha256: sha256(data),
          now: T,
        }),
        'BLOB_STATE',
      );
      const blobEnv = envelope(randomBytes(16), 3, { ciphertext: null, blobId });
      await rejects(s.putEnvelope(blobEnv), 'BLOB_STATE');
      for (let i = 0; i < 4; i++)
        await s.putBlobChunk(blobId, 'a1', i, data.slice(i * 65536, (i + 1) * 65536));
      await s.completeBlob(blobId, 'a1');
      await rejects(s.putEnvelope({ ...blobEnv, senderDeviceId: 'b1' }), 'BLOB_UNKNOWN');
      expect(await s.putEnvelope(blobEnv)).toBe('stored');
      await rejects(s.putEnvelope(envelope(randomBytes(16), 3, { ciphertext: null, blobId })), 'BLOB_STATE');
      const other = envelope(randomBytes(16), 4);
      await s.putEnvelope(other);

      expect(await s.deleteEpochEnvelopes('org.example', 3)).toBe(2);
      expect(await s.getEnvelope(id)).toBeUndefined();
      expect(await s.getEnvelope(blobEnv.messageId)).toBeUndefined();
      expect(await s.getBlob(blobId)).toBeUndefined();
      expect(await s.readBlobChunk(blobId, 0)).toBeUndefined();
      expect(await s.getEnvelope(other.messageId)).toEqual(other);
      expect(await s.deleteEpochEnvelopes('org.example', 3)).toBe(0);
    });

    it('storeMessages: one batch stores each message whole or not at all, in order, linked for the push', async () => {
      await enrol(s, 'a1', 'alice', 0);
      await enrol(s, 'b1', 'bob', 1);
      await enrol(s, 'c1', 'carol', 2);
      const g = randomBytes(8);
      await s.createGroup(g, 'a1', T);
      await s.acceptCommit(commit(g, 0, 'a1', { adds: ['b1'], welcome: randomBytes(30) }));
      const lone = randomBytes(8);
      await s.createGroup(lone, 'c1', T);
      const msg = (sender: string, epoch = 1, groupId = g) => ({
        envelope: envelope(randomBytes(16), 3, { senderDeviceId: sender }),
        message: { groupId, epoch, senderDeviceId: sender, message: randomBytes(40), now: T + 2 },
      });
      const ok1 = msg('a1');
      const ok2 = msg('b1');
      const stale = msg('a1', 0);
      const outsider = msg('c1');
      const unknown = msg('a1', 1, randomBytes(8));
      const taken = { ...msg('a1'), envelope: { ...ok1.envelope, capsule: randomBytes(160) } };
      const again = { ...ok1, message: { ...ok1.message, message: randomBytes(40) } };
      const blobby = {
        ...msg('a1'),
        envelope: envelope(randomBytes(16), 3, { ciphertext: null, blobId: 'x' }),
      };
      const out = await s.storeMessages([ok1, stale, outsider, ok2, unknown, taken, again, blobby]);
      expect(out.map((o) => (o.result === 'refused' ? o.error.code : o.result))).toEqual([
        'stored',
        'DS_EPOCH_MISMATCH',
        'DS_NOT_MEMBER',
        'stored',
        'DS_GROUP_UNKNOWN',
        'ENV_EXISTS',
        'duplicate',
        'ENV_MALFORMED',
      ]);
      expect(out[0]).toEqual({ result: 'stored', recipients: ['b1'] });
      expect(out[3]).toEqual({ result: 'stored', recipients: ['a1'] });
      // Refused messages left nothing: neither an envelope nor a mailbox item.
      for (const r of [stale, outsider, unknown, blobby])
        expect(await s.getEnvelope(r.envelope.messageId)).toBeUndefined();
      expect(await s.getEnvelope(ok1.envelope.messageId)).toEqual(ok1.envelope);
      const b = await s.fetchDeliveries('b1', 1, 100);
      expect(b.map((x) => x.item.data)).toEqual([ok1.message.message]);
      expect(b[0]!.item.seq).toBe(2);
      expect(b[0]!.envelope).toEqual(ok1.envelope);
      expect(await s.fetchMailbox('b1', 1, 100)).toEqual(b.map((x) => x.item));
      const a = await s.fetchDeliveries('a1', 0, 100);
      expect(a.map((x) => x.envelope)).toEqual([ok2.envelope]);
      expect(await s.lastMailboxSeq('c1')).toBe(0);
      // A Welcome or commit has no linked envelope; retention unlinks (the item stays, the envelope goes).
      expect((await s.fetchDeliveries('b1', 0, 1))[0]!.envelope).toBeUndefined();
      await s.deleteEpochEnvelopes('org.example', 3);
      expect((await s.fetchDeliveries('b1', 1, 100))[0]!.envelope).toBeUndefined();
      expect(await s.storeMessages([])).toEqual([]);
    });

    it('storeMessages: a database failure mid-batch stores nothing of the batch (STORE_R_FAILED)', async () => {
      await enrol(s, 'a1', 'alice', 0);
      await enrol(s, 'b1', 'bob', 1);
      const g = randomBytes(8);
      await s.createGroup(g, 'a1', T);
      await s.acceptCommit(commit(g, 0, 'a1', { adds: ['b1'], welcome: randomBytes(30) }));
      const good = {
        envelope: envelope(randomBytes(16), 3),
        message: { groupId: g, epoch: 1, senderDeviceId: 'a1', message: randomBytes(40), now: T },
      };
      // A value no column accepts: the driver fails after the first message's rows were written.
      const broken = {
        envelope: envelope(randomBytes(16), 3, { receivedAt: Number.NaN }),
        message: { groupId: g, epoch: 1, senderDeviceId: 'a1', message: randomBytes(40), now: T },
      };
      const seq = await s.lastMailboxSeq('b1');
      await rejects(s.storeMessages([good, broken]), 'STORE_R_FAILED');
      expect(await s.getEnvelope(good.envelope.messageId)).toBeUndefined();
      expect(await s.lastMailboxSeq('b1')).toBe(seq);
      expect(await s.fetchMailbox('b1', seq, 10)).toEqual([]);
      // The same messages go through afterwards: nothing half-written is in the way.
      expect((await s.storeMessages([good])).map((o) => o.result)).toEqual(['stored']);
    });

    it('storeMessages: per-device seqs stay gap-free and in batch order across a large batch and concurrent posts', async () => {
      for (const [dev, user, i] of [
        ['a1', 'alice', 0],
        ['b1', 'bob', 1],
        ['c1', 'carol', 2],
      ] as const)
        await enrol(s, dev, user, i);
      const g = randomBytes(8);
      await s.createGroup(g, 'a1', T);
      await s.acceptCommit(commit(g, 0, 'a1', { adds: ['b1', 'c1'], welcome: randomBytes(30) }));
      const batch = Array.from({ length: 120 }, (_, i) => ({
        envelope: envelope(randomBytes(16), 3, { senderDeviceId: i % 2 === 0 ? 'a1' : 'b1' }),
        message: {
          groupId: g,
          epoch: 1,
          senderDeviceId: i % 2 === 0 ? 'a1' : 'b1',
          message: new Uint8Array([i]),
          now: T,
        },
      }));
      const [out] = await Promise.all([
        s.storeMessages(batch),
        s.postGroupMessage({ groupId: g, epoch: 1, senderDeviceId: 'a1', message: randomBytes(3), now: T }),
      ]);
      expect(out.every((o) => o.result === 'stored')).toBe(true);
      const c = await s.fetchMailbox('c1', 1, 1000);
      expect(c.map((x) => x.seq)).toEqual(Array.from({ length: 121 }, (_, i) => i + 2));
      const fromBatch = c.filter((x) => x.data.length === 1).map((x) => x.data[0]);
      expect(fromBatch).toEqual(batch.map((_, i) => i));
      expect((await s.fetchMailbox('a1', 0, 1000)).length).toBe(60);
    });

    it('STORE-R-6: blobs of 10 MB round-trip chunk by chunk; chunk shape and completion are checked', async () => {
      await enrol(s, 'a1', 'alice', 0);
      const chunk = 1024 * 1024;
      const data = randomBytes(10 * 1024 * 1024 + 12345);
      const blobId = 'big';
      await s.createBlob({
        blobId,
        ownerDeviceId: 'a1',
        size: data.length,
        chunkSize: chunk,
        sha256: sha256(data),
        now: T,
      });
      await rejects(s.putBlobChunk(blobId, 'a1', 0, data.slice(0, chunk - 1)), 'BLOB_STATE');
      await rejects(s.putBlobChunk(blobId, 'a1', 11, data.slice(0, 1)), 'BLOB_STATE');
      await rejects(s.putBlobChunk(blobId, 'b1', 0, data.slice(0, chunk)), 'BLOB_UNKNOWN');
      for (let i = 0; i < 10; i++)
        await s.putBlobChunk(blobId, 'a1', i, data.slice(i * chunk, (i + 1) * chunk));
      await s.putBlobChunk(blobId, 'a1', 0, data.slice(0, chunk));
      await rejects(s.putBlobChunk(blobId, 'a1', 0, randomBytes(chunk)), 'BLOB_STATE');
      await rejects(s.completeBlob(blobId, 'a1'), 'BLOB_STATE');
      await s.putBlobChunk(blobId, 'a1', 10, data.slice(10 * chunk));
      await s.completeBlob(blobId, 'a1');
      await rejects(s.putBlobChunk(blobId, 'a1', 10, data.slice(10 * chunk)), 'BLOB_STATE');
      const b = await s.getBlob(blobId);
      expect(b).toMatchObject({ complete: true, chunksStored: 11, size: data.length, chunkSize: chunk });
      const parts: Uint8Array[] = [];
      for (let i = 0; i < 11; i++) parts.push((await s.readBlobChunk(blobId, i))!);
      expect(Buffer.concat(parts).equals(Buffer.from(data))).toBe(true);
    });

    it('STORE-R-6: a blob created without a digest records the one given at completion', async () => {
      await enrol(s, 'a1', 'alice', 0);
      const data = randomBytes(70_000);
      await s.createBlob({
        blobId: 'streamed',
        ownerDeviceId: 'a1',
        size: data.length,
        chunkSize: 65536,
        sha256: null,
        now: T,
      });
      expect((await s.getBlob('streamed'))?.sha256).toBeNull();
      await s.putBlobChunk('streamed', 'a1', 0, data.slice(0, 65536));
      await s.putBlobChunk('streamed', 'a1', 1, data.slice(65536));
      await s.completeBlob('streamed', 'a1', sha256(data));
      expect(await s.getBlob('streamed')).toMatchObject({ complete: true, sha256: sha256(data) });
    });

    it('STORE-R-7: abandoned blobs (incomplete, or complete with no envelope) older than the cut-off are deleted', async () => {
      await enrol(s, 'a1', 'alice', 0);
      const blob = async (blobId: string, now: number, complete: boolean) => {
        const data = randomBytes(100);
        await s.createBlob({
          blobId,
          ownerDeviceId: 'a1',
          size: 100,
          chunkSize: 65536,
          sha256: sha256(data),
          now,
        });
        if (complete) {
          await s.putBlobChunk(blobId, 'a1', 0, data);
          await s.completeBlob(blobId, 'a1');
        }
      };
      await blob('old-incomplete', T - 10, false);
      await blob('old-unreferenced', T - 10, true);
      await blob('old-referenced', T - 10, true);
      await blob('new-incomplete', T, false);
      const used = envelope(randomBytes(16), 3, { ciphertext: null, blobId: 'old-referenced' });
      expect(await s.putEnvelope(used)).toBe('stored');
      expect(await s.deleteStaleBlobs(T)).toBe(2);
      expect(await s.getBlob('old-incomplete')).toBeUndefined();
      expect(await s.getBlob('old-unreferenced')).toBeUndefined();
      expect(await s.readBlobChunk('old-unreferenced', 0)).toBeUndefined();
      expect(await s.getBlob('old-referenced')).toMatchObject({ complete: true });
      expect(await s.readBlobChunk('old-referenced', 0)).toBeDefined();
      expect(await s.getBlob('new-incomplete')).toMatchObject({ complete: false });
      expect(await s.getEnvelope(used.messageId)).toEqual(used);
      expect(await s.deleteStaleBlobs(T)).toBe(0);
    });

    it('STORE-R-9: a device’s blobs (incomplete, complete, referenced) stay within its quota, also under concurrency', async () => {
      await enrol(s, 'a1', 'alice', 0);
      await enrol(s, 'b1', 'bob', 1);
      const MiB = 1024 * 1024;
      const quota = 4 * MiB;
      const create = (blobId: string, owner: string, size: number) =>
        s.createBlob({ blobId, ownerDeviceId: owner, size, chunkSize: 65536, sha256: null, now: T }, quota);
      expect(await s.blobUsage('a1')).toBe(0);
      // An incomplete blob reserves its whole declared size; a small one is charged one minimum chunk.
      await create('a-big', 'a1', 2 * MiB);
      await create('a-small', 'a1', 10);
      expect(await s.blobUsage('a1')).toBe(2 * MiB + blobCharge(10));
      expect(blobCharge(10)).toBe(65536);
      // 2 MiB more would exceed 4 MiB: refused, nothing written; the other device's quota is its own.
      await rejects(create('a-over', 'a1', 2 * MiB), 'BLOB_QUOTA');
      expect(await s.getBlob('a-over')).toBeUndefined();
      expect(await s.blobUsage('a1')).toBe(2 * MiB + 65536);
      await create('b-big', 'b1', 4 * MiB);
      // A complete blob referenced by an envelope still counts; expiry of unreferenced blobs frees quota.
      const data = randomBytes(10);
      await s.putBlobChunk('a-small', 'a1', 0, data);
      await s.completeBlob('a-small', 'a1', sha256(data));
      const used = envelope(randomBytes(16), 3, { ciphertext: null, blobId: 'a-small' });
      expect(await s.putEnvelope(used)).toBe('stored');
      expect(await s.blobUsage('a1')).toBe(2 * MiB + 65536);
      expect(await s.deleteStaleBlobs(T + 1)).toBe(2); // a-big (incomplete) and b-big
      expect(await s.blobUsage('a1')).toBe(65536);
      // Retention deletes the envelope and its blob: the quota is free again.
      await s.deleteEpochEnvelopes('org.example', 3);
      expect(await s.blobUsage('a1')).toBe(0);
      // Concurrent creations of one device: exactly as many as fit, never more (4 × 1 MiB of 10 tries).
      const tries = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) => create(`race-${i}`, 'a1', MiB)),
      );
      const won = tries.filter((t) => t.status === 'fulfilled').length;
      expect(won).toBe(4);
      for (const t of tries)
        if (t.status === 'rejected') expect(isRelayError(t.reason, 'BLOB_QUOTA')).toBe(true);
      expect(await s.blobUsage('a1')).toBe(4 * MiB);
      // Without a quota argument the driver imposes none (the relay always passes one).
      await s.createBlob({
        blobId: 'free',
        ownerDeviceId: 'a1',
        size: MiB,
        chunkSize: 65536,
        sha256: null,
        now: T,
      });
      expect(await s.blobUsage('a1')).toBe(5 * MiB);
    });

    it('STORE-R-2: epoch keys are published once each, in increasing order', async () => {
      const k = (epoch: number) => ({
        epoch,
        threshold: 2,
        groupKey: randomBytes(32),
        verificationKeys: [randomBytes(32), randomBytes(32), randomBytes(32)],
        transcriptHash: randomBytes(32),
        statement: randomBytes(90),
        logIndex: epoch + 10,
        publishedAt: T,
      });
      expect(await s.currentEpochKey()).toBeUndefined();
      const k3 = k(3);
      await s.putEpochKey(k3);
      await rejects(s.putEpochKey(k(3)), 'EPOCH_KEY_EXISTS');
      await rejects(s.putEpochKey(k(2)), 'EPOCH_KEY_INVALID');
      const k5 = k(5);
      await s.putEpochKey(k5);
      expect(await s.currentEpochKey()).toEqual(k5);
      expect(await s.getEpochKey(3)).toEqual(k3);
      expect(await s.getEpochKey(4)).toBeUndefined();
    });

    it('STORE-R-2: a resharing replaces the key in force of its epoch (same group key, later index); the history keeps every statement', async () => {
      const k3 = {
        epoch: 3,
        threshold: 2,
        groupKey: randomBytes(32),
        verificationKeys: [randomBytes(32), randomBytes(32), randomBytes(32)],
        transcriptHash: randomBytes(32),
        statement: randomBytes(90),
        logIndex: 13,
        publishedAt: T,
      };
      await s.putEpochKey(k3);
      const k5 = { ...k3, epoch: 5, groupKey: randomBytes(32), logIndex: 15 };
      await s.putEpochKey(k5);
      const reshared = {
        ...k3,
        threshold: 3,
        verificationKeys: [randomBytes(32), randomBytes(32), randomBytes(32), randomBytes(32)],
        transcriptHash: randomBytes(32),
        statement: randomBytes(100),
        logIndex: 20,
        publishedAt: T + 1,
      };
      // Another group key, a stale previous index, an index not after the one in force, an unknown epoch.
      await rejects(s.replaceEpochKey({ ...reshared, groupKey: randomBytes(32) }, 13), 'EPOCH_KEY_EXISTS');
      await rejects(s.replaceEpochKey(reshared, 12), 'EPOCH_KEY_EXISTS');
      await rejects(s.replaceEpochKey({ ...reshared, logIndex: 13 }, 13), 'EPOCH_KEY_EXISTS');
      await rejects(s.replaceEpochKey({ ...reshared, epoch: 4 }, 13), 'EPOCH_KEY_UNKNOWN');
      expect(await s.getEpochKey(3)).toEqual(k3);
      // An epoch below the latest published one takes its resharing (order is for new epochs only).
      await s.replaceEpochKey(reshared, 13);
      expect(await s.getEpochKey(3)).toEqual(reshared);
      expect(await s.currentEpochKey()).toEqual(k5);
      // The same resharing again: the one in force is now at index 20.
      await rejects(s.replaceEpochKey({ ...reshared, logIndex: 21 }, 13), 'EPOCH_KEY_EXISTS');
      await s.close();
      s = await d.reopen();
      expect(await s.epochKeyHistory(3)).toEqual([k3, reshared]);
      expect(await s.epochKeyHistory(5)).toEqual([k5]);
      expect(await s.epochKeyHistory(4)).toEqual([]);
      expect(await s.getEpochKey(3)).toEqual(reshared);
    });

    it('migration 10 backfills the epoch-key history from the keys stored before it', async () => {
      const k3 = {
        epoch: 3,
        threshold: 2,
        groupKey: randomBytes(32),
        verificationKeys: [randomBytes(32), randomBytes(32)],
        transcriptHash: randomBytes(32),
        statement: randomBytes(90),
        logIndex: 7,
        publishedAt: T,
      };
      await s.putEpochKey(k3);
      await s.close();
      await d.exec('DROP TABLE epoch_key_history; DELETE FROM schema_migrations WHERE version = 10;');
      s = await d.reopen();
      expect(await s.epochKeyHistory(3)).toEqual([k3]);
      await s.replaceEpochKey(
        { ...k3, verificationKeys: [randomBytes(32), randomBytes(32)], logIndex: 9 },
        7,
      );
      expect((await s.epochKeyHistory(3)).map((k) => k.logIndex)).toEqual([7, 9]);
    });

    it('MAIL-1: logging an epoch-key statement prunes the trustee mail stored before the previous statement', async () => {
      const k = (epoch: number, logIndex: number) => ({
        epoch,
        threshold: 2,
        groupKey: randomBytes(32),
        verificationKeys: [randomBytes(32), randomBytes(32)],
        transcriptHash: randomBytes(32),
        statement: randomBytes(90),
        logIndex,
        publishedAt: T,
      });
      const seqs = async () => (await s.access.readMail(1, 0, 100)).map((m) => m.seq);
      const a = await s.access.putMail(2, 0, Uint8Array.of(1), T); // session of epoch 3
      const k3 = k(3, 10);
      await s.putEpochKey(k3);
      const b = await s.access.putMail(2, 1, Uint8Array.of(2), T); // session of epoch 4
      expect(await seqs()).toEqual([a, b]);
      await s.putEpochKey(k(4, 11));
      // Epoch 3's session ended before epoch 4's began: its mail goes; epoch 4's stays until the next statement.
      expect(await seqs()).toEqual([b]);
      const c = await s.access.putMail(2, 0, Uint8Array.of(3), T); // a resharing session
      await s.replaceEpochKey(
        { ...k3, verificationKeys: [randomBytes(32), randomBytes(32)], logIndex: 12 },
        10,
      );
      expect(await seqs()).toEqual([c]);
    });

    it('STORE-R-8: policies are stored in strictly increasing serial order; the highest is in force', async () => {
      const p = (serial: number) => ({
        serial,
        signed: randomBytes(120),
        logIndex: serial + 3,
        publishedAt: T,
      });
      expect(await s.currentPolicy()).toBeUndefined();
      const p1 = p(1);
      await s.putPolicy(p1);
      expect(await s.currentPolicy()).toEqual(p1);
      await rejects(s.putPolicy(p(1)), 'POLICY_STALE');
      await rejects(s.putPolicy(p(0)), 'POLICY_STALE');
      const p4 = p(4);
      await s.putPolicy(p4);
      expect(await s.currentPolicy()).toEqual(p4);
      await s.close();
      s = await d.reopen();
      expect(await s.currentPolicy()).toEqual(p4);
    });

    it('RPT-3: abuse reports are stored once per (message, reporter user), listed in id order, kept past retention', async () => {
      const report = (messageId: Uint8Array, reporterUserId: string, extra: Partial<NewAbuseReport> = {}) =>
        ({
          messageId,
          reporterUserId,
          reporterDeviceId: `${reporterUserId}-phone`,
          senderUserId: 'alice',
          senderDeviceId: 'a1',
          conversationId: randomBytes(16),
          sendTime: T,
          stampTime: T + 5,
          reason: null,
          report: randomBytes(300),
          receivedAt: T + 10,
          ...extra,
        }) satisfies NewAbuseReport;
      const m1 = randomBytes(16);
      const m2 = randomBytes(16);
      expect(await s.listAbuseReports(0, 10)).toEqual([]);
      const first = report(m1, 'bob', { reason: 'threatening 🙁' });
      const a = await s.putAbuseReport(first);
      expect(a.result).toBe('stored');
      // The same user again (another device, other bytes): the first report stays, nothing is written.
      expect(await s.putAbuseReport(report(m1, 'bob', { reporterDeviceId: 'bob-laptop' }))).toEqual({
        reportId: a.reportId,
        result: 'duplicate',
      });
      const b = await s.putAbuseReport(report(m1, 'carol'));
      const c = await s.putAbuseReport(report(m2, 'bob'));
      expect(b.reportId).toBeGreaterThan(a.reportId);
      expect(c.reportId).toBeGreaterThan(b.reportId);
      const { report: bytes, ...summary } = first;
      expect(await s.getAbuseReport(a.reportId)).toEqual({ reportId: a.reportId, ...first });
      expect(bytes.length).toBe(300);
      const all = await s.listAbuseReports(0, 10);
      expect(all.map((r) => r.reportId)).toEqual([a.reportId, b.reportId, c.reportId]);
      expect(all[0]).toEqual({ reportId: a.reportId, ...summary });
      expect('report' in all[0]!).toBe(false);
      expect((await s.listAbuseReports(a.reportId, 1)).map((r) => r.reportId)).toEqual([b.reportId]);
      expect(await s.getAbuseReport(c.reportId + 1000)).toBeUndefined();
      // Concurrent identical reports: exactly one is stored.
      const m3 = randomBytes(16);
      const race = await Promise.all(Array.from({ length: 6 }, () => s.putAbuseReport(report(m3, 'dave'))));
      expect(race.filter((r) => r.result === 'stored')).toHaveLength(1);
      expect(new Set(race.map((r) => r.reportId)).size).toBe(1);
      // Retention deletes envelopes, never reports; a restart keeps them.
      await s.deleteEpochEnvelopes('org.example', 0);
      await s.close();
      s = await d.reopen();
      expect((await s.listAbuseReports(0, 100)).length).toBe(4);
    });
  });
}

const tmpDirs: string[] = [];
afterAll(() => {
  for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });
});

let opened = 0;
contract('sqlite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'overt-relay-store-'));
  tmpDirs.push(dir);
  const path = join(dir, 'relay.sqlite');
  return {
    fresh: async () => SqliteRelayStorage.open({ path: `${path}.${++opened}` }),
    reopen: async () => SqliteRelayStorage.open({ path: `${path}.${opened}` }),
    bumpSchema: async () => {
      const db = new Database(`${path}.${opened}`);
      db.prepare("INSERT INTO schema_migrations (version, name) VALUES (99, 'future')").run();
      db.close();
    },
    exec: async (sql) => {
      const db = new Database(`${path}.${opened}`);
      db.exec(sql);
      db.close();
    },
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

const url = testDatabaseUrl();
if (url === undefined) {
  console.warn('DATABASE_URL is not set: the PostgreSQL run of the relay storage contract is SKIPPED');
  describe('relay storage contract: postgres', () => {
    it.skip('SKIPPED: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/test) to run it', () => {});
  });
} else {
  contract('postgres', () => {
    const schema = randomSchemaName();
    const other = randomSchemaName();
    let current = schema;
    let bumped = false;
    return {
      fresh: () => {
        // After bumpSchema the next fresh storage lives in a clean schema; both are dropped afterwards.
        if (bumped) current = other;
        return PostgresRelayStorage.open({ connectionString: url, schema: current });
      },
      reopen: () => PostgresRelayStorage.open({ connectionString: url, schema: current }),
      bumpSchema: async () => {
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        await c.query(`INSERT INTO ${current}.schema_migrations (version, name) VALUES (99, 'future')`);
        await c.end();
        bumped = true;
      },
      exec: async (sql) => {
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        await c.query(`SET search_path TO ${current}; ${sql}`);
        await c.end();
      },
      cleanup: async () => {
        await dropSchema(url, schema);
        await dropSchema(url, other);
      },
    };
  });
}
