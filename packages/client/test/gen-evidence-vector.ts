/**
 * Generates the example evidence bundle packages/client/test/vectors/evidence-example/ (a directory) and
 * packages/client/test/vectors/evidence-example.overt-evidence (the same files as one archive, evidence.md §5)
 * from the deterministic access case of test/access-case.ts: three executed messages (two texts and a PDF), a
 * 2-of-3 trustee policy, a real tiled log with two witnesses. Every byte is fixed by the fixture's seeds.
 *
 *   npx tsx packages/client/test/gen-evidence-vector.ts          # rewrites both
 */
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatVerifierKey, verifierKeyOf } from '@overt/log';
import { orgKey, requesterKeys } from '../../core/test/workflow-fixtures.js';
import {
  buildEvidenceFiles,
  type EvidenceAnchors,
  evidenceIndices,
  evidenceReceipts,
} from '../src/access/evidence.js';
import { collect } from '../src/access/requester.js';
import { writeEvidenceArchive, writeEvidenceDirectory } from '../src/node/evidence-write.js';
import {
  type AccessCaseFixture,
  buildAccessCase,
  logKey,
  ORIGIN,
  relayKey,
  witnessKeys,
} from './access-case.js';

export const EVIDENCE_DIR = fileURLToPath(new URL('./vectors/evidence-example', import.meta.url));
export const EVIDENCE_ARCHIVE = fileURLToPath(
  new URL('./vectors/evidence-example.overt-evidence', import.meta.url),
);
/** When the example was written: fixed, so the manifest is reproducible. */
export const EVIDENCE_CREATED_AT = 1_768_262_400_000;

export const exampleAnchors: EvidenceAnchors = {
  org: 'example.org',
  orgKey: orgKey.publicKey,
  relayKey: relayKey.publicKey,
  log: {
    origin: ORIGIN,
    vkey: formatVerifierKey(verifierKeyOf(logKey)),
    witnessVkeys: witnessKeys.map((w) => formatVerifierKey(verifierKeyOf(w))),
    witnessQuorum: 2,
  },
};

/** The bundle's files for a built case (the collect of the requester, the receipts under the latest checkpoint). */
export async function evidenceFilesOf(fx: AccessCaseFixture): Promise<Map<string, Uint8Array>> {
  const collected = await collect({
    orgKey: orgKey.publicKey,
    relayKey: relayKey.publicKey,
    requestId: fx.built.verified.request.requestId,
    log: { checkpoint: fx.checkpoint, entries: fx.entries },
    releases: fx.releases,
    envelopes: fx.envelopes,
    secretKey: fx.requesterSecretKey,
    strict: true,
  });
  const receipts = await evidenceReceipts(evidenceIndices(collected), fx.log.checkpoint, fx.log.reader);
  return buildEvidenceFiles({
    collected,
    anchors: exampleAnchors,
    checkpoint: fx.log.checkpoint,
    receipts,
    signingKey: requesterKeys.internal,
    createdAt: EVIDENCE_CREATED_AT,
  });
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const files = await evidenceFilesOf(await buildAccessCase());
  rmSync(EVIDENCE_DIR, { recursive: true, force: true });
  await writeEvidenceDirectory(EVIDENCE_DIR, files);
  await writeEvidenceArchive(EVIDENCE_ARCHIVE, files);
  console.log(`wrote ${EVIDENCE_DIR} and ${EVIDENCE_ARCHIVE} (${files.size} files)`);
}
