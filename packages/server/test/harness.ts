// Test harness for the relay's HTTP tests: a real relay on an ephemeral 127.0.0.1 port, backed by SQLite files
// in a temporary directory, appending to a real log sequencer (@overt/log/service), and clients that sign their
// requests exactly as docs/spec/relay.md §3 says.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Conversation, createMlsIdentity, generateKeyPackage } from '@overt/client';
import {
  type Element,
  fromBase64,
  generateSigningKey,
  group,
  type HeaderFields,
  type Policy,
  randomBytes,
  randomNonZeroScalar,
  type SigningKeyPair,
  scalarFromInt,
  signEpochKeyStatement,
  signingKeyFromSeed,
  signPolicy,
  toBase64,
  toBase64Url,
  utf8Encode,
  verifyPolicy,
} from '@overt/core';
import { generateSignerKey, type SignerKey } from '@overt/log';
import {
  createLogHandler,
  type LogWitness,
  openSqliteStorage,
  Sequencer,
  type SqliteLogStorage,
} from '@overt/log/service';
import WebSocket from 'ws';
import { type AuthHeaders, type Signer, signRequest } from '../src/auth.js';
import type { mailboxItemJson, RateLimits } from '../src/http/app.js';
import type { ResourceLimits } from '../src/limits.js';
import type { BucketConfig } from '../src/rate-limit.js';
import { createRelay, type Relay } from '../src/relay.js';
import { signDeviceStatement } from '../src/statements.js';

export const ORG = 'org.test';
export const LOG_ORIGIN = 'relay.test/log';

export interface Response {
  readonly status: number;
  readonly headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests read JSON bodies of every endpoint's shape
  readonly body: any;
}

/** A mailbox item as the relay sends it (docs/spec/relay.md §6.6). */
export type Item = ReturnType<typeof mailboxItemJson>;

/** A WebSocket frame from the relay. */
export interface Frame {
  readonly type: string;
  readonly items?: Item[];
  readonly code?: string;
  readonly check?: string;
  readonly upTo?: number;
  readonly removed?: number;
}

/** A signing client: a device or the admin. */
export class Client {
  constructor(
    readonly url: string,
    readonly key: SigningKeyPair,
    readonly signer: Signer,
  ) {}

  /** Signs and sends. `body`: a JSON value, raw bytes (octet-stream), or undefined. */
  async request(
    method: 'GET' | 'POST' | 'PUT',
    target: string,
    body?: unknown,
    options: {
      timestamp?: number;
      nonce?: Uint8Array;
      headers?: Partial<AuthHeaders>;
      contentType?: string;
    } = {},
  ): Promise<Response> {
    let bytes: Uint8Array = new Uint8Array(0);
    let contentType: string | undefined;
    if (body instanceof Uint8Array) {
      bytes = body;
      contentType = 'application/octet-stream';
    } else if (typeof body === 'string') {
      bytes = new TextEncoder().encode(body);
      contentType = 'application/json';
    } else if (body !== undefined) {
      bytes = new TextEncoder().encode(JSON.stringify(body));
      contentType = 'application/json';
    }
    const auth = signRequest(this.key, this.signer, method, target, bytes, options);
    return send(this.url, method, target, bytes, {
      ...((options.contentType ?? contentType)
        ? { 'content-type': (options.contentType ?? contentType)! }
        : {}),
      ...auth,
      ...options.headers,
    });
  }
}

export async function send(
  url: string,
  method: string,
  target: string,
  bytes: Uint8Array,
  headers: Record<string, string>,
): Promise<Response> {
  const res = await fetch(`${url}${target}`, {
    method,
    headers,
    ...(method !== 'GET' ? { body: new Uint8Array(bytes) } : {}),
  });
  const text = await res.text();
  let body: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('json')) body = JSON.parse(text);
  return { status: res.status, headers: res.headers, body };
}

/**
 * The admin enrols a device of an existing user: signs a device-added statement for a fresh identity key and posts
 * it. Returns the key and the relay's answer unchecked, so each caller asserts the way its runner does.
 */
export async function addDevice(
  admin: Client,
  adminKey: SigningKeyPair,
  orgId: string,
  userId: string,
  deviceId: string,
): Promise<{ key: SigningKeyPair; response: Response }> {
  const key = generateSigningKey();
  const statement = signDeviceStatement(adminKey, {
    kind: 'added',
    orgId,
    userId,
    deviceId,
    identityKey: key.publicKey,
    time: Date.now(),
  });
  const response = await admin.request('POST', '/v1/admin/devices', { statement: toBase64(statement) });
  return { key, response };
}

/** The three trustees of the test policy (fixed seeds): they sign every epoch key the harness publishes. */
export const TRUSTEE_KEYS: readonly SigningKeyPair[] = [0x71, 0x72, 0x73].map((b) =>
  signingKeyFromSeed(new Uint8Array(32).fill(b)),
);

/**
 * The test org's access policy (workflow.md §2): the three {@link TRUSTEE_KEYS} with k = 2, two witnesses, one
 * requester, calendar-month epochs. Deterministic for a given org, so the harness can publish it idempotently.
 */
export function testPolicy(orgId: string = ORG, overrides: Partial<Policy> = {}): Policy {
  const fixed = (b: number) => signingKeyFromSeed(new Uint8Array(32).fill(b)).publicKey;
  return {
    version: 1,
    orgId,
    serial: 1,
    issuedAt: 0,
    trustees: TRUSTEE_KEYS.map((k, i) => ({
      index: i + 1,
      name: `Trustee ${i + 1}`,
      signingKey: k.publicKey,
      encryptionKey: new Uint8Array(32).fill(0x40 + i),
    })),
    threshold: 2,
    witnesses: [1, 2].map((i) => ({ name: `witness-${i}.test`, signingKey: fixed(0x80 + i) })),
    witnessQuorum: 2,
    requesters: [
      {
        id: 'requester',
        name: 'Requester',
        signingKey: fixed(0x90),
        encryptionKey: new Uint8Array(32).fill(0x91),
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
    ...overrides,
  };
}

/**
 * Logs the org's policy signed by the admin key ({@link testPolicy}) unless this relay already has it in force.
 * Returns the verified policy and the relay's answer (201, or 409 POLICY_STALE when already published).
 */
export async function publishPolicy(admin: Client, adminKey: SigningKeyPair, orgId: string = ORG) {
  const signed = signPolicy(testPolicy(orgId), adminKey);
  const response = await admin.request('POST', '/v1/admin/policies', { statement: toBase64(signed) });
  return { policy: verifyPolicy(signed, adminKey.publicKey), response };
}

/**
 * The trustees publish a 2-of-3 epoch key for `epoch` under the test policy (logged first if this relay has none),
 * signed at `options.time` (default now), with `options.epochKey` or a fresh group key. The verification keys are
 * Y_i = Y + i·A for a random A, points of a degree-1 polynomial in the exponent through Y, so they interpolate to
 * Y (DIR-6) without anyone knowing its secret: nothing here decrypts. Returns the group key, the signed statement
 * and the relay's answer.
 */
export async function publishEpochKey(
  admin: Client,
  adminKey: SigningKeyPair,
  epoch: number,
  options: { orgId?: string; epochKey?: Element; time?: number } = {},
): Promise<{ epochKey: Element; statement: Uint8Array; response: Response }> {
  const { orgId = ORG, epochKey = group.baseMul(randomNonZeroScalar()), time = Date.now() } = options;
  const { policy } = await publishPolicy(admin, adminKey, orgId);
  const slope = group.baseMul(randomNonZeroScalar());
  const statement = signEpochKeyStatement(
    {
      orgId,
      epoch,
      policyHash: policy.hash,
      threshold: 2,
      groupKey: epochKey,
      verificationKeys: [1, 2, 3].map((i) => group.add(epochKey, group.mul(scalarFromInt(i), slope))),
      transcriptHash: randomBytes(32),
      sessionId: randomBytes(32),
      time,
    },
    TRUSTEE_KEYS.slice(0, 2).map((key, i) => ({ index: i + 1, key })),
  );
  const response = await admin.request('POST', '/v1/admin/epoch-keys', { statement: toBase64(statement) });
  return { epochKey, statement, response };
}

/** Envelope header fields of a text message from alice's phone to alice and bob, fresh ids, sent now. */
export function textFields(
  epoch: number,
  extra: Partial<HeaderFields> = {},
  orgId: string = ORG,
): HeaderFields {
  return {
    orgId,
    epoch,
    conversationId: randomBytes(16),
    senderUserId: 'alice',
    senderDeviceId: utf8Encode('alice-phone'),
    recipients: ['alice', 'bob'],
    messageId: randomBytes(16),
    sendTime: Date.now(),
    contentType: 'text/plain; charset=utf-8',
    ...extra,
  };
}

export interface Harness {
  readonly relay: Relay;
  readonly url: string;
  readonly admin: Client;
  readonly adminKey: SigningKeyPair;
  /** The relay's franking key (relay.md §10), undefined when started without one. */
  readonly frankingKey: SigningKeyPair | undefined;
  /** The relay's execution key (access.md §4.1), undefined when started without one. */
  readonly accessKey: SigningKeyPair | undefined;
  readonly sequencer: Sequencer;
  readonly logStorage: SqliteLogStorage;
  /** Creates a user (if needed) and enrols a device with a fresh identity key. */
  enrol(userId: string, deviceId: string): Promise<Device>;
  close(): Promise<void>;
}

export interface Device extends Client {
  readonly deviceId: string;
  readonly userId: string;
  readonly logIndex: number;
}

export async function startHarness(
  options: {
    rateLimits?: RateLimits;
    now?: () => number;
    freshnessMs?: number;
    /** The log's signing key (default: a fresh one); a client that verifies checkpoints needs its vkey. */
    logKey?: SignerKey;
    /** Witnesses the sequencer asks to cosign (default none), with their quorum (default all). */
    witnesses?: readonly LogWitness[];
    witnessQuorum?: number;
    /** The log's heartbeat with witnesses (log-service.md "Heartbeat"), default the sequencer's. */
    heartbeatMs?: number;
    /** The relay's franking key (default: a fresh one); `false` runs a relay without one (RPT-1). */
    frankingKey?: SigningKeyPair | false;
    /** Expiry of abandoned blobs and its sweep period (STORE-R-7), default the relay's. */
    blobExpiryMs?: number;
    blobSweepMs?: number;
    /** Resource bounds (relay.md §2.4), each defaulting to the relay's. */
    limits?: Partial<ResourceLimits>;
    /** Runs the relay on PostgreSQL in this (fresh) schema instead of SQLite; the caller drops the schema. */
    postgres?: { readonly url: string; readonly schema: string };
    /** Key-package claims per (claimer, claimed device) (DS-11), default the relay's. */
    claimLimit?: BucketConfig;
    /** The relay's execution key (access.md §4.1), default a fresh one; `false` runs a relay without one. */
    accessKey?: SigningKeyPair | false;
    /** The relay's X25519 unseal key (after-release.md §1), default none; its task's period (default 5 s). */
    unsealKey?: { readonly secretKey: Uint8Array; readonly publicKey: Uint8Array };
    unsealPollMs?: number;
    /** The built web app's directory, served at `/` (web.md §4); default none. */
    webRoot?: string;
  } = {},
): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'overt-relay-http-'));
  const logStorage = openSqliteStorage({ path: join(dir, 'log.sqlite') });
  const sequencer = await Sequencer.start({
    storage: logStorage,
    origin: LOG_ORIGIN,
    key: options.logKey ?? generateSignerKey(LOG_ORIGIN),
    ...(options.witnesses ? { witnesses: options.witnesses, witnessRetryMs: 50 } : {}),
    ...(options.witnessQuorum !== undefined ? { witnessQuorum: options.witnessQuorum } : {}),
    ...(options.heartbeatMs !== undefined ? { heartbeatMs: options.heartbeatMs } : {}),
  });
  const adminKey = generateSigningKey();
  const frankingKey =
    options.frankingKey === false ? undefined : (options.frankingKey ?? generateSigningKey());
  const accessKey = options.accessKey === false ? undefined : (options.accessKey ?? generateSigningKey());
  const relay = await createRelay({
    ...(accessKey !== undefined ? { accessKey } : {}),
    ...(options.unsealKey !== undefined ? { unsealKey: options.unsealKey } : {}),
    ...(options.unsealPollMs !== undefined ? { unsealPollMs: options.unsealPollMs } : {}),
    ...(options.postgres !== undefined
      ? { databaseUrl: options.postgres.url, schema: options.postgres.schema }
      : { dataDir: join(dir, 'relay') }),
    orgId: ORG,
    adminPublicKey: adminKey.publicKey,
    log: sequencer,
    logHandler: createLogHandler({ storage: logStorage, sequencer, prefix: '/log/' }),
    ...(options.webRoot !== undefined ? { webRoot: options.webRoot } : {}),
    ...(options.rateLimits ? { rateLimits: options.rateLimits } : {}),
    ...(options.now ? { now: options.now } : {}),
    ...(options.freshnessMs ? { freshnessMs: options.freshnessMs } : {}),
    ...(frankingKey !== undefined ? { frankingKey } : {}),
    ...(options.blobExpiryMs !== undefined ? { blobExpiryMs: options.blobExpiryMs } : {}),
    ...(options.blobSweepMs !== undefined ? { blobSweepMs: options.blobSweepMs } : {}),
    ...(options.limits !== undefined ? { limits: options.limits } : {}),
    ...(options.claimLimit !== undefined ? { claimLimit: options.claimLimit } : {}),
  });
  const url = await relay.start();
  const admin = new Client(url, adminKey, { kind: 'admin' });
  const users = new Set<string>();
  return {
    relay,
    url,
    admin,
    adminKey,
    frankingKey,
    accessKey,
    sequencer,
    logStorage,
    async enrol(userId, deviceId) {
      if (!users.has(userId)) {
        const r = await admin.request('POST', '/v1/admin/users', { userId });
        if (r.status !== 201) throw new Error(`create user: ${r.status} ${JSON.stringify(r.body)}`);
        users.add(userId);
      }
      const { key, response: r } = await addDevice(admin, adminKey, ORG, userId, deviceId);
      if (r.status !== 201) throw new Error(`enrol: ${r.status} ${JSON.stringify(r.body)}`);
      const client = new Client(url, key, { kind: 'device', deviceId });
      return Object.assign(client, { deviceId, userId, logIndex: r.body.enrolLogIndex as number });
    },
    async close() {
      await relay.stop();
      await sequencer.close();
      await logStorage.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The mailbox socket's first frame (relay.md §6.8): `GET /v1/ws` signed now by `signer`. */
export function authFrame(key: SigningKeyPair, signer: Signer): Record<string, unknown> {
  const h = signRequest(key, signer, 'GET', '/v1/ws', new Uint8Array(0));
  return {
    type: 'auth',
    signer: h['overt-signer'],
    timestamp: h['overt-timestamp'],
    nonce: h['overt-nonce'],
    signature: h['overt-signature'],
  };
}

/** A mailbox socket that records every frame. */
export class MailboxSocket {
  readonly frames: Frame[] = [];
  private waiters: (() => void)[] = [];
  readonly closed: Promise<{ code: number }>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (d) => {
      this.frames.push(JSON.parse(d.toString()) as Frame);
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve({ code })));
  }

  /** Connects and sends the auth frame (signed unless `auth` overrides it). */
  static async open(url: string, device: Client, auth?: Record<string, unknown>): Promise<MailboxSocket> {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/ws`);
    const s = new MailboxSocket(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    ws.send(JSON.stringify(auth ?? authFrame(device.key, device.signer)));
    return s;
  }

  /** Waits until a frame satisfies `pred` (or 5 s pass). */
  async waitFor(pred: (frames: Frame[]) => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.frames)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; frames: ${JSON.stringify(this.frames).slice(0, 500)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  items(): Item[] {
    return this.frames.filter((f) => f.type === 'items').flatMap((f) => f.items ?? []);
  }

  ack(upTo: number): void {
    this.ws.send(JSON.stringify({ type: 'ack', upTo }));
  }

  close(): Promise<{ code: number }> {
    this.ws.close();
    return this.closed;
  }
}

/**
 * A conversation on the relay with real MLS (a commit and a Welcome, DS-8): `creator` creates the group and adds
 * one device of each of `others` (each publishes a key package first). Returns the group id and the creator's MLS
 * state, from which it encrypts application messages. The relay's ingest rules (relay.md §6.7) accept envelopes
 * only in a conversation like this, from a member, addressed to exactly its members' users.
 */
export async function createConversation(
  creator: Device,
  others: readonly Device[],
): Promise<{ groupId: Uint8Array; conversation: Conversation }> {
  const options = { authenticate: () => true };
  const identity = (d: Device) => createMlsIdentity(d.userId, utf8Encode(d.deviceId), d.key);
  const groupId = randomBytes(16);
  const conversation = await Conversation.create(identity(creator), options, groupId);
  const created = await creator.request('POST', '/v1/groups', { groupId: toBase64Url(groupId) });
  if (created.status !== 201) throw new Error(`create group: ${created.status}`);
  if (others.length === 0) return { groupId, conversation };
  const keyPackages: Uint8Array[] = [];
  for (const d of others) {
    const bundle = await generateKeyPackage(identity(d));
    await d.request('POST', '/v1/key-packages', { keyPackages: [toBase64(bundle.keyPackage)] });
    const claim = await creator.request(
      'POST',
      `/v1/users/${d.userId}/devices/${d.deviceId}/key-packages/claim`,
    );
    if (claim.status !== 200) throw new Error(`claim: ${claim.status}`);
    keyPackages.push(fromBase64(claim.body.keyPackage as string));
  }
  const add = await conversation.addMembers(keyPackages);
  const r = await creator.request('POST', `/v1/groups/${toBase64Url(groupId)}/commits`, {
    commit: toBase64(add.commit),
    welcome: toBase64(add.welcome!),
  });
  if (r.status !== 201) throw new Error(`commit: ${r.status} ${JSON.stringify(r.body)}`);
  await conversation.mergePendingCommit();
  return { groupId, conversation };
}
