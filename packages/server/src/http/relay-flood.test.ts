// docs/spec/relay.md §2.4 against a real relay: an abusive device floods send frames (from a process of its own,
// flood-client.ts, writing as fast as the relay reads), envelope uploads and blob uploads while two honest devices
// keep sending to each other. Asserted on counts and bounds, never on timing:
// - SQLite, a flood of small frames (cheap to read, dear to check): the relay's counters never exceed the bounds —
//   without RLY-23/RLY-24 the same flood piles thousands of frames into the check queue — the live heap stays
//   within its bound, the abuser gets only the documented codes, nothing is half-stored, every honest message
//   arrives.
// - PostgreSQL with the abuser's group row locked, so that none of its messages can be stored: the socket holds
//   exactly its frame bound and is no longer read while the abuser still has 80 MiB to send (RLY-23; without the
//   bound the relay would read all of it), a second socket and the HTTP uploads get RELAY_BUSY (RLY-24), the
//   honest devices are admitted meanwhile; once the lock is released everything admitted is stored and delivered,
//   nothing refused is, and a refused frame sent again is stored.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Conversation, createMlsIdentity, generateKeyPackage, type MlsIdentity } from '@overt/client';
import {
  type Element,
  fromBase64,
  randomBytes,
  sealEnvelope,
  toBase64,
  toBase64Url,
  utf8Encode,
} from '@overt/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnChild, stopChildrenAfterAll } from '../../../../test/children.js';
import {
  authFrame,
  type Device,
  type Frame,
  type Harness,
  MailboxSocket,
  publishEpochKey,
  type Response,
  startHarness,
  textFields,
} from '../../test/harness.js';
import { calendarMonthEpoch } from '../epochs.js';
import { encodeSendFrame, MAX_SEND_FRAME } from '../ingest/frames.js';
import { dropSchema, randomSchemaName, testDatabaseUrl } from '../storage/testing.js';

const MiB = 1024 * 1024;
const EPOCH = calendarMonthEpoch(Date.now());
const MLS_OPTIONS = { authenticate: () => true };
/** The codes relay.md §2.4 documents for a device over its bounds. */
const BOUND_CODES = ['RELAY_BUSY', 'BLOB_QUOTA', 'RELAY_RATE_LIMITED'];
/** What socket reads may have delivered beyond a socket's bound when the relay stops reading it (relay.md §2.4). */
const READ_SLACK = 256 * 1024;
const NO_RATE_LIMITS = {
  principal: { capacity: 100_000, refillPerSecond: 100_000 },
  address: { capacity: 100_000, refillPerSecond: 100_000 },
};
const FLOOD_CLIENT = fileURLToPath(new URL('../../test/flood-client.ts', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'overt-flood-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
stopChildrenAfterAll();

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Live heap and array buffers after a full collection: what this process (the relay and the honest clients) holds. */
function live(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** A device, a group it created, and what it needs to seal to that group. */
interface Sender {
  readonly device: Device;
  readonly conv: Conversation;
  readonly groupId: Uint8Array;
  readonly recipients: string[];
  readonly epochKey: Element;
}

function identity(d: Device): MlsIdentity {
  return createMlsIdentity(d.userId, utf8Encode(d.deviceId), d.key);
}

/** A group created by `creator` with `others` added (their key packages published first). */
async function group(epochKey: Element, creator: Device, others: Device[]): Promise<Sender> {
  const groupId = randomBytes(16);
  const conv = await Conversation.create(identity(creator), MLS_OPTIONS, groupId);
  expect((await creator.request('POST', '/v1/groups', { groupId: toBase64Url(groupId) })).status).toBe(201);
  if (others.length > 0) {
    const packages: Uint8Array[] = [];
    for (const o of others) {
      const bundle = await generateKeyPackage(identity(o));
      await o.request('POST', '/v1/key-packages', { keyPackages: [toBase64(bundle.keyPackage)] });
      const claim = await creator.request('POST', `/v1/users/${o.userId}/key-packages/claim`);
      packages.push(fromBase64(claim.body.keyPackages[0].keyPackage));
    }
    const add = await conv.addMembers(packages);
    const r = await creator.request('POST', `/v1/groups/${toBase64Url(groupId)}/commits`, {
      commit: toBase64(add.commit),
      welcome: toBase64(add.welcome!),
    });
    expect(r.status).toBe(201);
    await conv.mergePendingCommit();
  }
  const recipients = [...new Set([creator, ...others].map((d) => d.userId))].sort();
  return { device: creator, conv, groupId, recipients, epochKey };
}

/** Alice-free world: mallory alone in her group; bob and carol each in a group with the other. */
async function world(h: Harness): Promise<{ mallory: Sender; bob: Sender; carol: Sender }> {
  const m = await h.enrol('mallory', 'mallory-phone');
  const b = await h.enrol('bob', 'bob-phone');
  const c = await h.enrol('carol', 'carol-phone');
  const { epochKey, response } = await publishEpochKey(h.admin, h.adminKey, EPOCH);
  expect(response.status).toBe(201);
  const out = {
    mallory: await group(epochKey, m, []),
    bob: await group(epochKey, b, [c]),
    carol: await group(epochKey, c, [b]),
  };
  await h.relay.ingest.warm();
  return out;
}

let nextId = 1;

/** A real message of `size` payload bytes: a sealed envelope and the MLS message carrying its key. */
async function message(s: Sender, size: number) {
  const sealed = await sealEnvelope(
    textFields(EPOCH, {
      conversationId: s.groupId,
      senderUserId: s.device.userId,
      senderDeviceId: utf8Encode(s.device.deviceId),
      recipients: s.recipients,
    }),
    randomBytes(size),
    s.epochKey,
    s.device.key,
  );
  const mls = await s.conv.encrypt({
    messageId: sealed.header.messageId,
    contentKey: sealed.contentKey,
    seed: sealed.seed,
  });
  return { messageId: sealed.header.messageId, mls, envelope: sealed.envelope };
}

type Message = Awaited<ReturnType<typeof message>>;
type Answer = Frame & Record<string, unknown>;

function frameOf(s: Sender, m: Message, requestId: number): Uint8Array {
  return encodeSendFrame({ requestId, groupId: s.groupId, message: m.mls, envelope: m.envelope });
}

function answerOf(sock: MailboxSocket, id: number): Answer | undefined {
  return sock.frames.find((f) => (f as { id?: number }).id === id) as Answer | undefined;
}

async function ready(h: Harness, d: Device): Promise<MailboxSocket> {
  const s = await MailboxSocket.open(h.url, d);
  await s.waitFor((f) => f.some((x) => x.type === 'ready'));
  return s;
}

function putEnvelope(d: Device, m: Message): Promise<Response> {
  return d.request('PUT', `/v1/envelopes/${toBase64Url(m.messageId)}`, m.envelope);
}

/** The message items pushed to a socket, as base64 MLS messages. */
function pushed(sock: MailboxSocket): string[] {
  return sock
    .items()
    .filter((i) => i.kind === 'message')
    .map((i) => i.data);
}

/**
 * Starts the abuser's process: it authenticates as `s`'s device and writes each message's frame `rounds` times
 * (request id round · 65536 + index + 1). `blocked` resolves when the relay reads slower than it writes; `done`
 * with the answers by request id once every frame is answered.
 */
function startFlood(h: Harness, s: Sender, messages: readonly Message[], rounds: number, name: string) {
  const framesPath = join(tmp, `${name}.frames`);
  writeFileSync(
    framesPath,
    Buffer.concat(
      messages.flatMap((m) => {
        const f = frameOf(s, m, 0);
        const n = Buffer.alloc(4);
        n.writeUInt32BE(f.length);
        return [n, f];
      }),
    ),
  );
  const configPath = join(tmp, `${name}.json`);
  const auth = authFrame(s.device.key, s.device.signer);
  writeFileSync(configPath, JSON.stringify({ url: h.url, auth, framesPath, rounds }));
  const child = spawnChild(process.execPath, ['--import', 'tsx', FLOOD_CLIENT, configPath], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  let onBlocked: () => void = () => {};
  const blocked = new Promise<void>((r) => {
    onBlocked = r;
  });
  const done = new Promise<Record<number, Answer>>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += String(d);
      for (let nl = out.indexOf('\n'); nl >= 0; nl = out.indexOf('\n')) {
        const line = JSON.parse(out.slice(0, nl)) as { blocked?: true; answers?: Record<number, Answer> };
        out = out.slice(nl + 1);
        if (line.blocked) onBlocked();
        if (line.answers) resolve(line.answers);
      }
    });
    child.once('exit', (code) => reject(new Error(`the flood client exited (${code}) without its answers`)));
  });
  done.catch(() => {});
  return { blocked, done };
}

/** Every answer to the flood: `sent`, or a refusal with a documented code; checks nothing half-stored. */
async function checkFloodAnswers(
  h: Harness,
  answers: Record<number, Answer>,
  messages: Message[],
  rounds: number,
) {
  expect(Object.keys(answers)).toHaveLength(messages.length * rounds);
  for (const a of Object.values(answers)) {
    if (a.type === 'sent') continue;
    expect(BOUND_CODES).toContain(a.code);
    expect(a).toMatchObject({ type: 'error', code: 'RELAY_BUSY', check: 'RLY-24', retryAfter: 1 });
  }
  // A message is in storage exactly when one of its sends was answered `sent`.
  for (const [i, m] of messages.entries()) {
    let ok = false;
    for (let round = 0; round < rounds; round++) ok ||= answers[round * 65536 + i + 1]?.type === 'sent';
    expect((await h.relay.storage.getEnvelope(m.messageId)) !== undefined).toBe(ok);
  }
}

function expectBusy(r: Response): void {
  expect(r.status).toBe(503);
  expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(r.headers.get('retry-after')).toBe('1');
  expect(r.body).toMatchObject({ status: 503, code: 'RELAY_BUSY', check: 'RLY-24' });
}

describe('flood (relay.md §2.4): an abusive device against honest ones, on SQLite', () => {
  let h: Harness;
  let mallory: Sender;
  let bob: Sender;
  let carol: Sender;
  const sockets: MailboxSocket[] = [];
  beforeAll(async () => {
    h = await startHarness({
      rateLimits: NO_RATE_LIMITS,
      limits: {
        socketFrames: 8,
        socketBytes: 4 * MiB,
        deviceUploads: 16,
        deviceUploadBytes: 8 * MiB,
        totalUploads: 64,
        totalUploadBytes: 64 * MiB,
        capsuleQueue: 64,
        blobQuotaBytes: 4 * MiB,
      },
    });
    ({ mallory, bob, carol } = await world(h));
  }, 60_000);
  afterAll(async () => {
    for (const s of sockets) await s.close().catch(() => {});
    await h.close();
  });

  it('holds only its bounds, refuses the abuser with documented codes, stores nothing half, delivers every honest message', async () => {
    // The abuser's material, made before the baseline: 200 small messages its process sends 10 times each on one
    // socket (2000 frames: a resend is checked in full again and answered `duplicate`), 24 envelopes of 512 KiB
    // uploaded over HTTP at once, and 1 MiB blobs created until the quota refuses one, then their chunks.
    const small: Message[] = [];
    for (let i = 0; i < 200; i++) small.push(await message(mallory, 1000));
    const uploads: Message[] = [];
    for (let i = 0; i < 24; i++) uploads.push(await message(mallory, 512 * 1024));
    const chunk = randomBytes(MiB);
    const bobSock = await ready(h, bob.device);
    const carolSock = await ready(h, carol.device);
    sockets.push(bobSock, carolSock);
    const baseline = live();
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, live());
    }, 100);

    const flood = startFlood(h, mallory, small, 10, 'sqlite');
    const floodEnvelopes = () => Promise.all(uploads.map((m) => putEnvelope(mallory.device, m)));
    const floodBlobs = async () => {
      const created: Response[] = [];
      for (let i = 0; i < 6; i++)
        created.push(await mallory.device.request('POST', '/v1/blobs', { size: MiB, chunkSize: MiB }));
      const chunks = await Promise.all(
        created
          .filter((r) => r.status === 201)
          .flatMap((r) =>
            [0, 0].map(() => mallory.device.request('PUT', `/v1/blobs/${r.body.blobId}/chunks/0`, chunk)),
          ),
      );
      return { created, chunks };
    };
    // The honest devices send to each other one message at a time, as the SDK does, all through the flood.
    const honest = async (from: Sender, sock: MailboxSocket) => {
      const out: Message[] = [];
      for (let i = 0; i < 15; i++) {
        const m = await message(from, 2000);
        const id = nextId++;
        sock.ws.send(frameOf(from, m, id));
        await sock.waitFor(() => answerOf(sock, id) !== undefined, 120_000);
        expect(answerOf(sock, id)).toMatchObject({ type: 'sent', result: 'stored', recipients: 1 });
        out.push(m);
      }
      return out;
    };
    const [floodAnswers, puts, blobs, fromBob, fromCarol] = await Promise.all([
      flood.done,
      floodEnvelopes(),
      floodBlobs(),
      honest(bob, bobSock),
      honest(carol, carolSock),
    ]).finally(() => clearInterval(sampler));

    // Every honest message arrived, pushed to the other honest device, in order.
    await carolSock.waitFor(() => pushed(carolSock).length >= fromBob.length, 60_000);
    await bobSock.waitFor(() => pushed(bobSock).length >= fromCarol.length, 60_000);
    expect(pushed(carolSock)).toEqual(fromBob.map((m) => toBase64(m.mls)));
    expect(pushed(bobSock)).toEqual(fromCarol.map((m) => toBase64(m.mls)));

    await checkFloodAnswers(h, floodAnswers, small, 10);
    // HTTP envelope uploads: stored, or 503 RELAY_BUSY with Retry-After and not stored.
    for (const [i, r] of puts.entries()) {
      if (r.status === 201) continue;
      expectBusy(r);
      expect(await h.relay.storage.getEnvelope(uploads[i]!.messageId)).toBeUndefined();
    }
    // Blobs: exactly the quota's worth (4 × 1 MiB), the rest 507 BLOB_QUOTA; chunks stored or 503 RELAY_BUSY.
    expect(blobs.created.map((r) => r.status)).toEqual([201, 201, 201, 201, 507, 507]);
    for (const r of blobs.created.slice(4))
      expect(r.body).toMatchObject({ code: 'BLOB_QUOTA', check: 'STORE-R-9' });
    for (const r of blobs.chunks) if (r.status !== 204) expectBusy(r);
    expect(await h.relay.storage.blobUsage('mallory-phone')).toBe(4 * MiB);

    // The relay held no more than its bounds — per socket, in the pipeline, in the worker queue — and holds
    // nothing now that everything was answered.
    const l = h.relay.limits;
    const ingest = h.relay.ingest.stats();
    const held = h.relay.socketStats;
    expect(ingest.accepted).toBeGreaterThan(0);
    // A socket stops being read at its bound; the frames the last reads had already delivered are still handled
    // (relay.md §2.4: at most READ_SLACK bytes, here frames of about 2.3 KiB).
    const smallest = Math.min(...small.map((m) => frameOf(mallory, m, 0).length));
    expect(held.peakFrames).toBeLessThanOrEqual(l.socketFrames + Math.ceil(READ_SLACK / smallest));
    expect(held.peakBytes).toBeLessThanOrEqual(l.socketBytes + MAX_SEND_FRAME + READ_SLACK);
    expect(ingest.peakAdmitted).toBeLessThanOrEqual(l.totalUploads);
    expect(ingest.peakAdmittedBytes).toBeLessThanOrEqual(l.totalUploadBytes);
    expect(ingest.peakCapsuleQueue).toBeLessThanOrEqual(l.capsuleQueue);
    expect(ingest).toMatchObject({ admitted: 0, admittedBytes: 0 });
    // The live heap (relay and honest clients) stayed within the bounds plus the HTTP bodies being read.
    expect(peak - baseline).toBeLessThan(64 * MiB);
  }, 180_000);
});

const databaseUrl = testDatabaseUrl();
if (databaseUrl === undefined)
  console.warn('relay-flood.test.ts: DATABASE_URL is not set; the PostgreSQL row-lock test is skipped');

describe.skipIf(databaseUrl === undefined)(
  'flood with nothing leaving the pipeline (a held PostgreSQL row lock)',
  () => {
    const schema = randomSchemaName();
    let h: Harness;
    let mallory: Sender;
    let bob: Sender;
    let carol: Sender;
    let locker: pg.Client | undefined;
    const sockets: MailboxSocket[] = [];
    beforeAll(async () => {
      h = await startHarness({
        postgres: { url: databaseUrl!, schema },
        rateLimits: NO_RATE_LIMITS,
        limits: { socketFrames: 4, deviceUploads: 6, blobQuotaBytes: 2 * MiB },
      });
      ({ mallory, bob, carol } = await world(h));
      locker = new pg.Client({ connectionString: databaseUrl, options: `-c search_path=${schema}` });
      await locker.connect();
    }, 60_000);
    afterAll(async () => {
      for (const s of sockets) await s.close().catch(() => {});
      await locker?.query('ROLLBACK').catch(() => {});
      await locker?.end().catch(() => {});
      await h?.close();
      await dropSchema(databaseUrl!, schema);
    });

    it('RLY-23/RLY-24: the socket stops at its bound, the device gets RELAY_BUSY, honest devices are admitted; all resolves on release', async () => {
      // 40 messages of 512 KiB, 4 rounds: 80 MiB the abuser's process wants to write. Frames of > 64 KiB: one socket
      // read completes at most one, so the socket holds exactly its bound.
      const big: Message[] = [];
      for (let i = 0; i < 40; i++) big.push(await message(mallory, 512 * 1024));
      const more: Message[] = [];
      for (let i = 0; i < 4; i++) more.push(await message(mallory, 100 * 1024));
      const upload = await message(mallory, 100 * 1024);
      const bobSock = await ready(h, bob.device);
      const carolSock = await ready(h, carol.device);
      const s2 = await ready(h, mallory.device);
      sockets.push(bobSock, carolSock, s2);
      const baseline = live();

      // Storing a message share-locks its group: with the abuser's group row held, none of its messages commits.
      await locker!.query('BEGIN');
      await locker!.query('SELECT 1 FROM groups WHERE group_id = $1 FOR UPDATE', [mallory.groupId]);

      const flood = startFlood(h, mallory, big, 4, 'postgres');
      // The relay stopped reading (RLY-23): the abuser's process has 8 MiB queued and waits on the kernel. Without
      // the bound the relay would read on, and this would never happen.
      await flood.blocked;
      await waitUntil(() => h.relay.ingest.stats().admitted === 4);
      expect(h.relay.socketStats.peakFrames).toBe(4);
      expect(h.relay.socketStats.pauses).toBeGreaterThanOrEqual(1);
      // What the relay process holds meanwhile: its 4 frames and the buffers around them, not the flood.
      expect(live() - baseline).toBeLessThan(16 * MiB);

      // A second socket of the same device: 2 more fit the device's 6; the others are refused at once.
      const second = more.map((m) => ({ id: nextId++, m }));
      for (const f of second) s2.ws.send(frameOf(mallory, f.m, f.id));
      await s2.waitFor(() => second.slice(2).every((f) => answerOf(s2, f.id) !== undefined), 30_000);
      for (const f of second.slice(2))
        expect(answerOf(s2, f.id)).toMatchObject({
          type: 'error',
          code: 'RELAY_BUSY',
          check: 'RLY-24',
          retryAfter: 1,
        });
      expect(h.relay.ingest.stats().admitted).toBe(6);
      // The device's HTTP uploads too (503 problem+json with Retry-After, nothing stored); blobs past its quota 507.
      expectBusy(await putEnvelope(mallory.device, upload));
      expect(await h.relay.storage.getEnvelope(upload.messageId)).toBeUndefined();
      const blob = () => mallory.device.request('POST', '/v1/blobs', { size: MiB, chunkSize: MiB });
      expect([(await blob()).status, (await blob()).status, (await blob()).body.code]).toEqual([
        201,
        201,
        'BLOB_QUOTA',
      ]);

      // The honest devices are admitted meanwhile: over HTTP stored at once (their groups are not locked), on the
      // socket admitted and waiting for the transaction the abuser's messages hold up.
      const viaHttp = await message(bob, 1000);
      expect((await putEnvelope(bob.device, viaHttp)).status).toBe(201);
      const fromBob = { id: nextId++, m: await message(bob, 1000) };
      const fromCarol = { id: nextId++, m: await message(carol, 1000) };
      bobSock.ws.send(frameOf(bob, fromBob.m, fromBob.id));
      carolSock.ws.send(frameOf(carol, fromCarol.m, fromCarol.id));
      await waitUntil(() => h.relay.ingest.stats().admitted === 8);
      expect(answerOf(bobSock, fromBob.id)).toBeUndefined();

      // Released: everything admitted is stored and answered, the abuser's socket is read again to the end.
      await locker!.query('ROLLBACK');
      await checkFloodAnswers(h, await flood.done, big, 4);
      for (const a of Object.values(await flood.done)) expect(a.type).toBe('sent');
      await s2.waitFor(() => second.slice(0, 2).every((f) => answerOf(s2, f.id) !== undefined), 30_000);
      for (const f of second.slice(0, 2))
        expect(answerOf(s2, f.id)).toMatchObject({ type: 'sent', result: 'stored' });
      for (const f of second.slice(2))
        expect(await h.relay.storage.getEnvelope(f.m.messageId)).toBeUndefined();
      // A refused frame sent again once there is room is stored.
      const retry = { id: nextId++, m: second[2]!.m };
      s2.ws.send(frameOf(mallory, retry.m, retry.id));
      await s2.waitFor(() => answerOf(s2, retry.id) !== undefined, 30_000);
      expect(answerOf(s2, retry.id)).toMatchObject({ type: 'sent', result: 'stored' });
      // The honest messages were answered and delivered to the other honest device.
      await bobSock.waitFor(() => answerOf(bobSock, fromBob.id) !== undefined, 30_000);
      expect(answerOf(bobSock, fromBob.id)).toMatchObject({ type: 'sent', result: 'stored', recipients: 1 });
      await carolSock.waitFor(() => pushed(carolSock).includes(toBase64(fromBob.m.mls)), 30_000);
      await bobSock.waitFor(() => pushed(bobSock).includes(toBase64(fromCarol.m.mls)), 30_000);
      expect(h.relay.ingest.stats()).toMatchObject({ admitted: 0, admittedBytes: 0 });
    }, 180_000);
  },
);

/** Waits (polling the relay's counters) until `cond` holds; fails after 30 s. */
async function waitUntil(cond: () => boolean): Promise<void> {
  for (let i = 0; !cond(); i++) {
    if (i > 600) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a device that does not read its pushes (RLY-26)', () => {
  let h: Harness;
  let bob: Sender;
  let carol: Sender;
  beforeAll(async () => {
    h = await startHarness({ rateLimits: NO_RATE_LIMITS, limits: { pushBufferBytes: MiB } });
    ({ bob, carol } = await world(h));
  }, 60_000);
  afterAll(async () => {
    await h.close();
  });

  it('buffers at most its bound for the socket, then waits; everything arrives once it reads again', async () => {
    const carolSock = await ready(h, carol.device);
    const bobSock = await ready(h, bob.device);
    try {
      // Carol's client stops reading: the kernel's socket buffers fill, then the relay's own.
      carolSock.ws.pause();
      // 40 messages of 512 KiB pushed with their envelopes inline: ~27 MiB of JSON, far more than the kernel holds.
      const sent: Message[] = [];
      for (let i = 0; i < 40; i++) {
        const m = await message(bob, 512 * 1024);
        const id = nextId++;
        bobSock.ws.send(frameOf(bob, m, id));
        await bobSock.waitFor(() => answerOf(bobSock, id) !== undefined, 60_000);
        expect(answerOf(bobSock, id)).toMatchObject({ type: 'sent', result: 'stored', recipients: 1 });
        sent.push(m);
      }
      await waitUntil(() => h.relay.socketStats.pushWaits >= 1);
      // One push frame (about 1 MiB of JSON, or one item) may go out on top of the bound.
      const item = Math.ceil(((sent[0]!.envelope.length + sent[0]!.mls.length) * 4) / 3) + 4096;
      expect(h.relay.socketStats.peakBuffered).toBeLessThanOrEqual(MiB + Math.max(MiB, item) + item);
      carolSock.ws.resume();
      await carolSock.waitFor(() => pushed(carolSock).length >= sent.length, 60_000);
      expect(pushed(carolSock)).toEqual(sent.map((m) => toBase64(m.mls)));
    } finally {
      await carolSock.close();
      await bobSock.close();
    }
  }, 180_000);
});
