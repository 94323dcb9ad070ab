/**
 * Shared fixtures for the envelope, franking and workflow tests: a deterministic epoch key, header fields,
 * the matching recipient and relay contexts, a seeded random source, fast-check arbitraries, and helpers to
 * locate header fields and flip bits.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { utf8Encode } from '../src/bytes.js';
import type { HeaderFields } from '../src/envelope/header.js';
import type { IngestContext } from '../src/envelope/ingest.js';
import type { KeyTransport, RecipientContext } from '../src/envelope/open.js';
import type { SealedEnvelopeHead } from '../src/envelope/seal.js';
import { OvertError } from '../src/errors.js';
import { type Element, group, hashToScalar, type Scalar } from '../src/group.js';
import { type SigningKeyPair, signingKeyFromSeed } from '../src/sign.js';

/** A deterministic byte source: SHA-256 in counter mode over a label. */
export function seededRng(label: string): (n: number) => Uint8Array {
  let counter = 0;
  return (n) => {
    const out = new Uint8Array(n);
    for (let at = 0; at < n; at += 32) {
      const block = sha256(utf8Encode(`${label}/${counter++}`));
      out.set(block.subarray(0, Math.min(32, n - at)), at);
    }
    return out;
  };
}

export const epochSecret: Scalar = hashToScalar('overt/test/epoch-secret', utf8Encode('epoch 7'));
export const epochKey: Element = group.baseMul(epochSecret);
export const otherEpochKey: Element = group.baseMul(
  hashToScalar('overt/test/epoch-secret', utf8Encode('other')),
);

export const SEND_TIME = 1_767_225_600_000; // 2026-01-01T00:00:00Z

/** The sending device's identity key (alice-laptop): signs every fixture envelope's (L, capsule). */
export const senderSigningKey: SigningKeyPair = signingKeyFromSeed(
  sha256(utf8Encode('overt/test/alice-laptop-identity')),
);
/** Another device's key: what a relay or an outsider signs with when it forges. */
export const otherSigningKey: SigningKeyPair = signingKeyFromSeed(
  sha256(utf8Encode('overt/test/not-alice-identity')),
);

export function fields(overrides: Partial<HeaderFields> = {}): HeaderFields {
  return {
    orgId: 'example.org',
    epoch: 7,
    conversationId: utf8Encode('group-42'),
    senderUserId: 'alice@example.org',
    senderDeviceId: utf8Encode('alice-laptop'),
    recipients: ['carol@example.org', 'alice@example.org', 'bob@example.org'],
    messageId: new Uint8Array(16).fill(0x42),
    sendTime: SEND_TIME,
    contentType: 'text/plain; charset=utf-8',
    ...overrides,
  };
}

export function recipientContext(overrides: Partial<RecipientContext> = {}): RecipientContext {
  const f = fields();
  return {
    orgId: f.orgId,
    epoch: f.epoch,
    epochKey,
    conversationId: f.conversationId,
    senderUserId: f.senderUserId,
    senderDeviceId: f.senderDeviceId,
    senderKey: senderSigningKey.publicKey,
    members: ['bob@example.org', 'alice@example.org', 'carol@example.org'],
    ...overrides,
  };
}

export function ingestContext(overrides: Partial<IngestContext> = {}): IngestContext {
  const f = fields();
  return {
    orgId: f.orgId,
    epoch: f.epoch,
    epochKey,
    senderUserId: f.senderUserId,
    senderDeviceId: f.senderDeviceId,
    senderKey: senderSigningKey.publicKey,
    now: SEND_TIME + 1500,
    maxClockSkewMs: 5 * 60_000,
    maxPayloadBytes: 1 << 30,
    members: ['carol@example.org', 'bob@example.org', 'alice@example.org'],
    ...overrides,
  };
}

export function transportOf(sealed: SealedEnvelopeHead): KeyTransport {
  return { messageId: sealed.header.messageId, contentKey: sealed.contentKey, seed: sealed.seed };
}

// Arbitraries (fast-check) for property tests.

const idChar = fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c));
const printableChar = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));

export const idStringArb = (max: number) => fc.string({ unit: idChar, minLength: 1, maxLength: max });
export const printableArb = (max: number) => fc.string({ unit: printableChar, minLength: 1, maxLength: max });
export const bytesArb = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
export const millisArb = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });

/** Valid header fields: recipients contain the sender; order is left to the sealer or sorted here. */
export const headerFieldsArb: fc.Arbitrary<HeaderFields> = fc
  .record({
    orgId: idStringArb(64),
    epoch: fc.integer({ min: 0, max: 0xffffffff }),
    conversationId: bytesArb(1, 64),
    senderUserId: idStringArb(128),
    senderDeviceId: bytesArb(1, 64),
    others: fc.uniqueArray(idStringArb(128), { maxLength: 6 }),
    messageId: bytesArb(16, 16),
    sendTime: millisArb,
    contentType: printableArb(127),
  })
  .map(({ others, ...f }) => ({
    ...f,
    recipients: [...new Set([...others, f.senderUserId])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)),
  }));

/** Offsets of every field's value inside an encoded header, walked independently of the codec. */
export function headerFieldOffsets(h: Uint8Array): Record<string, { at: number; length: number }> {
  const out: Record<string, { at: number; length: number }> = {};
  let o = 0;
  const fixed = (name: string, n: number) => {
    out[name] = { at: o, length: n };
    o += n;
  };
  const vec8 = (name: string) => {
    const n = h[o]!;
    out[`${name}.length`] = { at: o, length: 1 };
    out[name] = { at: o + 1, length: n };
    o += 1 + n;
  };
  fixed('version', 1);
  vec8('orgId');
  fixed('epoch', 4);
  vec8('conversationId');
  vec8('senderUserId');
  vec8('senderDeviceId');
  const count = (h[o]! << 8) | h[o + 1]!;
  fixed('recipientCount', 2);
  for (let i = 0; i < count; i++) vec8(`recipient${i}`);
  fixed('messageId', 16);
  fixed('sendTime', 8);
  vec8('contentType');
  fixed('payloadLength', 8);
  fixed('chunkSize', 4);
  fixed('keyCommitment', 32);
  fixed('frankingCommitment', 32);
  fixed('ciphertextDigest', 32);
  if (o !== h.length) throw new Error('header walk did not end at the end of the header');
  return out;
}

/** Flips bit `bit` of byte `at` in a copy of `b`. */
export function flip(b: Uint8Array, at: number, bit = 0): Uint8Array {
  const c = b.slice();
  c[at]! ^= 1 << bit;
  return c;
}

/** Runs `f` and returns "CODE CHECK" of the OvertError it throws (or rejects with), or "ok". */
export async function outcome(f: () => unknown): Promise<string> {
  try {
    await f();
    return 'ok';
  } catch (e) {
    if (e instanceof OvertError) return `${e.code} ${e.check}`;
    throw e;
  }
}

/** Random bytes and mutations of a valid encoding: flips, truncations, extensions, overwrites, insertions. */
export function fuzzInputs(valid: Uint8Array): fc.Arbitrary<Uint8Array> {
  const n = valid.length;
  return fc.oneof(
    fc.uint8Array({ maxLength: Math.min(n + 64, 4096) }),
    fc.tuple(fc.nat(n - 1), fc.nat(7)).map(([at, bit]) => flip(valid, at, bit)),
    fc.nat(n).map((len) => valid.slice(0, len)),
    fc.uint8Array({ minLength: 1, maxLength: 40 }).map((extra) => Uint8Array.of(...valid, ...extra)),
    fc.tuple(fc.nat(n - 1), fc.uint8Array({ minLength: 1, maxLength: 16 })).map(([at, junk]) => {
      const c = valid.slice();
      c.set(junk.subarray(0, n - at), at);
      return c;
    }),
    fc
      .tuple(fc.nat(n), fc.uint8Array({ minLength: 1, maxLength: 8 }))
      .map(([at, junk]) => Uint8Array.of(...valid.subarray(0, at), ...junk, ...valid.subarray(at))),
    fc.tuple(fc.nat(n - 1), fc.constantFrom(0x00, 0xff, 0x7f, 0x80)).map(([at, v]) => {
      const c = valid.slice();
      c[at] = v;
      return c;
    }),
  );
}

/**
 * Asserts that `f` either returns or throws an OvertError whose code is in `allowed`: never a TypeError,
 * RangeError or another module's code.
 */
export async function onlyOurErrors(f: () => unknown, allowed: readonly string[]): Promise<void> {
  try {
    await f();
  } catch (e) {
    if (!(e instanceof OvertError))
      throw new Error(`decoder threw a foreign error: ${String(e)}`, { cause: e });
    if (!allowed.includes(e.code))
      throw new Error(`decoder threw ${e.code}, not one of ${allowed.join(', ')}`);
  }
}
