/**
 * Cost of the relay's franking stamp at serve time (docs/spec/relay.md §10.1): `npx tsx bench/franking/stamp.ts`
 * prints JSON (`--quick` for shorter samples).
 *
 * The stamp is computed when an envelope is served rather than stored at ingest. This measures, interleaved in one
 * run: the baseline — encoding the envelope JSON body the GET returns anyway (a 1 KiB message) — against an
 * uncached stamp (header decode + Ed25519 signature) and a cached one (`ReportDesk.stampOf`, the fan-out case).
 */
import {
  encodeEnvelopeHead,
  generateSigningKey,
  group,
  randomBytes,
  randomNonZeroScalar,
  sealEnvelope,
  toBase64,
} from '@overt/core';
import { envelopeStamp, ReportDesk } from '../../packages/server/src/franking.js';
import type { EnvelopeRecord, RelayStorage } from '../../packages/server/src/storage/storage.js';
import { textFields } from '../../packages/server/test/harness.js';
import { compare } from '../core/harness.js';

const quick = process.argv.includes('--quick');
const key = generateSigningKey();
const sealed = await sealEnvelope(
  textFields(682, {}, 'bench.example'),
  randomBytes(1024),
  group.baseMul(randomNonZeroScalar()),
  generateSigningKey(),
);
const headerLength = new DataView(sealed.head.buffer, sealed.head.byteOffset).getUint32(0);
const record: EnvelopeRecord = {
  messageId: sealed.header.messageId,
  orgId: 'bench.example',
  epoch: 682,
  conversationId: sealed.header.conversationId,
  senderUserId: 'alice',
  senderDeviceId: 'alice-phone',
  sendTime: sealed.header.sendTime,
  header: sealed.head.subarray(4, 4 + headerLength),
  capsule: sealed.capsule,
  signature: sealed.signature,
  ciphertext: sealed.envelope.subarray(sealed.head.length),
  blobId: null,
  receivedAt: Date.now(),
};
// The desk reads no storage to stamp; the storage argument is unused here.
const desk = new ReportDesk(undefined as unknown as RelayStorage, key, Date.now);

const results = compare(
  [
    {
      name: 'envelope JSON body (baseline)',
      fn: () =>
        JSON.stringify({
          head: toBase64(encodeEnvelopeHead(record.header, record.capsule, record.signature)),
          ciphertext: toBase64(record.ciphertext!),
        }),
    },
    { name: 'stamp, uncached (decode header + Ed25519 sign)', fn: () => envelopeStamp(record, key) },
    { name: 'stamp, cached (ReportDesk.stampOf)', fn: () => desk.stampOf(record) },
  ],
  { minMs: quick ? 100 : 400, samples: quick ? 3 : 5 },
);
console.log(JSON.stringify({ suite: 'franking/stamp', message_bytes: 1024, results }, null, 2));
