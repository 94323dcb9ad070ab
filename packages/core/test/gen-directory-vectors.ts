/**
 * Generates packages/core/test/vectors/directory.json: one signed statement of each directory kind
 * (docs/spec/directory.md): device added, device removed, and an epoch key from a real DKG among three trustees
 * (core's runDkgLocally with seeded randomness, gen-dkg-vectors.ts) signed by two of them under a real policy
 * signed by the admin (org) key, with their log entries. Ed25519 is deterministic and every key, polynomial and
 * nonce comes from a fixed seed, so the file is reproduced byte for byte.
 *
 *   npx tsx packages/core/test/gen-directory-vectors.ts          # rewrites the file
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { toHex } from '../src/bytes.js';
import {
  type DeviceStatement,
  deviceEntry,
  type EpochKeyStatement,
  encodeEpochKeyContent,
  epochKeyEntry,
  policyEntry,
  signDeviceStatement,
  signEpochKeyStatement,
} from '../src/directory/statements.js';
import { createDkgSession, runDkgLocally } from '../src/dkg/index.js';
import { type SigningKeyPair, signingKeyFromSeed } from '../src/sign.js';
import { type Policy, signPolicy, verifyPolicy } from '../src/workflow/policy.js';
import { dkgParticipants, makeTrustees, participantsOf } from './gen-dkg-vectors.js';

export const DIRECTORY_VECTORS_PATH = fileURLToPath(new URL('./vectors/directory.json', import.meta.url));

const seed = (b: number): Uint8Array => new Uint8Array(32).fill(b);
export const adminKey: SigningKeyPair = signingKeyFromSeed(seed(0xad));
const deviceKey = signingKeyFromSeed(seed(0xde));

export const deviceAdded: DeviceStatement = {
  kind: 'added',
  orgId: 'example.org',
  userId: 'alice@example.org',
  deviceId: 'alice-phone',
  identityKey: deviceKey.publicKey,
  time: 1_767_225_600_000,
};
export const deviceRemoved: DeviceStatement = { ...deviceAdded, kind: 'removed', time: 1_769_904_000_000 };

const ORG = 'example.org';
const EPOCH = 672;
const TIME = 1_767_225_600_000;
const DAY = 86_400_000;

/** The org's policy: the three DKG trustees (indices 1..3), k = 2, two witnesses, one requester. */
function policyOf(trustees: Awaited<ReturnType<typeof makeTrustees>>): Policy {
  return {
    version: 1,
    orgId: ORG,
    serial: 1,
    issuedAt: TIME - DAY,
    trustees: trustees.map((t) => ({
      index: t.index,
      name: `Trustee ${t.index}`,
      signingKey: t.signingKey.publicKey,
      encryptionKey: t.encryption.publicKey,
    })),
    threshold: 2,
    witnesses: [0xa1, 0xa2].map((b, i) => ({
      name: `witness-${i + 1}.example.net`,
      signingKey: signingKeyFromSeed(seed(b)).publicKey,
    })),
    witnessQuorum: 2,
    requesters: [
      {
        id: 'investigations',
        name: 'Internal Investigations',
        signingKey: signingKeyFromSeed(seed(0xb1)).publicKey,
        encryptionKey: seed(0xb2),
      },
    ],
    limits: {
      maxSubjects: 5,
      maxWindowMs: 31 * DAY,
      maxEnvelopes: 10_000,
      maxSealMs: 180 * DAY,
      maxExtensions: 2,
    },
    epochLength: { kind: 'calendar-month' },
    retentionMs: 365 * DAY,
  };
}

/** The real DKG of epoch 672 among the policy's trustees, and the statement two of them (1 and 3) sign. */
export async function epochKeyVector() {
  const trustees = await makeTrustees(3, 'directory-vectors');
  const policy = policyOf(trustees);
  const signedPolicy = signPolicy(policy, adminKey);
  const session = createDkgSession({
    org: ORG,
    epoch: EPOCH,
    attempt: 0,
    threshold: policy.threshold,
    participants: participantsOf(trustees),
  });
  const run = await runDkgLocally(dkgParticipants(session, trustees, 'directory-vectors'));
  const out = run.outputs[0];
  if (out === undefined || out instanceof Error) throw new Error('the vector DKG failed');
  const statement: EpochKeyStatement = {
    orgId: ORG,
    epoch: EPOCH,
    policyHash: verifyPolicy(signedPolicy, adminKey.publicKey).hash,
    threshold: out.publicKey.threshold,
    groupKey: out.publicKey.groupKey,
    verificationKeys: out.publicKey.verificationKeys,
    transcriptHash: out.transcriptHash,
    sessionId: session.id,
    time: TIME,
  };
  const signers = [trustees[0]!, trustees[2]!].map((t) => ({ index: t.index, key: t.signingKey }));
  return { trustees, policy, signedPolicy, transcript: out.transcript, statement, signers };
}

function device(s: DeviceStatement) {
  const signed = signDeviceStatement(adminKey, s);
  return {
    kind: s.kind,
    orgId: s.orgId,
    userId: s.userId,
    deviceId: s.deviceId,
    identityKey: toHex(s.identityKey),
    time: s.time,
    statement: toHex(signed),
    entry: toHex(deviceEntry(s.kind, signed)),
  };
}

export async function buildDirectoryVectors(): Promise<unknown> {
  const v = await epochKeyVector();
  const signedEpoch = signEpochKeyStatement(v.statement, v.signers);
  const e = v.statement;
  return {
    description:
      'Overt directory statements (docs/spec/directory.md): device added and device removed (v1, signed by the org-admin key), the org policy (log entry type 1, signed by the admin key) and an epoch key (v2) from a real 2-of-3 DKG signed by trustees 1 and 3 of that policy, with their log entries (u8 type ‖ statement). Generated by packages/core/test/gen-directory-vectors.ts; do not edit.',
    admin: { seed: toHex(seed(0xad)), publicKey: toHex(adminKey.publicKey) },
    deviceAdded: device(deviceAdded),
    deviceRemoved: device(deviceRemoved),
    policy: {
      serial: v.policy.serial,
      threshold: v.policy.threshold,
      trusteeSigningKeys: v.trustees.map((t) => toHex(t.signingKey.publicKey)),
      signed: toHex(v.signedPolicy),
      hash: toHex(e.policyHash),
      entry: toHex(policyEntry(v.signedPolicy)),
    },
    epochKey: {
      orgId: e.orgId,
      epoch: e.epoch,
      policyHash: toHex(e.policyHash),
      threshold: e.threshold,
      groupKey: toHex(e.groupKey),
      verificationKeys: e.verificationKeys.map(toHex),
      transcriptHash: toHex(e.transcriptHash),
      sessionId: toHex(e.sessionId),
      time: e.time,
      signers: v.signers.map((s) => s.index),
      transcript: toHex(v.transcript),
      content: toHex(encodeEpochKeyContent(e)),
      statement: toHex(signedEpoch),
      entry: toHex(epochKeyEntry(signedEpoch)),
    },
  };
}

export async function renderDirectoryVectors(): Promise<string> {
  return `${JSON.stringify(await buildDirectoryVectors(), null, 2)}\n`;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(DIRECTORY_VECTORS_PATH, await renderDirectoryVectors());
  console.log(`wrote ${DIRECTORY_VECTORS_PATH}`);
}
