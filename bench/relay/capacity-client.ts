/**
 * One client process of the relay capacity benchmark (capacity.ts): real devices over real WebSockets. It sets up
 * its senders' MLS groups (one per sender, with one recipient device hosted by another process), pre-seals every
 * message before the timed window (core's sealEnvelope + the client's MLS application message), then on `go`
 * sends them as binary send frames (relay.md §6.8) with a bounded window per connection, and records when each
 * was sent, answered, and — for the recipients it hosts — pushed to it. Talks to the parent over IPC.
 */

import WebSocket from 'ws';
import {
  Conversation,
  createMlsIdentity,
  generateKeyPackage,
  type MlsIdentity,
} from '../../packages/client/src/index.js';
import {
  type Element,
  fromBase64,
  randomBytes,
  type SigningKeyPair,
  sealEnvelope,
  toBase64,
  toBase64Url,
  utf8Encode,
} from '../../packages/core/src/index.js';
import { encodeSendFrame } from '../../packages/server/src/ingest/frames.js';
import { authFrame, Client } from '../../packages/server/test/harness.js';

export interface BenchDevice {
  readonly userId: string;
  readonly deviceId: string;
  readonly key: SigningKeyPair;
}

export interface SetupMessage {
  readonly type: 'setup';
  readonly url: string;
  readonly orgId: string;
  readonly epoch: number;
  readonly epochKey: Uint8Array;
  /** Senders hosted here, each with the recipient device of its group (hosted by another process). */
  readonly senders: readonly { readonly sender: BenchDevice; readonly recipient: BenchDevice }[];
  /** Recipient devices hosted here (their mailbox sockets record deliveries). */
  readonly recipients: readonly BenchDevice[];
  readonly messagesPerSender: number;
  readonly payloadBytes: number;
  readonly window: number;
}

export interface DoneMessage {
  readonly type: 'done';
  /** [messageId, ms] pairs: when the frame was handed to the socket. */
  readonly sent: [string, number][];
  /** [messageId, ms]: when the relay's answer arrived. */
  readonly acked: [string, number][];
  /** [messageId, ms]: when the push reached a recipient here. */
  readonly delivered: [string, number][];
  readonly errors: Record<string, number>;
  readonly inlineEnvelopes: number;
}

const now = () => performance.timeOrigin + performance.now();
const send = (m: unknown) => process.send!(m);

async function openSocket(url: string, d: BenchDevice, onFrame: (f: Record<string, unknown>) => void) {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/ws`);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const ready = new Promise<void>((resolve, reject) => {
    ws.on('message', (data) => {
      const f = JSON.parse(data.toString()) as Record<string, unknown>;
      if (f.type === 'ready') resolve();
      else if (f.type === 'error' && f.id === undefined) reject(new Error(JSON.stringify(f)));
      else onFrame(f);
    });
  });
  ws.send(JSON.stringify(authFrame(d.key, { kind: 'device', deviceId: d.deviceId })));
  await ready;
  return ws;
}

function identity(d: BenchDevice): MlsIdentity {
  return createMlsIdentity(d.userId, utf8Encode(d.deviceId), d.key);
}

function expectOk(what: string, r: { status: number; body: unknown }): void {
  if (r.status >= 300) throw new Error(`${what}: ${r.status} ${JSON.stringify(r.body)}`);
}

/** Sets up one sender's group with its recipient and pre-seals its messages as send frames. */
async function prepare(s: SetupMessage, pair: SetupMessage['senders'][number]) {
  const sender = new Client(s.url, pair.sender.key, { kind: 'device', deviceId: pair.sender.deviceId });
  const recipient = new Client(s.url, pair.recipient.key, {
    kind: 'device',
    deviceId: pair.recipient.deviceId,
  });
  const kp = await generateKeyPackage(identity(pair.recipient));
  expectOk(
    'key package',
    await recipient.request('POST', '/v1/key-packages', { keyPackages: [toBase64(kp.keyPackage)] }),
  );
  const groupId = randomBytes(16);
  const conv = await Conversation.create(identity(pair.sender), { authenticate: () => true }, groupId);
  expectOk('group', await sender.request('POST', '/v1/groups', { groupId: toBase64Url(groupId) }));
  const claim = await sender.request('POST', `/v1/users/${pair.recipient.userId}/key-packages/claim`);
  expectOk('claim', claim);
  const add = await conv.addMembers([fromBase64(claim.body.keyPackages[0].keyPackage)]);
  expectOk(
    'commit',
    await sender.request('POST', `/v1/groups/${toBase64Url(groupId)}/commits`, {
      commit: toBase64(add.commit),
      welcome: toBase64(add.welcome!),
    }),
  );
  await conv.mergePendingCommit();
  const recipients = [pair.sender.userId, pair.recipient.userId].sort();
  const frames: { id: string; frame: Uint8Array }[] = [];
  for (let i = 0; i < s.messagesPerSender; i++) {
    const sealed = await sealEnvelope(
      {
        orgId: s.orgId,
        epoch: s.epoch,
        conversationId: groupId,
        senderUserId: pair.sender.userId,
        senderDeviceId: utf8Encode(pair.sender.deviceId),
        recipients,
        messageId: randomBytes(16),
        sendTime: Date.now(),
        contentType: 'text/plain; charset=utf-8',
      },
      randomBytes(s.payloadBytes),
      s.epochKey as Element,
      pair.sender.key,
    );
    const message = await conv.encrypt({
      messageId: sealed.header.messageId,
      contentKey: sealed.contentKey,
      seed: sealed.seed,
    });
    frames.push({
      id: toBase64Url(sealed.header.messageId),
      frame: encodeSendFrame({ requestId: i, groupId, message, envelope: sealed.envelope }),
    });
  }
  return frames;
}

async function main(): Promise<void> {
  const setup = await new Promise<SetupMessage>((resolve) => {
    process.once('message', (m) => resolve(m as SetupMessage));
    // Messages sent before a listener exists are lost: ask for the setup once listening.
    send({ type: 'hello' });
  });
  const delivered: [string, number][] = [];
  const acked: [string, number][] = [];
  const sent: [string, number][] = [];
  const errors: Record<string, number> = {};
  let inlineEnvelopes = 0;
  const expectedDeliveries = setup.recipients.length * setup.messagesPerSender;
  const expectedAcks = setup.senders.length * setup.messagesPerSender;
  let finish!: () => void;
  const finished = new Promise<void>((r) => {
    finish = r;
  });
  const maybeDone = () => {
    if (delivered.length >= expectedDeliveries && acked.length + countErrors() >= expectedAcks) finish();
  };
  const countErrors = () => Object.values(errors).reduce((a, b) => a + b, 0);

  for (const r of setup.recipients)
    await openSocket(setup.url, r, (f) => {
      if (f.type !== 'items') return;
      const t = now();
      for (const item of f.items as { messageId?: string; envelope?: string }[]) {
        if (item.messageId === undefined) continue;
        if (item.envelope !== undefined) inlineEnvelopes++;
        delivered.push([item.messageId, t]);
      }
      maybeDone();
    });

  if (process.env.BENCH_DEBUG) console.error(`client ${process.pid}: recipients open`);
  const prepared = [];
  for (const pair of setup.senders) prepared.push(await prepare(setup, pair));
  const senders = [];
  for (const [i, pair] of setup.senders.entries()) {
    const frames = prepared[i]!;
    let next = 0;
    let inFlight = 0;
    let ws!: WebSocket;
    const pump = () => {
      while (inFlight < setup.window && next < frames.length) {
        const f = frames[next++]!;
        inFlight++;
        sent.push([f.id, now()]);
        ws.send(f.frame);
      }
    };
    ws = await openSocket(setup.url, pair.sender, (f) => {
      if (f.type === 'sent') {
        acked.push([f.messageId as string, now()]);
      } else if (f.type === 'error') {
        const k = `${f.code}${f.check ? ` ${f.check}` : ''}`;
        errors[k] = (errors[k] ?? 0) + 1;
      } else return;
      inFlight--;
      pump();
      maybeDone();
    });
    senders.push(pump);
  }
  if (process.env.BENCH_DEBUG) console.error(`client ${process.pid}: ready`);
  send({ type: 'ready' });
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  for (const pump of senders) pump();
  maybeDone();
  // A message refused or lost never arrives: give up once nothing has happened for a while.
  let last = delivered.length + acked.length;
  const idle = setInterval(() => {
    const seen = delivered.length + acked.length + countErrors();
    if (seen === last) finish();
    last = seen;
  }, 10_000);
  await finished;
  clearInterval(idle);
  send({ type: 'done', sent, acked, delivered, errors, inlineEnvelopes } satisfies DoneMessage);
}

main().catch((e) => {
  console.error('capacity client failed:', e);
  process.exit(1);
});
