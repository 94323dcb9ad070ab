// Committed vectors for envelopes, franking (vectors/envelope.json) and workflow objects (vectors/workflow.json):
// the generators reproduce them byte for byte, and every derived value is recomputed here from the formulas
// of docs/spec/envelope.md and docs/spec/franking.md with raw SHA-256 / HMAC and @noble's Ed25519, independently
// of the codec.
import { readFileSync } from 'node:fs';
import { ed25519 } from '@noble/curves/ed25519.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { deriveMessageKeys } from '../src/aead/keys.js';
import { concatBytes, fromHex, toHex, utf8Encode } from '../src/bytes.js';
import {
  combineShares,
  createShare,
  decodeCapsule,
  decodeShare,
  encodeShare,
  verifyCapsule,
  verifyShare,
} from '../src/capsule/index.js';
import { decodeEnvelope } from '../src/envelope/envelope.js';
import { openEnvelope } from '../src/envelope/open.js';
import { verifySenderSignature } from '../src/envelope/signature.js';
import { verifyReport } from '../src/franking/report.js';
import { decodeElement, decodeScalar, group } from '../src/group.js';
import { verifyDecision } from '../src/workflow/decision.js';
import { verifyPolicy } from '../src/workflow/policy.js';
import { checkOpening, decodeOpening, verifyRequest } from '../src/workflow/request.js';
import { renderEnvelopeVectors, VECTORS_PATH } from './gen-envelope-vectors.js';
import { renderWorkflowVectors, WORKFLOW_VECTORS_PATH } from './gen-workflow-vectors.js';

interface EnvelopeCase {
  name: string;
  input: Record<string, string | number | string[]> & {
    payload: string;
    contentKey: string;
    seed: string;
    chunkSize: number;
    messageId: string;
  };
  keySchedule: Record<string, string>;
  headerContext: string;
  headerContextHash: string;
  ciphertextChunkHashes: string[];
  ciphertextDigest: string;
  frankingCommitment: string;
  header: string;
  label: string;
  capsule: string;
  senderSignatureInput: string;
  senderSignature: string;
  head: string;
  ciphertext: string;
  envelope: string;
  recovery: {
    trusteeIndex: number;
    capsuleId: string;
    shareRandomness: string;
    share: string;
    contentKey: string;
  };
  franking: { reporterUserId: string; stampTime: number; stamp: string; report: string };
}

const envelopeFile = readFileSync(VECTORS_PATH, 'utf8');
const workflowFile = readFileSync(WORKFLOW_VECTORS_PATH, 'utf8');
const V = JSON.parse(envelopeFile) as {
  epochSecret: string;
  epochKey: string;
  senderSigningSeed: string;
  senderPublicKey: string;
  relayPublicKey: string;
  cases: EnvelopeCase[];
};

/** u16 len(tag) ‖ tag ‖ (u32 len(part) ‖ part)*: the taggedHash framing, written out. */
function framed(tag: string, ...parts: Uint8Array[]): Uint8Array {
  const t = utf8Encode(tag);
  const out: Uint8Array[] = [Uint8Array.of(t.length >> 8, t.length & 255), t];
  for (const p of parts)
    out.push(
      Uint8Array.of(p.length >>> 24, (p.length >> 16) & 255, (p.length >> 8) & 255, p.length & 255),
      p,
    );
  return concatBytes(...out);
}

function tagOnly(tag: string): Uint8Array {
  const t = utf8Encode(tag);
  return concatBytes(Uint8Array.of(t.length >> 8, t.length & 255), t);
}

describe('envelope vectors', () => {
  it('the generator reproduces vectors/envelope.json byte for byte', async () => {
    expect(await renderEnvelopeVectors()).toBe(envelopeFile);
  });

  it.each(V.cases)('$name: the spec formulas reproduce every intermediate value', async (c) => {
    const K = fromHex(c.input.contentKey);
    const keys = deriveMessageKeys(K);
    expect(toHex(keys.encryptionKey)).toBe(c.keySchedule.encryptionKey);
    expect(toHex(keys.commitment)).toBe(c.keySchedule.keyCommitment);
    const header = fromHex(c.header);
    // The header is header context ‖ franking commitment ‖ ciphertext digest.
    expect(c.header).toBe(c.headerContext + c.frankingCommitment + c.ciphertextDigest);
    expect(toHex(sha256(framed('overt/envelope/v1/header-context', fromHex(c.headerContext))))).toBe(
      c.headerContextHash,
    );
    expect(toHex(sha256(framed('overt/envelope/v1/label', header)))).toBe(c.label);
    const digest = sha256(
      concatBytes(tagOnly('overt/envelope/v1/ciphertext-digest'), ...c.ciphertextChunkHashes.map(fromHex)),
    );
    expect(toHex(digest)).toBe(c.ciphertextDigest);
    const payload = fromHex(c.input.payload);
    const plainHashes: Uint8Array[] = [];
    const n = Math.max(1, Math.ceil(payload.length / c.input.chunkSize));
    for (let i = 0; i < n; i++)
      plainHashes.push(sha256(payload.subarray(i * c.input.chunkSize, (i + 1) * c.input.chunkSize)));
    const fc = hmac(
      sha256,
      keys.frankingKey,
      concatBytes(tagOnly('overt/franking/v1/commitment'), fromHex(c.headerContextHash), ...plainHashes),
    );
    expect(toHex(fc)).toBe(c.frankingCommitment);
    // Header version 2; the epoch is the calendar month of the send time (directory.md §4).
    expect(header[0]).toBe(2);
    const t = new Date(c.input.sendTime as number);
    expect(c.input.epoch).toBe(12 * (t.getUTCFullYear() - 1970) + t.getUTCMonth());
    // Sender signature: Ed25519 (RFC 8032, @noble as an independent implementation) over
    // u16 len(tag) ‖ tag ‖ L ‖ capsule, under the key of the listed seed.
    expect(c.senderSignatureInput).toBe(
      toHex(tagOnly('overt/envelope/v2/sender-signature')) + c.label + c.capsule,
    );
    expect(toHex(ed25519.getPublicKey(fromHex(V.senderSigningSeed)))).toBe(V.senderPublicKey);
    expect(toHex(ed25519.sign(fromHex(c.senderSignatureInput), fromHex(V.senderSigningSeed)))).toBe(
      c.senderSignature,
    );
    // Envelope framing: u32 len(header) ‖ header ‖ capsule ‖ signature ‖ ciphertext.
    const len = header.length;
    expect(c.head).toBe(
      toHex(Uint8Array.of(len >>> 24, (len >> 16) & 255, (len >> 8) & 255, len & 255)) +
        c.header +
        c.capsule +
        c.senderSignature,
    );
    expect(c.envelope).toBe(c.head + c.ciphertext);
  });

  it.each(V.cases)(
    '$name: opens with (K, seed), and a 1-of-1 trustee recovers K from the capsule',
    async (c) => {
      const epochKey = decodeElement(fromHex(V.epochKey));
      expect(toHex(group.baseMul(decodeScalar(fromHex(V.epochSecret))))).toBe(V.epochKey);
      const env = decodeEnvelope(fromHex(c.envelope));
      const opened = await openEnvelope(
        env,
        {
          messageId: fromHex(c.input.messageId),
          contentKey: fromHex(c.input.contentKey),
          seed: fromHex(c.input.seed),
        },
        {
          orgId: c.input.orgId as string,
          epoch: c.input.epoch as number,
          epochKey,
          conversationId: fromHex(c.input.conversationId as string),
          senderUserId: c.input.senderUserId as string,
          senderDeviceId: fromHex(c.input.senderDeviceId as string),
          senderKey: fromHex(V.senderPublicKey),
          members: c.input.recipients as string[],
        },
      );
      expect(toHex(opened.payload)).toBe(c.input.payload);
      verifySenderSignature(fromHex(c.head), fromHex(V.senderPublicKey));
      const capsule = verifyCapsule(epochKey, decodeCapsule(fromHex(c.capsule)), fromHex(c.label));
      expect(toHex(capsule.id)).toBe(c.recovery.capsuleId);
      const secret = decodeScalar(fromHex(V.epochSecret));
      // The epoch secret as a (1, 1) sharing: its one verification key is the epoch key.
      const keySet = { threshold: 1, groupKey: epochKey, verificationKeys: [epochKey] };
      const made = createShare({ index: c.recovery.trusteeIndex, secret }, capsule, () =>
        fromHex(c.recovery.shareRandomness),
      );
      expect(toHex(encodeShare(made))).toBe(c.recovery.share);
      const share = verifyShare(keySet, capsule, decodeShare(fromHex(c.recovery.share)));
      expect(toHex(combineShares(capsule, [share], keySet))).toBe(c.recovery.contentKey);
      expect(c.recovery.contentKey).toBe(c.input.contentKey);
      const report = verifyReport(fromHex(c.franking.report), {
        relayPublicKey: fromHex(V.relayPublicKey),
        reporterUserId: c.franking.reporterUserId,
      });
      expect(report.stampTime).toBe(c.franking.stampTime);
    },
  );
});

describe('workflow vectors', () => {
  const W = JSON.parse(workflowFile) as {
    keys: { orgPublicKey: string };
    policy: { signed: string; hash: string };
    request: { signed: string; hash: string; opening: string };
    decision: { signed: string };
    policyV2: { body: string; signed: string; hash: string };
    order: { signed: string; hash: string };
  };

  it('the generator reproduces vectors/workflow.json byte for byte', () => {
    expect(renderWorkflowVectors()).toBe(workflowFile);
  });

  it('policy, request, opening and decision verify from the file alone', () => {
    const p = verifyPolicy(fromHex(W.policy.signed), fromHex(W.keys.orgPublicKey));
    expect(toHex(p.hash)).toBe(W.policy.hash);
    const r = verifyRequest(fromHex(W.request.signed), p);
    expect(toHex(r.hash)).toBe(W.request.hash);
    checkOpening(r.request, decodeOpening(fromHex(W.request.opening)));
    expect(verifyDecision(fromHex(W.decision.signed), p, r).decision.verdict).toBe('approve');
  });

  it('a version 2 policy (recorded group) and a standing order verify from the file alone (after-release.md §8)', () => {
    const p = verifyPolicy(fromHex(W.policyV2.signed), fromHex(W.keys.orgPublicKey));
    expect(toHex(p.hash)).toBe(W.policyV2.hash);
    expect(p.policy.version).toBe(2);
    expect(p.policy.recorded).toEqual(['alice@example.org', 'trader2@example.org']);
    const o = verifyRequest(fromHex(W.order.signed), p);
    expect(toHex(o.hash)).toBe(W.order.hash);
    expect(o.request.order).toEqual({});
    // The version 1 policy of the same file names no recorded group: the order does not verify under it.
    const p1 = verifyPolicy(fromHex(W.policy.signed), fromHex(W.keys.orgPublicKey));
    expect(p1.policy.recorded).toBeUndefined();
    expect(() => verifyRequest(fromHex(W.order.signed), p1)).toThrow(/another policy/);
  });
});
