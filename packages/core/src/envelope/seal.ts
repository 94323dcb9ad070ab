/**
 * Sealing an envelope (docs/spec/envelope.md §6.1). The sender draws a fresh content key K and a capsule seed,
 * derives the message keys (aead/keys.ts), encodes the header context, encrypts the payload chunk by chunk
 * with STREAM under the header-context hash, computes the franking commitment and the ciphertext digest on
 * the way, and finally completes the header, computes the label, seals the capsule sealCapsule(Y_e, K, L, seed)
 * and signs (L, capsule) with the sending device's identity key (envelope/signature.ts). (K, seed) then travel to
 * the recipients inside the MLS application message.
 *
 * {@link EnvelopeSealer} never holds more than one chunk of plaintext; {@link sealEnvelope} is the one-shot
 * form for payloads already in memory.
 */

import { type CryptoBackend, defaultCryptoBackend } from '../aead/backend.js';
import {
  CONTENT_KEY_BYTES,
  deriveMessageKeys,
  KEY_COMMITMENT_BYTES,
  type MessageKeys,
} from '../aead/keys.js';
import { StreamSealer, sealStreamSync } from '../aead/stream.js';
import { concatBytes, type RandomSource, randomBytes } from '../bytes.js';
import { isValidPublicKey } from '../capsule/capsule.js';
import { SEED_BYTES, sealCapsule } from '../capsule/index.js';
import { OvertError } from '../errors.js';
import { FrankingMac } from '../franking/commitment.js';
import { decodeElement, type Element } from '../group.js';
import { sha256 } from '../hash.js';
import { SIGNING_PUBLIC_KEY_BYTES, type SigningKeyPair } from '../sign.js';
import { type Chunk, ChunkGeometry, CiphertextDigest, Framer } from './chunks.js';
import { encodeEnvelopeHead } from './envelope.js';
import { sortStrings } from './fields.js';
import {
  DEFAULT_CHUNK_SIZE,
  encodeHeaderContext,
  envelopeLabel,
  HEADER_VERSION,
  type Header,
  type HeaderContext,
  type HeaderFields,
  headerContextHash,
} from './header.js';
import { signSender } from './signature.js';

export interface SealOptions {
  /**
   * Source of K and the capsule seed, drawn in that order (32 bytes each). Defaults to the platform CSPRNG;
   * pass a deterministic source only for test vectors: reusing K across envelopes reuses GCM nonces.
   */
  readonly rng?: RandomSource;
  /** Plaintext bytes per chunk (default 65,536). */
  readonly chunkSize?: number;
  readonly backend?: CryptoBackend;
}

/** What sealing produces: the envelope's head, and the secrets for the MLS message. */
export interface SealedEnvelopeHead {
  readonly header: Header;
  readonly headerBytes: Uint8Array;
  readonly label: Uint8Array;
  readonly capsule: Uint8Array;
  /** The sending device's Ed25519 signature over (L, capsule) (envelope.md §3.1). */
  readonly signature: Uint8Array;
  /** u32 len(header) ‖ header ‖ capsule ‖ signature: the envelope's bytes before the ciphertext. */
  readonly head: Uint8Array;
  /** K: secret; goes only into the MLS application message. */
  readonly contentKey: Uint8Array;
  /** The capsule seed: secret; goes only into the MLS application message. */
  readonly seed: Uint8Array;
}

export interface SealedEnvelope extends SealedEnvelopeHead {
  /** head ‖ ciphertext. */
  readonly envelope: Uint8Array;
}

export interface StreamSealResult extends SealedEnvelopeHead {
  /** Ciphertext of the chunks completed by finish() (append after everything update() returned). */
  readonly ciphertextTail: Uint8Array;
}

function join(parts: Uint8Array[]): Uint8Array {
  return parts.length === 1 ? parts[0]! : concatBytes(...parts);
}

/**
 * Streaming sealer for a payload of known length. Feed the payload in pieces of any size with update(); it
 * returns the ciphertext of every chunk completed so far (append them in order); finish() returns the rest
 * and the head. The envelope is head ‖ all ciphertext pieces, so a caller that streams to storage writes the
 * ciphertext first and the head when finish() returns.
 *
 * Calls are serialised internally; do not modify a buffer passed to update() until its promise settles.
 * After any failure the sealer refuses further calls.
 */
export class EnvelopeSealer {
  private readonly digest = new CiphertextDigest();
  private queue: Promise<unknown> = Promise.resolve();
  private failed = false;
  private finished = false;

  private constructor(
    private readonly prepared: PreparedSeal,
    private readonly stream: StreamSealer,
    private readonly franking: FrankingMac,
    private readonly framer: Framer,
    private readonly backend: CryptoBackend,
  ) {}

  /**
   * Validates the header fields (ENVELOPE_MALFORMED ENV-1, ENVELOPE_TOO_LARGE ENV-3), the epoch key
   * (GROUP_*) and the signing key (ENVELOPE_MALFORMED), draws K and the seed, and prepares the stream.
   * Recipients are sorted here; duplicates are refused. `signer` is the sending device's identity key pair:
   * the device named by `fields.senderDeviceId`, whose key is on the log.
   */
  static async create(
    fields: HeaderFields,
    payloadLength: number,
    epochKey: Element,
    signer: SigningKeyPair,
    options: SealOptions = {},
  ): Promise<EnvelopeSealer> {
    const p = prepareSeal(fields, payloadLength, epochKey, signer, options, 'copy');
    const backend = options.backend ?? defaultCryptoBackend();
    const stream = await StreamSealer.create(p.keys, p.hc, backend);
    const geometry = new ChunkGeometry(payloadLength, p.context.chunkSize);
    const framer = new Framer((i) => geometry.plainLength(i), geometry.count, {
      overflow: { code: 'ENVELOPE_MALFORMED', check: 'ENV-1', message: 'payload longer than declared' },
      underflow: { code: 'ENVELOPE_MALFORMED', check: 'ENV-1', message: 'payload shorter than declared' },
    });
    return new EnvelopeSealer(p, stream, new FrankingMac(p.keys.frankingKey, p.hc), framer, backend);
  }

  private serial<T>(step: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => {
      if (this.failed || this.finished)
        throw new OvertError('STREAM_ORDER', 'sealer already finished or failed', { check: 'AEAD-5' });
      return step();
    });
    this.queue = run.catch(() => {
      this.failed = true;
    });
    return run;
  }

  /**
   * Seals the chunks of one piece: every chunk's encryption and plaintext hash start at once (positions are
   * claimed in order), then the hashes enter the digest and the franking MAC in chunk order.
   */
  private async sealChunks(chunks: readonly Chunk[]): Promise<Uint8Array[]> {
    const work = chunks.map((c) => {
      const ct = this.stream.seal(c.bytes, c.last);
      return Promise.all([ct, this.backend.sha256(c.bytes), ct.then((x) => this.backend.sha256(x))]);
    });
    const out: Uint8Array[] = [];
    for (const [ct, plainHash, cipherHash] of await Promise.all(work)) {
      this.franking.add(plainHash);
      this.digest.add(cipherHash);
      out.push(ct);
    }
    return out;
  }

  /** Encrypts the next piece of payload; resolves to the ciphertext of the chunks it completed (maybe none). */
  update(plaintext: Uint8Array): Promise<Uint8Array> {
    return this.serial(async () => {
      const out = await this.sealChunks(this.framer.push(plaintext));
      return out.length === 0 ? new Uint8Array(0) : join(out);
    });
  }

  /** Seals the last chunk, completes the header and seals the capsule. */
  finish(): Promise<StreamSealResult> {
    return this.serial(async () => {
      const tail = await this.sealChunks(this.framer.end());
      const head = completeHead(this.prepared, this.franking.digest(), this.digest.digest());
      this.finished = true;
      return { ...head, ciphertextTail: tail.length === 0 ? new Uint8Array(0) : join(tail) };
    });
  }
}

/** Everything sealing derives before the first payload byte: validated header context, K, seed, keys. */
interface PreparedSeal {
  /** The header context with the key commitment filled in. */
  readonly context: HeaderContext;
  readonly contextBytes: Uint8Array;
  /** HC, the AEAD associated data and the franking MAC's context. */
  readonly hc: Uint8Array;
  readonly epochKey: Element;
  readonly signer: SigningKeyPair;
  readonly contentKey: Uint8Array;
  readonly seed: Uint8Array;
  readonly keys: MessageKeys;
}

/**
 * Validates the header fields (ENVELOPE_MALFORMED ENV-1, ENVELOPE_TOO_LARGE ENV-3), the epoch key (GROUP_*) and
 * the signing key's shape, then draws K and the seed (in that order) and derives the message keys.
 */
function prepareSeal(
  fields: HeaderFields,
  payloadLength: number,
  epochKey: Element,
  signer: SigningKeyPair,
  options: SealOptions,
  keyObject: 'copy' | 'borrow',
): PreparedSeal {
  // The streaming sealer holds the key across awaits, so it keeps a copy. The one-shot seal runs synchronously and
  // may borrow the caller's object: a key that capsule.ts has already found valid (it caches valid keys by object
  // and bytes) is then not decoded twice per message. Either way an invalid key fails in decodeElement.
  const key =
    keyObject === 'borrow' && isValidPublicKey(epochKey) ? epochKey : decodeElement(epochKey, 'epoch key');
  const context: HeaderContext = {
    version: HEADER_VERSION,
    orgId: fields.orgId,
    epoch: fields.epoch,
    conversationId: fields.conversationId,
    senderUserId: fields.senderUserId,
    senderDeviceId: fields.senderDeviceId,
    recipients: Array.isArray(fields.recipients) ? sortStrings(fields.recipients) : fields.recipients,
    messageId: fields.messageId,
    sendTime: fields.sendTime,
    contentType: fields.contentType,
    payloadLength,
    chunkSize: options.chunkSize ?? DEFAULT_CHUNK_SIZE,
    keyCommitment: new Uint8Array(32),
  };
  // Validate before drawing secrets, so that a bad field costs no randomness and leaks nothing.
  const contextBytes = encodeHeaderContext(context);
  if (
    !(signer?.secretKey instanceof Uint8Array) ||
    signer.secretKey.length !== 64 ||
    !(signer.publicKey instanceof Uint8Array) ||
    signer.publicKey.length !== SIGNING_PUBLIC_KEY_BYTES
  )
    throw new OvertError('ENVELOPE_MALFORMED', 'the signing key is not an Ed25519 key pair');
  const rng = options.rng ?? randomBytes;
  const contentKey = rng(CONTENT_KEY_BYTES);
  const seed = rng(SEED_BYTES);
  const keys = deriveMessageKeys(contentKey);
  const committed: HeaderContext = { ...context, keyCommitment: keys.commitment };
  // The key commitment is the last field of the context encoding (header.ts writeContext, envelope.md §2):
  // fill it in rather than validating and encoding everything a second time.
  contextBytes.set(keys.commitment, contextBytes.length - KEY_COMMITMENT_BYTES);
  return {
    context: committed,
    contextBytes,
    hc: headerContextHash(contextBytes),
    epochKey: key,
    signer,
    contentKey,
    seed,
    keys,
  };
}

/**
 * Completes the header with the franking commitment and ciphertext digest, labels it, seals the capsule and
 * signs (L, capsule).
 */
function completeHead(
  p: PreparedSeal,
  frankingCommitment: Uint8Array,
  ciphertextDigest: Uint8Array,
): SealedEnvelopeHead {
  const header: Header = { ...p.context, frankingCommitment, ciphertextDigest };
  const headerBytes = concatBytes(p.contextBytes, frankingCommitment, ciphertextDigest);
  const label = envelopeLabel(headerBytes);
  const capsule = sealCapsule(p.epochKey, p.contentKey, label, p.seed);
  const signature = signSender(p.signer, label, capsule);
  return {
    header,
    headerBytes,
    label,
    capsule,
    signature,
    head: encodeEnvelopeHead(headerBytes, capsule, signature),
    contentKey: p.contentKey,
    seed: p.seed,
  };
}

/**
 * Payloads up to this many bytes are sealed (and their envelopes opened, envelope/open.ts) in one synchronous
 * pass over @noble AES-GCM and SHA-256 when no back-end is chosen: below it, WebCrypto's per-call cost (key
 * import, thread-pool dispatch, promises) exceeds the pure-JS cipher's (bench/core/envelope.ts). The bytes are
 * the same either way.
 */
export const SYNC_PAYLOAD_MAX = 4 * 1024;

/** The synchronous small-payload seal: {@link sealEnvelope}'s result, computed in one pass. */
function sealInMemory(p: PreparedSeal, payload: Uint8Array): SealedEnvelope {
  const geometry = new ChunkGeometry(payload.length, p.context.chunkSize);
  const plain: Uint8Array[] = [];
  for (let i = 0, at = 0; i < geometry.count; at += geometry.plainLength(i), i++)
    plain.push(payload.subarray(at, at + geometry.plainLength(i)));
  const cipher = sealStreamSync(p.keys, p.hc, plain);
  const franking = new FrankingMac(p.keys.frankingKey, p.hc);
  const digest = new CiphertextDigest();
  for (let i = 0; i < plain.length; i++) {
    franking.add(sha256(plain[i]!));
    digest.add(sha256(cipher[i]!));
  }
  const head = completeHead(p, franking.digest(), digest.digest());
  return { ...head, envelope: concatBytes(head.head, ...cipher) };
}

/**
 * Seals a payload held in memory: (header fields, payload, Y_e, the device's signing key) → envelope bytes, K
 * and seed. Throws as {@link EnvelopeSealer.create}.
 */
export async function sealEnvelope(
  fields: HeaderFields,
  payload: Uint8Array,
  epochKey: Element,
  signer: SigningKeyPair,
  options: SealOptions = {},
): Promise<SealedEnvelope> {
  if (options.backend === undefined && payload.length <= SYNC_PAYLOAD_MAX)
    return sealInMemory(prepareSeal(fields, payload.length, epochKey, signer, options, 'borrow'), payload);
  const sealer = await EnvelopeSealer.create(fields, payload.length, epochKey, signer, options);
  const body = await sealer.update(payload);
  const { ciphertextTail, ...head } = await sealer.finish();
  return { ...head, envelope: concatBytes(head.head, body, ciphertextTail) };
}
