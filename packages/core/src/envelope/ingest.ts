/**
 * The relay's ingest check (DESIGN §4 step 1, docs/spec/envelope.md §6.3). The relay holds no content key, so
 * it checks what it can check publicly before it stores and fans out an envelope: the header is well formed
 * and within its size limits, names the organisation, the current epoch, the authenticated sender and the
 * conversation's members, its send time is fresh, the authenticated device signed (L, capsule) (A15), the capsule
 * is valid for the label under the epoch key (the TDH2 validity proof), and the ciphertext is exactly the one the
 * header's digest names. An envelope that passes is an
 * {@link IngestedEnvelope}, the only type the franking stamp (franking/) accepts.
 */

import { type CryptoBackend, defaultCryptoBackend, nobleBackend } from '../aead/backend.js';
import { equalBytes } from '../bytes.js';
import { decodeCapsule, type VerifiedCapsule, verifyCapsule } from '../capsule/index.js';
import { isOvertError, OvertError } from '../errors.js';
import type { Element } from '../group.js';
import { ChunkGeometry, CiphertextDigest, Framer } from './chunks.js';
import {
  decodeEnvelope,
  decodeEnvelopeHead,
  type EnvelopeHead,
  type UnverifiedEnvelope,
} from './envelope.js';
import { sortStrings } from './fields.js';
import type { Header } from './header.js';
import { SYNC_PAYLOAD_MAX } from './seal.js';
import { requireSenderSignature } from './signature.js';

/** What the relay knows when a device uploads an envelope. */
export interface IngestContext {
  readonly orgId: string;
  /** The current epoch and its group key Y_e. */
  readonly epoch: number;
  readonly epochKey: Element;
  /** The sender as authenticated by the relay's session with the device. */
  readonly senderUserId: string;
  readonly senderDeviceId: Uint8Array;
  /** That device's Ed25519 identity key (the key on the log), which must have signed (L, capsule): ENV-20. */
  readonly senderKey: Uint8Array;
  /** The relay's clock, in ms since the Unix epoch. */
  readonly now: number;
  /** Largest accepted |now − sendTime| in ms. */
  readonly maxClockSkewMs: number;
  /** The relay's own payload limit (at most the format's MAX_PAYLOAD_BYTES). */
  readonly maxPayloadBytes: number;
  /**
   * The user ids of the conversation's members as the delivery service knows them (any order): the header's
   * recipients must be exactly these (ENV-9). The relay refuses an envelope for a conversation it does not know
   * before it gets here (relay.md §6.7).
   */
  readonly members: readonly string[];
}

declare const ingestedBrand: unique symbol;

export interface IngestedEnvelope {
  readonly [ingestedBrand]: true;
  readonly header: Header;
  readonly headerBytes: Uint8Array;
  readonly label: Uint8Array;
  readonly capsule: VerifiedCapsule;
  /** The sender's signature over (L, capsule), verified under the authenticated device's key. */
  readonly signature: Uint8Array;
  readonly ciphertextLength: number;
}

function context(check: string, what: string): never {
  throw new OvertError('ENVELOPE_CONTEXT', `header ${what} is not acceptable to the relay`, { check });
}

interface CheckedHead {
  readonly head: EnvelopeHead;
  readonly capsule: VerifiedCapsule;
}

function checkHead(head: EnvelopeHead, ctx: IngestContext): CheckedHead {
  const h = head.header;
  if (h.payloadLength > ctx.maxPayloadBytes)
    throw new OvertError('ENVELOPE_TOO_LARGE', 'payload exceeds the relay limit', { check: 'ENV-19' });
  if (h.orgId !== ctx.orgId) context('ENV-5', 'org');
  if (h.epoch !== ctx.epoch) context('ENV-6', 'epoch');
  if (h.senderUserId !== ctx.senderUserId || !equalBytes(h.senderDeviceId, ctx.senderDeviceId))
    context('ENV-8', 'sender');
  const m = sortStrings(ctx.members);
  if (m.length !== h.recipients.length || m.some((u, i) => u !== h.recipients[i]))
    context('ENV-9', 'recipients');
  if (Math.abs(ctx.now - h.sendTime) > ctx.maxClockSkewMs) context('ENV-17', 'send time');
  // The signature before the capsule: it is the cheaper check (one Ed25519 verification against ~2.6 scalar
  // multiplications), and a relay must never store an envelope its sender did not sign.
  requireSenderSignature(head, ctx.senderKey, 'ENV-20');
  let capsule: VerifiedCapsule;
  try {
    capsule = verifyCapsule(ctx.epochKey, decodeCapsule(head.capsule), head.label);
  } catch (cause) {
    if (isOvertError(cause))
      throw new OvertError('ENVELOPE_CAPSULE', 'capsule is not valid for the label under the epoch key', {
        check: 'ENV-18',
        cause,
      });
    throw cause;
  }
  return { head, capsule };
}

function ingested(c: CheckedHead): IngestedEnvelope {
  const h = c.head.header;
  return {
    header: h,
    headerBytes: c.head.headerBytes,
    label: c.head.label,
    capsule: c.capsule,
    signature: c.head.signature,
    ciphertextLength: new ChunkGeometry(h.payloadLength, h.chunkSize).ciphertextLength,
  } as IngestedEnvelope;
}

function digestMismatch(): never {
  throw new OvertError('ENVELOPE_DIGEST', 'ciphertext does not match the header digest', { check: 'ENV-12' });
}

/**
 * Checks a whole uploaded envelope. Throws ENVELOPE_MALFORMED / _VERSION / _TOO_LARGE (ENV-1..4, ENV-19),
 * ENVELOPE_CONTEXT (ENV-5, 6, 8, 9, 17), ENVELOPE_SIGNATURE (ENV-20), ENVELOPE_CAPSULE (ENV-18),
 * ENVELOPE_DIGEST (ENV-12).
 * Without a `backend`, a payload of at most SYNC_PAYLOAD_MAX bytes is hashed with @noble (no WebCrypto hops,
 * which cost more than the hashing at that size; envelope.md §4.2), a larger one with the platform default.
 */
export async function ingestEnvelope(
  envelope: Uint8Array | UnverifiedEnvelope,
  ctx: IngestContext,
  backend?: CryptoBackend,
): Promise<IngestedEnvelope> {
  const env = envelope instanceof Uint8Array ? decodeEnvelope(envelope) : envelope;
  const chosen =
    backend ?? (env.header.payloadLength <= SYNC_PAYLOAD_MAX ? nobleBackend : defaultCryptoBackend());
  const ingester = EnvelopeIngester.create(env, ctx, chosen);
  await ingester.update(env.ciphertext);
  return ingester.finish();
}

/**
 * Streaming ingest: the head is checked at once, the ciphertext digest as the bytes stream through. Calls
 * are serialised; after a failure or finish() every call throws STREAM_ORDER (AEAD-5).
 */
export class EnvelopeIngester {
  private readonly digest = new CiphertextDigest();
  private readonly framer: Framer;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly checked: CheckedHead,
    private readonly backend: CryptoBackend,
  ) {
    const h = checked.head.header;
    const g = new ChunkGeometry(h.payloadLength, h.chunkSize);
    this.framer = new Framer((i) => g.cipherLength(i), g.count, {
      overflow: { code: 'STREAM_ORDER', check: 'ENV-15', message: 'data after the final chunk' },
      underflow: {
        code: 'STREAM_TRUNCATED',
        check: 'ENV-16',
        message: 'ciphertext ends before the final chunk',
      },
    });
  }

  /** `head` is the envelope's first envelopeHeadLength() bytes, or a decoded head; checked at once. */
  static create(
    head: Uint8Array | EnvelopeHead,
    ctx: IngestContext,
    backend: CryptoBackend = defaultCryptoBackend(),
  ): EnvelopeIngester {
    const decoded = head instanceof Uint8Array ? decodeEnvelopeHead(head) : head;
    return new EnvelopeIngester(checkHead(decoded, ctx), backend);
  }

  private serial<T>(step: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => {
      if (this.closed)
        throw new OvertError('STREAM_ORDER', 'ingest already failed or finished', { check: 'AEAD-5' });
      return step();
    });
    this.queue = run.catch(() => {
      this.closed = true;
    });
    return run;
  }

  /** Feeds ciphertext bytes; throws STREAM_ORDER (ENV-15) past the declared length. */
  update(ciphertext: Uint8Array): Promise<void> {
    return this.serial(async () => {
      const chunks = this.framer.push(ciphertext);
      for (const hash of await Promise.all(chunks.map((c) => this.backend.sha256(c.bytes))))
        this.digest.add(hash);
    });
  }

  /** Throws STREAM_TRUNCATED (ENV-16) if bytes are missing, ENVELOPE_DIGEST (ENV-12) on a wrong digest. */
  finish(): Promise<IngestedEnvelope> {
    return this.serial(async () => {
      this.framer.end();
      if (!equalBytes(this.digest.digest(), this.checked.head.header.ciphertextDigest)) digestMismatch();
      this.closed = true;
      return ingested(this.checked);
    });
  }
}
