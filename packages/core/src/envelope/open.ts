/**
 * Opening an envelope as a recipient (DESIGN §4 step 2, docs/spec/envelope.md §6.2). The MLS application
 * message gives the recipient (message id, K, seed) and, through the sender's credential and the group, the
 * context every header field must match. Before any decryption the recipient checks the header against that
 * context (ENV-5..10), checks that the sender's MLS credential key signed (L, capsule) (ENV-21: a sender that
 * does not sign, or signs with another key, would leave trustees unable to attribute its envelope, A15),
 * checks K against the header's key commitment (AEAD-2), and recomputes the capsule
 * from (Y_e, K, L, seed) and compares it byte for byte with the envelope's (ENV-11): a sender that skips or
 * corrupts escrow, and a relay that re-labels an envelope, are both rejected here (A5, A4). Then the
 * ciphertext digest, the chunks and the franking commitment are checked.
 *
 * Stages: bytes → {@link UnverifiedEnvelope} (decoded) → {@link OpenedEnvelope} (every check passed).
 */

import { type CryptoBackend, defaultCryptoBackend } from '../aead/backend.js';
import { CONTENT_KEY_BYTES, type MessageKeys, openMessageKeys } from '../aead/keys.js';
import { openStreamSync, StreamOpener } from '../aead/stream.js';
import { equalBytes } from '../bytes.js';
import { encodeCapsule, SEED_BYTES, type VerifiedCapsule, verifyCapsuleOpening } from '../capsule/index.js';
import { isOvertError, OvertError } from '../errors.js';
import { FrankingMac } from '../franking/commitment.js';
import type { Element } from '../group.js';
import { sha256 } from '../hash.js';
import { type Chunk, ChunkGeometry, CiphertextDigest, Framer } from './chunks.js';
import {
  decodeEnvelope,
  decodeEnvelopeHead,
  type EnvelopeHead,
  type UnverifiedEnvelope,
} from './envelope.js';
import { sortStrings } from './fields.js';
import { type Header, headerContextBytes, headerContextHash } from './header.js';
import { SYNC_PAYLOAD_MAX } from './seal.js';
import { requireSenderSignature } from './signature.js';

/** What the recipient knows from MLS about the message it is opening. */
export interface RecipientContext {
  readonly orgId: string;
  readonly epoch: number;
  readonly epochKey: Element;
  /** The MLS group id the application message arrived in. */
  readonly conversationId: Uint8Array;
  /** From the MLS credential that signed the application message. */
  readonly senderUserId: string;
  readonly senderDeviceId: Uint8Array;
  /** The Ed25519 signature key of that credential (the device's identity key): it must have signed (L, capsule). */
  readonly senderKey: Uint8Array;
  /** User ids of the group's members in the MLS epoch of the message, the sender included (any order). */
  readonly members: readonly string[];
}

/** The contents of the MLS application message that announces an envelope. Secret. */
export interface KeyTransport {
  readonly messageId: Uint8Array;
  readonly contentKey: Uint8Array;
  readonly seed: Uint8Array;
}

export interface OpenOptions {
  readonly backend?: CryptoBackend;
}

declare const openedBrand: unique symbol;

/** The head of an envelope that passed every recipient check. */
export interface OpenedEnvelopeHead {
  readonly [openedBrand]: true;
  readonly header: Header;
  readonly headerBytes: Uint8Array;
  readonly label: Uint8Array;
  readonly capsule: VerifiedCapsule;
  /** The sender's signature over (L, capsule), verified under the sender's MLS credential key. */
  readonly signature: Uint8Array;
  /** The franking key fk, for an abuse report (franking/). Secret. */
  readonly frankingKey: Uint8Array;
}

/** An envelope that passed every recipient check, with its payload. */
export interface OpenedEnvelope extends OpenedEnvelopeHead {
  readonly payload: Uint8Array;
}

function context(check: string, what: string): never {
  throw new OvertError('ENVELOPE_CONTEXT', `header ${what} does not match the MLS context`, { check });
}

/** The header's identity fields against the MLS context (ENV-5 … ENV-10). */
export function checkRecipientContext(header: Header, ctx: RecipientContext, messageId: Uint8Array): void {
  if (header.orgId !== ctx.orgId) context('ENV-5', 'org');
  if (header.epoch !== ctx.epoch) context('ENV-6', 'epoch');
  if (!equalBytes(header.conversationId, ctx.conversationId)) context('ENV-7', 'conversation');
  if (header.senderUserId !== ctx.senderUserId || !equalBytes(header.senderDeviceId, ctx.senderDeviceId))
    context('ENV-8', 'sender');
  const members = sortStrings(ctx.members);
  const r = header.recipients;
  if (r.length !== members.length || r.some((u, i) => u !== members[i])) context('ENV-9', 'recipients');
  if (!equalBytes(header.messageId, messageId)) context('ENV-10', 'message id');
}

interface CheckedHead {
  readonly head: EnvelopeHead;
  readonly keys: MessageKeys;
  readonly capsule: VerifiedCapsule;
  readonly hc: Uint8Array;
}

/** Every check that needs no ciphertext: context, sender signature, key commitment, capsule. */
function checkHead(head: EnvelopeHead, transport: KeyTransport, ctx: RecipientContext): CheckedHead {
  if (!(transport.contentKey instanceof Uint8Array) || transport.contentKey.length !== CONTENT_KEY_BYTES)
    throw new OvertError('ENVELOPE_MALFORMED', 'content key must be 32 bytes', { check: 'AEAD-1' });
  if (!(transport.seed instanceof Uint8Array) || transport.seed.length !== SEED_BYTES)
    throw new OvertError('ENVELOPE_MALFORMED', 'capsule seed must be 32 bytes', { check: 'AEAD-1' });
  checkRecipientContext(head.header, ctx, transport.messageId);
  requireSenderSignature(head, ctx.senderKey, 'ENV-21');
  const keys = openMessageKeys(transport.contentKey, head.header.keyCommitment);
  let capsule: VerifiedCapsule;
  try {
    capsule = verifyCapsuleOpening(
      ctx.epochKey,
      head.capsule,
      transport.contentKey,
      head.label,
      transport.seed,
    );
  } catch (cause) {
    if (isOvertError(cause))
      throw new OvertError('ENVELOPE_CAPSULE', 'capsule is not the one K, seed and label determine', {
        check: 'ENV-11',
        cause,
      });
    throw cause;
  }
  return { head, keys, capsule, hc: headerContextHash(headerContextBytes(head.headerBytes)) };
}

function digestMismatch(): never {
  throw new OvertError('ENVELOPE_DIGEST', 'ciphertext does not match the header digest', { check: 'ENV-12' });
}

function frankingMismatch(): never {
  throw new OvertError('ENVELOPE_COMMITMENT', 'franking commitment does not match the payload', {
    check: 'ENV-14',
  });
}

function brandOpened(c: CheckedHead): OpenedEnvelopeHead {
  return {
    header: c.head.header,
    headerBytes: c.head.headerBytes,
    label: c.head.label,
    capsule: c.capsule,
    signature: c.head.signature,
    frankingKey: c.keys.frankingKey,
  } as OpenedEnvelopeHead;
}

/**
 * Opens a whole envelope held in memory. Throws, in the order checked: ENVELOPE_MALFORMED / _VERSION /
 * _TOO_LARGE (ENV-1..4), ENVELOPE_CONTEXT (ENV-5..10), ENVELOPE_SIGNATURE (ENV-21), ENVELOPE_COMMITMENT
 * (AEAD-2), ENVELOPE_CAPSULE
 * (ENV-11), ENVELOPE_DIGEST (ENV-12), ENVELOPE_DECRYPT (ENV-13), ENVELOPE_COMMITMENT (ENV-14).
 */
export async function openEnvelope(
  envelope: Uint8Array | UnverifiedEnvelope,
  transport: KeyTransport,
  ctx: RecipientContext,
  options: OpenOptions = {},
): Promise<OpenedEnvelope> {
  const env = envelope instanceof Uint8Array ? decodeEnvelope(envelope) : envelope;
  const checked = checkHead(env, transport, ctx);
  const payload = await decryptBody(env, checked.keys, checked.hc, options.backend);
  return { ...brandOpened(checked), payload } as OpenedEnvelope;
}

/**
 * The body checks shared by recipients and requesters: ciphertext length (ENV-4), digest (ENV-12), every
 * chunk (ENV-13), franking commitment (ENV-14). Without a chosen back-end, a small payload (up to
 * SYNC_PAYLOAD_MAX, envelope/seal.ts) is checked in one synchronous pass over @noble AES-GCM and SHA-256, which
 * accept and refuse exactly what the back-ends do.
 */
async function decryptBody(
  env: UnverifiedEnvelope,
  keys: MessageKeys,
  hc: Uint8Array,
  backend: CryptoBackend | undefined,
): Promise<Uint8Array> {
  const chunks = ciphertextChunks(env);
  if (backend === undefined && env.header.payloadLength <= SYNC_PAYLOAD_MAX)
    return decryptBodySync(env.header, chunks, keys, hc);
  const b = backend ?? defaultCryptoBackend();
  // The digest first: it tells a changed ciphertext (relay or network) apart from a sender that encrypted
  // something other than what it committed to, which is the only way a chunk can fail after this check.
  checkDigest(env.header, await Promise.all(chunks.map((c) => b.sha256(c))));
  const stream = await StreamOpener.create(keys, hc, b);
  let plain: Uint8Array[];
  try {
    plain = await Promise.all(chunks.map((c, i) => stream.open(c, i === chunks.length - 1)));
  } catch (cause) {
    decryptFailed(cause);
  }
  return assemblePayload(env.header, keys, hc, plain, await Promise.all(plain.map((p) => b.sha256(p))));
}

/** {@link decryptBody} for small payloads: the same checks in the same order, synchronously. */
function decryptBodySync(
  h: Header,
  chunks: readonly Uint8Array[],
  keys: MessageKeys,
  hc: Uint8Array,
): Uint8Array {
  checkDigest(
    h,
    chunks.map((c) => sha256(c)),
  );
  let plain: Uint8Array[];
  try {
    plain = openStreamSync(keys, hc, chunks);
  } catch (cause) {
    decryptFailed(cause);
  }
  return assemblePayload(
    h,
    keys,
    hc,
    plain,
    plain.map((p) => sha256(p)),
  );
}

/** The ciphertext cut into the header's chunks; ENV-4 unless its length is exactly the header's. */
function ciphertextChunks(env: UnverifiedEnvelope): Uint8Array[] {
  const geometry = new ChunkGeometry(env.header.payloadLength, env.header.chunkSize);
  if (env.ciphertext.length !== geometry.ciphertextLength)
    throw new OvertError('ENVELOPE_MALFORMED', 'ciphertext length does not match the header', {
      check: 'ENV-4',
    });
  const chunks: Uint8Array[] = [];
  for (let i = 0, at = 0; i < geometry.count; i++) {
    chunks.push(env.ciphertext.subarray(at, at + geometry.cipherLength(i)));
    at += geometry.cipherLength(i);
  }
  return chunks;
}

/** ENV-12 from the chunk hashes SHA-256(c_i), in order. */
function checkDigest(h: Header, chunkHashes: readonly Uint8Array[]): void {
  const digest = new CiphertextDigest();
  for (const hash of chunkHashes) digest.add(hash);
  if (!equalBytes(digest.digest(), h.ciphertextDigest)) digestMismatch();
}

function decryptFailed(cause: unknown): never {
  throw new OvertError('ENVELOPE_DECRYPT', 'a chunk does not decrypt under the committed key', {
    check: 'ENV-13',
    cause,
  });
}

/** Joins the plaintext chunks and checks the franking commitment over their hashes (ENV-14). */
function assemblePayload(
  h: Header,
  keys: MessageKeys,
  hc: Uint8Array,
  plain: readonly Uint8Array[],
  plainHashes: readonly Uint8Array[],
): Uint8Array {
  const payload = new Uint8Array(h.payloadLength);
  const franking = new FrankingMac(keys.frankingKey, hc);
  for (let i = 0, at = 0; i < plain.length; at += plain[i]!.length, i++) {
    payload.set(plain[i]!, at);
    franking.add(plainHashes[i]!);
  }
  if (!equalBytes(franking.digest(), h.frankingCommitment)) frankingMismatch();
  return payload;
}

declare const recoveredBrand: unique symbol;

/** An envelope opened with a content key recovered from its capsule by a trustee quorum. */
export interface RecoveredEnvelope {
  readonly [recoveredBrand]: true;
  readonly header: Header;
  readonly headerBytes: Uint8Array;
  readonly label: Uint8Array;
  readonly capsule: VerifiedCapsule;
  readonly payload: Uint8Array;
}

/**
 * The requester's open (DESIGN §4 step 7): K comes from combining k verified decryption shares of
 * `capsule`, not from MLS, so there is no recipient context and no seed. Checks that `capsule` is this
 * envelope's capsule under its label (ENV-11), K against the key commitment (AEAD-2), then the body as
 * {@link openEnvelope} does (ENV-4, ENV-12, ENV-13, ENV-14).
 */
export async function openRecoveredEnvelope(
  envelope: Uint8Array | UnverifiedEnvelope,
  capsule: VerifiedCapsule,
  contentKey: Uint8Array,
  options: OpenOptions = {},
): Promise<RecoveredEnvelope> {
  const env = envelope instanceof Uint8Array ? decodeEnvelope(envelope) : envelope;
  if (!equalBytes(encodeCapsule(capsule), env.capsule) || !equalBytes(capsule.label, env.label))
    throw new OvertError('ENVELOPE_CAPSULE', "capsule is not this envelope's capsule under its label", {
      check: 'ENV-11',
    });
  const keys = openMessageKeys(contentKey, env.header.keyCommitment);
  const hc = headerContextHash(headerContextBytes(env.headerBytes));
  const payload = await decryptBody(env, keys, hc, options.backend);
  return {
    header: env.header,
    headerBytes: env.headerBytes,
    label: env.label,
    capsule,
    payload,
  } as RecoveredEnvelope;
}

/**
 * Streaming opener: all checks that need no ciphertext run in {@link EnvelopeOpener.create}, so a forged
 * capsule is refused before a byte is decrypted. update() takes ciphertext in pieces of any size and
 * returns the plaintext of every chunk it completed, each authenticated at its position. The payload is
 * only known to be complete, untruncated and the one the label names when finish() resolves: a consumer
 * must not act on the plaintext before that.
 *
 * Throws as {@link openEnvelope}, except that a chunk failing authentication is STREAM_ORDER (AEAD-3; the
 * digest is only known at the end), data after the final chunk is STREAM_ORDER (ENV-15), and input that
 * ends early is STREAM_TRUNCATED (ENV-16).
 */
export class EnvelopeOpener {
  private readonly digest = new CiphertextDigest();
  private queue: Promise<unknown> = Promise.resolve();
  private failed = false;
  private finished = false;

  private constructor(
    private readonly checked: CheckedHead,
    private readonly stream: StreamOpener,
    private readonly framer: Framer,
    private readonly franking: FrankingMac,
    private readonly backend: CryptoBackend,
  ) {}

  /** `head` is the envelope's first envelopeHeadLength() bytes (or more), or a decoded head. */
  static async create(
    head: Uint8Array | EnvelopeHead,
    transport: KeyTransport,
    ctx: RecipientContext,
    options: OpenOptions = {},
  ): Promise<EnvelopeOpener> {
    const decoded = head instanceof Uint8Array ? decodeEnvelopeHead(head) : head;
    const checked = checkHead(decoded, transport, ctx);
    const h = decoded.header;
    const geometry = new ChunkGeometry(h.payloadLength, h.chunkSize);
    const framer = new Framer((i) => geometry.cipherLength(i), geometry.count, {
      overflow: { code: 'STREAM_ORDER', check: 'ENV-15', message: 'data after the final chunk' },
      underflow: {
        code: 'STREAM_TRUNCATED',
        check: 'ENV-16',
        message: 'ciphertext ends before the final chunk',
      },
    });
    const backend = options.backend ?? defaultCryptoBackend();
    const stream = await StreamOpener.create(checked.keys, checked.hc, backend);
    const franking = new FrankingMac(checked.keys.frankingKey, checked.hc);
    return new EnvelopeOpener(checked, stream, framer, franking, backend);
  }

  get header(): Header {
    return this.checked.head.header;
  }

  private serial<T>(step: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => {
      if (this.failed || this.finished)
        throw new OvertError('STREAM_ORDER', 'opener already finished or failed', { check: 'AEAD-5' });
      return step();
    });
    this.queue = run.catch(() => {
      this.failed = true;
    });
    return run;
  }

  /** Authenticates and decrypts the chunks that `ciphertext` completes; resolves to their plaintext. */
  update(ciphertext: Uint8Array): Promise<Uint8Array> {
    return this.serial(async () => {
      const chunks: readonly Chunk[] = this.framer.push(ciphertext);
      const work = chunks.map((c) => {
        const pt = this.stream.open(c.bytes, c.last);
        return Promise.all([pt, this.backend.sha256(c.bytes), pt.then((x) => this.backend.sha256(x))]);
      });
      const done = await Promise.all(work);
      let n = 0;
      for (const [pt, cipherHash, plainHash] of done) {
        this.digest.add(cipherHash);
        this.franking.add(plainHash);
        n += pt.length;
      }
      const joined = new Uint8Array(n);
      for (let i = 0, at = 0; i < done.length; at += done[i]![0].length, i++) joined.set(done[i]![0], at);
      return joined;
    });
  }

  /** Confirms the stream is complete (ENV-16), the digest (ENV-12) and the franking commitment (ENV-14). */
  finish(): Promise<OpenedEnvelopeHead> {
    return this.serial(async () => {
      // Ciphertext chunks are never empty (each carries a tag), so end() only checks that all arrived.
      this.framer.end();
      if (!this.stream.complete)
        throw new OvertError('STREAM_TRUNCATED', 'final chunk missing', { check: 'ENV-16' });
      if (!equalBytes(this.digest.digest(), this.checked.head.header.ciphertextDigest)) digestMismatch();
      if (!equalBytes(this.franking.digest(), this.checked.head.header.frankingCommitment))
        frankingMismatch();
      this.finished = true;
      return brandOpened(this.checked);
    });
  }
}
