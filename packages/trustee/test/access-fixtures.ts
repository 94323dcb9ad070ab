/**
 * A small organisation for the access tests, built from real core objects: a signed 2-of-3 policy with two
 * witnesses and one requester (with a real HPKE key), an epoch key dealt to the three trustees and signed by them,
 * enrolled devices, envelopes sealed with core's sealer and signed by their device, a real tiled log with
 * cosigning witnesses, signed requests, decisions and an execution by the relay's key. Nothing here is mocked
 * except the relay's HTTP: TestRelay keeps what the relay would store and applies the checks of access.md §4 to
 * what the trustee posts (verifyRelease, bundle hash, ACC-L4).
 */
import {
  commitConfidential,
  compareBytes,
  decisionFor,
  decisionsOnLog,
  deviceEntry,
  type Element,
  epochKeyEntry,
  equalBytes,
  evaluatePolynomial,
  executionFor,
  generateDkgEncryptionKey,
  group,
  type HeaderFields,
  type KeyShare,
  type Policy,
  type Request,
  randomScalar,
  type SealedEnvelope,
  sealEnvelope,
  sha256,
  signDecision,
  signDeviceStatement,
  signEpochKeyStatement,
  signExecution,
  signingKeyFromSeed,
  signPolicy,
  signRequest,
  type ThresholdPublicKey,
  toHex,
  utf8Encode,
  type Verdict,
  type VerifiedDecision,
  type VerifiedPolicy,
  type VerifiedRequest,
  verifyDecision,
  verifyExecution,
  verifyPolicy,
  verifyRelease,
} from '@overt/core';
import {
  MemoryTiledLog,
  makeVerifierKey,
  SIGNATURE_TYPE_COSIGNATURE,
  SIGNATURE_TYPE_ED25519,
  signerKeyFromSeed,
} from '@overt/log';
import type {
  AccessRelay,
  EnvelopePage,
  ExtensionPage,
  ServedEnvelope,
  ServedExtension,
} from '../src/access/relay.js';
import type { EpochShare, ShareVault } from '../src/vault-api.js';

export const DAY = 86_400_000;
export const SEND_TIME = 1_767_225_600_000; // 2026-01-01T00:00:00Z
export const ORG = 'example.org';
export const ORIGIN = 'log.example.org/overt';
export const EPOCH = 672; // calendarMonthEpoch(SEND_TIME)

const seed = (s: string) => sha256(utf8Encode(`overt/test/access/${s}`));
const key = (s: string) => signingKeyFromSeed(seed(s));

export const orgKey = key('org');
export const relayKey = key('relay');
export const trusteeKeys = [key('t1'), key('t2'), key('t3')];
const WITNESS_NAMES = ['witness1.example.net', 'witness2.example.net'];
export const witnessSigners = WITNESS_NAMES.map((n) =>
  signerKeyFromSeed(n, SIGNATURE_TYPE_COSIGNATURE, seed(n)),
);
export const logSigner = signerKeyFromSeed(ORIGIN, SIGNATURE_TYPE_ED25519, seed('log'));
export const logKeys = [makeVerifierKey(ORIGIN, SIGNATURE_TYPE_ED25519, logSigner.publicKey)];
export const requesterKey = key('requester');
export const devices = {
  alice: { userId: 'alice@example.org', deviceId: 'alice-laptop', key: key('alice-laptop') },
  bob: { userId: 'bob@example.org', deviceId: 'bob-phone', key: key('bob-phone') },
  mallory: { userId: 'mallory@example.org', deviceId: 'mallory-pc', key: key('mallory-pc') },
};

export interface Org {
  readonly policy: VerifiedPolicy;
  readonly requesterHpke: { publicKey: Uint8Array; secretKey: Uint8Array };
  readonly epochKey: Element;
  readonly publicKey: ThresholdPublicKey;
  readonly shares: readonly KeyShare[];
  readonly hpke: readonly { publicKey: Uint8Array; secretKey: Uint8Array }[];
}

export async function makeOrg(policyOverrides: Partial<Policy> = {}): Promise<Org> {
  const requesterHpke = await generateDkgEncryptionKey(() => seed('requester-hpke'));
  const hpke = await Promise.all([1, 2, 3].map((i) => generateDkgEncryptionKey(() => seed(`t${i}-hpke`))));
  const p: Policy = {
    version: 1,
    orgId: ORG,
    serial: 1,
    issuedAt: SEND_TIME - 60 * DAY,
    trustees: trusteeKeys.map((k, i) => ({
      index: i + 1,
      name: `Trustee ${i + 1}`,
      signingKey: k.publicKey,
      encryptionKey: hpke[i]!.publicKey,
    })),
    threshold: 2,
    witnesses: witnessSigners.map((w) => ({ name: w.name, signingKey: w.publicKey })),
    witnessQuorum: 2,
    requesters: [
      {
        id: 'internal-investigations',
        name: 'Internal Investigations',
        signingKey: requesterKey.publicKey,
        encryptionKey: requesterHpke.publicKey,
      },
    ],
    limits: {
      maxSubjects: 3,
      maxWindowMs: 31 * DAY,
      maxEnvelopes: 5000,
      maxSealMs: 180 * DAY,
      maxExtensions: 2,
    },
    epochLength: { kind: 'calendar-month' },
    retentionMs: 365 * DAY,
    ...policyOverrides,
  };
  const policy = verifyPolicy(signPolicy(p, orgKey), orgKey.publicKey);
  // A dealt 2-of-3 sharing stands in for the trustees' DKG (the vault only needs a share and its key set).
  const coefficients = [randomScalar(), randomScalar()];
  const shares = [1, 2, 3].map((index) => ({ index, secret: evaluatePolynomial(coefficients, index) }));
  const publicKey: ThresholdPublicKey = {
    threshold: 2,
    groupKey: group.baseMul(coefficients[0]!),
    verificationKeys: shares.map((s) => group.baseMul(s.secret)),
  };
  return { policy, requesterHpke, epochKey: publicKey.groupKey, publicKey, shares, hpke };
}

/** The epoch-key statement for EPOCH, signed by trustees 1 and 2, as a log entry. */
export function epochEntry(org: Org, epoch = EPOCH): Uint8Array {
  return epochKeyEntry(
    signEpochKeyStatement(
      {
        orgId: ORG,
        epoch,
        policyHash: org.policy.hash,
        threshold: 2,
        groupKey: org.publicKey.groupKey,
        verificationKeys: org.publicKey.verificationKeys,
        transcriptHash: seed('transcript'),
        sessionId: seed('session'),
        time: SEND_TIME - 40 * DAY,
      },
      [1, 2].map((index) => ({ index, key: trusteeKeys[index - 1]! })),
    ),
  );
}

export function deviceAdded(
  d: (typeof devices)[keyof typeof devices],
  time = SEND_TIME - 30 * DAY,
): Uint8Array {
  return deviceEntry(
    'added',
    signDeviceStatement(orgKey, {
      kind: 'added',
      orgId: ORG,
      userId: d.userId,
      deviceId: d.deviceId,
      identityKey: d.key.publicKey,
      time,
    }),
  );
}

export function deviceRemoved(d: (typeof devices)[keyof typeof devices], time: number): Uint8Array {
  return deviceEntry(
    'removed',
    signDeviceStatement(orgKey, {
      kind: 'removed',
      orgId: ORG,
      userId: d.userId,
      deviceId: d.deviceId,
      identityKey: d.key.publicKey,
      time,
    }),
  );
}

export const confidential = { justification: 'Suspected disclosure of client data.', caseReference: 'II-42' };

export function requestOf(org: Org, overrides: Partial<Request> = {}): Request {
  const committed = commitConfidential(confidential, () => seed('salt'));
  return {
    version: 1,
    orgId: ORG,
    requestId: new Uint8Array(16).fill(0x77),
    policyHash: org.policy.hash,
    requesterId: 'internal-investigations',
    createdAt: SEND_TIME + 10 * DAY,
    legalBasis: 'Employment contract §12',
    documentHash: sha256(utf8Encode('order')),
    subjects: ['alice@example.org'],
    window: { from: SEND_TIME - 5 * DAY, until: SEND_TIME + 5 * DAY },
    conversations: [],
    maxEnvelopes: 500,
    sealUntil: SEND_TIME + 100 * DAY,
    confidentialCommitment: committed.commitment,
    ...overrides,
  };
}

export function opening() {
  return commitConfidential(confidential, () => seed('salt')).opening;
}

export const requestEntry = (signed: Uint8Array) => Uint8Array.of(5, ...signed);
export const decisionEntry = (signed: Uint8Array) => Uint8Array.of(6, ...signed);
export const executionEntry = (signed: Uint8Array) => Uint8Array.of(7, ...signed);

export function signedRequest(org: Org, overrides: Partial<Request> = {}, signer = requesterKey): Uint8Array {
  return signRequest(requestOf(org, overrides), signer);
}

export function decision(req: VerifiedRequest, trustee: number, verdict: Verdict = 'approve'): Uint8Array {
  return signDecision(decisionFor(req, trustee, verdict, SEND_TIME + 11 * DAY), trusteeKeys[trustee - 1]!);
}

export function fields(overrides: Partial<HeaderFields> = {}): HeaderFields {
  return {
    orgId: ORG,
    epoch: EPOCH,
    conversationId: utf8Encode('group-42'),
    senderUserId: 'alice@example.org',
    senderDeviceId: utf8Encode('alice-laptop'),
    recipients: ['alice@example.org', 'bob@example.org'],
    messageId: new Uint8Array(16).fill(0x42),
    sendTime: SEND_TIME,
    contentType: 'text/plain; charset=utf-8',
    ...overrides,
  };
}

let messageCounter = 0;

/** Seals `n` envelopes (message ids distinct) with core's sealer, signed by the sender's device key. */
export async function seal(
  org: Org,
  overrides: Partial<HeaderFields> = {},
  signer = devices.alice.key,
  epochKey: Element = org.epochKey,
): Promise<SealedEnvelope> {
  const messageId = new Uint8Array(16);
  new DataView(messageId.buffer).setUint32(12, ++messageCounter);
  return sealEnvelope(
    fields({ messageId, ...overrides }),
    utf8Encode(`message ${messageCounter}`),
    epochKey,
    signer,
  );
}

/** The trustee's log view: a real tiled log with two cosigning witnesses whose clock the test sets. */
export class View {
  readonly entries: Uint8Array[] = [];
  now = Math.floor((SEND_TIME + 12 * DAY) / 1000);
  readonly log: MemoryTiledLog;

  constructor(witnesses = witnessSigners) {
    this.log = new MemoryTiledLog(ORIGIN, logSigner, witnesses, () => this.now);
  }

  append(...entries: Uint8Array[]): number {
    const first = this.entries.length;
    this.entries.push(...entries);
    this.log.append(...entries);
    return first;
  }

  get checkpoint(): string {
    return this.log.checkpoint;
  }
}

/** The vault seen by the access half: a trustee's index, keys and its epoch share (in memory). */
export function vaultOf(
  org: Org,
  index: number,
  epochs: readonly number[] = [EPOCH],
): ShareVault & { alerts(): { kind: string; detail: string }[] } {
  const alerts = new Map<string, { kind: string; detail: string }>();
  return {
    index,
    addAlert: (kind, detail, _at, dedup) => {
      const key = dedup ?? `${kind}/${detail}/${alerts.size}`;
      if (alerts.has(key)) return false;
      alerts.set(key, { kind, detail });
      return true;
    },
    alerts: () => [...alerts.values()],
    signingKey: () => trusteeKeys[index - 1]!,
    hpkeKeyPair: () => org.hpke[index - 1]!,
    share: async (epoch: number): Promise<EpochShare | undefined> =>
      epochs.includes(epoch)
        ? {
            epoch,
            share: org.shares[index - 1]!,
            publicKey: org.publicKey,
            transcriptHash: seed('transcript'),
          }
        : undefined,
  };
}

/** Builds the execution the relay would make over `envelopes` (labels sorted), signed by the relay's key. */
export function execute(
  org: Org,
  req: VerifiedRequest,
  decisions: readonly Uint8Array[],
  labels: readonly Uint8Array[],
): Uint8Array {
  const approvals: VerifiedDecision[] = decisions
    .map((d) => verifyDecision(d, org.policy, req))
    .filter((d) => d.decision.verdict === 'approve');
  return signExecution(executionFor(req, approvals, labels, SEND_TIME + 12 * DAY), relayKey);
}

/**
 * The relay side of access.md §4 that the trustee talks to, in memory: serves the executed envelopes sorted by
 * label, and checks what the trustee posts as the relay does (ACC-L1..L4, ACC-F1).
 */
export class TestRelay implements AccessRelay {
  served: ServedEnvelope[] = [];
  readonly releases = new Map<string, { release: Uint8Array; bundle: Uint8Array; batch: number }>();
  readonly releasePosts: { release: Uint8Array; bundle: Uint8Array; batch: number }[] = [];
  readonly refusals: Uint8Array[] = [];
  readonly decisions: Uint8Array[] = [];
  sealed = new Map<string, Uint8Array>();
  failReleases = 0;

  constructor(
    private readonly org: Org,
    private readonly req: () => VerifiedRequest,
    private readonly execution: () => Uint8Array,
    private readonly logEntries: () => Uint8Array[],
  ) {}

  serve(heads: readonly { label: Uint8Array; head: Uint8Array; messageId?: Uint8Array }[]): void {
    this.served = [...heads]
      .sort((a, b) => compareBytes(a.label, b.label))
      .map((h, position) => ({
        position,
        label: h.label,
        head: h.head,
        messageId: h.messageId ?? new Uint8Array(16),
      }));
  }

  async envelopes(_requestId: Uint8Array, from = 0, limit = 4096): Promise<EnvelopePage> {
    const page = this.served.slice(from, from + Math.min(limit, 4096));
    const next = from + page.length;
    return { items: page, next: next < this.served.length ? next : null };
  }

  async sealedPart(requestId: Uint8Array): Promise<Uint8Array> {
    const s = this.sealed.get(toHex(requestId));
    if (s === undefined) throw new Error('no sealed part');
    return s;
  }

  async submitDecision(signed: Uint8Array): Promise<{ index: number }> {
    verifyDecision(signed, this.org.policy, this.req());
    this.decisions.push(signed);
    return { index: 1000 + this.decisions.length };
  }

  async submitRelease(release: Uint8Array, bundle: Uint8Array, batch: number): Promise<unknown> {
    if (this.failReleases > 0) {
      this.failReleases--;
      throw new Error('relay unreachable');
    }
    const req = this.req();
    const logged = decisionsOnLog(this.org.policy, req, this.logEntries());
    const exec = verifyExecution(this.execution(), relayKey.publicKey, this.org.policy, req, logged);
    const v = verifyRelease(release, this.org.policy, exec);
    if (!equalBytes(sha256(bundle), v.release.bundleHash)) throw new Error('ACC-L3');
    const k = `${v.release.trusteeIndex}/${batch}`;
    const before = this.releases.get(k);
    if (before !== undefined && (!equalBytes(before.release, release) || !equalBytes(before.bundle, bundle)))
      throw new Error('ACCESS_RELEASE_CONFLICT (ACC-L4)');
    this.releases.set(k, { release, bundle, batch });
    this.releasePosts.push({ release, bundle, batch });
    return {};
  }

  async submitRefusal(signed: Uint8Array): Promise<unknown> {
    this.refusals.push(signed);
    return {};
  }

  // After release (after-release.md §1, §2): recorded, not checked (deadline.test.ts checks them).
  readonly unseals: Uint8Array[] = [];
  /** Answer ACCESS_UNSEAL_EXISTS to unseals while set. */
  unsealExists = false;
  extensions: ServedExtension[] = [];
  readonly extensionSignatures: { requestId: Uint8Array; number: number; signature: Uint8Array }[] = [];

  async submitUnseal(unseal: Uint8Array): Promise<{ index: number }> {
    if (this.unsealExists)
      throw Object.assign(new Error('relay refused the request (409 ACCESS_UNSEAL_EXISTS)'), {
        relayCode: 'ACCESS_UNSEAL_EXISTS',
      });
    this.unseals.push(unseal);
    return { index: 2000 + this.unseals.length };
  }

  async listExtensions(): Promise<ExtensionPage> {
    return { items: this.extensions, next: null };
  }

  async signExtension(
    requestId: Uint8Array,
    number: number,
    signature: Uint8Array,
  ): Promise<{ signers: number }> {
    this.extensionSignatures.push({ requestId, number, signature });
    return { signers: this.extensionSignatures.length };
  }
}
