/**
 * Group-size curve, one point: `npx tsx bench/scale/group.ts --members N [--repeats R]` prints one JSON line
 * (bench/scale/point.ts). Through Overt's MLS wrapper (packages/client Conversation, Overt's crypto provider),
 * one device per member: the commit adding N − 1 members to a group of one (with its Welcome), a new member
 * joining from that Welcome, sending one application message (the 81-byte key transport) and receiving it, and
 * an existing member processing a commit (the creator's update). Each in ms of this process's CPU clock, R
 * repeats after a warm-up. Baselines in the same process: one X25519 key derivation (libsodium; HPKE to each new
 * member's leaf and the path secrets are X25519 work) for the commit, join and commit processing; one Ed25519
 * sign and one verify (libsodium; every MLS message is signed) for sending and receiving.
 */
import { generateSigningKey, randomBytes, sign, verifySignature, x25519PublicKey } from '@overt/core';
import {
  Conversation,
  createMlsIdentity,
  generateKeyPackage,
  type KeyTransportPayload,
} from '../../packages/client/src/index.js';
import { arg, cpuMs, mb, peakRssMb, printPoint, rate } from './point.js';

const N = arg('--members', 2);
const REPEATS = arg('--repeats', 3);
const MIN_MS = arg('--min-ms', 300);
const PHONE = new TextEncoder().encode('phone');
const opts = { authenticate: () => true };

const payload = (): KeyTransportPayload => ({
  messageId: randomBytes(16),
  contentKey: randomBytes(32),
  seed: randomBytes(32),
});

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = cpuMs();
  const value = await fn();
  return { ms: cpuMs() - t0, value };
}

// N − 1 members (plus R spares that join from the Welcome; each Welcome names the members it adds).
const creator = await Conversation.create(createMlsIdentity('creator', PHONE, generateSigningKey()), opts);
const members = [];
for (let i = 1; i < N; i++) {
  const identity = createMlsIdentity(`m${i}`, PHONE, generateSigningKey());
  members.push({ identity, bundle: await generateKeyPackage(identity) });
}
const rest = mb(process.memoryUsage.rss());

const commit: number[] = [];
const join: number[] = [];
const send: number[] = [];
const receive: number[] = [];
const processCommit: number[] = [];
const x25519: number[] = [];
const edSign: number[] = [];
const edVerify: number[] = [];
const kps = members.map((m) => m.bundle.keyPackage);
// Warm-up, then R timed commits of the same adds; all but the last discarded, the last merged.
await creator.addMembers(kps);
await creator.discardPendingCommit();
let welcome: Uint8Array | undefined;
for (let r = 0; r < REPEATS; r++) {
  const t = await timed(() => creator.addMembers(kps));
  commit.push(t.ms);
  welcome = t.value.welcome;
  if (r < REPEATS - 1) await creator.discardPendingCommit();
}
await creator.mergePendingCommit();
if (welcome === undefined) throw new Error('no Welcome');

// Joins from that Welcome (independent of each other; a member may join twice, each a fresh state).
let receiver: Conversation | undefined;
for (let r = 0; r < REPEATS; r++) {
  const m = members[r % members.length]!;
  const t = await timed(() => Conversation.join(m.identity, welcome!, [m.bundle], opts));
  join.push(t.ms);
  receiver ??= t.value.conversation;
}
if (receiver === undefined) throw new Error('nobody joined');

const MESSAGES = 20;
const key = generateSigningKey();
const msg = randomBytes(64);
const sig = sign(key, msg);
for (let r = 0; r < REPEATS; r++) {
  x25519.push(1000 / (await rate(() => x25519PublicKey(randomBytes(32)), Math.min(MIN_MS, 200))));
  edSign.push(1000 / (await rate(() => sign(key, msg), Math.min(MIN_MS, 200))));
  edVerify.push(1000 / (await rate(() => verifySignature(key.publicKey, msg, sig), Math.min(MIN_MS, 200))));
  const sent: Uint8Array[] = [];
  const s = await timed(async () => {
    for (let i = 0; i < MESSAGES; i++) sent.push(await creator.encrypt(payload()));
  });
  send.push(s.ms / MESSAGES);
  const rcv = await timed(async () => {
    for (const m of sent) {
      const got = await receiver!.processIncoming(m);
      if (got.kind !== 'application') throw new Error(`expected an application message, got ${got.kind}`);
    }
  });
  receive.push(rcv.ms / MESSAGES);
  const update = await creator.update();
  await creator.mergePendingCommit();
  const pc = await timed(() => receiver!.processIncoming(update.commit));
  processCommit.push(pc.ms);
}

const X = 'one X25519 key derivation (libsodium)';
const SIGN = 'one Ed25519 sign (libsodium)';
const VERIFY = 'one Ed25519 verify (libsodium)';
const ms = (samples: number[], baseline: string, note?: string) => ({
  samples,
  unit: 'ms',
  higher_is_better: false,
  baseline,
  ...(note ? { note } : {}),
});
printPoint({
  x: N,
  series: {
    'commit adding the other members': ms(
      commit,
      X,
      `adds N − 1 = ${N - 1} members to a group of one, with the Welcome`,
    ),
    'join from the Welcome': ms(join, X),
    'process a commit (update)': ms(processCommit, X),
    'send one message': ms(send, SIGN, "81-byte key transport, Overt's MLS wrapper"),
    'receive one message': ms(receive, VERIFY),
  },
  baselines: {
    [X]: { samples: x25519, unit: 'ms' },
    [SIGN]: { samples: edSign, unit: 'ms' },
    [VERIFY]: { samples: edVerify, unit: 'ms' },
  },
  rss_rest_mb: rest,
  rss_peak_mb: peakRssMb(),
});
