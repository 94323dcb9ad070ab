/**
 * A complete, real, deterministic access case for the requester and evidence tests (docs/spec/access.md §8,
 * evidence.md): a 2-of-3 trustee policy signed by the org key, a trustee-signed epoch key of a real sharing, two
 * enrolled sending devices, three envelopes sealed by them (two texts and a file), a request built by
 * buildRequest, two approvals, the relay's execution over the envelopes' labels, and trustees 1 and 2's share
 * bundles sealed to the requester with their releases — all appended to @overt/log's in-memory tiled log, whose
 * checkpoints two witness keys cosign. Every key and random byte is derived from fixed strings.
 */
import {
  type BundleShare,
  compareBytes,
  createShare,
  decisionFor,
  decisionsOnLog,
  decodeCapsule,
  deviceEntry,
  epochKeyEntry,
  executionFor,
  group,
  type KeyShare,
  policyEntry,
  releaseFor,
  type SealedEnvelope,
  type ShareBundle,
  scalarFromInt,
  sealEnvelope,
  sealShareBundle,
  sha256,
  signDecision,
  signDeviceStatement,
  signEpochKeyStatement,
  signExecution,
  signingKeyFromSeed,
  signPolicy,
  signRelease,
  type ThresholdPublicKey,
  utf8Encode,
  type VerifiedExecution,
  type VerifiedPolicy,
  verifyCapsule,
  verifyDecision,
  verifyExecution,
  verifyPolicy,
} from '@overt/core';
import {
  decodeEntryBundle,
  entryBundlePath,
  type LogPolicy,
  MemoryTiledLog,
  parseCheckpoint,
  SIGNATURE_TYPE_COSIGNATURE,
  SIGNATURE_TYPE_ED25519,
  signerKeyFromSeed,
  type VerifiedCheckpoint,
  verifierKeyOf,
  verifyCheckpoint,
} from '@overt/log';
import { hpkeKeys, keySet, keyShares } from '../../core/test/access-fixtures.js';
import { fields, SEND_TIME, seededRng, senderSigningKey } from '../../core/test/envelope-fixtures.js';
import { DAY, orgKey, policy, requesterKeys, trusteeKeys } from '../../core/test/workflow-fixtures.js';
import type { CaseEnvelope } from '../src/access/case.js';
import { type BuiltRequest, buildRequest } from '../src/access/requester.js';
import { encodeFileContent, FILE_CONTENT_TYPE } from '../src/sdk/content.js';

const seed = (s: string) => sha256(utf8Encode(`overt/test/access-case/${s}`));

export const ORIGIN = 'example.org/log';
export const logKey = signerKeyFromSeed(ORIGIN, SIGNATURE_TYPE_ED25519, seed('log'));
export const witnessKeys = [1, 2].map((i) =>
  signerKeyFromSeed(`witness${i}.example.net`, SIGNATURE_TYPE_COSIGNATURE, seed(`witness ${i}`)),
);
export const logPolicy: LogPolicy = {
  origin: ORIGIN,
  logKeys: [verifierKeyOf(logKey)],
  witnesses: { witnesses: witnessKeys.map(verifierKeyOf), quorum: 2 },
};
export const relayKey = signingKeyFromSeed(seed('relay'));
export const bobKey = signingKeyFromSeed(seed('bob-phone'));
export const EPOCH = 7;
const T0 = SEND_TIME + 10 * DAY;

export interface AccessCaseFixture {
  readonly log: MemoryTiledLog;
  readonly checkpoint: VerifiedCheckpoint;
  readonly policy: VerifiedPolicy;
  readonly built: BuiltRequest;
  readonly requesterSecretKey: Uint8Array;
  readonly envelopes: CaseEnvelope[];
  /** Release entries' indices, batches and sealed bundles. */
  readonly releases: { index: number; batch: number; sealed: Uint8Array; trustee: number }[];
  /** The plaintexts, by position (the test's expectation). */
  readonly plaintexts: { contentType: string; text?: string; fileName?: string; data?: Uint8Array }[];
  readonly entries: Uint8Array[];
}

const entry = (type: number, body: Uint8Array) => {
  const out = new Uint8Array(1 + body.length);
  out[0] = type;
  out.set(body, 1);
  return out;
};

/** A sending device the case's log enrols (device_added under the org key). */
export interface CaseDevice {
  readonly userId: string;
  readonly deviceId: string;
  readonly key: Uint8Array;
}

export interface CaseLogOptions {
  /** The execution's labels in position order (sorted by bytes, workflow.md §9.2). */
  readonly labels: readonly Uint8Array[];
  /** The epoch's threshold key set (default: the fixture sharing of core/test/access-fixtures.ts). */
  readonly keySet?: ThresholdPublicKey;
  /** Default: alice-laptop and bob-phone. */
  readonly devices?: readonly CaseDevice[];
  /** The policy's and the request's envelope limit (default: the fixtures' 1000 and 500). */
  readonly maxEnvelopes?: number;
}

export interface CaseLogFixture {
  readonly log: MemoryTiledLog;
  readonly policy: VerifiedPolicy;
  readonly built: BuiltRequest;
  readonly execution: VerifiedExecution;
  readonly requesterPublicKey: Uint8Array;
  readonly requesterSecretKey: Uint8Array;
  /** The case's policy body again with another serial (a newer policy, e.g. for a resharing). */
  readonly policyBody: (serial?: number) => ReturnType<typeof policy>;
}

const defaultDevices = (): CaseDevice[] => [
  { userId: 'alice@example.org', deviceId: 'alice-laptop', key: senderSigningKey.publicKey },
  { userId: 'bob@example.org', deviceId: 'bob-phone', key: bobKey.publicKey },
];

/**
 * The case's log up to the execution: the 2-of-3 trustee policy signed by the org key, the enrolled devices, the
 * trustee-signed epoch key (epoch {@link EPOCH}), the request built by buildRequest, trustees 1 and 2's approvals
 * and the relay's execution over `labels`, appended in that order to a new in-memory tiled log whose checkpoints
 * the two witness keys cosign. The releases are appended by the caller ({@link releaseEntry}).
 */
export async function accessCaseLog(o: CaseLogOptions): Promise<CaseLogFixture> {
  const keys = await hpkeKeys();
  const epochKeys = o.keySet ?? keySet;
  const policyBody = (serial?: number) =>
    policy({
      ...(serial === undefined ? {} : { serial }),
      trustees: trusteeKeys.map((k, i) => ({
        index: i + 1,
        name: ['General Counsel', 'Oversight Board', 'Data Protection Officer'][i]!,
        signingKey: k.publicKey,
        encryptionKey: keys.trustees[i]!.publicKey,
      })),
      requesters: [
        {
          id: 'internal-investigations',
          name: 'Internal Investigations',
          signingKey: requesterKeys.internal.publicKey,
          encryptionKey: keys.requester.publicKey,
        },
      ],
      ...(o.maxEnvelopes === undefined
        ? {}
        : {
            limits: {
              ...policy().limits,
              maxEnvelopes: Math.max(o.maxEnvelopes, policy().limits.maxEnvelopes),
            },
          }),
    });
  const signedPolicy = signPolicy(policyBody(), orgKey);
  const pol = verifyPolicy(signedPolicy, orgKey.publicKey);
  const epochStatement = signEpochKeyStatement(
    {
      orgId: 'example.org',
      epoch: EPOCH,
      policyHash: pol.hash,
      threshold: epochKeys.threshold,
      groupKey: epochKeys.groupKey,
      verificationKeys: epochKeys.verificationKeys,
      transcriptHash: seed('transcript'),
      sessionId: seed('session'),
      time: SEND_TIME - 20 * DAY,
    },
    [1, 2, 3].map((index) => ({ index, key: trusteeKeys[index - 1]! })),
  );
  const device = (d: CaseDevice) =>
    deviceEntry(
      'added',
      signDeviceStatement(orgKey, {
        kind: 'added',
        orgId: 'example.org',
        userId: d.userId,
        deviceId: d.deviceId,
        identityKey: d.key,
        time: SEND_TIME - 25 * DAY,
      }),
    );

  const log = new MemoryTiledLog(ORIGIN, logKey, witnessKeys, () => Math.floor(T0 / 1000));
  log.append(
    policyEntry(signedPolicy),
    ...(o.devices ?? defaultDevices()).map(device),
    epochKeyEntry(epochStatement),
  );

  const built = await buildRequest({
    policy: pol,
    requesterId: 'internal-investigations',
    signingKey: requesterKeys.internal,
    legalBasis: 'Employment contract §12; works council agreement 2024/3',
    documentHash: sha256(utf8Encode('order document')),
    subjects: ['alice@example.org'],
    window: { from: SEND_TIME - 5 * DAY, until: SEND_TIME + 5 * DAY },
    maxEnvelopes: o.maxEnvelopes ?? 500,
    sealUntil: T0 + 100 * DAY,
    createdAt: T0,
    confidential: {
      justification: 'Suspected disclosure of client data to a competitor.',
      caseReference: 'II-2026-0042',
    },
    rng: seededRng('access-case/request'),
  });
  const req = built.verified;
  log.append(entry(5, built.signed));
  const decisions = [1, 2].map((i) =>
    signDecision(decisionFor(req, i, 'approve', T0 + DAY), trusteeKeys[i - 1]!),
  );
  log.append(...decisions.map((d) => entry(6, d)));
  const approvals = decisions.map((d) => verifyDecision(d, pol, req));
  const signedExecution = signExecution(executionFor(req, approvals, o.labels, T0 + 2 * DAY), relayKey);
  log.append(entry(7, signedExecution));
  const logged = decisionsOnLog(
    pol,
    req,
    decisions.map((d) => entry(6, d)),
  );
  const execution = verifyExecution(signedExecution, relayKey.publicKey, pol, req, logged);
  return {
    log,
    policy: pol,
    built,
    execution,
    requesterPublicKey: keys.requester.publicKey,
    requesterSecretKey: keys.requester.secretKey,
    policyBody,
  };
}

/** Trustee `trustee`'s release entry (type 8) naming its sealed bundle of `shareCount` shares, signed by its key. */
export function releaseEntry(
  execution: VerifiedExecution,
  trustee: number,
  shareCount: number,
  sealed: Uint8Array,
): Uint8Array {
  return entry(
    8,
    signRelease(releaseFor(execution, trustee, shareCount, sealed, T0 + 3 * DAY), trusteeKeys[trustee - 1]!),
  );
}

/**
 * Builds the case. `tamper` may change a trustee's bundle before it is sealed (to test a bad share whose release is
 * honest about the bytes it names).
 */
export async function buildAccessCase(
  tamper?: (trustee: number, bundle: ShareBundle) => ShareBundle,
  options: {
    /**
     * Log a newer policy and a resharing of the epoch key (same group key, new shares: f'(x) = f(x) + x·r)
     * before both releases, or between trustee 1's release (old shares) and trustee 2's (new shares).
     */
    readonly reshare?: 'before' | 'between';
  } = {},
): Promise<AccessCaseFixture & { reshareIndex?: number }> {
  // Three messages: alice's text, alice's file, bob's text to alice.
  const file = {
    contentType: 'application/pdf',
    name: 'contract draft.pdf',
    data: utf8Encode('%PDF-1.4 draft'),
  };
  const messages: { sealed: SealedEnvelope; expect: AccessCaseFixture['plaintexts'][number] }[] = [];
  const specs = [
    { from: 'alice', text: 'Here are the client numbers you asked for.' },
    { from: 'alice', file },
    { from: 'bob', text: 'Got them, thanks.' },
  ] as const;
  for (const [i, s] of specs.entries()) {
    const isFile = 'file' in s;
    const payload = isFile ? encodeFileContent(s.file) : utf8Encode(s.text);
    const bob = s.from === 'bob';
    const sealed = await sealEnvelope(
      fields({
        messageId: new Uint8Array(16).fill(0x60 + i),
        sendTime: SEND_TIME + i * 60_000,
        contentType: isFile ? FILE_CONTENT_TYPE : 'text/plain; charset=utf-8',
        ...(bob ? { senderUserId: 'bob@example.org', senderDeviceId: utf8Encode('bob-phone') } : {}),
      }),
      payload,
      keySet.groupKey,
      bob ? bobKey : senderSigningKey,
      { rng: seededRng(`access-case/envelope/${i}`) },
    );
    messages.push({
      sealed,
      expect: isFile
        ? { contentType: file.contentType, fileName: file.name, data: file.data }
        : { contentType: 'text/plain; charset=utf-8', text: s.text },
    });
  }
  messages.sort((a, b) => compareBytes(a.sealed.label, b.sealed.label));
  const c = await accessCaseLog({ labels: messages.map((m) => m.sealed.label) });
  const { log, execution } = c;

  // The resharing: the same secret on a new polynomial, under a policy of greater serial (dkg.md §8).
  const r = scalarFromInt(0x5eed);
  const newShares: KeyShare[] = keyShares.map((k) => ({
    index: k.index,
    secret: group.scalarAdd(k.secret, group.scalarMul(r, scalarFromInt(k.index))),
  }));
  const newKeySet: ThresholdPublicKey = {
    ...keySet,
    verificationKeys: newShares.map((k) => group.baseMul(k.secret)),
  };
  let reshareIndex: number | undefined;
  const reshare = () => {
    const signed2 = signPolicy(c.policyBody(c.policy.policy.serial + 1), orgKey);
    const pol2 = verifyPolicy(signed2, orgKey.publicKey);
    log.append(policyEntry(signed2));
    reshareIndex = log.size;
    log.append(
      epochKeyEntry(
        signEpochKeyStatement(
          {
            orgId: 'example.org',
            epoch: EPOCH,
            policyHash: pol2.hash,
            threshold: 2,
            groupKey: newKeySet.groupKey,
            verificationKeys: newKeySet.verificationKeys,
            transcriptHash: seed('transcript 2'),
            sessionId: seed('session 2'),
            time: T0 + 2 * DAY,
          },
          [1, 2, 3].map((index) => ({ index, key: trusteeKeys[index - 1]! })),
        ),
      ),
    );
  };
  if (options.reshare === 'before') reshare();

  const releases: AccessCaseFixture['releases'] = [];
  for (const trustee of [1, 2]) {
    if (options.reshare === 'between' && trustee === 2) reshare();
    const held = reshareIndex === undefined ? keyShares : newShares;
    const rng = seededRng(`access-case/shares/${trustee}`);
    const shares: BundleShare[] = messages.map((m, position) => ({
      position,
      label: m.sealed.label,
      share: createShare(
        held[trustee - 1]!,
        verifyCapsule(keySet.groupKey, decodeCapsule(m.sealed.capsule), m.sealed.label),
        rng,
      ),
    }));
    let bundle: ShareBundle = {
      requestId: c.built.verified.request.requestId,
      executionHash: execution.hash,
      trusteeIndex: trustee,
      batch: 0,
      shares,
    };
    if (tamper) bundle = tamper(trustee, bundle);
    const sealed = await sealShareBundle(
      c.requesterPublicKey,
      bundle,
      seededRng(`access-case/bundle/${trustee}`),
    );
    releases.push({ index: log.size, batch: 0, sealed, trustee });
    log.append(releaseEntry(execution, trustee, bundle.shares.length, sealed));
  }
  const { checkpoint, entries } = logViewOf(log);
  return {
    log,
    checkpoint,
    policy: c.policy,
    built: c.built,
    requesterSecretKey: c.requesterSecretKey,
    envelopes: messages.map((m, position) => ({
      position,
      head: m.sealed.head,
      ciphertext: m.sealed.envelope.subarray(m.sealed.head.length),
    })),
    releases,
    plaintexts: messages.map((m) => m.expect),
    entries,
    ...(reshareIndex === undefined ? {} : { reshareIndex }),
  };
}

/** The log's latest checkpoint, verified under {@link logPolicy}, and every entry read back from its bundles. */
export function logViewOf(log: MemoryTiledLog): { checkpoint: VerifiedCheckpoint; entries: Uint8Array[] } {
  const checkpoint = verifyCheckpoint(parseCheckpoint(log.checkpoint), logPolicy);
  const entries: Uint8Array[] = [];
  for (let i = 0; i < log.size; i++) entries.push(logEntry(log, i));
  return { checkpoint, entries };
}

/** Entry `i` read back from the log's entry bundles (what a log client downloads). */
function logEntry(log: MemoryTiledLog, i: number): Uint8Array {
  const path = entryBundlePathFor(i, log.size);
  const bundle = log.files.get(path);
  if (bundle === undefined) throw new Error(`entry bundle ${path} missing`);
  return decodeEntryBundle(bundle)[i % 256]!;
}

function entryBundlePathFor(i: number, size: number): string {
  const index = Math.floor(i / 256);
  const width = Math.min(256, size - index * 256);
  return entryBundlePath({ index, width });
}
