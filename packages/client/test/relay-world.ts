/**
 * A real relay for the SDK's integration tests: the server's harness (SQLite relay on an ephemeral 127.0.0.1
 * port, a real log sequencer) with two real witness daemons cosigning every checkpoint (quorum 2), the org's
 * access policy signed by the admin key and logged first (three trustee stand-ins, k = 2), epoch keys from a real
 * DKG among those trustees and signed by them (directory.md §1.2, DESIGN A14), and helpers that enrol devices the way an org-admin does — sign the
 * device-added statement (core directory/statements.ts), POST it through the SDK's admin transport — and wait
 * until a witnessed checkpoint includes it, as a client that checks the log requires (docs/spec/client.md §8).
 * Relay, witnesses and the clients it opens share one clock (`clock`), which a test may move forward: the
 * witnesses' cosignature timestamps, the relay's freshness checks and the clients' view-age checks (§8.6) then
 * all see the same time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  calendarMonthEpoch,
  createDkgSession,
  type DkgEncryptionKeyPair,
  DkgParticipant,
  type Element,
  generateDkgEncryptionKey,
  generateSigningKey,
  group,
  isOvertError,
  type Policy,
  randomBytes,
  randomNonZeroScalar,
  runDkgLocally,
  type SigningKeyPair,
  scalarFromInt,
  signDeviceStatement,
  signEpochKeyStatement,
  signPolicy,
  toBase64,
  type VerifiedPolicy,
  verifyPolicy,
} from '@overt/core';
import {
  formatVerifierKey,
  generateSignerKey,
  parseVerifierKey,
  quorumTimestamp,
  verifierKeyOf,
  verifyCheckpoint,
} from '@overt/log';
import type { LogWitness } from '@overt/log/service';
import { type RunningWitness, startWitnessDaemon, submitToWitness } from '@overt/witness';
import { type Harness, LOG_ORIGIN, ORG, startHarness } from '../../server/test/harness.js';
import {
  type KeyValueStore,
  logPolicyOf,
  MemoryStore,
  OvertClient,
  type OvertClientOptions,
  RelayTransport,
  type TrustAnchors,
} from '../src/index.js';

export { ORG };

/** The world's clock: real time plus an offset that only grows. */
export interface WorldClock {
  /** Milliseconds since the epoch, as every party of the world sees it. */
  now(): number;
  /** Moves the clock forward by `ms`. */
  advance(ms: number): void;
}

export interface WorldOptions {
  /** The log's heartbeat (default the sequencer's, 10 s). */
  readonly heartbeatMs?: number;
  /** The relay's rate limits (default: generous enough never to limit a test). */
  readonly rateLimits?: { principal: TokenRate; address: TokenRate };
}

interface TokenRate {
  readonly capacity: number;
  readonly refillPerSecond: number;
}

export interface World {
  readonly h: Harness;
  readonly clock: WorldClock;
  readonly url: string;
  readonly admin: RelayTransport;
  readonly adminKey: SigningKeyPair;
  /** What every client pins: log origin and key, the two witnesses with quorum 2, the admin key. */
  readonly trust: TrustAnchors;
  readonly epochKey: Element;
  /** The epoch of `epochKey`: the calendar month of the clock at start, the relay's current one (RLY-17). */
  readonly epoch: number;
  /** Enrols a device (creating its user if needed) and opens a client for it. */
  device(
    userId: string,
    deviceId: string,
    store?: KeyValueStore,
    extra?: Partial<OvertClientOptions>,
  ): Promise<Device>;
  /**
   * Opens another session of an enrolled device: its key and store unless `extra` says otherwise (e.g. a `fetch`
   * that plays a lying relay or a failing network).
   */
  reopen(d: Device, extra?: Partial<OvertClientOptions>): Promise<OvertClient>;
  /** Enrols a device key on the log (admin statement) without opening a client; returns its log index. */
  enrol(userId: string, deviceId: string, key: SigningKeyPair): Promise<number>;
  /** Revokes a device in the directory (admin statement on the log). */
  revoke(d: Device): Promise<void>;
  /**
   * Publishes an epoch key for `epoch` through the admin API, signed by trustees 1 and 2 of the policy in force,
   * and waits until it is witnessed. Without `key`, the key of a real DKG among the three trustees; with `key`,
   * verification keys Y + i·A for a random A (they interpolate to it; nobody knows its secret).
   */
  publishEpochKey(epoch: number, key?: Element): Promise<{ key: Element; logIndex: number }>;
  /** The trustee stand-ins' signing keys (index i + 1); the policy names them. */
  readonly trustees: readonly SigningKeyPair[];
  /** The policy in force (the latest published through {@link World.publishPolicy}). */
  policy(): VerifiedPolicy;
  /**
   * Signs `policy` (default: the world's first policy with the next serial) with the admin key, publishes it
   * through the admin API (it is then in force) and waits until it is witnessed. Returns its log index.
   */
  publishPolicy(policy?: Partial<Policy>): Promise<{ policy: VerifiedPolicy; logIndex: number }>;
  /** Waits until the published (witnessed) checkpoint covers every entry appended so far. */
  witnessed(): Promise<void>;
  /**
   * Waits (up to 10 s) until the published checkpoint's witness quorum cosigned it at the clock's current time or
   * later — a heartbeat after the clock moved — and returns that note.
   */
  fresh(): Promise<string>;
  close(): Promise<void>;
}

export interface Device {
  readonly client: OvertClient;
  readonly key: SigningKeyPair;
  readonly store: KeyValueStore;
  readonly userId: string;
  readonly deviceId: string;
}

const generous = {
  principal: { capacity: 10_000, refillPerSecond: 10_000 },
  address: { capacity: 100_000, refillPerSecond: 100_000 },
};

export async function startWorld(options: WorldOptions = {}): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'overt-client-world-'));
  let offset = 0;
  const clock: WorldClock = {
    now: () => Date.now() + offset,
    advance: (ms) => {
      offset += ms;
    },
  };
  const logKey = generateSignerKey(LOG_ORIGIN);
  const logVkey = formatVerifierKey(verifierKeyOf(logKey));
  const daemons: RunningWitness[] = [];
  for (const i of [1, 2])
    daemons.push(
      await startWitnessDaemon({
        dataDir: join(dir, `witness-${i}`),
        name: `witness-${i}.test`,
        logs: [{ origin: LOG_ORIGIN, keys: [parseVerifierKey(logVkey)] }],
        host: '127.0.0.1',
        port: 0,
        clock: () => Math.floor(clock.now() / 1000),
      }),
    );
  const witnesses: LogWitness[] = daemons.map((d) => {
    const key = parseVerifierKey(d.vkey);
    return {
      key,
      addCheckpoint: (note, oldSize, prove, signal) =>
        submitToWitness(d.url, note, oldSize, prove, { witnessKey: key, signal }),
    };
  });
  const h = await startHarness({
    rateLimits: options.rateLimits ?? generous,
    logKey,
    witnesses,
    witnessQuorum: 2,
    now: clock.now,
    ...(options.heartbeatMs !== undefined ? { heartbeatMs: options.heartbeatMs } : {}),
  });
  const trust: TrustAnchors = {
    log: {
      origin: LOG_ORIGIN,
      url: `${h.url}/log/`,
      vkey: logVkey,
      witnessVkeys: daemons.map((d) => d.vkey),
      witnessQuorum: 2,
    },
    adminKey: h.adminKey.publicKey,
  };
  const admin = new RelayTransport({
    url: h.url,
    key: h.adminKey,
    signer: { kind: 'admin' },
    now: clock.now,
  });
  const witnessed = async (): Promise<void> => {
    await h.sequencer.awaitWitnessed(h.sequencer.checkpoint.size, 10_000);
  };
  // The org's access policy (workflow.md §2): three trustee stand-ins with DKG encryption keys, k = 2, the two
  // witnesses (quorum 2), one requester; signed by the admin (org) key and logged before any epoch key.
  const trustees = [1, 2, 3].map(() => generateSigningKey());
  const encryption: DkgEncryptionKeyPair[] = [];
  for (let i = 0; i < 3; i++) encryption.push(await generateDkgEncryptionKey());
  const basePolicy: Policy = {
    version: 1,
    orgId: ORG,
    serial: 1,
    issuedAt: Date.now(),
    trustees: trustees.map((k, i) => ({
      index: i + 1,
      name: `Trustee ${i + 1}`,
      signingKey: k.publicKey,
      encryptionKey: encryption[i]!.publicKey,
    })),
    threshold: 2,
    witnesses: daemons
      .map((d) => parseVerifierKey(d.vkey))
      .map((k) => ({ name: k.name, signingKey: k.publicKey })),
    witnessQuorum: 2,
    requesters: [
      {
        id: 'requester',
        name: 'Requester',
        signingKey: generateSigningKey().publicKey,
        encryptionKey: (await generateDkgEncryptionKey()).publicKey,
      },
    ],
    limits: {
      maxSubjects: 10,
      maxWindowMs: 31 * 86_400_000,
      maxEnvelopes: 1000,
      maxSealMs: 86_400_000,
      maxExtensions: 2,
    },
    epochLength: { kind: 'calendar-month' },
    retentionMs: 365 * 86_400_000,
  };
  let inForce: VerifiedPolicy | undefined;
  const publishPolicy = async (changes: Partial<Policy> = {}) => {
    const policy: Policy = { ...basePolicy, serial: (inForce?.policy.serial ?? 0) + 1, ...changes };
    const signed = signPolicy(policy, h.adminKey);
    const r = await admin.request('POST', '/v1/admin/policies', { statement: toBase64(signed) });
    inForce = verifyPolicy(signed, h.adminKey.publicKey);
    await witnessed();
    return { policy: inForce, logIndex: Number((r as { logIndex?: unknown })?.logIndex) };
  };
  await publishPolicy();
  /** A real 2-of-3 DKG among the trustees for `epoch` (core's runDkgLocally). */
  const dkg = async (epoch: number) => {
    const session = createDkgSession({
      org: ORG,
      epoch,
      attempt: 0,
      threshold: 2,
      participants: trustees.map((k, i) => ({
        index: i + 1,
        signingKey: k.publicKey,
        encryptionKey: encryption[i]!.publicKey,
      })),
    });
    const run = await runDkgLocally(
      trustees.map((k, i) =>
        DkgParticipant.forDkg(session, {
          index: i + 1,
          signingKey: k,
          encryptionSecretKey: encryption[i]!.secretKey,
        }),
      ),
    );
    const out = run.outputs[0]!;
    if (isOvertError(out)) throw out;
    return { ...out.publicKey, transcriptHash: out.transcriptHash, sessionId: session.id };
  };
  const publishEpochKey = async (epoch: number, key?: Element) => {
    let shape: {
      groupKey: Element;
      verificationKeys: readonly Element[];
      transcriptHash: Uint8Array;
      sessionId: Uint8Array;
    };
    if (key === undefined) shape = await dkg(epoch);
    else {
      const slope = group.baseMul(randomNonZeroScalar());
      shape = {
        groupKey: key,
        verificationKeys: [1, 2, 3].map((i) => group.add(key, group.mul(scalarFromInt(i), slope))),
        transcriptHash: randomBytes(32),
        sessionId: randomBytes(32),
      };
    }
    const r = await admin.request('POST', '/v1/admin/epoch-keys', {
      statement: toBase64(
        signEpochKeyStatement(
          { orgId: ORG, epoch, policyHash: inForce!.hash, threshold: 2, ...shape, time: Date.now() },
          trustees.slice(0, 2).map((k, i) => ({ index: i + 1, key: k })),
        ),
      ),
    });
    await witnessed();
    return { key: shape.groupKey, logIndex: Number((r as { logIndex?: unknown })?.logIndex) };
  };
  // The client seals to the epoch of its send time (calendar month), which the relay also calls current.
  const epoch = calendarMonthEpoch(Date.now());
  const { key: epochKey } = await publishEpochKey(epoch);
  // Next month's too, published ahead as the standalone start does, so a run across a month boundary still seals.
  await publishEpochKey(epoch + 1);
  const users = new Set<string>();
  const enrol = async (userId: string, deviceId: string, key: SigningKeyPair): Promise<number> => {
    if (!users.has(userId)) {
      await admin.createUser(userId);
      users.add(userId);
    }
    const index = await admin.enrolDevice(
      signDeviceStatement(h.adminKey, {
        kind: 'added',
        orgId: ORG,
        userId,
        deviceId,
        identityKey: key.publicKey,
        time: clock.now(),
      }),
    );
    await witnessed();
    return index;
  };
  const open = (
    userId: string,
    deviceId: string,
    key: SigningKeyPair,
    store: KeyValueStore,
    extra: Partial<OvertClientOptions>,
  ): Promise<OvertClient> =>
    OvertClient.open({
      url: h.url,
      orgId: ORG,
      userId,
      deviceId,
      signingKey: key,
      store,
      trust,
      now: clock.now,
      ...extra,
    });
  const policy = logPolicyOf(trust);
  const fresh = async (): Promise<string> => {
    const want = Math.floor(clock.now() / 1000);
    for (let i = 0; i < 500; i++) {
      const note = h.sequencer.publishedCheckpoint?.note;
      if (note !== undefined) {
        const cp = verifyCheckpoint(note, policy);
        const t = quorumTimestamp(
          cp.cosignatures.map((c) => c.timestamp),
          policy.witnesses.quorum,
          want,
        );
        if (t !== undefined && t >= want) return note;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error('no heartbeat brought a fresh checkpoint within 10 s');
  };
  return {
    h,
    clock,
    fresh,
    url: h.url,
    admin,
    adminKey: h.adminKey,
    trust,
    epochKey,
    epoch,
    enrol,
    async device(userId, deviceId, store = new MemoryStore(), extra = {}) {
      const key = generateSigningKey();
      await enrol(userId, deviceId, key);
      const client = await open(userId, deviceId, key, store, extra);
      return { client, key, store, userId, deviceId };
    },
    reopen: (d, extra = {}) => open(d.userId, d.deviceId, d.key, d.store, extra),
    async revoke(d) {
      await admin.removeDevice(
        d.deviceId,
        signDeviceStatement(h.adminKey, {
          kind: 'removed',
          orgId: ORG,
          userId: d.userId,
          deviceId: d.deviceId,
          identityKey: d.key.publicKey,
          time: clock.now(),
        }),
      );
      await witnessed();
    },
    publishEpochKey,
    trustees,
    policy: () => inForce!,
    publishPolicy,
    witnessed,
    async close() {
      await h.close();
      for (const d of daemons) await d.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
