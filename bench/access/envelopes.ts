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
  decodeElement,
  envelopeHeadLength,
  fromHex,
  sealEnvelope,
  signingKeyFromSeed,
} from '../../packages/core/src/index.js';

export interface GenParams {
  readonly epochKey: string;
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

export const SENDER = {
  orgId: 'example.org',
  userId: 'alice@example.org',
  deviceId: new Uint8Array(8).fill(2),
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
        epoch: 1,
        conversationId: new Uint8Array(16).fill(1 + (i % 7)),
        senderUserId: SENDER.userId,
        senderDeviceId: SENDER.deviceId,
        recipients: [SENDER.userId, 'bob@example.org', 'carol@example.org'],
        messageId,
        sendTime: 1_780_000_000_000 + i,
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
