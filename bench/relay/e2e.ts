/**
 * Figure (b) of issue #4, end to end: one sender, a group of 10 recipient devices, full client crypto, against
 * ts-mls alone on the same messages, in the same run. `npx tsx bench/relay/e2e.ts [--quick] [--no-relay]` prints
 * JSON on stdout (`--quick` finishes in well under a minute).
 *
 * "A group of 10" here means: one MLS group of 11 devices — the sender and 10 recipient devices, each of its own
 * user — so one message is decrypted 10 times. Per message and size (100 B text, 1 KiB, 64 KiB):
 *
 * - `overt` (the full Overt path, as packages/client/src/sdk/client.ts does it minus the network):
 *   sender = header fields from the roster + `sealEnvelope` (key-committing AEAD, STREAM, franking, TDH2
 *   capsule to the epoch key) + `Conversation.encrypt` of the 81-byte key transport (message id, K, seed);
 *   each recipient = `Conversation.processIncoming` (MLS decrypt + Overt's MLS checks) + roster of the message's
 *   epoch + `decodeEnvelopeHead` + `openEnvelope` (context checks, key commitment, capsule recomputed from the
 *   seed and compared — the A5 check — digest, decrypt, franking commitment). The envelope is handed over
 *   in memory (a stand-in for the relay's PUT/GET, which is not client crypto).
 * - `ts_mls` (the baseline the issue names): ts-mls 1.6.4 alone, the same plaintext sent as the MLS application
 *   message in a group of the same shape, with the same crypto provider as Overt's (ciphersuite.ts), so the
 *   ratio isolates what the envelope, its checks and Overt's MLS wrapper add.
 * - `ts_mls_default_crypto` (context only): the same with ts-mls's own default crypto provider.
 * - `capsule_only` (the floor): the TDH2 capsule alone — sealed once, recomputed by each of the 10 recipients (the
 *   A5 check, 2 base-point + 3 variable-point ristretto255 multiplications each way) — which no envelope
 *   optimisation removes; `overhead_breakdown` splits the overhead into this floor, the rest of the envelope and
 *   Overt's MLS wrapper.
 *
 * The variants are interleaved message by message (the order rotates) so load from other processes hits them
 * alike; every segment is timed on this process's CPU clock (harness.now(): descheduled time does not count).
 * Reported per variant and size: sender µs/message, recipient µs/message (mean over the 10), messages/s for the
 * sender (1 / sender cost) and for the whole group on one core (1 / (sender + 10 recipients)), latency for one
 * message to be readable on all 10 devices when each device has its own CPU (sender + slowest recipient;
 * network excluded) p50/p99, and overhead = (overt − ts_mls) / ts_mls for the group's total cost. A breakdown
 * splits the Overt cost into its MLS part and its envelope part.
 *
 * Unless `--no-relay`, a second, clearly separate figure sends through a real relay started in this process
 * (SQLite, HTTP on 127.0.0.1, WebSocket wake-ups; packages/client/test/relay-world.ts) with 11 `OvertClient`s:
 * wall-clock latency from `sendText` until all 10 recipients have the message after a WebSocket wake-up and a
 * `sync()`. Everything shares this process's event loop and the machine's two cores, so that latency counts the
 * 10 recipients' work one after another; it is an upper bound for what devices with their own CPUs would see.
 */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Element, HeaderFields } from '@overt/core';
import {
  type CiphersuiteImpl,
  type ClientState,
  createApplicationMessage,
  createCommit,
  createGroup,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  encodeMlsMessage,
  joinGroup,
  processPrivateMessage,
  generateKeyPackage as tsGenerateKeyPackage,
} from 'ts-mls';
import type { Conversation, WebSocketConstructor } from '../../packages/client/src/index.js';
import { now } from '../core/harness.js';

// The client's MLS layer imports '@overt/core'. Plain `tsx` resolves that to packages/core/dist (whatever was
// built last); this suite measures core's envelope code as it is in the working tree, so it reruns itself under
// the test tsconfig, whose paths map '@overt/core' to packages/core/src. Nothing that imports '@overt/core' is
// loaded before this check (type imports are erased), so a stale build cannot break the first process.
if (!import.meta.resolve('@overt/core').includes('/packages/core/src/')) {
  const self = fileURLToPath(import.meta.url);
  const r = spawnSync('npx', ['tsx', '--tsconfig', 'tsconfig.test.json', self, ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  process.exit(r.status ?? 1);
}

const {
  decodeEnvelopeHead,
  generateSigningKey,
  group,
  openEnvelope,
  randomBytes,
  randomNonZeroScalar,
  sealCapsule,
  sealEnvelope,
  utf8Encode,
  verifyCapsuleOpening,
} = await import('@overt/core');
const client = await import('../../packages/client/src/index.js');
const { createMlsIdentity, generateKeyPackage } = client;
const { mlsCiphersuite, tsMlsCiphersuite } = await import('../../packages/client/src/mls/ciphersuite.js');

const quick = process.argv.includes('--quick');
const withRelay = !process.argv.includes('--no-relay');
const RECIPIENTS = 10;
/** Message sizes: a short text message, 1 KiB, and a 64 KiB attachment (one full STREAM chunk). */
const SIZES = [100, 1024, 64 * 1024];
const MESSAGES = quick ? 40 : 200;
const WARMUP = quick ? 8 : 20;
const RELAY_MESSAGES = quick ? 15 : 60;

const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;
function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}
const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);

/** CPU milliseconds of one message: the sender's, each recipient's, and optional named parts of them. */
interface Sample {
  sender: number;
  recipients: number[];
  parts: Record<string, number>;
}

interface Variant {
  readonly name: string;
  /** Sends one message of `payload` and has every recipient read it; returns the CPU time of each segment. */
  message(payload: Uint8Array): Promise<Sample>;
}

const text = (n: number): Uint8Array =>
  utf8Encode('The quick brown fox jumps over the lazy dog. '.repeat(Math.ceil(n / 45)).slice(0, n));

// ---------------------------------------------------------------------------------------------------------------
// Baseline: ts-mls alone, the plaintext as the application message.

async function tsMlsVariant(name: string, cs: CiphersuiteImpl): Promise<Variant> {
  const kp = (id: string) =>
    tsGenerateKeyPackage(
      { credentialType: 'basic', identity: utf8Encode(id) },
      defaultCapabilities(),
      defaultLifetime,
      [],
      cs,
    );
  const a = await kp('sender');
  let sender: ClientState = await createGroup(randomBytes(32), a.publicPackage, a.privatePackage, [], cs);
  const joiners = await Promise.all(Array.from({ length: RECIPIENTS }, (_, i) => kp(`r${i}`)));
  const add = await createCommit(
    { state: sender, cipherSuite: cs },
    {
      extraProposals: joiners.map((j) => ({
        proposalType: 'add' as const,
        add: { keyPackage: j.publicPackage },
      })),
      ratchetTreeExtension: true,
    },
  );
  sender = add.newState;
  const recipients: ClientState[] = [];
  for (const j of joiners)
    recipients.push(await joinGroup(add.welcome!, j.publicPackage, j.privatePackage, emptyPskIndex, cs));
  return {
    name,
    async message(payload) {
      let t = now();
      const r = await createApplicationMessage(sender, payload, cs);
      sender = r.newState;
      const wire = encodeMlsMessage({
        version: 'mls10',
        wireformat: 'mls_private_message',
        privateMessage: r.privateMessage,
      });
      const senderMs = now() - t;
      const times: number[] = [];
      for (let i = 0; i < recipients.length; i++) {
        t = now();
        const d = decodeMlsMessage(wire, 0)![0];
        if (d.wireformat !== 'mls_private_message') throw new Error('unexpected wire format');
        const out = await processPrivateMessage(recipients[i]!, d.privateMessage, emptyPskIndex, cs);
        if (out.kind !== 'applicationMessage' || out.message.length !== payload.length)
          throw new Error('baseline message did not decrypt');
        recipients[i] = out.newState;
        times.push(now() - t);
      }
      return { sender: senderMs, recipients: times, parts: {} };
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The full Overt path.

const ORG = 'example.org';

async function overtVariant(epoch: number, epochKey: Element): Promise<Variant> {
  const opts = { authenticate: () => true };
  const id = (user: string) => createMlsIdentity(user, utf8Encode('phone'), generateSigningKey());
  const senderId = id('sender@example.org');
  const sender = await client.Conversation.create(senderId, opts);
  const ids = Array.from({ length: RECIPIENTS }, (_, i) => id(`r${i}@example.org`));
  const bundles = await Promise.all(ids.map((i) => generateKeyPackage(i)));
  const out = await sender.addMembers(bundles.map((b) => b.keyPackage));
  await sender.mergePendingCommit();
  const recipients: Conversation[] = [];
  for (const [i, b] of bundles.entries())
    recipients.push((await client.Conversation.join(ids[i]!, out.welcome!, [b], opts)).conversation);
  /** The relay's envelope store, in memory: PUT and GET are network, not client crypto. */
  const relay = new Map<string, Uint8Array>();
  const key = (m: Uint8Array) => Buffer.from(m).toString('hex');

  return {
    name: 'overt',
    async message(payload) {
      let t = now();
      // Sender (client.ts send()): header fields from the roster, seal, then the key transport through MLS.
      const fields: HeaderFields = {
        orgId: ORG,
        epoch,
        conversationId: sender.groupId,
        senderUserId: senderId.userId,
        senderDeviceId: senderId.deviceId,
        recipients: [...new Set(sender.members().map((m) => m.userId))].sort(),
        messageId: randomBytes(16),
        sendTime: Date.now(),
        contentType: 'text/plain; charset=utf-8',
      };
      const t1 = now();
      const sealed = await sealEnvelope(fields, payload, epochKey, senderId.signingKey);
      const sealMs = now() - t1;
      const fieldsMs = t1 - t;
      relay.set(key(sealed.header.messageId), sealed.envelope);
      t = now();
      const wire = await sender.encrypt({
        messageId: sealed.header.messageId,
        contentKey: sealed.contentKey,
        seed: sealed.seed,
      });
      const senderMlsMs = now() - t;
      // Each recipient (client.ts process() + openMessage()).
      const times: number[] = [];
      let mlsMs = 0;
      let rosterMs = 0;
      let openMs = 0;
      for (const conv of recipients) {
        t = now();
        const inc = await conv.processIncoming(wire);
        if (inc.kind !== 'application') throw new Error('expected an application message');
        const t0 = now();
        const members = [...new Set(conv.members(inc.epoch).map((m) => m.userId))];
        const t1 = now();
        const envelope = relay.get(key(inc.payload.messageId))!;
        const head = decodeEnvelopeHead(envelope);
        const opened = await openEnvelope(envelope, inc.payload, {
          orgId: ORG,
          epoch: head.header.epoch,
          epochKey,
          conversationId: conv.groupId,
          senderUserId: inc.sender.userId,
          senderDeviceId: inc.sender.deviceId,
          senderKey: inc.sender.identityKey,
          members,
        });
        if (opened.payload.length !== payload.length) throw new Error('payload length differs');
        const t2 = now();
        mlsMs += t0 - t;
        rosterMs += t1 - t0;
        openMs += t2 - t1;
        times.push(t2 - t);
      }
      relay.delete(key(sealed.header.messageId));
      return {
        sender: fieldsMs + sealMs + senderMlsMs,
        recipients: times,
        parts: {
          sender_header_fields: fieldsMs,
          sender_envelope_seal: sealMs,
          sender_mls: senderMlsMs,
          recipient_mls: mlsMs / recipients.length,
          recipient_roster: rosterMs / recipients.length,
          recipient_envelope_open: openMs / recipients.length,
        },
      };
    },
  };
}

/**
 * The floor: the TDH2 capsule alone, sealed by the sender and recomputed by each recipient (the A5 check), on the
 * same schedule as the other variants. No envelope optimisation removes it.
 */
function capsuleVariant(epochKey: Element): Variant {
  return {
    name: 'capsule_only',
    async message() {
      const K = randomBytes(32);
      const label = randomBytes(32);
      const seed = randomBytes(32);
      let t = now();
      const capsule = sealCapsule(epochKey, K, label, seed);
      const senderMs = now() - t;
      const times: number[] = [];
      for (let i = 0; i < RECIPIENTS; i++) {
        t = now();
        verifyCapsuleOpening(epochKey, capsule, K, label, seed);
        times.push(now() - t);
      }
      return { sender: senderMs, recipients: times, parts: {} };
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Measurement.

interface Figures {
  messages: number;
  sender_us_per_message: number;
  recipient_us_per_message: number;
  /** Sender throughput: 1 / sender cost. */
  sender_messages_per_s: number;
  /** The whole group's crypto on one core: 1 / (sender + all recipients). */
  group_messages_per_s_one_core: number;
  /** Sender + slowest recipient, each device on its own CPU, network excluded (CPU clock). */
  latency_ms: { p50: number; p99: number };
  parts_us?: Record<string, number>;
}

function figures(samples: readonly Sample[]): Figures {
  const senders = samples.map((s) => s.sender);
  const recips = samples.flatMap((s) => s.recipients);
  const totals = samples.map((s) => s.sender + sum(s.recipients));
  const latency = samples.map((s) => s.sender + Math.max(...s.recipients));
  const f: Figures = {
    messages: samples.length,
    sender_us_per_message: round(mean(senders) * 1000),
    recipient_us_per_message: round(mean(recips) * 1000),
    sender_messages_per_s: round(1000 / mean(senders)),
    group_messages_per_s_one_core: round(1000 / mean(totals)),
    latency_ms: { p50: round(quantile(latency, 0.5), 3), p99: round(quantile(latency, 0.99), 3) },
  };
  const names = Object.keys(samples[0]?.parts ?? {});
  if (names.length > 0)
    f.parts_us = Object.fromEntries(
      names.map((n) => [n, round(mean(samples.map((s) => s.parts[n]!)) * 1000)]),
    );
  return f;
}

/** (full − baseline) / baseline of mean costs. */
const overhead = (full: number, base: number): number => round((full - base) / base, 3);

async function runSize(variants: readonly Variant[], size: number) {
  const payload = size <= 1024 ? text(size) : randomBytes(size);
  for (const v of variants) for (let i = 0; i < WARMUP; i++) await v.message(payload);
  const samples = variants.map(() => [] as Sample[]);
  for (let i = 0; i < MESSAGES; i++) {
    // Rotate the order so that no variant always runs first (after a GC, say).
    for (let k = 0; k < variants.length; k++) {
      const j = (i + k) % variants.length;
      samples[j]!.push(await variants[j]!.message(payload));
    }
  }
  const byName = Object.fromEntries(variants.map((v, j) => [v.name, figures(samples[j]!)]));
  const full = byName.overt!;
  const base = byName.ts_mls!;
  const floor = byName.capsule_only!;
  const groupCost = (f: Figures) => 1000 / f.group_messages_per_s_one_core;
  const parts = full.parts_us!;
  // The group's cost per message (sender + every recipient, µs) in 5 consecutive blocks of the interleaved
  // messages: the spread bench/suite reports around each mean.
  const BLOCKS = 5;
  const blocks = Object.fromEntries(
    variants.map((v, j) => {
      const xs = samples[j]!;
      const per = Math.ceil(xs.length / BLOCKS);
      const out: number[] = [];
      for (let b = 0; b < xs.length; b += per)
        out.push(round(mean(xs.slice(b, b + per).map((x) => x.sender + sum(x.recipients))) * 1000));
      return [v.name, out];
    }),
  );
  return {
    payload_bytes: size,
    results: byName,
    group_us_per_message_by_block: blocks,
    overhead_vs_ts_mls: {
      sender: overhead(full.sender_us_per_message, base.sender_us_per_message),
      recipient: overhead(full.recipient_us_per_message, base.recipient_us_per_message),
      group_total: overhead(groupCost(full), groupCost(base)),
      latency_p50: overhead(full.latency_ms.p50, base.latency_ms.p50),
      target: 0.5,
      meets_target: groupCost(full) <= 1.5 * groupCost(base),
    },
    /** Against ts-mls with its own default crypto provider (what "ts-mls alone" gives out of the box). */
    overhead_vs_ts_mls_default_crypto: {
      sender: overhead(full.sender_us_per_message, byName.ts_mls_default_crypto!.sender_us_per_message),
      recipient: overhead(
        full.recipient_us_per_message,
        byName.ts_mls_default_crypto!.recipient_us_per_message,
      ),
      group_total: overhead(groupCost(full), groupCost(byName.ts_mls_default_crypto!)),
    },
    /**
     * Where the overhead comes from, each as a fraction of the baseline's cost (sender; recipient): the capsule
     * alone (the floor), the rest of the envelope (on the sender, with the roster read that builds the header's
     * recipient list), and Overt's MLS wrapper over raw ts-mls (on recipients, with the roster read that the
     * recipient check compares against).
     */
    overhead_breakdown: {
      capsule_floor: {
        sender: round(floor.sender_us_per_message / base.sender_us_per_message, 3),
        recipient: round(floor.recipient_us_per_message / base.recipient_us_per_message, 3),
      },
      envelope_without_capsule: {
        sender: round(
          (parts.sender_header_fields! + parts.sender_envelope_seal! - floor.sender_us_per_message) /
            base.sender_us_per_message,
          3,
        ),
        recipient: round(
          (parts.recipient_envelope_open! - floor.recipient_us_per_message) / base.recipient_us_per_message,
          3,
        ),
      },
      mls_wrapper: {
        sender: round((parts.sender_mls! - base.sender_us_per_message) / base.sender_us_per_message, 3),
        // Including the roster read (Conversation.members) that gives the recipient check its member list.
        recipient: round(
          (parts.recipient_mls! + parts.recipient_roster! - base.recipient_us_per_message) /
            base.recipient_us_per_message,
          3,
        ),
      },
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Through a real relay (optional): 11 OvertClients on an in-process relay, WebSocket wake-ups.

async function throughRelay() {
  const { default: WebSocket } = await import('ws');
  const { startWorld, ORG: RELAY_ORG } = await import('../../packages/client/test/relay-world.js');
  const { OvertClient, MemoryStore } = await import('../../packages/client/src/index.js');
  type WsCtor = WebSocketConstructor;
  const w = await startWorld();
  try {
    const devices = [];
    for (let i = 0; i <= RECIPIENTS; i++)
      devices.push(await w.device(`e2e${i}`, `e2e${i}-phone`, new MemoryStore()));
    const [sender, ...rest] = devices as [(typeof devices)[0], ...typeof devices];
    await Promise.all(rest.map((d) => d.client.publishKeyPackages(1)));
    const { conversationId, missing } = await sender.client.createConversation(rest.map((d) => d.userId));
    if (missing.length > 0) throw new Error('a recipient had no key package');
    for (const d of rest) await d.client.sync();
    // Each recipient reopens its session with a WebSocket and syncs whenever the relay pushes.
    /** How many recipients have each message (by message id), and who waits for all of them. */
    const arrived = new Map<string, number>();
    const waiters = new Map<string, () => void>();
    const arrive = (id: string) => {
      const n = (arrived.get(id) ?? 0) + 1;
      arrived.set(id, n);
      if (n === RECIPIENTS) waiters.get(id)?.();
    };
    const sockets = [];
    for (const d of rest) {
      const client = await OvertClient.open({
        url: w.url,
        orgId: RELAY_ORG,
        userId: d.userId,
        deviceId: d.deviceId,
        signingKey: d.key,
        store: d.store,
        trust: w.trust,
        WebSocket: WebSocket as unknown as WsCtor,
      });
      let running = false;
      let again = false;
      const pump = async (): Promise<void> => {
        if (running) {
          again = true;
          return;
        }
        running = true;
        do {
          again = false;
          for (const e of await client.sync()) {
            if (e.kind === 'message') arrive(Buffer.from(e.messageId).toString('hex'));
          }
        } while (again);
        running = false;
      };
      sockets.push(await client.connect(() => void pump()));
    }
    const body = new TextDecoder().decode(text(100));
    const latencies: number[] = [];
    const sendMs: number[] = [];
    const started = performance.now();
    for (let i = 0; i < RELAY_MESSAGES + 3; i++) {
      const t0 = performance.now();
      let done!: () => void;
      const all = new Promise<void>((resolve) => {
        done = resolve;
      });
      const sent = await sender.client.sendText(conversationId, body);
      const t1 = performance.now();
      // Recipients may have the message before sendText returns: arrivals are counted without a waiter.
      const id = Buffer.from(sent.messageId).toString('hex');
      waiters.set(id, done);
      if (arrived.get(id) === RECIPIENTS) done();
      await all;
      waiters.delete(id);
      arrived.delete(id);
      if (i >= 3) {
        latencies.push(performance.now() - t0);
        sendMs.push(t1 - t0);
      }
    }
    const elapsed = performance.now() - started;
    for (const s of sockets) s.close();
    return {
      label:
        'through a real relay in this process (SQLite, HTTP + WebSocket on 127.0.0.1), 11 OvertClients sharing one event loop; wall clock',
      payload_bytes: 100,
      messages: latencies.length,
      send_ms: { p50: round(quantile(sendMs, 0.5), 2), p99: round(quantile(sendMs, 0.99), 2) },
      latency_to_all_10_ms: {
        p50: round(quantile(latencies, 0.5), 2),
        p99: round(quantile(latencies, 0.99), 2),
      },
      messages_per_s_one_at_a_time: round(latencies.length / (elapsed / 1000), 1),
    };
  } finally {
    await w.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------

const epochSecret = randomNonZeroScalar();
const epochKey = group.baseMul(epochSecret);
const EPOCH = 1;
const setupStart = performance.now();
const variants: Variant[] = [
  await overtVariant(EPOCH, epochKey),
  await tsMlsVariant('ts_mls', await mlsCiphersuite()),
  await tsMlsVariant('ts_mls_default_crypto', await tsMlsCiphersuite()),
  capsuleVariant(epochKey),
];
const setupMs = performance.now() - setupStart;
const load = loadavg();
const sizes = [];
for (const size of SIZES) sizes.push(await runSize(variants, size));

const relay = withRelay ? await throughRelay() : undefined;

console.log(
  JSON.stringify(
    {
      suite: 'relay/e2e',
      node: process.version,
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      load_average_at_start: load.map((x) => round(x, 2)),
      clock: 'cpu (process.cpuUsage) for the in-process figures; wall for the relay figure',
      quick,
      group: `1 sender + ${RECIPIENTS} recipient devices (one MLS group of ${RECIPIENTS + 1}, each device its own user)`,
      messages_per_size_per_variant: MESSAGES,
      setup_ms: round(setupMs),
      baseline: 'ts_mls',
      machine_note:
        'absolute figures follow the machine and its load (see load_average_at_start); compare the ratios',
      sizes,
      ...(relay ? { through_relay: relay } : {}),
    },
    null,
    2,
  ),
);
process.exit(0);
