/**
 * Envelopes for bench/access: real format-2 envelopes (header, TDH2 capsule under the DKG's group key, the sending
 * device's Ed25519 signature, STREAM AES-256-GCM body) written to a file as records `u32 length ‖ envelope`, and
 * read back in pages so that no stage ever holds more than a page of them.
 *
 * Run as a child process (`npx tsx bench/access/envelopes.ts`) by run.ts to generate one shard: the parameters
 * come in the environment variable OVERT_BENCH_ACCESS_GEN (JSON), never on the command line.
 */
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import {
  compareBytes,
  decodeElement,
  decodeEnvelope,
  envelopeHeadLength,
  fromHex,
  sealEnvelope,
  signingKeyFromSeed,
  utf8Encode,
} from '../../packages/core/src/index.js';
import { SEND_TIME } from '../../packages/core/test/envelope-fixtures.js';

export interface GenParams {
  readonly epochKey: string;
  readonly epoch: number;
  readonly signerSeed: string;
  readonly from: number;
  readonly to: number;
  readonly payloadBytes: number;
  readonly out: string;
}

/** The payload of envelope i: its index, then a pattern, so the requester's plaintexts can be checked. */
export function payloadOf(i: number, bytes: number): Uint8Array {
  const p = new Uint8Array(bytes);
  for (let j = 0; j < bytes; j++) p[j] = (i * 31 + j) & 0xff;
  new DataView(p.buffer).setUint32(0, i);
  return p;
}

/** The sending device: the access case's alice-laptop (packages/client/test/access-case.ts), with the bench's key. */
export const SENDER = {
  orgId: 'example.org',
  userId: 'alice@example.org',
  deviceId: 'alice-laptop',
};

async function generate(p: GenParams): Promise<void> {
  const epochKey = decodeElement(fromHex(p.epochKey), 'epoch key');
  const signer = signingKeyFromSeed(fromHex(p.signerSeed));
  const fd = openSync(p.out, 'w');
  const buf = new Uint8Array(1 << 20);
  let used = 0;
  const flush = () => {
    writeSync(fd, buf, 0, used);
    used = 0;
  };
  for (let i = p.from; i < p.to; i++) {
    const messageId = new Uint8Array(16);
    new DataView(messageId.buffer).setUint32(12, i);
    const { envelope } = await sealEnvelope(
      {
        orgId: SENDER.orgId,
        epoch: p.epoch,
        conversationId: new Uint8Array(16).fill(1 + (i % 7)),
        senderUserId: SENDER.userId,
        senderDeviceId: utf8Encode(SENDER.deviceId),
        recipients: [SENDER.userId, 'bob@example.org', 'carol@example.org'],
        messageId,
        sendTime: SEND_TIME + i,
        contentType: 'text/plain; charset=utf-8',
      },
      payloadOf(i, p.payloadBytes),
      epochKey,
      signer,
    );
    if (used + 4 + envelope.length > buf.length) flush();
    new DataView(buf.buffer).setUint32(used, envelope.length);
    buf.set(envelope, used + 4);
    used += 4 + envelope.length;
  }
  flush();
  closeSync(fd);
}

/**
 * Reads records `u32 length ‖ bytes` from a sequence of files, a page at a time (the next `count` records), with
 * one fixed read buffer: memory does not grow with the file.
 */
export class RecordReader {
  private fd = -1;
  private file = 0;
  private buf = new Uint8Array(4 << 20);
  private start = 0;
  private end = 0;

  constructor(private readonly files: readonly string[]) {}

  private fill(): boolean {
    if (this.start > 0) {
      this.buf.copyWithin(0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
    }
    while (this.file < this.files.length) {
      if (this.fd < 0) this.fd = openSync(this.files[this.file]!, 'r');
      const n = readSync(this.fd, this.buf, this.end, this.buf.length - this.end, null);
      if (n > 0) {
        this.end += n;
        return true;
      }
      closeSync(this.fd);
      this.fd = -1;
      this.file++;
    }
    return false;
  }

  /** The next record (a view valid until the next call), or undefined at the end. */
  private next(): Uint8Array | undefined {
    for (;;) {
      if (this.end - this.start >= 4) {
        const len = new DataView(this.buf.buffer, this.start).getUint32(0);
        if (len + 4 > this.buf.length) throw new Error('record larger than the read buffer');
        if (this.end - this.start >= 4 + len) {
          const rec = this.buf.subarray(this.start + 4, this.start + 4 + len);
          this.start += 4 + len;
          return rec;
        }
      }
      if (!this.fill()) {
        if (this.end > this.start) throw new Error('file ends inside a record');
        return undefined;
      }
    }
  }

  /** Up to `count` records, copied into one buffer: whole records, or (headsOnly) each envelope's head. */
  page(count: number, headsOnly = false): Uint8Array[] {
    const out: Uint8Array[] = [];
    while (out.length < count) {
      const rec = this.next();
      if (rec === undefined) break;
      out.push((headsOnly ? rec.subarray(0, envelopeHeadLength(rec)) : rec).slice());
    }
    return out;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

/**
 * Rewrites the records of `files` into `out` in the order of their envelopes' labels (bytes), as the relay serves
 * an execution (positions are label order, workflow.md §9.2). Returns, for each position, the record's index in
 * `files` (the generator's envelope number) and the sorted labels. Memory: 36 bytes per envelope, records are
 * read back one at a time by offset.
 */
export function sortByLabel(
  files: readonly string[],
  out: string,
): { generated: Uint32Array; labels: Uint8Array[] } {
  const where: { file: number; offset: number; length: number; label: Uint8Array }[] = [];
  const len = new Uint8Array(4);
  let buf = new Uint8Array(1 << 16);
  const read = (fd: number, into: Uint8Array, n: number, at: number) => {
    let got = 0;
    while (got < n) {
      const r = readSync(fd, into, got, n - got, at + got);
      if (r === 0) throw new Error('file ends inside a record');
      got += r;
    }
  };
  for (const [file, path] of files.entries()) {
    const fd = openSync(path, 'r');
    let at = 0;
    for (;;) {
      if (readSync(fd, len, 0, 4, at) === 0) break;
      const n = new DataView(len.buffer).getUint32(0);
      if (n > buf.length) buf = new Uint8Array(n);
      read(fd, buf, n, at + 4);
      where.push({
        file,
        offset: at + 4,
        length: n,
        label: decodeEnvelope(buf.subarray(0, n)).label.slice(),
      });
      at += 4 + n;
    }
    closeSync(fd);
  }
  const order = where.map((_, i) => i).sort((a, b) => compareBytes(where[a]!.label, where[b]!.label));
  const fds = files.map((f) => openSync(f, 'r'));
  const o = openSync(out, 'w');
  for (const i of order) {
    const w = where[i]!;
    if (w.length > buf.length) buf = new Uint8Array(w.length);
    read(fds[w.file]!, buf, w.length, w.offset);
    new DataView(len.buffer).setUint32(0, w.length);
    writeSync(o, len);
    writeSync(o, buf, 0, w.length);
  }
  closeSync(o);
  for (const fd of fds) closeSync(fd);
  return { generated: Uint32Array.from(order), labels: order.map((i) => where[i]!.label) };
}

/** Reads fixed-size rows from a file a page at a time. */
export class RowReader {
  private readonly fd: number;
  constructor(
    path: string,
    private readonly rowBytes: number,
  ) {
    this.fd = openSync(path, 'r');
  }
  page(count: number): Uint8Array {
    const out = new Uint8Array(count * this.rowBytes);
    let got = 0;
    while (got < out.length) {
      const n = readSync(this.fd, out, got, out.length - got, null);
      if (n === 0) break;
      got += n;
    }
    return out.subarray(0, got - (got % this.rowBytes));
  }
  close(): void {
    closeSync(this.fd);
  }
}

const params = process.env.OVERT_BENCH_ACCESS_GEN;
if (params !== undefined && process.argv[1]?.endsWith('envelopes.ts')) await generate(JSON.parse(params));
