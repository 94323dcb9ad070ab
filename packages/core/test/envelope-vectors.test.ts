// Committed vectors for envelopes, franking (vectors/envelope.json) and workflow objects (vectors/workflow.json):
// the generators reproduce them byte for byte, and every derived value is recomputed here from the formulas
// of docs/spec/envelope.md and docs/spec/franking.md with raw SHA-256 / HMAC, independently of the codec.
import { readFileSync } from 'node:fs';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { deriveMessageKeys } from '../src/aead/keys.js';
import { concatBytes, fromHex, toHex, utf8Encode } from '../src/bytes.js';
import {
  combineShares,
  createShare,
  decodeCapsule,
  verifyCapsule,
  verifyShare,
} from '../src/capsule/index.js';
import { decodeEnvelope } from '../src/envelope/envelope.js';
import { openEnvelope } from '../src/envelope/open.js';
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
  ciphertext: string;
  envelope: string;
  franking: { stampTime: number; stamp: string; report: string };
}

const envelopeFile = readFileSync(VECTORS_PATH, 'utf8');
const workflowFile = readFileSync(WORKFLOW_VECTORS_PATH, 'utf8');
const V = JSON.parse(envelopeFile) as {
  epochSecret: string;
  epochKey: string;
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
    // Envelope framing: u32 len(header) ‖ header ‖ capsule ‖ ciphertext.
    const len = header.length;
    expect(c.envelope).toBe(
      toHex(Uint8Array.of(len >>> 24, (len >> 16) & 255, (len >> 8) & 255, len & 255)) +
        c.header +
        c.capsule +
        c.ciphertext,
    );
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
          members: c.input.recipients as string[],
        },
      );
      expect(toHex(opened.payload)).toBe(c.input.payload);
      const capsule = verifyCapsule(epochKey, decodeCapsule(fromHex(c.capsule)), fromHex(c.label));
      const secret = decodeScalar(fromHex(V.epochSecret));
      // The epoch secret as a (1, 1) sharing: its one verification key is the epoch key.
      const keySet = { threshold: 1, groupKey: epochKey, verificationKeys: [epochKey] };
      const share = verifyShare(
        keySet,
        capsule,
        createShare({ index: 1, secret }, capsule, () => new Uint8Array(32)),
      );
      expect(toHex(combineShares(capsule, [share], keySet))).toBe(c.input.contentKey);
      const report = verifyReport(fromHex(c.franking.report), {
        relayPublicKey: fromHex(V.relayPublicKey),
        reporterUserId: 'alice@example.org',
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
});
