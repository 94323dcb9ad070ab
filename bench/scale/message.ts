/**
 * Message-size curve, one point: `npx tsx bench/scale/message.ts --bytes N [--repeats R] [--min-ms MS]` prints
 * one JSON line (bench/scale/point.ts). Seal and open throughput (MB per second of this process's CPU time, every
 * thread: point.ts) of one envelope of N bytes,
 * and the process's peak RSS, which must stay flat as N grows: up to 1 MiB the message is sealed and opened in
 * memory (sealEnvelope / openEnvelope, what a client does with a message); above, it is streamed from a source
 * that never holds the payload, through EnvelopeSealer into a file, and back through EnvelopeOpener in 1 MiB
 * pieces (what a client does with a file). Baseline in the same process: node:crypto AES-256-GCM plus two
 * SHA-256 passes over the same bytes in 1 MiB pieces — the per-byte work of an envelope (the AEAD, the chunk
 * hashes of the digest and the franking commitment) at the platform's native speed.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EnvelopeOpener,
  EnvelopeSealer,
  generateSigningKey,
  group,
  openEnvelope,
  randomBytes,
  randomScalar,
  sealEnvelope,
} from '../../packages/core/src/index.js';
import { arg, mb, peakRssMb, printPoint, rate } from './point.js';

const N = arg('--bytes', 1024);
const REPEATS = arg('--repeats', 3);
const MIN_MS = arg('--min-ms', 300);
const PIECE = 1 << 20;
const IN_MEMORY_MAX = 1 << 20;

const epochKey = group.baseMul(randomScalar());
const signer = generateSigningKey();
const fields = {
  orgId: 'example.org',
  epoch: 1,
  conversationId: new Uint8Array(16).fill(1),
  senderUserId: 'alice@example.org',
  senderDeviceId: new Uint8Array(8).fill(2),
  recipients: ['alice@example.org', 'bob@example.org'],
  messageId: new Uint8Array(16).fill(3),
  sendTime: Date.now(),
  contentType: 'application/octet-stream',
};
const recipientCtx = {
  orgId: fields.orgId,
  epoch: fields.epoch,
  epochKey,
  conversationId: fields.conversationId,
  senderUserId: fields.senderUserId,
  senderDeviceId: fields.senderDeviceId,
  senderKey: signer.publicKey,
  members: fields.recipients,
};
/** The payload source: one random piece, repeated (the payload itself is never held whole). */
const piece = randomBytes(Math.min(N, PIECE));
const dir = mkdtempSync(join(tmpdir(), 'overt-bench-message-'));
const file = join(dir, 'ciphertext');

interface Sealed {
  head: Uint8Array;
  transport: { messageId: Uint8Array; contentKey: Uint8Array; seed: Uint8Array };
  envelope?: Uint8Array;
}

async function seal(): Promise<Sealed> {
  if (N <= IN_MEMORY_MAX) {
    const s = await sealEnvelope(fields, piece, epochKey, signer);
    return {
      head: s.head,
      envelope: s.envelope,
      transport: { messageId: fields.messageId, contentKey: s.contentKey, seed: s.seed },
    };
  }
  const sealer = await EnvelopeSealer.create(fields, N, epochKey, signer);
  const fd = openSync(file, 'w');
  try {
    for (let at = 0; at < N; at += PIECE) {
      const ct = await sealer.update(at + PIECE <= N ? piece : piece.subarray(0, N - at));
      writeSync(fd, ct);
    }
    const done = await sealer.finish();
    writeSync(fd, done.ciphertextTail);
    return {
      head: done.head,
      transport: { messageId: fields.messageId, contentKey: done.contentKey, seed: done.seed },
    };
  } finally {
    closeSync(fd);
  }
}

async function open(s: Sealed): Promise<void> {
  if (s.envelope !== undefined) {
    const o = await openEnvelope(s.envelope, s.transport, recipientCtx);
    if (o.payload.length !== N) throw new Error('opened a payload of the wrong length');
    return;
  }
  const opener = await EnvelopeOpener.create(s.head, s.transport, recipientCtx);
  const fd = openSync(file, 'r');
  const buf = new Uint8Array(PIECE);
  let total = 0;
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, PIECE, null);
      if (n === 0) break;
      total += (await opener.update(buf.subarray(0, n))).length;
    }
    await opener.finish();
  } finally {
    closeSync(fd);
  }
  if (total !== N) throw new Error('opened a payload of the wrong length');
}

const key = randomBytes(32);
const nonce = randomBytes(12);
/** The per-byte work of an envelope at native speed: AES-256-GCM and two SHA-256 passes, 1 MiB pieces. */
function nativeBaseline(): void {
  const c = createCipheriv('aes-256-gcm', key, nonce);
  const h1 = createHash('sha256');
  const h2 = createHash('sha256');
  for (let at = 0; at < N; at += PIECE) {
    const p = at + PIECE <= N ? piece : piece.subarray(0, N - at);
    h1.update(p);
    h2.update(c.update(p));
  }
  c.final();
  h1.digest();
  h2.digest();
}

try {
  // Warm-up: the whole path once (a 1 MiB streamed message stands in for larger ones).
  const warm = await seal();
  await open(warm);
  nativeBaseline();
  const rest = mb(process.memoryUsage.rss());
  const sealRates: number[] = [];
  const openRates: number[] = [];
  const native: number[] = [];
  let last = warm;
  for (let r = 0; r < REPEATS; r++) {
    native.push(((await rate(nativeBaseline, MIN_MS)) * N) / 1e6);
    sealRates.push(
      ((await rate(async () => {
        last = await seal();
      }, MIN_MS)) *
        N) /
        1e6,
    );
    openRates.push(((await rate(() => open(last), MIN_MS)) * N) / 1e6);
  }
  const baseline = 'node:crypto AES-256-GCM + 2 × SHA-256 over the same bytes';
  printPoint({
    x: N,
    series: {
      seal: { samples: sealRates, unit: 'MB/s', higher_is_better: true, baseline },
      open: { samples: openRates, unit: 'MB/s', higher_is_better: true, baseline },
    },
    baselines: { [baseline]: { samples: native, unit: 'MB/s' } },
    rss_rest_mb: rest,
    rss_peak_mb: peakRssMb(),
    extra: {
      path:
        N <= IN_MEMORY_MAX
          ? 'in memory (sealEnvelope/openEnvelope)'
          : 'streamed through a file, 1 MiB pieces',
    },
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
