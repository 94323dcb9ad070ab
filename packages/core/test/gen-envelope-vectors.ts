/**
 * Generates packages/core/test/vectors/envelope.json: deterministic envelope and franking vectors (docs/spec/
 * envelope.md §9, docs/spec/franking.md). Every input is fixed (epoch secret, header fields, payload, K, seed,
 * the sending device's signing seed, relay key), every output is what @overt/core computes, and every
 * intermediate value a second implementation needs to find its first divergence is included: the sender
 * signature's input, the 1-of-1 trustee's decryption share that recovers K, and the franking reporter.
 *
 *   npx tsx packages/core/test/gen-envelope-vectors.ts          # rewrites the file
 *
 * envelope-vectors.test.ts rebuilds the document in memory and requires it to equal the committed file byte
 * for byte.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { deriveMessageKeys } from '../src/aead/keys.js';
import { fromHex, toHex, utf8Encode } from '../src/bytes.js';
import { combineShares, createShare, encodeShare, verifyShare } from '../src/capsule/index.js';
import { calendarMonthEpoch } from '../src/directory/epochs.js';
import { ChunkGeometry } from '../src/envelope/chunks.js';
import { headerContextBytes, headerContextHash } from '../src/envelope/header.js';
import { ingestEnvelope } from '../src/envelope/ingest.js';
import { openEnvelope } from '../src/envelope/open.js';
import { sealEnvelope } from '../src/envelope/seal.js';
import { senderSignatureInput, verifySenderSignature } from '../src/envelope/signature.js';
import { createReport, encodeReport, stampEnvelope } from '../src/franking/report.js';
import { group, hashToScalar } from '../src/group.js';
import { sha256 } from '../src/hash.js';
import { signingKeyFromSeed } from '../src/sign.js';

export const VECTORS_PATH = fileURLToPath(new URL('./vectors/envelope.json', import.meta.url));

/** K and seed are derived from the case name, so each case is reproducible on its own. */
function secret(name: string, what: string): Uint8Array {
  return sha256(utf8Encode(`overt/test-vectors/v1/${name}/${what}`));
}

const EPOCH_SECRET = hashToScalar('overt/test-vectors/v1/epoch-secret', utf8Encode('epoch 1'));
const RELAY_SEED = secret('relay', 'franking-key-seed');
/** The sending device's Ed25519 seed (RFC 8032 §5.1.5): its public key is what the log would list. */
const SENDER_SEED = secret('alice-device', 'identity-key-seed');
const STAMP_TIME = 1_767_225_600_250;
const SEND_TIME = 1_767_225_600_000; // 2026-01-01T00:00:00Z: epoch 672 (calendar month, directory.md §4)
/** The 1-of-1 trustee's share-proof randomness ρ (capsule.md §5): fixed, so the share is reproducible. */
const SHARE_RHO = new Uint8Array(32);

interface Case {
  name: string;
  payload: Uint8Array;
  chunkSize: number;
  contentType: string;
  recipients: string[];
}

const CASES: Case[] = [
  {
    name: 'empty',
    payload: new Uint8Array(0),
    chunkSize: 65536,
    contentType: 'text/plain; charset=utf-8',
    recipients: ['alice@example.org', 'bob@example.org'],
  },
  {
    name: 'chat-text',
    payload: utf8Encode('Lunch at 12:30? The usual place.'),
    chunkSize: 65536,
    contentType: 'text/plain; charset=utf-8',
    recipients: ['alice@example.org', 'bob@example.org', 'carol@example.org'],
  },
  {
    name: 'three-chunks',
    payload: Uint8Array.from({ length: 100 }, (_, i) => i),
    chunkSize: 40,
    contentType: 'application/octet-stream',
    recipients: ['alice@example.org'],
  },
  {
    name: 'exact-chunks',
    payload: Uint8Array.from({ length: 64 }, (_, i) => 255 - i),
    chunkSize: 32,
    contentType: 'application/x-overt-call-key',
    recipients: ['alice@example.org', 'dave@example.org'],
  },
];

export async function buildEnvelopeVectors(): Promise<unknown> {
  const epochKey = group.baseMul(EPOCH_SECRET);
  const relay = signingKeyFromSeed(RELAY_SEED);
  const sender = signingKeyFromSeed(SENDER_SEED);
  const cases = [];
  for (const [i, c] of CASES.entries()) {
    const K = secret(c.name, 'content-key');
    const seed = secret(c.name, 'capsule-seed');
    const draws = [K, seed];
    const sendTime = SEND_TIME + i;
    const fields = {
      orgId: 'example.org',
      epoch: calendarMonthEpoch(sendTime),
      conversationId: fromHex('6d6c732d67726f75702d3031'),
      senderUserId: 'alice@example.org',
      senderDeviceId: fromHex('a1a2a3a4a5a6a7a8'),
      recipients: c.recipients,
      messageId: secret(c.name, 'message-id').subarray(0, 16),
      sendTime,
      contentType: c.contentType,
    };
    const sealed = await sealEnvelope(fields, c.payload, epochKey, sender, {
      chunkSize: c.chunkSize,
      rng: (n) => {
        const next = draws.shift();
        if (next === undefined || next.length !== n)
          throw new Error('the sealer drew other randomness than K, seed');
        return next;
      },
    });
    const keys = deriveMessageKeys(K);
    const context = headerContextBytes(sealed.headerBytes);
    const g = new ChunkGeometry(c.payload.length, c.chunkSize);
    const ciphertext = sealed.envelope.subarray(sealed.head.length);
    const chunkHashes: string[] = [];
    for (let j = 0, at = 0; j < g.count; at += g.cipherLength(j), j++)
      chunkHashes.push(toHex(sha256(ciphertext.subarray(at, at + g.cipherLength(j)))));
    const ingested = await ingestEnvelope(sealed.envelope, {
      orgId: fields.orgId,
      epoch: fields.epoch,
      epochKey,
      senderUserId: fields.senderUserId,
      senderDeviceId: fields.senderDeviceId,
      senderKey: sender.publicKey,
      now: fields.sendTime,
      maxClockSkewMs: 0,
      maxPayloadBytes: 1 << 20,
      members: fields.recipients,
    });
    verifySenderSignature(sealed.head, sender.publicKey);
    // The epoch secret as a (1, 1) sharing: its one verification key is the epoch key.
    const keySet = { threshold: 1, groupKey: epochKey, verificationKeys: [epochKey] };
    const share = verifyShare(
      keySet,
      ingested.capsule,
      createShare({ index: 1, secret: EPOCH_SECRET }, ingested.capsule, () => SHARE_RHO),
    );
    const recovered = combineShares(ingested.capsule, [share], keySet);
    if (toHex(recovered) !== toHex(K)) throw new Error('the 1-of-1 share did not recover K');
    const stamp = stampEnvelope(ingested, relay, STAMP_TIME);
    const opened = await openEnvelope(
      sealed.envelope,
      { messageId: fields.messageId, contentKey: K, seed },
      {
        orgId: fields.orgId,
        epoch: fields.epoch,
        epochKey,
        conversationId: fields.conversationId,
        senderUserId: fields.senderUserId,
        senderDeviceId: fields.senderDeviceId,
        senderKey: sender.publicKey,
        members: fields.recipients,
      },
    );
    cases.push({
      name: c.name,
      input: {
        orgId: fields.orgId,
        epoch: fields.epoch,
        conversationId: toHex(fields.conversationId),
        senderUserId: fields.senderUserId,
        senderDeviceId: toHex(fields.senderDeviceId),
        recipients: fields.recipients,
        messageId: toHex(fields.messageId),
        sendTime: fields.sendTime,
        contentType: fields.contentType,
        chunkSize: c.chunkSize,
        payload: toHex(c.payload),
        contentKey: toHex(K),
        seed: toHex(seed),
      },
      keySchedule: {
        encryptionKey: toHex(keys.encryptionKey),
        keyCommitment: toHex(keys.commitment),
        noncePrefix: toHex(keys.noncePrefix),
        frankingKey: toHex(keys.frankingKey),
      },
      headerContext: toHex(context),
      headerContextHash: toHex(headerContextHash(context)),
      ciphertextChunkHashes: chunkHashes,
      ciphertextDigest: toHex(sealed.header.ciphertextDigest),
      frankingCommitment: toHex(sealed.header.frankingCommitment),
      header: toHex(sealed.headerBytes),
      label: toHex(sealed.label),
      capsule: toHex(sealed.capsule),
      senderSignatureInput: toHex(senderSignatureInput(sealed.label, sealed.capsule)),
      senderSignature: toHex(sealed.signature),
      head: toHex(sealed.head),
      ciphertext: toHex(ciphertext),
      envelope: toHex(sealed.envelope),
      recovery: {
        trusteeIndex: 1,
        capsuleId: toHex(ingested.capsule.id),
        shareRandomness: toHex(SHARE_RHO),
        share: toHex(encodeShare(share)),
        contentKey: toHex(recovered),
      },
      franking: {
        // The first recipient other than the sender (the sender itself when it is the only recipient).
        reporterUserId: fields.recipients.find((r) => r !== fields.senderUserId) ?? fields.senderUserId,
        stampTime: STAMP_TIME,
        stamp: toHex(stamp),
        report: toHex(encodeReport(createReport(opened, opened.payload, stamp))),
      },
    });
  }
  return {
    description:
      'Overt envelope format 2 (header version 2, sender signature) and franking vectors (docs/spec/envelope.md, docs/spec/franking.md). Generated by packages/core/test/gen-envelope-vectors.ts; do not edit.',
    epochSecret: toHex(EPOCH_SECRET),
    epochKey: toHex(epochKey),
    senderSigningSeed: toHex(SENDER_SEED),
    senderPublicKey: toHex(sender.publicKey),
    relaySigningSeed: toHex(RELAY_SEED),
    relayPublicKey: toHex(relay.publicKey),
    cases,
  };
}

export async function renderEnvelopeVectors(): Promise<string> {
  return `${JSON.stringify(await buildEnvelopeVectors(), null, 2)}\n`;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(VECTORS_PATH, await renderEnvelopeVectors());
  console.log(`wrote ${VECTORS_PATH}`);
}
