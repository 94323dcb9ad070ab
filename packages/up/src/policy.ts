/**
 * The organisation's access policy at `npm start` (docs/spec/start.md §4.3, workflow.md §2): on first start the
 * admin key signs a policy naming the three trustee daemons (their signing and HPKE keys from identity.json, k = 2), the two
 * witnesses (quorum 2), one requester, default limits, calendar-month epochs and a retention, and the relay logs
 * it (entry type 1) BEFORE any epoch key, because an epoch key is valid only with the signatures of k trustees of
 * the policy in force (directory.md §1.3, DESIGN A14). On a restart the logged policy is reused; a data
 * directory made before policies existed (epoch keys and no policy) is refused with what to do (START-6).
 *
 * The requester is a local stand-in: its secret lives in requester/secret.key (32 random bytes, mode 0600)
 * and its Ed25519 signing key and X25519 HPKE key are derived from it with HKDF-SHA256.
 */
import { hkdfSync } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  deriveDkgEncryptionKey,
  equalBytes,
  type Policy,
  type PolicyLimits,
  type RequesterEntry,
  type SigningKeyPair,
  signingKeyFromSeed,
  signPolicy,
  utf8Encode,
  type VerifiedPolicy,
} from '@overt/core';
import { parseVerifierKey } from '@overt/log';
import type { PolicyRecord, RelayService, RelayStorage } from '@overt/server';
import { StandaloneError } from './errors.js';
import { loadOrCreateSecretFile, SECRET_BYTES } from './files.js';

export const TRUSTEE_THRESHOLD = 2;
export const REQUESTER_ID = 'local-requester';
const DAY = 86_400_000;

/** The default limits every trustee enforces on a request (release rule 1, A11). */
export const DEFAULT_LIMITS = {
  maxSubjects: 10,
  maxWindowMs: 92 * DAY,
  maxEnvelopes: 100_000,
  maxSealMs: 365 * DAY,
  maxExtensions: 2,
} as const;
/** How long an epoch's shares are kept after it ends before they are shredded. */
export const DEFAULT_RETENTION_MS = 2 * 365 * DAY;

/** HKDF info strings of the requester stand-in (docs/spec/start.md §4.3). */
export const INFO_REQUESTER_SIGNING = 'overt/standalone/v1/requester-signing';
export const INFO_REQUESTER_ENCRYPTION = 'overt/standalone/v1/requester-encryption';

function hkdf(secret: Uint8Array, info: string): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', secret, new Uint8Array(0), utf8Encode(info), 32));
}

function stateError(message: string, check = 'START-4'): StandaloneError {
  return new StandaloneError('START_STATE', message, { check });
}

/** The size of the requester stand-in's secret file (requester/secret.key). */
export const REQUESTER_SECRET_BYTES = SECRET_BYTES;

/**
 * The requester's keys derived from its 32-byte secret (docs/spec/start.md §4.3): the Ed25519 signing key and the
 * X25519 HPKE key pair, each from HKDF-SHA256 with its own info string. The one derivation of the stand-in's keys:
 * `npm start` names their public halves in the policy, and `overt request` signs and opens with them. The caller
 * zeroes the secret keys when done.
 */
export async function requesterKeysFromSecret(
  secret: Uint8Array,
): Promise<{ signingKey: SigningKeyPair; encryption: { publicKey: Uint8Array; secretKey: Uint8Array } }> {
  if (secret.length !== REQUESTER_SECRET_BYTES)
    throw stateError(`a requester secret is ${REQUESTER_SECRET_BYTES} bytes`, 'START-2');
  const signingKey = signingKeyFromSeed(hkdf(secret, INFO_REQUESTER_SIGNING));
  const encryption = await deriveDkgEncryptionKey(hkdf(secret, INFO_REQUESTER_ENCRYPTION));
  return { signingKey, encryption };
}

/** The local requester's public keys, creating its secret file on first use. START_SHARE_FILE (START-2). */
export async function localRequester(
  dir: string,
): Promise<{ signingKey: SigningKeyPair; encryptionKey: Uint8Array }> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const { secret } = loadOrCreateSecretFile(join(dir, 'secret.key'), REQUESTER_SECRET_BYTES);
  try {
    const { signingKey, encryption } = await requesterKeysFromSecret(secret);
    encryption.secretKey.fill(0);
    return { signingKey, encryptionKey: encryption.publicKey };
  } finally {
    secret.fill(0);
  }
}

/** A trustee as the policy names it: its daemon's public keys (identity.json). */
export interface PolicyTrustee {
  readonly index: number;
  readonly signingKey: Uint8Array;
  readonly encryptionKey: Uint8Array;
  /** The name the policy shows (default `Local trustee <index>`). */
  readonly name?: string;
}

/**
 * An organisation's first policy (workflow.md §2), serial 1: the one builder of `overt up` (its defaults) and
 * `overt init` (every field from the operator, start.md §4.4). Witnesses are named by their vkeys, sorted by name
 * as the policy requires; trustees and requesters sorted by index and id. Throws POLICY_INVALID (core WF-P1) for a
 * policy that does not validate (signing it checks).
 */
export function buildOrgPolicy(o: {
  readonly orgId: string;
  readonly trustees: readonly PolicyTrustee[];
  readonly threshold: number;
  readonly witnessVkeys: readonly string[];
  readonly witnessQuorum: number;
  readonly requesters: readonly RequesterEntry[];
  readonly limits: PolicyLimits;
  readonly retentionMs: number;
  readonly now: number;
}): Policy {
  const witnesses = o.witnessVkeys
    .map((v) => parseVerifierKey(v))
    .map((k) => ({ name: k.name, signingKey: k.publicKey }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    version: 1,
    orgId: o.orgId,
    serial: 1,
    issuedAt: o.now,
    trustees: [...o.trustees]
      .sort((a, b) => a.index - b.index)
      .map((t) => ({
        index: t.index,
        name: t.name ?? `Local trustee ${t.index}`,
        signingKey: t.signingKey,
        encryptionKey: t.encryptionKey,
      })),
    threshold: o.threshold,
    witnesses,
    witnessQuorum: o.witnessQuorum,
    requesters: [...o.requesters].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)),
    limits: o.limits,
    epochLength: { kind: 'calendar-month' },
    retentionMs: o.retentionMs,
  };
}

/** The first policy of a new `overt up` data directory (start.md §4.3). */
export function buildPolicy(o: {
  readonly orgId: string;
  readonly trustees: readonly PolicyTrustee[];
  readonly witnessVkeys: readonly string[];
  readonly witnessQuorum: number;
  readonly requester: { signingKey: SigningKeyPair; encryptionKey: Uint8Array };
  readonly now: number;
}): Policy {
  return buildOrgPolicy({
    orgId: o.orgId,
    trustees: o.trustees,
    threshold: TRUSTEE_THRESHOLD,
    witnessVkeys: o.witnessVkeys,
    witnessQuorum: o.witnessQuorum,
    requesters: [
      {
        id: REQUESTER_ID,
        name: 'Local requester',
        signingKey: o.requester.signingKey.publicKey,
        encryptionKey: o.requester.encryptionKey,
      },
    ],
    limits: DEFAULT_LIMITS,
    retentionMs: DEFAULT_RETENTION_MS,
    now: o.now,
  });
}

export interface PolicyOutcome {
  readonly status: 'reused' | 'published';
  readonly record: PolicyRecord;
  readonly policy: VerifiedPolicy;
}

/**
 * Makes sure the relay's log carries a policy naming these trustees, publishing the first one if there is none.
 * Throws START_STATE: START-6 for a data directory made before policies (epoch keys already published, no
 * policy), START-4 when the logged policy does not name the local trustees' keys.
 */
export async function ensurePolicy(o: {
  readonly dataDir: string;
  readonly orgId: string;
  readonly admin: SigningKeyPair;
  readonly trustees: readonly PolicyTrustee[];
  readonly witnessVkeys: readonly string[];
  readonly witnessQuorum: number;
  readonly storage: RelayStorage;
  readonly service: RelayService;
  readonly now: () => number;
}): Promise<PolicyOutcome> {
  const existing = await o.service.currentPolicy();
  if (existing !== undefined) {
    const named = existing.policy.policy.trustees;
    if (
      named.length !== o.trustees.length ||
      o.trustees.some((t, i) => !equalBytes(named[i]!.signingKey, t.signingKey))
    )
      throw stateError(
        `the logged policy does not name the trustees of ${o.dataDir}: a directory made before the trustee ` +
          'daemons (#10) names the old in-process trustees, whose shares the daemons cannot take over. Move it ' +
          `aside and start again (e.g. mv ${o.dataDir} ${o.dataDir}.old), or start with --data on a new directory.`,
      );
    return { status: 'reused', ...existing };
  }
  if ((await o.storage.currentEpochKey()) !== undefined)
    throw stateError(
      `${o.dataDir} was made by an earlier version of Overt: its epoch keys were signed by the admin key ` +
        'alone, which clients no longer accept (A14). Move it aside and start again (e.g. ' +
        `mv ${o.dataDir} ${o.dataDir}.old), or start with --data on a new directory.`,
      'START-6',
    );
  const requester = await localRequester(join(o.dataDir, 'requester'));
  const policy = buildPolicy({
    orgId: o.orgId,
    trustees: o.trustees,
    witnessVkeys: o.witnessVkeys,
    witnessQuorum: o.witnessQuorum,
    requester,
    now: o.now(),
  });
  const record = await o.service.publishPolicy(signPolicy(policy, o.admin));
  const inForce = await o.service.currentPolicy();
  return { status: 'published', record, policy: inForce!.policy };
}
